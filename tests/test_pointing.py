"""Camera pointing: look-at angles by hand, slew limits, and the node's freshness rules."""
import math

import numpy as np
import pymap3d
import pytest
from transforms3d.euler import euler2quat, quat2euler

from uavcine.core.camera import camera_rotation
from uavcine.core.pointing import PointingConfig, camera_axis_enu, look_at, slew, slew_in_world, world_angles
from uavcine.nodes import msgs
from uavcine.nodes.base import Node, RELIABLE, SENSOR_DATA
from uavcine.nodes.pointing import PointingNode
from uavcine.offline.host import OfflineHost


def test_look_at_by_hand():
    # level drone facing east, target 30 m below and 30 m east: 45 deg down, straight ahead
    p, y = look_at((30.0, 0.0, -30.0), (0.0, 0.0, 0.0))
    assert p == pytest.approx(math.radians(45)) and y == pytest.approx(0.0)
    # target due north of a drone facing east: yaw +90 deg (counter-clockwise)
    p, y = look_at((0.0, 100.0, -10.0), (0.0, 0.0, 0.0))
    assert y == pytest.approx(math.pi / 2) and p == pytest.approx(math.atan2(10, 100))
    # drone yawed to face north: same target straight ahead
    assert look_at((0.0, 100.0, -10.0), (0.0, 0.0, math.pi / 2))[1] == pytest.approx(0.0, abs=1e-12)


def test_look_at_centres_the_target_in_the_camera():
    rng = np.random.default_rng(0)
    for _ in range(20):
        body = rng.uniform([-0.2, -0.2, -math.pi], [0.2, 0.2, math.pi])
        offset = rng.uniform([-200, -200, -60], [200, 200, -5])
        p, y = look_at(offset, body)
        R = camera_rotation(body, (0.0, p, y))
        axis = R[:, 2]  # optical z in ENU
        assert np.allclose(axis, offset / np.linalg.norm(offset), atol=1e-9)


def test_slew_limits_rate_and_range():
    cfg = PointingConfig(max_rate_dps=10.0, min_pitch_deg=-30, max_pitch_deg=90)
    p, y = slew((0.0, 0.0), (math.radians(50), math.radians(-50)), 1.0, cfg)
    assert p == pytest.approx(math.radians(10)) and y == pytest.approx(math.radians(-10))
    assert slew(None, (math.radians(120), 0.0), 0.1, cfg)[0] == pytest.approx(math.radians(90))
    # yaw takes the short way round through +-180
    p, y = slew((0.0, math.radians(175)), (0.0, math.radians(-175)), 0.5, cfg)
    assert abs(math.degrees(y)) == pytest.approx(180.0)  # +5 deg from 175, not -350
    p, y = slew((0.0, math.radians(175)), (0.0, math.radians(-175)), 1.0, cfg)
    assert math.degrees(y) == pytest.approx(-175.0)


ORIGIN = (45.0, 7.0, 300.0)


class Feeder(Node):
    """Publishes a vehicle fix/attitude at 20 Hz and GeoTargets at 5 Hz until `stop_geo_after`."""
    NAME = 'feeder'

    def setup(self):
        self.fix = self.create_publisher('sensor_msgs/msg/NavSatFix', 'vehicle/fix', SENSOR_DATA)
        self.imu = self.create_publisher('sensor_msgs/msg/Imu', 'vehicle/imu', SENSOR_DATA)
        self.geo = self.create_publisher('uavcine_interfaces/msg/GeoTarget', 'target/geo', RELIABLE)
        self.create_timer(0.05, self.tick)
        self.k = 0
        self.stop_geo_after = 40
        self.target = pymap3d.enu2geodetic(60.0, 20.0, 0.0, *ORIGIN)

    def tick(self):
        self.k += 1
        now = self.now_ns()
        h = msgs.header(self, now, 'map')
        lat, lon, alt = pymap3d.enu2geodetic(0.0, 0.0, 30.0, *ORIGIN)
        self.fix.publish(self.new('sensor_msgs/msg/NavSatFix', header=h, latitude=lat, longitude=lon, altitude=alt))
        q = euler2quat(0.0, 0.0, math.radians(30), 'sxyz')
        self.imu.publish(self.new('sensor_msgs/msg/Imu', header=h, orientation=msgs.quaternion_fields(q)))
        if self.k % 4 == 0 and self.k <= self.stop_geo_after:
            self.geo.publish(self.new('uavcine_interfaces/msg/GeoTarget', header=h, geodetic={
                'latitude': self.target[0], 'longitude': self.target[1], 'altitude': self.target[2]}))
        if self.k == 80:
            self.request_shutdown('done')


