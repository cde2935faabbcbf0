"""Fuzzing (hypothesis): node messages, MAVLink parsing, flight logs, bag readers, YAML graphs and parameters.

A crash is an exception escaping a node callback (the host runs strict, so it re-raises),
an exception other than the one-line user errors escaping a reader or loader, or a hang
past the deadline. ``make test`` runs a short budget (FUZZ_EXAMPLES, default 40 per
target); ``make fuzz`` runs 10,000 per target and writes the table of docs/reliability.md
(FUZZ_REPORT=path).
"""
import os
import struct
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_strategies import messages
from uavcine.errors import UserError
from uavcine.nodes import load_node_class
from uavcine.nodes.base import ParamError, make_params
from uavcine.nodes.mavlink_common import load_mavutil
from uavcine.offline.bag import BagError, BagReader
from uavcine.offline.graph import ConfigError, load_graph, load_params_file, merged_params
from uavcine.offline.host import GraphError, OfflineHost
from uavcine.offline.messages import MessageError

EXAMPLES = int(os.environ.get('FUZZ_EXAMPLES', '40'))
FUZZ = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=20), database=None, derandomize=EXAMPLES <= 100,
                suppress_health_check=list(HealthCheck))
#: node inputs are sequences of 1-5 messages (3 on average): fewer examples give as many messages
FUZZ_NODES = settings(FUZZ, max_examples=max(10, EXAMPLES * 2 // 5))
COUNTS = Counter()
M = load_mavutil().mavlink
REPO = Path(__file__).resolve().parents[1]


def _write_counts(final=False):
    """FUZZ_REPORT: the inputs run per target (rewritten every 200 inputs, so a long run stopped early still says
    how far it got)."""
    path = os.environ.get('FUZZ_REPORT')
    if path:
        with open(path + ('' if final else '.partial'), 'w') as f:
            for target, n in sorted(COUNTS.items()):
                f.write('%s\t%d\n' % (target, n))


def count(target, n=1):
    COUNTS[target] += n
    if COUNTS[target] % 200 < n:
        _write_counts()


@pytest.fixture(scope='module', autouse=True)
def report():
    yield
    _write_counts(final=True)


# ---------------------------------------------------------------------------- node messages
NODES = {'relay': {}, 'geo': {}, 'pointing': {}, 'tracker': {}, 'detector': {},
         'mavlink': {'url': 'udpin:127.0.0.1:0'}}
_HOSTS = {}


def node_host(name):
    """One host and node per node type, reused across examples (a long-running node meets all inputs)."""
    if name not in _HOSTS:
        host = OfflineHost(strict=True)
        node = host.add_node(load_node_class(name), NODES[name])
        host._now = 1_700_000_000 * 10**9
        _HOSTS[name] = (host, node)
    return _HOSTS[name]


def teardown_module():
    for host, _ in _HOSTS.values():
        host.close()
    _HOSTS.clear()


@st.composite
def node_inputs(draw):
    name = draw(st.sampled_from(sorted(NODES)))
    host, node = node_host(name)
    steps = []
    for _ in range(draw(st.integers(1, 5))):
        sub = draw(st.sampled_from(node.subscriptions))
        fields = draw(messages(host.typestore, sub.msg_type))
        dt = draw(st.sampled_from([0, 1, 10**6, 10**8, 10**9, 3 * 10**9, 10**12]))
        steps.append((sub, fields, dt))
    return name, steps


@FUZZ_NODES
@given(node_inputs())
def test_fuzz_node_messages(inp):
    """Every message a node subscribes to, any field values: the callback never raises, timers keep running."""
    name, steps = inp
    host, node = node_host(name)
    for sub, fields, dt in steps:
        try:
            msg = host.new(sub.msg_type, fields)
        except MessageError:  # a value rosbags cannot hold in that field: not an input a node can receive
            continue
        host._now += dt
        count('node messages')
        for s in host.subs[host._resolve(node, sub.topic)]:
            if s.node is node:
                host._invoke(node, s.callback, msg)
        host._pending.clear()  # what it published goes nowhere (one node per host)
        for tm in host.timers:
            if tm.node is node and not tm.cancelled:
                host._invoke(node, tm.callback)
        host._pending.clear()


# ---------------------------------------------------------------------------- MAVLink parsing
PARSED = ['HEARTBEAT', 'GLOBAL_POSITION_INT', 'ATTITUDE', 'GPS_RAW_INT', 'GIMBAL_DEVICE_ATTITUDE_STATUS',
          'MOUNT_STATUS', 'MOUNT_ORIENTATION', 'DISTANCE_SENSOR', 'TERRAIN_REPORT', 'SYSTEM_TIME', 'TIMESYNC',
          'COMMAND_ACK', 'GIMBAL_MANAGER_STATUS', 'GIMBAL_MANAGER_INFORMATION', 'PARAM_VALUE']
INT_T = {'uint8_t': (0, 255), 'int8_t': (-128, 127), 'uint16_t': (0, 65535), 'int16_t': (-32768, 32767),
         'uint32_t': (0, 2**32 - 1), 'int32_t': (-2**31, 2**31 - 1), 'uint64_t': (0, 2**64 - 1),
         'int64_t': (-2**63, 2**63 - 1)}


def _value(ftype, n):
    if ftype == 'char':
        return st.binary(max_size=n or 1)
    if ftype in ('float', 'double'):
        one = st.one_of(st.sampled_from([0.0, float('nan'), float('inf'), -float('inf'), 1e30, -1.0]),
                        st.floats(width=32 if ftype == 'float' else 64))
    else:
        lo, hi = INT_T[ftype]
        one = st.one_of(st.sampled_from([lo, hi, 0]), st.integers(lo, hi))
    return st.lists(one, min_size=n, max_size=n) if n else one


@st.composite
def mavlink_frame(draw):
    """A packed MAVLink frame of a message the bridges parse, from system 1 or another, maybe damaged."""
    name = draw(st.sampled_from(PARSED))
    cls = getattr(M, 'MAVLink_%s_message' % name.lower())
    lengths = dict(zip(cls.ordered_fieldnames, cls.array_lengths))
    args = [draw(_value(t, lengths.get(f, 0))) for f, t in zip(cls.fieldnames, cls.fieldtypes)]
    src = draw(st.sampled_from([(1, 1), (1, 154), (255, 190), (draw(st.integers(0, 255)), draw(st.integers(0, 255)))]))
    mav = M.MAVLink(None, srcSystem=src[0], srcComponent=src[1])
    try:
        frame = bytearray(getattr(mav, name.lower() + '_encode')(*args).pack(mav))
    except (struct.error, OverflowError, ValueError, TypeError):
        frame = bytearray(draw(st.binary(min_size=1, max_size=40)))
    damage = draw(st.sampled_from(['none', 'none', 'truncate', 'flip', 'crc', 'unknown_id', 'signed', 'garbage']))
    if damage == 'truncate' and len(frame) > 1:
        frame = frame[:draw(st.integers(1, len(frame) - 1))]
    elif damage == 'flip':
        i = draw(st.integers(0, len(frame) - 1))
        frame[i] ^= draw(st.integers(1, 255))
    elif damage == 'crc' and len(frame) > 2:
        frame[-1] ^= 0x5A
    elif damage == 'unknown_id' and len(frame) > 9 and frame[0] == 0xFD:
        frame[7:10] = bytes(draw(st.binary(min_size=3, max_size=3)))
    elif damage == 'signed' and frame[:1] == b'\xfd':
        frame[2] |= 0x01
        frame += draw(st.binary(min_size=13, max_size=13))
    elif damage == 'garbage':
        frame = bytearray(draw(st.binary(max_size=300)))
    return bytes(frame)


@FUZZ
@given(st.lists(mavlink_frame(), min_size=1, max_size=8), st.sampled_from(['telemetry', 'bridge']))
def test_fuzz_mavlink_parsing(frames, consumer):
    """Random, truncated, mis-checksummed, unknown and falsely signed frames through pymavlink into the bridge."""
    host, bridge = node_host('mavlink')
    parser = M.MAVLink(None)
    parser.robust_parsing = True
    data = b''.join(frames)
    count('MAVLink frames', len(frames))
    try:
        parsed = parser.parse_buffer(data) or []
    except Exception:  # the bridge reads through pymavlink's recv_msg, which it guards the same way
        return
    for m in parsed:
        host._now += 10**7
        if consumer == 'bridge':
            host._invoke(bridge, bridge._on_message, m, host._now)
        else:
            try:
                bridge.tel.handle(m, host._now)
            except (ValueError, TypeError, AttributeError, ArithmeticError):
                pass  # the bridge and the tlog node catch these around handle() and count them
    host._pending.clear()


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 2**64 - 2), mavlink_frame()), max_size=12),
       st.sampled_from(['as_written', 'split', 'garbage_between']), st.binary(max_size=64))
