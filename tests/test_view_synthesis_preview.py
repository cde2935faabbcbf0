"""Shot previews on topics (issue #17): the camera pose geo publishes, the target moved along its forecast,
the planned shot flown on from the camera, and the view_synthesis node's topic mode in the offline host
(previews at a rate, a rate changed at run time, missing inputs give a reason and no preview)."""
import math
from dataclasses import dataclass

import numpy as np
import pytest
from transforms3d.quaternions import mat2quat, quat2mat

from test_geo_node import CAM, FIXED_ORIGIN, TARGET, Flight
from test_view_synthesis import request, tiny_checkpoint
from uavcine.core.camera import camera_rotation
from uavcine.core.geoposition import GeoConfig, Geopositioner, Telemetry
from uavcine.core.shot_geometry import ShotPlan, TargetPath, continue_shot, plan_shot
from uavcine.core.terrain import HeightMap
from uavcine.nodes import msgs
from uavcine.nodes.base import RELIABLE, SENSOR_DATA, Node, param
from uavcine.nodes.geo import GeoNode
from uavcine.nodes.view_synthesis import ViewSynthesisNode
from uavcine.offline.host import OfflineHost


@pytest.fixture(scope='module')
def model_path(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp('nvs_preview') / 'tiny.pt')


# --- core: the target's path, the shot flown on ---------------------------------------------------------
def test_target_path_is_piecewise_straight_and_goes_on_at_its_end_velocities():
    path = TargetPath([0.0, 2.0, 4.0], [[0, 0, 1], [4, 0, 1], [4, 6, 1]])
    p, v = path.at(1.0)
    np.testing.assert_allclose(p, [2, 0, 1])
    np.testing.assert_allclose(v, [2, 0, 0])
    p, v = path.at(6.0)                       # after the forecast's horizon: its last velocity
    np.testing.assert_allclose(p, [4, 12, 1])
    np.testing.assert_allclose(v, [0, 3, 0])
    np.testing.assert_allclose(path.at(-1.0)[0], [-2, 0, 1])
    for bad in ([[0.0], [[0, 0, 0]]], [[0.0, 0.0], [[0, 0, 0], [1, 0, 0]]], [[0.0, 1.0], [[0, 0, 0], [np.nan, 0, 0]]]):
        with pytest.raises(ValueError):
            TargetPath(*bad)


def test_constant_velocity_is_the_straight_path_and_a_forecast_that_turns_turns_the_shot():
    plan = ShotPlan(type='CHASE', distance_m=10.0)
    times = [0.0, 2.0, 4.0, 6.0]
    cv, _ = plan_shot(plan, [0, 0, 0], [3.0, 0, 0], times)
    same, _ = plan_shot(plan, [5, 5, 5], [0, 0, 0], times, TargetPath.constant_velocity([0, 0, 0], [3.0, 0, 0]))
    np.testing.assert_allclose(same, cv)
    # a forecast: east for 2 s, then north; the CHASE camera goes behind the target along its new heading
    turn = TargetPath([0.0, 2.0, 4.0], [[0, 0, 0], [6, 0, 0], [6, 6, 0]])
    poses, targets = plan_shot(plan, [0, 0, 0], [3.0, 0, 0], times, turn)
    np.testing.assert_allclose(targets[-1], [6, 12, 0])
    np.testing.assert_allclose(poses[-1, :2, 3], [6, 2], atol=1e-9)       # 10 m south of it
    np.testing.assert_allclose(poses[0, :2, 3], [-10, 0], atol=1e-9)      # 10 m west, before the turn
    np.testing.assert_allclose(cv[-1, :2, 3], [8, 0], atol=1e-9)          # constant velocity: still east


