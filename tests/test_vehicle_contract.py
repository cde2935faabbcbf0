"""Every vehicle source publishes the vehicle contract (nodes/vehicle.py) and every consumer subscribes to it.

Checked per source on what it really does in the offline host: the declared publisher (type and QoS)
and the frame id of the messages that came out; and per consumer, its subscriptions.
"""
import pytest

from airsim_double import FakeAirSim
from mavlink_vehicle import LoopbackVehicle
from test_mavlink_bridge import run as run_mavlink
from test_mavlink_telemetry import write_tlog
from uavcine.nodes import load_node_class, vehicle
from uavcine.nodes.airsim_bridge import AirSimBridgeNode
from uavcine.nodes.tlog_source import TlogSourceNode
from uavcine.offline.host import DEFAULT_START_NS, OfflineHost
from uavcine.sim.node import SimNode

ALL = dict(vehicle.TELEMETRY, **vehicle.CAMERA)


def run_source(add, seconds, contract):
    """Run a source node in an offline host; -> (node, {kind: captured messages})."""
    host = OfflineHost(strict=True)
    node = add(host)
    caps = {kind: host.capture(t.name) for kind, t in contract.items()}
    try:
        host.run(until_ns=DEFAULT_START_NS + int(seconds * 1e9))
    finally:
        host.close()
    return node, caps


def check_source(node, caps, contract, published=None):
    decls = {d.topic: d for d in node.publishers}
    for kind, t in contract.items():
        d = decls.get(t.name)
        assert d is not None, '%s does not publish %s' % (node.NAME, t.name)
        assert (d.msg_type, d.qos) == (t.msg_type, t.qos), (node.NAME, t.name)
        assert caps[kind] or (published is not None and kind not in published), \
            '%s published nothing on %s' % (node.NAME, t.name)
        frames = {m.header.frame_id for _, m in caps[kind]}
        assert frames <= {t.frame_id}, (node.NAME, t.name, frames)


def test_simulator_publishes_the_contract():
    node, caps = run_source(lambda h: h.add_node(SimNode, {'duration_s': 1.0, 'camera_rate_hz': 5.0}), 1.0, ALL)
    check_source(node, caps, ALL)


def test_airsim_bridge_publishes_the_contract():
    sim = FakeAirSim()
    try:
        node, caps = run_source(lambda h: h.add_node(AirSimBridgeNode, {'port': sim.port, 'connect_attempts': 1}),
                                1.0, ALL)
    finally:
        sim.close()
    check_source(node, caps, ALL)


def test_mavlink_bridge_publishes_the_contract():
    v = LoopbackVehicle(boot_host_ns=DEFAULT_START_NS - 100 * 10**9)  # booted 100 s before the run
    try:
        node, by_topic = run_mavlink(v, seconds=2.0)  # the bridge's own test harness (a loopback vehicle)
    finally:
        v.close()
    caps = {kind: by_topic['/' + t.name] for kind, t in vehicle.TELEMETRY.items()}
    check_source(node, caps, vehicle.TELEMETRY)


def test_tlog_replay_publishes_the_contract(tmp_path):
    write_tlog(tmp_path / 'f.tlog')
    node, caps = run_source(lambda h: h.add_node(TlogSourceNode, {'path': str(tmp_path / 'f.tlog')}), 60.0,
                            vehicle.TELEMETRY)
    check_source(node, caps, vehicle.TELEMETRY, published=('fix', 'imu'))  # the log has no gimbal or AGL


@pytest.mark.parametrize('name, kinds', [('geo', ['fix', 'imu', 'gimbal', 'agl', 'camera_info']),
                                         ('pointing', ['fix', 'imu', 'gimbal']),
                                         ('tracker', ['image']), ('detector', ['image'])])
def test_consumers_subscribe_to_the_contract(name, kinds):
    host = OfflineHost()
    try:
        node = host.add_node(load_node_class(name))
        subs = {d.topic: d for d in node.subscriptions}
        for kind in kinds:
            t = ALL[kind]
            assert t.name in subs, '%s does not subscribe to %s' % (name, t.name)
            assert subs[t.name].msg_type == t.msg_type and subs[t.name].qos == t.qos, (name, t.name)
    finally:
        host.close()
