"""SimNode in the offline host: topics, stamps, truth messages, the end of the scenario, a recorded bag."""
import math

import numpy as np
import pytest

from uavcine.nodes import msgs
from uavcine.nodes import REGISTRY, load_node_class
from uavcine.offline.host import OfflineHost
from uavcine.sim.node import SimNode

from sim_fixtures import small_scenario

TOPICS = ['/camera/image_raw', '/camera/camera_info', '/vehicle/fix', '/vehicle/imu', '/vehicle/gimbal', '/vehicle/agl',
          '/truth/targets', '/truth/camera_pose', '/truth/vehicle_pose', '/truth/depth', '/truth/flow']


@pytest.fixture(scope='module')
def scenario_file(tmp_path_factory):
    import yaml
    sc = small_scenario(duration_s=1.5, targets=[{'id': 1, 'cls': 'car', 'position': [40.0, 0.0]}],
                        sensors={'magnetic_declination_deg': 2.0, 'gps': {'rate_hz': 5.0, 'dropout': 0.3},
                                 'imu': {'rate_hz': 20.0, 'sigma': 0.0, 'drift': 0.0, 'jitter_s': 0.004}})
    p = tmp_path_factory.mktemp('sim') / 'small.yaml'
    p.write_text(yaml.safe_dump(sc.to_dict()))
    return str(p)


@pytest.fixture(scope='module')
def run(scenario_file, tmp_path_factory):
    out = tmp_path_factory.mktemp('bag') / 'run.mcap'
    host = OfflineHost(out=str(out))
    node = host.add_node(SimNode, params={'scenario': scenario_file, 'publish_depth': True, 'publish_flow': True})
    caps = {t: host.capture(t) for t in TOPICS}
    reason = host.run()
    host.close()
    return host, node, caps, reason, out


def test_registered_as_sim():
    assert REGISTRY['sim'] == 'uavcine.sim.node:SimNode'
    assert load_node_class('sim') is SimNode


def test_publishes_every_topic_and_stops_at_the_end(run):
    host, node, caps, reason, _ = run
    assert 'end of scenario' in reason
    for t in TOPICS:
        assert caps[t], t
    assert len(caps['/camera/image_raw']) == 15  # 10 Hz for 1.5 s
    assert 2 <= len(caps['/vehicle/fix']) < 7    # 5 Hz with 30 % dropouts


def test_stamps_are_monotonic_and_precede_delivery(run):
    _, _, caps, _, _ = run
    for t in TOPICS:
        stamps = [msgs.stamp_ns(m.header.stamp) for _, m in caps[t]]
        assert np.all(np.diff(stamps) > 0), t
        for (t_pub, m) in caps[t]:
            assert msgs.stamp_ns(m.header.stamp) <= t_pub  # latency: measured before it is delivered


def test_truth_matches_the_python_api(run):
    _, node, caps, _, _ = run
    t_pub, m = caps['/truth/targets'][5]
    img = caps['/camera/image_raw'][5][1]
    assert m.header.stamp == img.header.stamp
    frame = node.sim.render_at((msgs.stamp_ns(m.header.stamp) - node.t0_ns) / 1e9)
    tt = frame.target(1)
    got = m.targets[0]
    assert got.id == 1 and got.class_id == 'car' and got.in_view
    assert msgs.bbox_xywh(got.bbox) == pytest.approx(tt.bbox_xywh, abs=1e-6)
    assert got.position_enu.x == pytest.approx(40.0) and got.geodetic.latitude == pytest.approx(tt.geodetic[0])
    assert np.array_equal(msgs.image_to_numpy(img), frame.rgb)
    depth = msgs.image_to_numpy(caps['/truth/depth'][5][1], want='raw')
    flow = msgs.image_to_numpy(caps['/truth/flow'][5][1], want='raw')
    assert depth.dtype == np.float32 and depth.shape == (480, 640)
    assert flow.shape == (480, 640, 2) and np.allclose(flow, frame.flow, equal_nan=True)


def test_attitude_is_published_relative_to_magnetic_north(run):
    _, node, caps, _, _ = run
    from transforms3d.euler import quat2euler
    for _, m in caps['/vehicle/imu'][::5]:
        t = (msgs.stamp_ns(m.header.stamp) - node.t0_ns) / 1e9
        yaw_pub = quat2euler(msgs.quaternion_wxyz(m.orientation), 'sxyz')[2]
        yaw_true = node.sim.drone_state(t).body_rpy[2]
        assert math.degrees(yaw_pub - yaw_true) == pytest.approx(2.0, abs=1e-6)


def test_the_bag_holds_what_was_published(run):
    from uavcine.offline.bag import BagReader
    host, _, caps, _, out = run
    r = BagReader(host.writer.path, host.typestore)
    try:
        assert r.topics['/truth/targets'].msgtype == 'uavcine_interfaces/msg/TargetTruthArray'
        assert r.topics['/camera/image_raw'].count == len(caps['/camera/image_raw'])
    finally:
        r.close()