def test_continue_shot_starts_where_the_camera_is():
    target = np.array([10.0, -5.0, 0.0])
    cam = target + [-20.0, 20.0, 25.0]          # 135 deg from the target
    orbit = continue_shot(ShotPlan(type='ORBIT', distance_m=math.hypot(20, 20), speed_mps=5.0), cam[:2], target[:2])
    assert orbit.start_angle_deg == pytest.approx(135.0)
    poses, _ = plan_shot(orbit, target, [0, 0, 0], [0.0, 1.0])
    np.testing.assert_allclose(poses[0, :2, 3], cam[:2], atol=1e-9)
    fly = ShotPlan(type='FLYBY', distance_m=20.0, speed_mps=4.0, heading_deg=90.0, t_closest_s=99.0)
    on = continue_shot(fly, cam[:2], target[:2])
    assert on.t_closest_s == pytest.approx(-20.0 / 4.0)    # 20 m past the target along north: passed 5 s ago
    poses, _ = plan_shot(on, target, [0, 0, 0], [0.0])
    assert poses[0, 1, 3] == pytest.approx(cam[1])         # the same place along the pass
    chase = ShotPlan(type='CHASE')
    assert continue_shot(chase, cam[:2], target[:2]) == chase


# --- core: the camera pose geo publishes --------------------------------------------------------------
def test_camera_pose_is_the_rays_chain_with_true_yaw_and_the_terrain_height():
    rpy, grpy = (0.02, -0.05, 1.0), (0.0, 0.3, -0.2)
    geo = Geopositioner(CAM, GeoConfig(heading_is_magnetic=True, declination_deg=10.0))
    c, R = geo.camera_pose(Telemetry([1.0, 2.0, 40.0], rpy, grpy, 30.0))
    np.testing.assert_allclose(c, [1, 2, 40])
    np.testing.assert_allclose(R, camera_rotation((0.02, -0.05, 1.0 - math.radians(10.0)), grpy), atol=1e-12)
    hills = HeightMap(-100.0, -100.0, 10.0, np.full((21, 21), 7.0))
    c, _ = Geopositioner(CAM, GeoConfig(), hills).camera_pose(Telemetry([1.0, 2.0, 40.0], rpy, grpy, 30.0))
    assert c[2] == pytest.approx(37.0)                     # AGL above the ground under the drone
    assert geo.camera_pose(Telemetry([np.nan, 0, 0], rpy, grpy, 30.0)) is None
    assert geo.camera_pose(Telemetry([0, 0, 0], rpy, grpy, None)) is None   # altitude_source agl needs AGL


# --- the topic mode -----------------------------------------------------------------------------------
@dataclass
class CameraFeedParams:
    rate_hz: float = param(10.0, 'Image rate, as the Flight')
    forecast: str = param('', "'' none, 'fresh' or 'stale': forecast/path of the target, north at 1 m/s")
    constant: bool = param(False, 'The same image every frame (else noise)')
    truth: bool = param(False, "Publish /truth/camera_pose: the Flight's camera")


class CameraFeed(Node):
    """The images (and, if asked, a forecast of the target) beside test_geo_node's Flight, at its stamps."""
    NAME = 'camera_feed'
    Params = CameraFeedParams

    def setup(self):
        self.image = self.create_publisher('sensor_msgs/msg/Image', 'camera/image_raw', SENSOR_DATA)
        self.path = self.create_publisher('nav_msgs/msg/Path', 'forecast/path', RELIABLE)
        self.truth = self.create_publisher('geometry_msgs/msg/PoseStamped', 'truth/camera_pose', RELIABLE)
        self.create_timer(1.0 / self.p.rate_hz, self.tick)
        self.rng = np.random.default_rng(0)
        self.n = 0

    def tick(self):
        t = self.now_ns()
        self.n += 1
        img = self.rng.integers(0, 255, (CAM.height, CAM.width, 3), dtype=np.uint8)
        if self.p.constant:
            img = np.random.default_rng(5).integers(0, 255, (CAM.height, CAM.width, 3), dtype=np.uint8)
        if self.p.truth:
            R = camera_rotation((0.0, 0.0, math.pi / 2), (0.0, math.radians(15.0), 0.0))
            self.truth.publish(self.new('geometry_msgs/msg/PoseStamped', header=msgs.header(self, t, 'map'), pose={
                'position': {'x': 0.0, 'y': 6.0 * self.n / 10.0, 'z': 30.0},
                'orientation': msgs.quaternion_fields(mat2quat(R))}))
        self.image.publish(msgs.numpy_to_image(self, img, t, 'camera_optical'))
        if self.p.forecast:
            t0 = t - (0 if self.p.forecast == 'fresh' else 5 * 10**9)
            self.path.publish(self.new('nav_msgs/msg/Path', header=msgs.header(self, t0, 'map'), poses=[
                {'header': msgs.header(self, t0 + int(k * 0.4e9), 'map'),
                 'pose': {'position': {'x': TARGET[0], 'y': TARGET[1] + 0.4 * k, 'z': 0.0}, 'orientation': {'w': 1.0}}}
                for k in range(13)]))


