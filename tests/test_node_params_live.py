"""Every declared parameter of every node, set while the node runs: it takes effect or is refused as read-only.

A parameter takes effect when setting it changes a core configuration the node built from its
parameters (observed here: the dataclasses reachable from the node before and after the change),
or when the node reads it from ``self.p`` where it uses it (observed in the source: read outside
``setup``). A read-only one is refused, with its reason, by the one table both hosts use
(``Node.set_parameters``): the offline host's ``set_parameters`` and the rclpy host's callback
(``uavcine_ros.mapping.set_parameters``, checked here without rclpy).
"""
import ast
import dataclasses
import inspect
import sys
from pathlib import Path

import numpy as np
import pytest

from uavcine.nodes import REGISTRY, load_node_class
from uavcine.nodes.base import param_specs
from uavcine.offline.host import DEFAULT_START_NS, OfflineHost
from uavcine_ros import mapping

REPO = Path(__file__).resolve().parents[1]
#: Every registered node, started here (the MAVLink bridge on a loopback vehicle, the tlog replay on a small
#: log, the AirSim bridge on the AirSim test double).
RUNS_HERE = ['relay', 'pointing', 'geo', 'tracker', 'detector', 'sim', 'mavlink', 'tlog', 'airsim',
             'gesture', 'forecast',
             'media_server', 'media_rest_client',
             'flodcast',
             'view_synthesis']
#: Start-up parameters some nodes need in this test (small and fast).
START = {'relay': {'msg_type': 'std_msgs/msg/Empty'}}
#: Valid new values for string parameters without choices.
STRINGS = {'frame_id': 'map2', 'target_classes': 'car', 'class_filter': 'car', 'frame_id_map': 'world',
           'geofence': '37.0,-6.0; 37.1,-6.0; 37.1,-5.9', 'url': 'udpin:127.0.0.1:14999'}


def _modules_of(cls):
    mods = []
    for k in cls.__mro__ + (cls.Params,) + cls.Params.__mro__:
        m = sys.modules.get(k.__module__)
        if m is not None and m.__name__.startswith('uavcine') and m not in mods:
            mods.append(m)
    return mods


def read_where_used(cls) -> set:
    """Names read as ``p.NAME`` / ``self.p.NAME`` in a function other than ``setup`` (read at use time)."""
    names = set()
    for mod in _modules_of(cls):
        tree = ast.parse(inspect.getsource(mod))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef) or fn.name in ('setup', '__init__'):
                continue
            for n in ast.walk(fn):
                if isinstance(n, ast.Attribute) and (
                        (isinstance(n.value, ast.Name) and n.value.id == 'p')
                        or (isinstance(n.value, ast.Attribute) and n.value.attr == 'p')):
                    names.add(n.attr)
    return names


def _plain(v, depth=0, seen=None):
    """A comparable picture of the core configurations reachable from an object (dataclasses, plain values)."""
    seen = seen if seen is not None else set()
    if isinstance(v, (bool, int, float, str, type(None))):
        return v
    if isinstance(v, np.ndarray):
        return v.tolist() if v.size < 1000 else ('array', v.shape)
    if isinstance(v, (list, tuple)):
        return [_plain(x, depth + 1, seen) for x in v][:50]
    if isinstance(v, dict):
        return {str(k): _plain(x, depth + 1, seen) for k, x in list(v.items())[:50]}
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _plain(getattr(v, f.name), depth + 1, seen) for f in dataclasses.fields(v)}
    if depth < 3 and hasattr(v, '__dict__') and id(v) not in seen and type(v).__module__.startswith('uavcine'):
        seen.add(id(v))
        return {k: _plain(x, depth + 1, seen) for k, x in vars(v).items()
                if k not in ('p', 'host', '_throttle', 'net', 'images', 'headers', 'rejected', 'stats')}
    return None


def snapshot(node):
    return {k: _plain(v) for k, v in vars(node).items()
            if k not in ('p', 'host', 'name', '_throttle', 'publishers', 'subscriptions', 'services', 'timers')}


def new_value(spec):
    v = spec.default
    if spec.choices:
        return next(c for c in spec.choices if c != v)
    if spec.type == 'bool':
        return not v
    if spec.type in ('int', 'float'):
        lo = spec.min if spec.min is not None else -1e9
        hi = spec.max if spec.max is not None else 1e9
        cand = [v + 1, v - 1] if spec.type == 'int' else [v * 1.5 + 0.1, v * 0.5, v - 0.1, v + 0.01, v - 0.01]
        if spec.name == 'scale_num':
            cand = [v + 2, v - 2]  # odd
        out = next(c for c in cand if lo <= c <= hi and c != v)
        return int(out) if spec.type == 'int' else float(out)
    if spec.type == 'str':
        return STRINGS.get(spec.name, v + 'x')
    if spec.type == 'float_array':
        return [0.5] if spec.name == 'correlated_fractions' else [x + 1.0 for x in v]
    if spec.type == 'int_array':
        return [x + 1 for x in v]
    if spec.type == 'str_array':
        if spec.name == 'correlated_sources':   # one fraction per source by default: same sources, reordered
            return v[::-1]
        return v[:-1] + [v[-1] + 'x'] if spec.name == 'class_names' else v[:1]
    return v