def test_fuzz_tlog_files(records, layout, junk):
    """.tlog files of random records (times anywhere, frames damaged, split, junk between) through the tlog node."""
    from uavcine.nodes.tlog_source import TlogSourceNode
    base = 1_700_000_000 * 10**6
    out = bytearray()
    for k, (t, frame) in enumerate(records):
        t = t if t % 3 == 0 else base + k * 1000 + t % 10**6
        if layout == 'split' and len(frame) > 2:
            out += struct.pack('>Q', t) + frame[:2] + struct.pack('>Q', t + 1) + frame[2:]
        else:
            out += struct.pack('>Q', t) + frame
        if layout == 'garbage_between':
            out += junk
    count('tlog files')
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, 'f.tlog')
        with open(path, 'wb') as f:
            f.write(bytes(out))
        host = OfflineHost(strict=True)
        host.add_node(TlogSourceNode, {'path': path, 'align': 'start'})
        host.run(until_ns=host.start_time_ns() + 10**12)
        host.close()


# ---------------------------------------------------------------------------- bag readers
_BAGS = {}


def sample_bag(compression):
    """A small real bag (a tlog replay) to damage; made once per compression."""
    if compression not in _BAGS:
        from test_bag_reliability import synthetic_tlog
        from uavcine.nodes.tlog_source import TlogSourceNode
        d = Path(tempfile.mkdtemp(prefix='fuzzbag_'))
        host = OfflineHost(d / ('bag_%s.mcap' % compression), compression=compression)
        host.add_node(TlogSourceNode, {'path': str(synthetic_tlog(d / 'f.tlog', seconds=2.0))})
        host.run()
        host.close()
        bag = d / ('bag_%s' % compression)
        _BAGS[compression] = ((bag / (bag.name + '.mcap')).read_bytes(), (bag / 'metadata.yaml').read_text())
    return _BAGS[compression]


