"""GeoNode through the offline host: pairing by stamp, staleness, outputs, filtering, bad input."""
import math
from dataclasses import dataclass

import numpy as np
import pytest
from transforms3d.euler import euler2quat

from uavcine.core.camera import PinholeCamera, camera_rotation, world_to_camera
from uavcine.core.geoposition import FLAG_FILTERED, FLAG_TRUNCATED, CHI2_2DOF_95, LocalFrame, mahalanobis2_xy
from uavcine.nodes import load_node_class, msgs
from uavcine.nodes.base import RELIABLE, SENSOR_DATA, Node, ParamError, param
from uavcine.nodes.geo import GeoNode
from uavcine.offline.host import OfflineHost

CAM = PinholeCamera.from_dfov(640, 480, 92.0)
ORIGIN = LocalFrame(40.6401, 22.9444, 50.0)
TARGET = np.array([20.0, 120.0, 0.0])  # ENU, on flat ground at the origin's height


@dataclass
class FlightParams:
    frames: int = param(30, 'Images to send')
    rate_hz: float = param(10.0, 'Image rate')
    telemetry_lag_s: float = param(0.0, 'Telemetry stamps lag the image by this')
    drop_imu_after: int = param(-1, 'Stop sending IMU after this frame (-1: never)')
    nan_fix_at: int = param(-1, 'Frame whose fix is NaN')
    speed: float = param(6.0, 'Drone speed north, m/s')
    noise: bool = param(False, 'Add white attitude noise')
    class_id: str = param('thing', 'Class of the tracked box')
    quality: float = param(0.9, "The track's quality (predicted IoU)", min=0.0, max=1.0)


class Flight(Node):
    """A drone flying north at 30 m AGL, camera 15 deg down, sending exact boxes of a static person."""
    NAME = 'flight'
    Params = FlightParams

    def setup(self):
        self.fix = self.create_publisher('sensor_msgs/msg/NavSatFix', 'vehicle/fix', SENSOR_DATA)
        self.imu = self.create_publisher('sensor_msgs/msg/Imu', 'vehicle/imu', SENSOR_DATA)
        self.gimbal = self.create_publisher('geometry_msgs/msg/QuaternionStamped', 'vehicle/gimbal', SENSOR_DATA)
        self.agl = self.create_publisher('sensor_msgs/msg/Range', 'vehicle/agl', SENSOR_DATA)
        self.info_pub = self.create_publisher('sensor_msgs/msg/CameraInfo', 'camera/camera_info', SENSOR_DATA)
        self.track = self.create_publisher('uavcine_interfaces/msg/Track', 'target/track', RELIABLE)
        self.create_timer(1.0 / self.p.rate_hz, self.tick)
        self.n = 0
        self.rng = np.random.default_rng(0)

    def tick(self):
        self.n += 1
        t = self.now_ns()
        tt = t - int(self.p.telemetry_lag_s * 1e9)
        veh = np.array([0.0, self.p.speed * self.n / self.p.rate_hz, 30.0])
        rpy = np.array([0.0, 0.0, math.pi / 2])
        grpy = np.array([0.0, math.radians(15.0), 0.0])
        lat, lon, alt = ORIGIN.to_geodetic(veh - [0.0, self.p.speed * self.p.telemetry_lag_s, 0.0])  # at its stamp
        if self.n == self.p.nan_fix_at:
            lat = float('nan')
        self.fix.publish(self.new('sensor_msgs/msg/NavSatFix', header=msgs.header(self, tt, 'gps'),
                                  latitude=lat, longitude=lon, altitude=alt))
        noisy = rpy + (np.radians(self.rng.normal(0, 0.5, 3)) if self.p.noise else 0.0)
        if self.p.drop_imu_after < 0 or self.n <= self.p.drop_imu_after:
            self.imu.publish(self.new('sensor_msgs/msg/Imu', header=msgs.header(self, tt, 'base_link'),
                                      orientation=msgs.quaternion_fields(euler2quat(*noisy, 'sxyz'))))
        self.gimbal.publish(self.new('geometry_msgs/msg/QuaternionStamped', header=msgs.header(self, tt, 'base_link'),
                                     quaternion=msgs.quaternion_fields(euler2quat(*grpy, 'sxyz'))))
        self.agl.publish(self.new('sensor_msgs/msg/Range', header=msgs.header(self, tt, 'base_link'),
                                  range=30.0, min_range=0.1, max_range=100.0))
        fields = CAM.camera_info_fields()
        self.info_pub.publish(self.new('sensor_msgs/msg/CameraInfo', header=msgs.header(self, t, 'camera_optical'),
                                       **fields))
        R = camera_rotation(rpy, grpy)
        foot, head = CAM.project(world_to_camera(np.array([TARGET, TARGET + [0, 0, 1.75]]), veh, R))
        box = (min(foot[0], head[0]) - 5, head[1], abs(foot[0] - head[0]) + 10, foot[1] - head[1])
        self.track.publish(self.new('uavcine_interfaces/msg/Track', header=msgs.header(self, t, 'camera_optical'),
                                    track_id=1, class_id=self.p.class_id, bbox=msgs.bbox_fields(*box), state=2,
                                    quality=self.p.quality))
        if self.n == self.p.frames:
            self.request_shutdown('done')