def preview_run(model_path, vs=None, feed=None, geo=True, until_s=None, bag=None):
    host = OfflineHost(bag)
    host.add_node(Flight, {'frames': 40})
    host.add_node(CameraFeed, feed or {})
    if geo:
        host.add_node(GeoNode, dict(FIXED_ORIGIN, kalman=False))
    params = dict(model=str(model_path), preview_rate_hz=1.0, preview_views=3, shot_type='ORBIT', shot_radius_m=40.0,
                  shot_height_m=25.0, shot_speed_mps=8.0, shot_duration_s=3.0)
    params.update(vs or {})
    node = host.add_node(ViewSynthesisNode, params)
    caps = {k: host.capture(k) for k in ('/camera/pose_enu', '/view_synthesis/preview/image', '/diagnostics',
                                          '/view_synthesis/preview/poses', '/view_synthesis/preview/path')}
    if until_s is None:
        host.run()
        host.close()
    return host, node, caps


def test_geo_publishes_the_camera_pose_of_each_tracked_frame(model_path):
    _, _, caps = preview_run(model_path, vs={'preview_rate_hz': 0.0})
    poses = caps['/camera/pose_enu']
    assert len(poses) >= 39
    t0 = poses[0][1]
    for _, msg in poses[::10]:
        n = round((msgs.stamp_ns(msg.header.stamp) - msgs.stamp_ns(t0.header.stamp)) / 1e8) + 1   # Flight's tick
        p = msg.pose.position
        np.testing.assert_allclose([p.x, p.y, p.z], [0.0, 6.0 * n / 10.0, 30.0], atol=1e-3)
        R = quat2mat(msgs.quaternion_wxyz(msg.pose.orientation))
        np.testing.assert_allclose(R, camera_rotation((0.0, 0.0, math.pi / 2), (0.0, math.radians(15.0), 0.0)),
                                   atol=1e-9)
        assert msg.header.frame_id == 'map'


def test_previews_of_the_planned_shot_at_the_rate(model_path):
    _, node, caps = preview_run(model_path)
    images, paths = caps['/view_synthesis/preview/image'], caps['/view_synthesis/preview/path']
    assert len(paths) == 4 and len(images) == 4 * 3 and node.previews == 4    # 4 s of flight at 1 Hz: 1, 2, 3, 4 s
    views = caps['/view_synthesis/preview/poses']
    for (_, path), (_, vp) in zip(paths, views):
        src = msgs.stamp_ns(path.header.stamp)
        assert [msgs.stamp_ns(q.header.stamp) - src for q in vp.poses] == [10**9, 2 * 10**9, 3 * 10**9]
        # the ORBIT flown on from the camera: it starts on the camera's bearing from the target, 40 m from it
        first = path.poses[0].pose.position
        n = round((src - msgs.stamp_ns(caps['/camera/pose_enu'][0][1].header.stamp)) / 1e8) + 1
        cam_bearing = math.atan2(6.0 * n / 10.0 - TARGET[1], 0.0 - TARGET[0])
        assert math.atan2(first.y - TARGET[1], first.x - TARGET[0]) == pytest.approx(cam_bearing, abs=1e-4)
        for q in vp.poses:
            d = math.hypot(q.pose.position.x - TARGET[0], q.pose.position.y - TARGET[1])
            assert d == pytest.approx(40.0, abs=1e-3) and q.pose.position.z == pytest.approx(TARGET[2] + 25.0, abs=1e-3)
    _, im = images[0]
    assert (im.width, im.height, im.encoding) == (64, 48, 'rgb8')
    ok = [s for _, d in caps['/diagnostics'] for s in d.status if s.name == 'view_synthesis: preview']
    assert ok and ok[-1].level == 0 and 'constant velocity (no forecast/path)' in ok[-1].message