@st.composite
def damaged_bag(draw):
    comp = draw(st.sampled_from(['zstd', 'none']))
    data, meta = sample_bag(comp)
    data = bytearray(data)
    how = draw(st.sampled_from(['bytes', 'truncate', 'both', 'random_file']))
    if how in ('bytes', 'both'):
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
    if how in ('truncate', 'both'):
        data = data[:draw(st.integers(0, len(data)))]
    if how == 'random_file':
        data = bytearray(draw(st.one_of(st.binary(max_size=2000), st.just(b'\x89MCAP0\r\n' + bytes(100)))))
    mstate = draw(st.sampled_from(['ok', 'ok', 'missing', 'malformed', 'random']))
    if mstate == 'missing':
        meta = None
    elif mstate == 'malformed':
        meta = meta[:draw(st.integers(0, len(meta)))] + draw(st.sampled_from(['', ':\n  - [', '\t{{', 'version: x']))
    elif mstate == 'random':
        meta = draw(st.text(max_size=200))
    return comp, bytes(data), meta


@FUZZ
@given(damaged_bag())
def test_fuzz_bag_readers(bag):
    """Damaged MCAP files and metadata.yaml: a BagError with one line, or what the bag still holds; nothing else."""
    from uavcine.offline.typestore import make_typestore
    comp, data, meta = bag
    count('bag files')
    with tempfile.TemporaryDirectory() as d:
        b = Path(d) / 'bag'
        b.mkdir()
        (b / 'bag.mcap').write_bytes(data)
        if meta is not None:
            (b / 'metadata.yaml').write_text(meta)
        for recover in (False, True):
            try:
                r = BagReader(b, make_typestore(), recover=recover)
            except BagError as exc:
                assert '\n' not in str(exc)
                continue
            try:
                for topic, mt, t, raw in r.messages():
                    r.deserialize(raw, mt)
            except BagError as exc:
                assert '\n' not in str(exc)
            finally:
                r.close()


# ---------------------------------------------------------------------------- YAML graphs and parameters
yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
              st.text(max_size=20), st.sampled_from(['detector', 'geo', 'relay', 'tlog', 'sim', 'pointing',
                                                     'ros__parameters', 'node', 'params', 'remap', '/**'])),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.one_of(st.sampled_from(['node', 'name', 'params', 'remap', 'nodes',
                                                                          'ros__parameters', 'score_threshold',
                                                                          'period_s', 'geo', 'relay', '/**']),
                                                         st.text(max_size=10)), children, max_size=4)),
    max_leaves=20)


@st.composite
def yaml_docs(draw):
    if draw(st.booleans()):
        return draw(st.text(max_size=300))  # anything, including what YAML cannot parse
    doc = draw(yaml_values)
    if draw(st.booleans()):  # shaped like a graph / params file, with random insides
        doc = {'nodes': [{'node': draw(st.sampled_from(['relay', 'geo', 'pointing', 'tracker', 'nope'])),
                          'params': draw(yaml_values)}]} if draw(st.booleans()) else \
            {draw(st.sampled_from(['relay', 'geo', '/**'])): {'ros__parameters': draw(yaml_values)}}
    return yaml.safe_dump(doc)


USER_ERRORS = (ConfigError, ParamError, GraphError, UserError)


@FUZZ
@given(yaml_docs(), yaml_docs())
def test_fuzz_yaml_graphs_and_params(graph_text, params_text):
    """Graph and parameter files: load, merge and check against the node declarations; only one-line errors."""
    count('YAML graphs/params')
    with tempfile.TemporaryDirectory() as d:
        g, p = Path(d) / 'g.yaml', Path(d) / 'p.yaml'
        g.write_text(graph_text)
        p.write_text(params_text)
        try:
            entries = load_graph(g)
        except USER_ERRORS as exc:
            assert '\n' not in str(exc).strip()
            entries = []
        try:
            files = [load_params_file(p)]
        except USER_ERRORS as exc:
            assert '\n' not in str(exc).strip()
            files = []
        for e in entries:
            try:
                make_params(e.cls.Params, merged_params(e, files, {}), node_name=e.name)
            except USER_ERRORS as exc:
                assert '\n' not in str(exc).strip()