FIXED_ORIGIN = {'origin_from_first_fix': False, 'origin_lat': ORIGIN.lat0, 'origin_lon': ORIGIN.lon0,
                'origin_alt': ORIGIN.alt0}


def run(flight=None, geo=None):
    host = OfflineHost()
    host.add_node(Flight, flight or {})
    node = host.add_node(GeoNode, geo if geo is not None and 'origin_from_first_fix' in geo
                         else dict(FIXED_ORIGIN, **(geo or {})))
    caps = {k: host.capture(k) for k in ('/target/geo', '/target/fix', '/target/point_enu')}
    host.run()
    host.close()
    return node, caps


def test_registered():
    assert load_node_class('geo') is GeoNode


def test_exact_boxes_give_the_target_on_all_three_topics():
    node, caps = run(geo={'kalman': False})
    assert len(caps['/target/geo']) == 30 and not node.rejected
    _, g = caps['/target/geo'][-1]
    np.testing.assert_allclose([g.position_enu.x, g.position_enu.y, g.position_enu.z], TARGET, atol=1e-3)
    assert g.flags & FLAG_TRUNCATED == 0 and g.flags & FLAG_FILTERED == 0
    assert g.header.frame_id == 'map' and g.track_id == 1 and g.class_id == 'thing'
    veh_y = 6.0 * 30 / 10.0
    assert g.range_m == pytest.approx(math.hypot(20.0, 120.0 - veh_y), abs=1e-3)
    assert math.degrees(g.bearing_rad) == pytest.approx(math.degrees(math.atan2(20.0, 120.0 - veh_y)), abs=1e-3)
    cov = np.asarray(g.covariance_enu_xy).reshape(2, 2)
    assert np.all(np.linalg.eigvalsh(cov) > 1.5 ** 2 * 0.99)  # at least the GPS sigma
    _, fix = caps['/target/fix'][-1]
    lat, lon, alt = ORIGIN.to_geodetic(TARGET)
    assert (fix.latitude, fix.longitude) == pytest.approx((lat, lon), abs=1e-8)
    assert fix.position_covariance_type == 3
    np.testing.assert_allclose(np.asarray(fix.position_covariance).reshape(3, 3)[:2, :2], cov)
    _, pt = caps['/target/point_enu'][-1]
    assert pt.header.frame_id == 'map' and pt.point.y == pytest.approx(120.0, abs=1e-3)


def test_gps_altitude_source_keeps_the_box_height():
    """altitude_source gps over flat ground at flat_ground_alt_m: the ground's height must not replace the box's
    (it did: the box then had the plane's height, here 0 px, and every estimate was refused)."""
    node, caps = run(geo={'kalman': False, 'altitude_source': 'gps', 'flat_ground_alt_m': ORIGIN.alt0,
                          'sigma_gps_v_m': 0.0})
    assert len(caps['/target/geo']) == 30 and not node.rejected
    _, g = caps['/target/geo'][-1]
    np.testing.assert_allclose([g.position_enu.x, g.position_enu.y], TARGET[:2], atol=0.05)


def test_origin_from_first_fix():
    node, caps = run(geo={'kalman': False, 'origin_from_first_fix': True})
    first = ORIGIN.to_geodetic([0.0, 6.0 / 10.0, 30.0])  # the first fix
    assert node.frame.lat0 == pytest.approx(first[0])
    _, fix = caps['/target/fix'][-1]
    assert (fix.latitude, fix.longitude) == pytest.approx(ORIGIN.to_geodetic(TARGET)[:2], abs=1e-8)


def test_filter_reduces_white_attitude_noise_and_stays_consistent():
    raw_node, raw = run({'noise': True, 'frames': 60}, {'kalman': False})
    # a static target; this flight's GPS is exact and its attitude noise white: GPS all bias, attitude all white
    _, filt = run({'noise': True, 'frames': 60}, {'kalman': True, 'accel_sigma': 0.05, 'correlated_fractions': [1.0],
                                                  'correlated_sources': ['gps', 'box_shape']})
    err = lambda cap: [math.hypot(m.position_enu.x - TARGET[0], m.position_enu.y - TARGET[1]) for _, m in cap[-20:]]
    assert np.median(err(filt['/target/geo'])) < 0.5 * np.median(err(raw['/target/geo']))
    _, last = filt['/target/geo'][-1]
    assert last.flags & FLAG_FILTERED
    cov = np.asarray(last.covariance_enu_xy).reshape(2, 2)
    # GPS (1.5 m) is a bias here: the filter does not average it away
    assert np.all(np.linalg.eigvalsh(cov) >= 1.5 ** 2 * 0.99)
    assert mahalanobis2_xy(TARGET, [last.position_enu.x, last.position_enu.y], cov) <= CHI2_2DOF_95