@pytest.fixture(scope='module')
def running(tmp_path_factory):
    """Each node of RUNS_HERE started in its own offline host."""
    from airsim_double import FakeAirSim
    from mavlink_vehicle import LoopbackVehicle
    from test_mavlink_telemetry import write_tlog
    tlog = tmp_path_factory.mktemp('tlog') / 'f.tlog'
    write_tlog(tlog)
    vehicle = LoopbackVehicle(boot_host_ns=DEFAULT_START_NS - 100 * 10**9)
    airsim = FakeAirSim()
    start = dict(START, tlog={'path': str(tlog)}, mavlink={'url': 'udpout:127.0.0.1:%d' % vehicle.port},
                 airsim={'port': airsim.port, 'connect_attempts': 1})
    nodes = {}
    try:
        for name in RUNS_HERE:
            host = OfflineHost()
            nodes[name] = (host, host.add_node(load_node_class(name), start.get(name, {})))
        yield nodes
    finally:
        for host, _ in nodes.values():
            host.close()
        vehicle.close()
        airsim.close()


def test_every_node_runs_here():
    assert sorted(RUNS_HERE) == sorted(REGISTRY)


def test_every_parameter_is_read_where_used_or_read_only():
    """Static, for every registered node: the source agrees with what the run-time test below observes."""
    missing = []
    for name in REGISTRY:
        cls = load_node_class(name)
        live = read_where_used(cls)
        configured = 'configure' in vars(cls) or 'on_parameters_changed' in vars(cls)
        for spec in param_specs(cls.Params):
            if spec.read_only:
                if not spec.read_only_reason.strip():
                    missing.append('%s.%s: read-only without a reason' % (name, spec.name))
            elif spec.name not in live and not configured:
                missing.append('%s.%s: neither read where used, rebuilt on change, nor read-only' % (name, spec.name))
    assert not missing, missing


@pytest.mark.parametrize('node_name', RUNS_HERE)
def test_every_parameter_set_at_run_time_takes_effect_or_is_refused(running, node_name):
    host, node = running[node_name]
    live = read_where_used(type(node))
    silent = []
    for spec in param_specs(type(node).Params):
        value = new_value(spec)
        old = getattr(node.p, spec.name)
        before = snapshot(node)
        ok, reason = host.set_parameters(node.name, {spec.name: value})
        if spec.read_only:
            assert not ok and 'read-only' in reason and spec.read_only_reason in reason, (spec.name, reason)
            assert getattr(node.p, spec.name) == old
            continue
        assert ok, '%s.%s = %r refused: %s' % (node_name, spec.name, value, reason)
        assert getattr(node.p, spec.name) == value
        changed = snapshot(node) != before
        if not changed and spec.name not in live:
            silent.append(spec.name)
        ok, reason = host.set_parameters(node.name, {spec.name: old})  # back, for the next one
        assert ok, reason
        assert snapshot(node) == before or spec.name in live, spec.name
    assert not silent, '%s: accepted but changed nothing: %s' % (node_name, silent)


def test_bad_values_and_unknown_names_are_refused_and_leave_the_node_as_it_was(running):
    host, node = running['tracker']
    cfg = node.loop.manager.cfg
    ok, reason = host.set_parameters('tracker', {'quality_threshold': 2.0})
    assert not ok and 'above the maximum' in reason and node.loop.manager.cfg == cfg
    ok, reason = host.set_parameters('tracker', {'scale_num': 4})  # the node's check: scales must be odd
    assert not ok and 'odd' in reason and node.p.scale_num == 3 and node.loop.tracker.cfg.scale_num == 3
    ok, reason = host.set_parameters('tracker', {'nope': 1})
    assert not ok and 'no parameter nope' in reason
    ok, reason = host.set_parameters('tracker', {'quality_threshold': 0.6, 'model_path': 'x.pt'})
    assert not ok and 'read-only' in reason and node.p.quality_threshold == 0.5  # all or nothing


def test_tracker_quality_threshold_changes_the_manager_live(running):
    host, node = running['tracker']
    assert host.set_parameters('tracker', {'quality_threshold': 0.8}) == (True, '')
    m = node.loop.manager
    assert m.cfg.quality_threshold == 0.8 and m.is_weak(0.5)
    assert host.set_parameters('tracker', {'quality_threshold': 0.3}) == (True, '')
    assert not m.is_weak(0.5)
    assert host.set_parameters('tracker', {'quality_threshold': 0.5}) == (True, '')


@pytest.mark.parametrize('node_name', ['tracker', 'geo'])
def test_the_rclpy_callback_uses_the_same_table(running, node_name):
    """uavcine_ros.mapping.set_parameters (the rclpy host's callback, without rclpy) decides as the offline host."""
    host, node = running[node_name]
    for spec in param_specs(type(node).Params):
        value = new_value(spec)
        ros = mapping.set_parameters(node, [(spec.name, value), ('use_sim_time', True)])
        if spec.read_only:
            assert ros == (False, 'parameter %s is read-only: %s' % (spec.name, spec.read_only_reason))
        else:
            assert ros == (True, ''), (spec.name, ros)
            assert mapping.set_parameters(node, [(spec.name, spec.default)]) == (True, '')
    src = (REPO / 'src' / 'uavcine_ros' / 'uavcine_ros' / 'host.py').read_text()
    fn = next(n for n in ast.walk(ast.parse(src)) if isinstance(n, ast.FunctionDef) and n.name == '_on_set_parameters')
    calls = {c.func.id for c in ast.walk(fn) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
    assert 'set_parameters' in calls  # the rclpy host's callback goes through the same table
