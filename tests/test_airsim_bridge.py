"""The AirSim bridge in the offline host against a local msgpack-rpc TEST DOUBLE (tests/airsim_double.py)."""
import json
import math
import socket
from pathlib import Path

import numpy as np
import pymap3d
import pytest
from transforms3d.euler import euler2quat, quat2euler

from airsim_double import FakeAirSim
from uavcine.core.camera import PinholeCamera
from uavcine.nodes import msgs
from uavcine.nodes.airsim_bridge import AirSimBridgeNode, AirSimUnreachable, shot_path_enu
from uavcine.nodes.base import RELIABLE, Node, make_params
from uavcine.offline.host import DEFAULT_START_NS, OfflineHost

T0 = DEFAULT_START_NS
REPO = Path(__file__).resolve().parents[1]
TOPICS = ['/camera/image_raw', '/camera/camera_info', '/vehicle/fix', '/vehicle/imu', '/vehicle/gimbal',
          '/vehicle/agl', '/truth/target/fix', '/diagnostics']


@pytest.fixture
def sim():
    s = FakeAirSim()
    yield s
    s.close()


def run(sim, params=None, seconds=1.0, nodes=()):
    host = OfflineHost(strict=True)
    p = {'port': sim.port, 'connect_attempts': 1}
    p.update(params or {})
    node = host.add_node(AirSimBridgeNode, params=p)
    extra = [host.add_node(cls) for cls in nodes]
    caps = {t: host.capture(t) for t in TOPICS}
    try:
        reason = host.run(until_ns=T0 + int(seconds * 1e9))
    finally:
        host.close()
    node.extra, node.reason = extra, reason
    return node, caps


def test_images_camera_info_and_telemetry(sim):
    sim.vehicle_pos = np.array([100.0, 50.0, -30.0])                   # 100 m north, 50 m east, 30 m up
    sim.vehicle_q = euler2quat(math.radians(2), math.radians(-3), math.radians(30), 'sxyz')
    sim.objects['Target_1'] = (130.0, 80.0, 0.0)
    node, caps = run(sim, params={'target_object': 'Target_1'}, seconds=1.0)
    imgs = caps['/camera/image_raw']
    assert len(imgs) == 10
    img = msgs.image_to_numpy(imgs[-1][1])
    assert img.shape == (480, 640, 3)
    assert tuple(img[0, 0]) == (30, 0, 10) and tuple(img[5, 7]) == (30, 7, 10)  # BGR in, RGB out
    cam = PinholeCamera.from_camera_info(caps['/camera/camera_info'][-1][1])
    assert cam.dfov_deg == pytest.approx(92.0, abs=0.01)                        # from the horizontal FOV
    assert cam.fx == pytest.approx(320 / math.tan(math.radians(79.278 / 2)))
    fix = caps['/vehicle/fix'][-1][1]
    lat, lon, alt = pymap3d.ned2geodetic(100, 50, -30, *sim.home)
    assert (fix.latitude, fix.longitude) == pytest.approx((lat, lon), abs=1e-10)
    assert fix.altitude == pytest.approx(alt, abs=1e-6)
    roll, pitch, yaw = quat2euler(msgs.quaternion_wxyz(caps['/vehicle/imu'][-1][1].orientation), 'sxyz')
    assert (roll, pitch, yaw) == pytest.approx((math.radians(2), math.radians(3), math.radians(60)))
    assert caps['/vehicle/agl'][-1][1].range == pytest.approx(30.0)
    # the seed's 15 deg camera pitch, set at start, comes back as the gimbal relative to base_link
    g = quat2euler(msgs.quaternion_wxyz(caps['/vehicle/gimbal'][-1][1].quaternion), 'sxyz')
    assert g == pytest.approx((0.0, math.radians(15), 0.0), abs=1e-9)
    truth = caps['/truth/target/fix'][-1][1]
    assert (truth.latitude, truth.longitude) == pytest.approx(pymap3d.ned2geodetic(130, 80, 0, *sim.home)[:2])
    # every topic of one tick carries the image's stamp (AirSim clock mapped to host time)
    stamps = {t: msgs.stamp_ns(caps[t][-1][1].header.stamp) for t in TOPICS[:6]}
    assert len(set(stamps.values())) == 1 and list(stamps.values())[0] <= caps['/camera/image_raw'][-1][0]
    level, text = node.last_diagnostic[:2]
    assert level == 0 and text == 'connected'
    assert sim.called('simSetCameraPose')[0][0] == 'cinecam'