def test_default_white_shares_half_of_gps_and_attitude_are_averaged():
    """The defaults (the simulator's sensors: half of the GPS's and the IMU's variance white) fuse that half and
    keep the other half of the GPS's variance as a bias on the output: less than the whole GPS, more than half."""
    node, _ = run({'frames': 3}, {'kalman': True})
    assert node.correlated == {'gps': 0.5, 'attitude': 0.5, 'box_shape': 1.0, 'class_height': 1.0,
                               'class_depth': 1.0, 'box_fit': 1.0}
    assert node.filter.correlated == node.correlated
    _, bias = run({'frames': 60}, {'kalman': True, 'accel_sigma': 0.05, 'correlated_fractions': [1.0]})
    _, half = run({'frames': 60}, {'kalman': True, 'accel_sigma': 0.05})
    eig = lambda cap: np.linalg.eigvalsh(np.asarray(cap['/target/geo'][-1][1].covariance_enu_xy).reshape(2, 2))
    assert np.all(eig(half) >= 0.5 * 1.5 ** 2 * 0.99)      # the drifting half stays
    assert np.all(eig(half) < eig(bias))                    # the white half is averaged down


def test_a_less_sure_box_gives_a_wider_ellipse_kept_as_a_bias():
    """The track's quality (predicted IoU) sets the box_fit source: a lower quality, a wider published covariance;
    the tracker's misfit persists from frame to frame, so the filter does not average it down (a correlated source)."""
    area = lambda cap: np.linalg.det(np.asarray(cap['/target/geo'][-1][1].covariance_enu_xy).reshape(2, 2))
    _, sure = run({'frames': 40, 'quality': 1.0}, {'kalman': True})
    _, unsure = run({'frames': 40, 'quality': 0.6}, {'kalman': True})
    _, off = run({'frames': 40, 'quality': 0.6}, {'kalman': True, 'box_fit_sigma': 0.0})
    assert area(unsure) > 1.3 * area(sure)  # a person 100 m away: a few px of misfit, ~1.5x the area
    assert area(off) == pytest.approx(area(sure), rel=1e-6)
    # fused as white noise instead, 40 frames would average the misfit down
    _, white = run({'frames': 40, 'quality': 0.6}, {'kalman': True, 'correlated_fractions': [0.5, 0.5, 1.0, 1.0, 1.0],
                                                    'correlated_sources': ['gps', 'attitude', 'box_shape',
                                                                           'class_height', 'class_depth']})
    assert area(white) < area(sure) + 0.5 * (area(unsure) - area(sure))


def test_process_noise_is_picked_by_the_tracks_class():
    """class_accel_sigmas per class of class_names (a car brakes harder than a person walks), accel_sigma for the
    rest; the filter of a car's track lets its velocity move more (a larger velocity covariance)."""
    cov_v = {}
    for cls, want in (('person', 0.5), ('car', 1.0), ('thing', 0.3)):
        node, caps = run({'class_id': cls, 'frames': 20}, {'kalman': True, 'accel_sigma': 0.3,
                                                            'class_accel_sigmas': [0.5, 1.0, 0.5]})
        assert node.accel_sigma_of(cls) == want
        assert node.filter.kf.cfg.accel_sigma == want
        cov_v[cls] = np.trace(np.reshape(caps['/target/geo'][-1][1].velocity_covariance_enu_xy, (2, 2)))
    assert cov_v['thing'] < cov_v['person'] < cov_v['car']
    node, _ = run({'class_id': 'car', 'frames': 3}, {'kalman': True})
    assert node.filter.kf.cfg.accel_sigma == 1.0     # the default for a car (docs/kalman_consistency.md)
    host = OfflineHost()
    with pytest.raises(ParamError, match='class_accel_sigmas'):
        host.add_node(GeoNode, dict(FIXED_ORIGIN, class_accel_sigmas=[0.5]))


def test_stale_and_missing_telemetry_give_no_estimate():
    node, caps = run({'telemetry_lag_s': 0.5}, {'staleness_s': 0.2, 'fix_staleness_s': 0.2})
    assert not caps['/target/geo'] and node.rejected['stale_fix'] == 30
    node, caps = run({'drop_imu_after': 10, 'frames': 20}, {'staleness_s': 0.25})
    assert len(caps['/target/geo']) == 12  # the last IMU sample stays fresh for 2 more frames
    assert node.rejected['stale_imu'] == 8