def test_preview_max_and_a_rate_set_at_run_time(model_path):
    host, node, caps = preview_run(model_path, vs={'preview_rate_hz': 0.0}, until_s=1.5)
    host.run(until_ns=host.start_time_ns() + int(1.5e9))
    assert not caps['/view_synthesis/preview/image']
    ok, why = node.set_parameters({'preview_rate_hz': 4.0, 'preview_max': 2})
    assert ok, why
    host.run()
    host.close()
    assert node.previews == 2 and len(caps['/view_synthesis/preview/path']) == 2


@pytest.mark.parametrize('feed, words', [('fresh', 'along forecast/path (13 poses over 4.8 s)'),
                                         ('stale', 'constant velocity (forecast/path starts 5.')])
def test_the_target_moves_along_a_fresh_forecast(model_path, feed, words):
    _, node, caps = preview_run(model_path, vs={'shot_type': 'CHASE', 'shot_radius_m': 10.0, 'preview_max': 1},
                                feed={'forecast': feed})
    (_, vp), = caps['/view_synthesis/preview/poses']
    assert words in node.last_motion
    last = vp.poses[-1].pose.position
    if feed == 'fresh':   # north at 1 m/s for 3 s: the CHASE camera 10 m south of it
        np.testing.assert_allclose([last.x, last.y], [TARGET[0], TARGET[1] + 3.0 - 10.0], atol=0.1 + 1e-6)
    else:                 # the static GeoTarget and no heading: behind it along heading_deg 0 (east)
        np.testing.assert_allclose([last.x, last.y], [TARGET[0] - 10.0, TARGET[1]], atol=0.05)


def test_missing_inputs_give_no_preview_and_the_reason(model_path, tmp_path):
    _, node, caps = preview_run(model_path, geo=False)
    assert not caps['/view_synthesis/preview/image'] and node.previews == 0
    msgs_ = [s.message for _, d in caps['/diagnostics'] for s in d.status]
    assert msgs_ and all(m.startswith('no preview: no camera pose yet') for m in msgs_)
    _, node, caps = preview_run(tmp_path / 'none.pt')
    assert node.previews == 0 and 'model not found' in node.last_preview
    _, node, caps = preview_run(model_path, vs={'max_target_age_s': 0.0, 'max_pose_gap_s': 0.0})
    assert node.previews == 4      # exact stamps pair: geo answers at the image's stamp


def test_preview_vs_flown_strip_from_a_bag(model_path, tmp_path):
    from uavcine.apps.preview_report import compare, read_preview, section_html
    preview_run(model_path, vs={'preview_max': 1}, feed={'constant': True, 'truth': True}, bag=tmp_path / 'bag')
    part, line = section_html('test shot', tmp_path / 'bag', tmp_path)
    png = tmp_path / 'preview_vs_flown.png'
    assert 'preview_vs_flown.png' in part and png.is_file() and png.stat().st_size < 300_000
    pre = read_preview(tmp_path / 'bag')
    rows = compare(pre)
    assert [r['t_s'] for r in rows] == [1.0, 2.0, 3.0] and pre['source_s'] == pytest.approx(0.8)   # the 0.9 s frame: the timer runs first at 1 s
    # the camera filmed the same image all along: copying the source is exact (PSNR capped at 100 dB)
    assert all(r['copy'] == (100.0, 1.0) for r in rows) and all(r['model'][0] < 100.0 for r in rows)
    # planned (an ORBIT from the camera) vs flown (north at 6 m/s), both from the source camera
    src = pre['source_pose_geo'][:3, 3]
    for r, v in zip(rows, pre['views']):
        want = np.linalg.norm(v['planned'][:3, 3] - src - [0.0, 6.0 * r['t_s'], 0.0])
        assert r['displacement_m'] == pytest.approx(want, abs=1e-3) and r['displacement_m'] > 1.0
    assert line.startswith('preview vs flown, PSNR dB per view (model | copy source): ') and '| 100.0' in line
    # a bag without a preview: the section says so
    preview_run(model_path, vs={'preview_rate_hz': 0.0}, bag=tmp_path / 'bag2')
    part, line = section_html('test shot', tmp_path / 'bag2', tmp_path)
    assert 'no preview in the bag' in part and line.startswith('no preview')