class GimbalCommander(Node):
    """Publishes one /gimbal/command: 20 deg down, 30 deg to the left of the nose (FLU, relative to base_link)."""

    NAME = 'commander'

    def setup(self):
        self.pub = self.create_publisher('geometry_msgs/msg/QuaternionStamped', 'gimbal/command', RELIABLE)
        self.create_timer(0.25, self.tick)
        self.done = False

    def tick(self):
        if not self.done:
            q = euler2quat(0.0, math.radians(20), math.radians(30), 'sxyz')
            self.pub.publish(self.new('geometry_msgs/msg/QuaternionStamped',
                                      header=msgs.header(self, self.now_ns(), 'base_link'),
                                      quaternion=msgs.quaternion_fields(q)))
            self.done = True


def test_gimbal_command_moves_the_airsim_camera(sim):
    sim.vehicle_q = euler2quat(0.1, -0.05, 1.0, 'sxyz')
    node, caps = run(sim, nodes=[GimbalCommander], seconds=1.0)
    pose = sim.called('simSetCameraPose')[-1]
    q_frd = [pose[1]['orientation'][k] for k in ('w_val', 'x_val', 'y_val', 'z_val')]
    # AirSim's camera frame is FRD: pitch up positive, yaw to the right positive
    assert quat2euler(q_frd, 'sxyz') == pytest.approx((0.0, math.radians(-20), math.radians(-30)))
    assert [pose[1]['position'][k] for k in ('x_val', 'y_val', 'z_val')] == pytest.approx([0.3, 0.0, 0.1])
    g = quat2euler(msgs.quaternion_wxyz(caps['/vehicle/gimbal'][-1][1].quaternion), 'sxyz')
    assert g == pytest.approx((0.0, math.radians(20), math.radians(30)))       # round trip through AirSim
    assert node.stats['gimbal_commands'] == 1


@pytest.mark.parametrize('shot', ['orbit', 'flyby', 'flyover'])
def test_shots_are_flown_through_the_api(sim, shot):
    sim.objects['Target_1'] = (40.0, -20.0, 0.0)                                 # world NED: ENU (-20, 40)
    node, caps = run(sim, params={'shot': shot, 'shot_target_object': 'Target_1', 'shot_distance_m': 30.0,
                                  'shot_heading_deg': 90.0, 'vehicle_start_ned': [5.0, 5.0, 0.0]}, seconds=10.0)
    assert node.reason == 'shutdown requested by airsim: %s shot done' % shot
    order = [m for m, _ in sim.calls if m in ('enableApiControl', 'armDisarm', 'takeoff', 'moveToPosition',
                                               'moveOnPath', 'hover')]
    assert order == ['enableApiControl', 'armDisarm', 'takeoff', 'moveToPosition', 'moveOnPath', 'hover']
    start = np.array(sim.called('moveToPosition')[0][:3])
    path = np.array([[p['x_val'], p['y_val'], p['z_val']] for p in sim.called('moveOnPath')[0][0]])
    pts = np.vstack([start, path]) + np.array([5.0, 5.0, 0.0])                   # vehicle frame -> world
    assert np.allclose(pts[:, 2], -30.0)                                        # 30 m above the ground
    horiz = np.hypot(pts[:, 0] - 40.0, pts[:, 1] + 20.0)
    if shot == 'orbit':
        assert np.allclose(horiz, 30.0)
        ang = np.unwrap(np.arctan2(pts[:, 0] - 40.0, pts[:, 1] + 20.0))        # ENU angle around the target
        assert ang[-1] - ang[0] == pytest.approx(2 * math.pi)                   # one counter-clockwise turn
    else:
        assert horiz.min() == pytest.approx(30.0 if shot == 'flyby' else 0.0, abs=1e-6)
        assert np.allclose(pts[:, 1], -50.0 if shot == 'flyby' else -20.0)    # target on the right: path west of it
        assert pts[-1, 0] - pts[0, 0] == pytest.approx(120.0)                  # ENU heading 90 deg = northwards
    assert sim.called('moveOnPath')[0][3] == 1                                  # ForwardOnly: nose along the path


def test_shot_path_geometry_in_enu():
    p = make_params(AirSimBridgeNode.Params, {'shot_heading_deg': 90.0, 'shot_side': 'right'})
    path = shot_path_enu('flyby', (0.0, 0.0), 2.0, p)
    assert np.allclose(path[:, 2], 32.0)
    assert np.allclose(path[:, 0], -30.0)                     # heading north with the target on the right: west of it
    assert path[-1, 1] - path[0, 1] == pytest.approx(120.0)