def test_nan_fix_is_dropped_and_the_node_keeps_running():
    node, caps = run({'nan_fix_at': 5, 'frames': 10}, {'fix_staleness_s': 0.05, 'kalman': False})
    assert len(caps['/target/geo']) == 9 and node.rejected['stale_fix'] == 1
    node, caps = run({'nan_fix_at': 5, 'frames': 10}, {'fix_staleness_s': 0.15, 'kalman': False})
    assert len(caps['/target/geo']) == 10  # frame 5 extrapolated from the fixes of frames 3 and 4
    _, g = caps['/target/geo'][4]
    assert g.position_enu.y == pytest.approx(TARGET[1], abs=1e-3)


def test_late_fixes_are_extrapolated_to_the_image_stamp():
    # fixes stamped 0.15 s before each image: nearest-in-time would put the drone 0.9 m behind
    node, caps = run({'telemetry_lag_s': 0.15}, {'kalman': False})
    assert len(caps['/target/geo']) == 30
    _, g = caps['/target/geo'][-1]
    np.testing.assert_allclose([g.position_enu.x, g.position_enu.y], TARGET[:2], atol=1e-3)


def test_fixed_gimbal_and_dfov_camera_without_those_topics():
    node, caps = run(geo={'gimbal_source': 'fixed', 'camera_source': 'dfov', 'kalman': False})
    _, g = caps['/target/geo'][-1]
    assert g.position_enu.y == pytest.approx(120.0, abs=1e-3)
    assert not any(s.topic in ('/vehicle/gimbal', '/camera/camera_info') for s in node.subscriptions)


def test_bad_parameters_are_one_line_errors(tmp_path):
    host = OfflineHost()
    with pytest.raises(ParamError, match='same length'):
        host.add_node(GeoNode, {'class_heights_m': [1.0]})
    with pytest.raises(ParamError, match='origin_from_first_fix'):
        host.add_node(GeoNode, {'terrain_file': str(tmp_path / 'x.npz')})
    with pytest.raises(ParamError, match='terrain_file'):
        host.add_node(GeoNode, {'terrain_file': str(tmp_path / 'x.npz'), 'origin_from_first_fix': False})
    with pytest.raises(ParamError, match='correlated_sources'):
        host.add_node(GeoNode, {'correlated_sources': ['gpss']})


def test_terrain_file_is_loaded(tmp_path):
    path = tmp_path / 'flat.npz'
    np.savez(path, x0=-500.0, y0=-500.0, resolution=10.0, heights=np.zeros((101, 101)))
    node, caps = run(geo={'terrain_file': str(path), 'kalman': False})
    _, g = caps['/target/geo'][-1]
    assert g.flags & 4  # FLAG_TERRAIN
    np.testing.assert_allclose([g.position_enu.x, g.position_enu.y], TARGET[:2], atol=1e-3)


def test_buffer_interpolates_angles_across_the_wrap_and_extrapolates_fixes():
    from uavcine.core.telemetry_buffer import TelemetryBuffer as _Buffer
    b = _Buffer()
    b.add(0, np.array([0.0, 0.0, math.pi - 0.1]))
    b.add(20, np.array([0.2, 0.0, -math.pi + 0.1]))
    t, v = b.interpolate(10, extrapolate=False, angles=True)
    assert abs(abs(v[2]) - math.pi) < 1e-9 and v[0] == pytest.approx(0.1)
    t, v = b.interpolate(30, extrapolate=False, angles=True)
    assert t == 20 and v[0] == pytest.approx(0.2)  # no extrapolation of angles
    f = _Buffer()
    f.add(0, np.array([0.0, 0.0, 0.0]))
    f.add(200, np.array([0.0, 1.2, 0.0]))
    f.add(100, np.array([0.0, 0.6, 0.0]))  # out of order is sorted in
    assert f.interpolate(300)[1][1] == pytest.approx(1.8)
    assert f.interpolate(50)[1][1] == pytest.approx(0.3)


def test_fix_line_fit_does_not_amplify_white_noise_when_extrapolating():
    from uavcine.core.telemetry_buffer import TelemetryBuffer as _Buffer
    rng = np.random.default_rng(0)
    fit_err, two_err = [], []
    for _ in range(400):
        b = _Buffer()
        for k in range(6):  # 5 Hz fixes of a drone at 6 m/s, 1 m white noise
            b.add(k * 200_000_000, np.array([6.0 * 0.2 * k + rng.normal(0, 1.0)]))
        t = 5 * 200_000_000 + 150_000_000  # the image is 0.15 s past the newest fix
        truth = 6.0 * t * 1e-9
        fit_err.append(b.fit(t, 1_000_000_000)[1][0] - truth)
        two_err.append(b.interpolate(t)[1][0] - truth)
    assert np.std(two_err) > 1.9 and np.std(fit_err) < 1.1