@pytest.mark.parametrize('use_forecast', [True, False])
def test_service_moves_a_geotarget_along_a_fresh_forecast(model_path, use_forecast):
    host = OfflineHost()
    node = host.add_node(ViewSynthesisNode, {'model': str(model_path), 'use_forecast': use_forecast})
    t0 = 10**18    # the request's source stamp
    node.on_forecast(host.new('nav_msgs/msg/Path', {'header': msgs.header(node, t0, 'map'), 'poses': [
        {'header': msgs.header(node, t0 + k * 10**9, 'map'), 'pose': {'position': {'x': 0.0, 'y': 2.0 * k}}}
        for k in range(4)]}))    # north at 2 m/s
    req = request(host, shot_type='CHASE', radius_m=10.0, duration_s=2.0, n=2, use_geotarget=True,
                  target=dict(position_enu=dict(x=0.0, y=0.0, z=5.0), velocity_enu=dict(x=1.0, y=0.0, z=0.0)))
    res = host.call_service('/view_synthesis/synthesize_shot', req)
    assert res.success, res.message
    last = res.poses[-1].pose.position
    if use_forecast:
        assert 'target along forecast/path (4 poses over 3.0 s)' in res.message
        np.testing.assert_allclose([last.x, last.y, last.z], [0.0, 4.0 - 10.0, 5.0 + 20.0], atol=1e-9)
    else:                # its GeoTarget velocity: east at 1 m/s
        assert 'constant velocity (use_forecast is off)' in res.message
        np.testing.assert_allclose([last.x, last.y], [2.0 - 10.0, 0.0], atol=1e-9)


def test_the_image_buffer_keeps_image_buffer_s_and_restarts_when_time_goes_back(model_path):
    host = OfflineHost()
    node = host.add_node(ViewSynthesisNode, {'model': str(model_path), 'image_buffer_s': 0.5})
    img = np.zeros((48, 64, 3), np.uint8)
    for k in range(20):
        node.on_image(msgs.numpy_to_image(node, img, 10**18 + k * 10**8, 'camera_optical'))
    assert [ns for ns, _ in node.images] == [10**18 + k * 10**8 for k in range(14, 20)]
    node.on_image(msgs.numpy_to_image(node, img, 10**17, 'camera_optical'))     # a clock jump back
    assert [ns for ns, _ in node.images] == [10**17]


@pytest.mark.parametrize('bad, reason', [
    ('geo_nan', 'target (target/geo) position or velocity is not finite'),
    ('geo_old', 'is 2.00 s from the source image'),
    ('pose_quaternion', 'orientation is not a finite unit quaternion'),
    ('image_encoding', 'unsupported image encoding'),
    ('no_info', 'no CameraInfo yet'),
    ('pose_far', 'no image within max_pose_gap_s of a camera pose'),
])
def test_bad_inputs_give_no_preview_and_the_reason(model_path, bad, reason):
    host = OfflineHost()
    node = host.add_node(ViewSynthesisNode, {'model': str(model_path)})
    diags = host.capture('/diagnostics')
    t = 10**18
    img = msgs.numpy_to_image(node, np.zeros((48, 64, 3), np.uint8), t, 'camera_optical')
    if bad == 'image_encoding':
        img.encoding = 'yuv422_yuy2_x'
    node.on_image(img)
    if bad != 'no_info':
        node.on_camera_info(host.new('sensor_msgs/msg/CameraInfo', {'width': 64, 'height': 48,
                                                                    'k': CAM.K.ravel() / 10.0}))
    pose_ns = t + (10**9 if bad == 'pose_far' else 0)
    node.on_camera_pose(host.new('geometry_msgs/msg/PoseStamped', {
        'header': msgs.header(node, pose_ns, 'map'),
        'pose': {'orientation': {'w': 2.0} if bad == 'pose_quaternion' else {'w': 1.0}}}))
    geo_ns = t - (2 * 10**9 if bad == 'geo_old' else 0)
    node.on_geo(host.new('uavcine_interfaces/msg/GeoTarget', {
        'header': msgs.header(node, geo_ns, 'map'),
        'position_enu': {'x': float('nan') if bad == 'geo_nan' else 30.0}}))
    node.on_preview_timer()
    host.run()    # delivers what the node published (no sources: it returns at once)
    assert node.previews == 0 and reason in node.last_preview, node.last_preview
    (_, d), = diags
    assert d.status[0].level == 1 and reason in d.status[0].message