def test_lockstep_advances_airsim_by_one_period(sim):
    node, caps = run(sim, params={'lockstep': True, 'rate_hz': 20.0}, seconds=0.5)
    assert sim.called('simPause')[0] == [True]
    assert len(sim.called('simContinueForTime')) == 10
    assert all(p[0] == pytest.approx(0.05) for p in sim.called('simContinueForTime'))
    stamps = [msgs.stamp_ns(m.header.stamp) for _, m in caps['/camera/image_raw']]
    assert np.all(np.diff(stamps) == 50_000_000)
    assert sim.called('simPause')[-1] == [False]                # released at the end


def test_unreachable_server_is_one_clear_error():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    host = OfflineHost()
    with pytest.raises(AirSimUnreachable) as err:
        host.add_node(AirSimBridgeNode, params={'port': port, 'connect_attempts': 2, 'connect_retry_s': 0.05})
    host.close()
    text = str(err.value)
    assert '\n' not in text and 'no usable AirSim server at 127.0.0.1:%d after 2 attempts' % port in text


def test_wrong_camera_name_is_reported(sim):
    host = OfflineHost()
    with pytest.raises(AirSimUnreachable, match='camera .nope. has no field of view'):
        host.add_node(AirSimBridgeNode, params={'port': sim.port, 'camera_name': 'nope', 'connect_attempts': 1})
    host.close()


def test_server_going_away_is_survived_and_reported(sim):
    class Killer(Node):
        NAME = 'killer'

        def setup(self):
            self.n = 0
            self.create_timer(0.5, self.tick)

        def tick(self):
            self.n += 1
            if self.n == 2:
                sim.close()                                          # the server vanishes at t = 1 s

    node, caps = run(sim, nodes=[Killer], seconds=3.0, params={'connect_retry_s': 0.5})
    assert node.stats['rpc_errors'] >= 2 and node.client is None
    levels = [(t, m.status[0].level, m.status[0].message) for t, m in caps['/diagnostics']]
    assert levels[0][1] == 0 and levels[-1][1] == 2 and 'unreachable' in levels[-1][2]
    assert max(t for t, _ in caps['/camera/image_raw']) <= T0 + int(1.05e9)


def test_bad_image_is_dropped_not_fatal(sim):
    sim.fail_images = True
    node, caps = run(sim, seconds=0.5)
    assert not caps['/camera/image_raw'] and node.stats['dropped_images'] == 5
    assert len(caps['/vehicle/fix']) == 5


def test_settings_json_is_the_seed_setup():
    s = json.loads((REPO / 'sim' / 'airsim' / 'settings.json').read_text())
    cam = s['Vehicles']['Drone1']['Cameras']['cinecam']
    cap = cam['CaptureSettings'][0]
    assert (cap['Width'], cap['Height'], cap['ImageType']) == (640, 480, 0)
    f = (640 / 2) / math.tan(math.radians(cap['FOV_Degrees']) / 2)            # AirSim's FOV is horizontal
    assert PinholeCamera(640, 480, f, f, 320, 240).dfov_deg == pytest.approx(92.0, abs=0.005)
    assert cam['Pitch'] == -15.0
    p = make_params(AirSimBridgeNode.Params)
    assert p.camera_name == 'cinecam'
    assert p.camera_position_frd == [cam['X'], cam['Y'], cam['Z']]


class StartThenHold(Node):
    """A director: START at 1 s, HOLD at 3 s (uavcine_interfaces/ShotCommand)."""
    NAME = 'director'

    def setup(self):
        self.pub = self.create_publisher('uavcine_interfaces/msg/ShotCommand', 'shot/command', RELIABLE)
        self.create_timer(1.0, self.tick)
        self.k = 0

    def tick(self):
        self.k += 1
        name = {1: 'START', 3: 'HOLD'}.get(self.k)
        if name:
            self.pub.publish(self.new('uavcine_interfaces/msg/ShotCommand', command_name=name, source='test'))


def test_shot_waits_for_start_and_holds_on_command(sim):
    sim.objects['Target_1'] = (40.0, -20.0, 0.0)
    params = {'shot': 'orbit', 'shot_target_object': 'Target_1', 'shot_on_command': True}
    node, _ = run(sim, params=params, seconds=0.9)
    assert not sim.called('takeoff') and node.shot_state == 'waiting'            # no START yet: on the ground
    sim.calls.clear()
    node, _ = run(sim, params=params, seconds=3.5, nodes=[StartThenHold])
    order = [m for m, _ in sim.calls if m in ('takeoff', 'moveToPosition', 'hover')]
    assert order[0] == 'takeoff' and order[-1] == 'hover' and node.shot_state == 'done'