def test_node_points_at_target_and_holds_when_stale():
    host = OfflineHost()
    host.add_node(Feeder)
    node = host.add_node(PointingNode, {'max_rate_dps': 90.0, 'aim_height_m': 0.0})
    cmds = host.capture('/gimbal/command')
    host.run()
    assert cmds, 'no gimbal command'
    _, pitch, yaw = quat2euler(msgs.quaternion_wxyz(cmds[-1][1].quaternion), 'sxyz')
    want_p, want_y = look_at((60.0, 20.0, -30.0), (0.0, 0.0, math.radians(30)))
    assert pitch == pytest.approx(want_p, abs=2e-3) and yaw == pytest.approx(want_y, abs=2e-3)
    # estimates stop at k=40 (2.0 s); commands stop within max_target_age_s (1 s) after that
    last_cmd = (cmds[-1][0] - cmds[0][0]) / 1e9
    assert len(cmds) < 40 and last_cmd < 2.0 + 1.0 + 0.11
    assert node.commands == len(cmds)


def test_closed_loop_in_the_simulator_centres_the_target(tmp_path):
    """Sim (gimbal commanded) -> geo on truth boxes -> pointing -> sim: the car ends up near the image centre."""
    import yaml
    from sim_fixtures import small_scenario
    from uavcine.nodes.base import Node as _Node
    from uavcine.nodes.geo import GeoNode
    from uavcine.sim.node import SimNode

    class TruthTracker(_Node):
        """Stands in for detector+tracker: the truth box of the shot's target as a Track (test double)."""
        NAME = 'truth_tracker'

        def setup(self):
            self.pub = self.create_publisher('uavcine_interfaces/msg/Track', 'target/track', RELIABLE)
            self.create_subscription('uavcine_interfaces/msg/TargetTruthArray', 'truth/targets', self.on_truth,
                                     RELIABLE)

        def on_truth(self, msg):
            for t in msg.targets:
                if not t.distractor and t.in_view and t.bbox.size_x > 0:
                    self.pub.publish(self.new('uavcine_interfaces/msg/Track', header=msg.header, track_id=1,
                                              class_id=t.class_id, bbox=t.bbox, quality=1.0, state=2))

    sc = small_scenario(duration_s=6.0, gimbal={'mode': 'command', 'pitch_deg': 20.0},
                        targets=[{'id': 1, 'cls': 'car', 'position': [45.0, 12.0]}])
    path = tmp_path / 'sc.yaml'
    path.write_text(yaml.safe_dump(sc.to_dict()))
    host = OfflineHost()
    host.add_node(SimNode, {'scenario': str(path), 'noise_scale': 0.0})
    host.add_node(TruthTracker)
    host.add_node(GeoNode)
    host.add_node(PointingNode)
    truth = host.capture('/truth/targets')
    cmds = host.capture('/gimbal/command')
    host.run()
    assert len(cmds) > 20

    def offset(msg):
        t = [x for x in msg.targets if not x.distractor][0]
        return math.hypot(t.bbox.center.position.x - 320, t.bbox.center.position.y - 240)

    first, last = offset(truth[0][1]), offset(truth[-1][1])
    assert first > 60 and last < 15, (first, last)


def test_slew_in_world_makes_up_a_turning_body():
    """The body yaws 90 deg in 0.1 s under a still target: the camera must not move in the world, though the
    gimbal's angles to the body change by 90 deg, far beyond max_rate_dps * dt."""
    cfg = PointingConfig(max_rate_dps=60.0)
    offset = (30.0, 10.0, -20.0)
    before, after = (0.0, 0.0, 0.0), (0.0, 0.0, math.radians(90))
    start, start_w = slew_in_world(None, offset, before, 0.0, cfg)
    assert start == pytest.approx(look_at(offset, before), abs=1e-12)
    got, got_w = slew_in_world(start_w, offset, after, 0.1, cfg)
    assert got == pytest.approx(look_at(offset, after), abs=1e-9)
    assert camera_axis_enu(got, after) == pytest.approx(camera_axis_enu(start, before), abs=1e-9)
    assert got_w == pytest.approx(start_w, abs=1e-9)
    # the body-relative slew would have left the camera swung with the body (69 deg of it, 6 deg made up)
    old = slew(start, look_at(offset, after), 0.1, cfg)
    turned = math.degrees(math.acos(np.clip(camera_axis_enu(old, after) @ camera_axis_enu(start, before), -1, 1)))
    assert turned > 60.0


def test_slew_in_world_limits_the_camera_turn_and_keeps_the_gimbal_limits():
    cfg = PointingConfig(max_rate_dps=10.0, min_pitch_deg=-30, max_pitch_deg=90)
    body = (0.0, 0.0, 0.5)
    # the target 40 deg to the left of where the camera looks (20 deg down, world yaw 0.5 rad): 10 deg in 1 s
    offset = camera_axis_enu((math.radians(20), math.radians(40)), body)
    rel, w = slew_in_world(world_angles((math.radians(20), 0.0), body), offset, body, 1.0, cfg)
    assert rel == pytest.approx((math.radians(20), math.radians(10)), abs=1e-9)
    assert w == pytest.approx((math.radians(20), 0.5 + math.radians(10)), abs=1e-9)
    # a target 63 deg above a level body: the gimbal stops at its 30 deg up limit, and says where it looks
    rel, w = slew_in_world(None, (10.0, 0.0, 20.0), (0.0, 0.0, 0.0), 0.0, cfg)
    assert rel == pytest.approx((math.radians(-30), 0.0), abs=1e-9)
    assert w == pytest.approx(rel, abs=1e-9)
