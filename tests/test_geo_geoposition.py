"""core.geoposition: hand-computed geometry, uncertainty, truncated boxes and degenerate input."""
import math

import numpy as np
import pytest

from uavcine.core.camera import PinholeCamera, camera_rotation, world_to_camera
from uavcine.core.geoposition import (CHI2_2DOF_95, FLAG_CLASS_PRIOR, FLAG_TERRAIN, FLAG_TRUNCATED, Box, GeoConfig,
                                      Geopositioner, LocalFrame, Telemetry, compass_bearing, flat_earth_distance,
                                      mahalanobis2_xy, seed_flat_earth_point, true_yaw, vertical_angle)
from uavcine.core.terrain import HeightMap

CAM = PinholeCamera.from_dfov(640, 480, 92.0)  # the seed's camera
NORTH = math.pi / 2  # ENU yaw of a drone facing north
SEED_GIMBAL = (0.0, math.radians(15.0), 0.0)  # 15 deg down


def box_with_bottom(u, v, w=10.0, h=20.0, cls=''):
    return Box(u - w / 2, v - h, w, h, cls)


def project(p_world, vehicle, rpy, grpy, cam=CAM):
    return cam.project(world_to_camera(np.atleast_2d(p_world), vehicle, camera_rotation(rpy, grpy)))[0]


def pole_box(foot, veh, rpy, grpy, height=2.0, width=6.0):
    """The box of a thin vertical pole standing at foot: its centre is on the pole's image."""
    b = project(foot, veh, rpy, grpy)
    t = project(np.asarray(foot) + [0.0, 0.0, height], veh, rpy, grpy)
    return Box(min(b[0], t[0]) - width / 2, t[1], abs(b[0] - t[0]) + width, b[1] - t[1])


def test_vertical_axis_moves_the_foot_toward_the_nadir_vanishing_point():
    """A 30 m tower 100 m ahead and 40 m left: its top leans outward in the image; the box's
    centre column is not its foot's column."""
    veh, rpy, grpy = np.array([0.0, 0.0, 30.0]), (0.0, 0.0, NORTH), SEED_GIMBAL
    foot = np.array([-40.0, 100.0, 0.0])
    box = pole_box(foot, veh, rpy, grpy, height=30.0)
    u_foot = project(foot, veh, rpy, grpy)[0]
    assert abs(box.x + box.w / 2 - u_foot) > 4.0
    e = Geopositioner(CAM, exact()).estimate(box, Telemetry(veh, rpy, grpy, 30.0))
    np.testing.assert_allclose(e.point_enu, foot, atol=1e-6)
    naive = Geopositioner(CAM, exact(vertical_axis=False)).estimate(box, Telemetry(veh, rpy, grpy, 30.0))
    assert abs(math.degrees(naive.bearing_rad - e.bearing_rad)) > 0.7  # 0.79 deg, 1.6 m sideways


def exact(**kw):
    """A config with all noise off, except as given."""
    base = dict(sigma_gps_h_m=0.0, sigma_gps_v_m=0.0, sigma_agl_m=0.0, sigma_attitude_deg=0.0,
                sigma_gimbal_deg=0.0, sigma_pixel=0.0, sigma_axis_frac=0.0)
    base.update(kw)
    return GeoConfig(**base)


# --- hand-computed geometry ---------------------------------------------------------


def test_nadir_camera():
    """Gimbal pitched 90 deg down: image centre -> straight below; image-down -> behind the drone.

    Pixel-level geometry (the box's bottom centre is the ground point): vertical_axis off, since
    seen from straight above a standing object's axis is a ray from the image centre."""
    g = Geopositioner(CAM, GeoConfig(vertical_axis=False))
    veh = np.array([10.0, 20.0, 50.0])
    tel = Telemetry(veh, (0.0, 0.0, 0.0), (0.0, math.pi / 2, 0.0), agl_m=50.0)  # facing east
    e = g.estimate(box_with_bottom(CAM.cx, CAM.cy), tel)
    assert e.ok, e.reason
    np.testing.assert_allclose(e.point_enu, [10.0, 20.0, 0.0], atol=1e-9)
    assert e.range_m == pytest.approx(0.0, abs=1e-9)
    e = g.estimate(box_with_bottom(CAM.cx, CAM.cy + 0.2 * CAM.fy), tel)
    np.testing.assert_allclose(e.point_enu, [10.0 - 50.0 * 0.2, 20.0, 0.0], atol=1e-9)
    e = g.estimate(box_with_bottom(CAM.cx + 0.1 * CAM.fx, CAM.cy), tel)  # image-right = south when facing east
    np.testing.assert_allclose(e.point_enu, [10.0, 20.0 - 5.0, 0.0], atol=1e-9)


def test_level_camera_at_the_horizon():
    """Level camera: the image centre row is the horizon, rows below it meet the ground at h / tan(angle)."""
    g = Geopositioner(CAM)
    tel = Telemetry([0.0, 0.0, 30.0], (0.0, 0.0, NORTH), (0.0, 0.0, 0.0), agl_m=30.0)
    on_horizon = g.estimate(box_with_bottom(CAM.cx, CAM.cy), tel)
    assert not on_horizon.ok and on_horizon.reason == 'ray_above_horizon'
    above = g.estimate(box_with_bottom(CAM.cx, CAM.cy - 40), tel)
    assert not above.ok and above.reason == 'ray_above_horizon'
    v = CAM.cy + CAM.fy * math.tan(math.radians(2.0))
    e = g.estimate(box_with_bottom(CAM.cx, v), tel)
    assert e.ok
    assert e.range_m == pytest.approx(30.0 / math.tan(math.radians(2.0)), rel=1e-9)  # 859.1 m
    assert e.point_enu[0] == pytest.approx(0.0, abs=1e-9)
    assert math.degrees(e.bearing_rad) == pytest.approx(0.0, abs=1e-9)
    far = g.estimate(box_with_bottom(CAM.cx, CAM.cy + CAM.fy * math.tan(math.radians(1.0))), tel)
    assert not far.ok and far.reason == 'no_ground_within_max_range'  # 1719 m > max_range_m = 1000


def test_seed_set_up_30m_15deg():
    """The seed's flight: 30 m AGL, camera pitched 15 deg down, 640x480 at 92 deg DFOV."""
    g = Geopositioner(CAM)
    tel = Telemetry([0.0, 0.0, 30.0], (0.0, 0.0, NORTH), SEED_GIMBAL, agl_m=30.0)
    # focal length from the diagonal FOV: f = 400 / tan(46 deg) = 386.27 px
    assert CAM.fx == pytest.approx(400.0 / math.tan(math.radians(46.0)))
    e = g.estimate(box_with_bottom(320.0, 240.0), tel)  # bottom centre on the optical axis
    assert e.range_m == pytest.approx(30.0 / math.tan(math.radians(15.0)), rel=1e-9)  # 111.96 m
    np.testing.assert_allclose(e.point_enu, [0.0, 111.96152422706632, 0.0], atol=1e-9)
    # the seed's formula d = h / tan(theta + alpha) for rows on the centre column
    for v in (250.0, 300.0, 400.0, 470.0):
        alpha = math.atan((v - 240.0) / CAM.fy)
        d = flat_earth_distance(30.0, math.radians(15.0), alpha)
        assert vertical_angle(CAM, v) == pytest.approx(alpha)
        e = g.estimate(box_with_bottom(320.0, v), tel)
        assert e.ok and e.range_m == pytest.approx(d, rel=1e-9)
        np.testing.assert_allclose(seed_flat_earth_point(CAM, 320.0, v, [0, 0, 30.0], 30.0, math.radians(15.0), NORTH),
                                   e.point_enu, atol=1e-9)
    # the nearest ground the seed's camera sees: image bottom row, 15 + 31.86 = 46.86 deg down -> 28.12 m
    assert flat_earth_distance(30.0, math.radians(15.0), math.atan(240.0 / CAM.fy)) == pytest.approx(28.12, abs=0.01)


def test_general_pose_round_trip_flat_and_terrain():
    """Project known ground points with core.camera, recover them exactly (roll, gimbal yaw, off-centre)."""
    rng = np.random.default_rng(0)
    heights = 5.0 * np.sin(np.arange(120)[None, :] / 15.0) + 0.05 * np.arange(100)[:, None]
    hm = HeightMap(-300.0, -300.0, 6.0, heights)
    for ground in (None, hm):
        g = Geopositioner(CAM, exact(), ground)
        for _ in range(20):
            veh = np.array([rng.uniform(-50, 50), rng.uniform(-50, 50), 0.0])
            base = 0.0 if ground is None else hm.height_at(veh[0], veh[1])
            agl = rng.uniform(20, 60)
            veh[2] = base + agl
            rpy = (rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1), rng.uniform(-math.pi, math.pi))
            grpy = (0.0, math.radians(rng.uniform(10, 40)), rng.uniform(-0.5, 0.5))
            R = camera_rotation(rpy, grpy)
            ray = R @ CAM.rays(np.array([[rng.uniform(50, 590), rng.uniform(260, 470)]]))[0]
            truth = (ground or g.ground.model).intersect_ray(veh, ray, 2000.0)
            if ground is None:
                truth = veh + ray * (agl / -ray[2])
            e = g.estimate(pole_box(truth, veh, rpy, grpy), Telemetry(veh, rpy, grpy, agl))
            assert e.ok, e.reason
            np.testing.assert_allclose(e.point_enu, truth, atol=1e-3)
            assert bool(e.flags & FLAG_TERRAIN) == (ground is not None)


def test_gps_altitude_source_uses_the_plane_height():
    g = Geopositioner(CAM, exact(altitude_source='gps', flat_ground_height_m=-5.0))
    tel = Telemetry([0.0, 0.0, 25.0], (0.0, 0.0, NORTH), SEED_GIMBAL, agl_m=None)
    e = g.estimate(box_with_bottom(320.0, 240.0), tel)
    assert e.range_m == pytest.approx(30.0 / math.tan(math.radians(15.0)))
    assert e.point_enu[2] == pytest.approx(-5.0)


def test_magnetic_heading_and_bearing_conventions():
    d = 0.76666  # the seed's site, deg east
    assert true_yaw(1.0, d, False) == 1.0
    assert true_yaw(1.0, d, True) == pytest.approx(1.0 - math.radians(d))
    assert math.degrees(compass_bearing(1.0, 0.0)) == pytest.approx(90.0)
    assert math.degrees(compass_bearing(0.0, -1.0)) == pytest.approx(180.0)
    truth = np.array([0.0, 111.96152422706632, 0.0])
    veh = np.array([0.0, 0.0, 30.0])
    # a compass reading true heading - declination (facing true north, magnetic says 0.77 deg west of it)
    yaw_mag = NORTH + math.radians(d)
    uv = project(truth, veh, (0, 0, NORTH), SEED_GIMBAL)
    g = Geopositioner(CAM, exact(heading_is_magnetic=True, declination_deg=d))
    e = g.estimate(box_with_bottom(uv[0], uv[1]), Telemetry(veh, (0, 0, yaw_mag), SEED_GIMBAL, 30.0))
    np.testing.assert_allclose(e.point_enu, truth, atol=1e-6)
    wrong = Geopositioner(CAM, exact()).estimate(box_with_bottom(uv[0], uv[1]),
                                                  Telemetry(veh, (0, 0, yaw_mag), SEED_GIMBAL, 30.0))
    assert abs(wrong.point_enu[0]) == pytest.approx(111.96 * math.sin(math.radians(d)), abs=0.01)  # 1.5 m off


def test_local_frame_round_trip():
    f = LocalFrame(40.6401, 22.9444, 30.0)
    enu = f.to_enu(40.6410, 22.9460, 35.0)
    assert enu[0] == pytest.approx(135.3, abs=0.5) and enu[1] == pytest.approx(99.9, abs=0.5)
    lat, lon, alt = f.to_geodetic(enu)
    assert (lat, lon, alt) == pytest.approx((40.6410, 22.9460, 35.0), abs=1e-9)


# --- uncertainty ------------------------------------------------------------------------


def test_first_order_covariance_matches_monte_carlo():
    cfg = GeoConfig()  # GPS 1.5 m, AGL 0.3 m, attitude & gimbal 0.5 deg, 2 px
    g = Geopositioner(CAM, cfg)
    veh = np.array([0.0, 0.0, 30.0])
    truth = np.array([25.0, 80.0, 0.0])
    rpy, grpy = (0.0, 0.0, NORTH), SEED_GIMBAL
    uv = project(truth, veh, rpy, grpy)
    e = g.estimate(box_with_bottom(uv[0], uv[1]), Telemetry(veh, rpy, grpy, 30.0))
    assert e.ok
    rng = np.random.default_rng(1)
    n = 1500
    errs, inside = [], 0
    exact_g = Geopositioner(CAM, exact())
    for _ in range(n):
        a = np.radians(rng.normal(0, 0.5, 3))
        b = np.radians(rng.normal(0, 0.5, 3))
        gps = veh + np.r_[rng.normal(0, 1.5, 2), 0.0]
        px = rng.normal(0, 2.0, 2)
        est = exact_g.estimate(box_with_bottom(uv[0] + px[0], uv[1] + px[1]),
                               Telemetry(gps, np.add(rpy, a), np.add(grpy, b), 30.0 + rng.normal(0, 0.3)))
        errs.append(est.point_enu[:2] - truth[:2])
        inside += mahalanobis2_xy(est.point_enu, truth, e.cov_xy) <= CHI2_2DOF_95
    C = np.cov(np.array(errs).T)
    np.testing.assert_allclose(np.sqrt(np.diag(C)), np.sqrt(np.diag(e.cov_xy)), rtol=0.12)
    assert 0.92 <= inside / n <= 0.975
    # GPS error moves the point 1:1 but not the range; range sigma comes from the angles and AGL
    np.testing.assert_allclose(e.cov_sources['gps'][:2, :2], np.eye(2) * 1.5 ** 2, atol=1e-6)
    assert 0.0 < e.range_sigma_m < 5.0 and 0.0 < e.bearing_sigma_rad < math.radians(2.0)


def test_range_sigma_grows_with_distance():
    g = Geopositioner(CAM)
    tel = Telemetry([0.0, 0.0, 30.0], (0.0, 0.0, NORTH), SEED_GIMBAL, 30.0)
    sig = [g.estimate(box_with_bottom(320.0, v), tel).range_sigma_m for v in (400.0, 300.0, 240.0, 200.0)]
    assert all(a < b for a, b in zip(sig, sig[1:]))


# --- truncated boxes -------------------------------------------------------------------


def person_box(foot, veh, rpy, grpy, height=1.75, width_px=12.0):
    top = project(foot + np.array([0, 0, height]), veh, rpy, grpy)
    bottom = project(foot, veh, rpy, grpy)
    y0 = top[1]
    y1 = min(bottom[1], CAM.height)  # the detector cannot see below the image
    return Box(bottom[0] - width_px / 2, y0, width_px, y1 - y0, 'person'), bottom


def test_truncated_box_corrected_with_the_class_height_prior():
    veh = np.array([0.0, 0.0, 10.0])  # low and close: the feet leave the image at the bottom
    rpy, grpy = (0.0, 0.0, NORTH), SEED_GIMBAL
    foot = np.array([1.0, 8.0, 0.0])
    box, bottom = person_box(foot, veh, rpy, grpy)
    assert bottom[1] > CAM.height and box.y > 0
    g = Geopositioner(CAM)
    e = g.estimate(box, Telemetry(veh, rpy, grpy, 10.0))
    assert e.ok and e.flags & FLAG_TRUNCATED and e.flags & FLAG_CLASS_PRIOR and e.method == 'top_prior'
    np.testing.assert_allclose(e.point_enu[:2], foot[:2], atol=0.05)
    # what the seed would do: the bottom edge (image border) as the foot -> too far
    naive = Geopositioner(CAM, GeoConfig(border_margin_px=-1e9)).estimate(box, Telemetry(veh, rpy, grpy, 10.0))
    assert naive.range_m > np.hypot(*foot[:2]) + 0.5


def test_truncated_box_without_prior_is_bounded_and_inflated():
    veh = np.array([0.0, 0.0, 10.0])
    rpy, grpy = (0.0, 0.0, NORTH), SEED_GIMBAL
    foot = np.array([1.0, 8.0, 0.0])
    box, _ = person_box(foot, veh, rpy, grpy)
    box.class_id = 'unknown'
    e = Geopositioner(CAM).estimate(box, Telemetry(veh, rpy, grpy, 10.0))
    assert e.ok and e.flags & FLAG_TRUNCATED and not e.flags & FLAG_CLASS_PRIOR and e.method == 'border_bound'
    assert 'truncation' in e.cov_sources
    assert mahalanobis2_xy(foot, e.point_enu, e.cov_xy) <= CHI2_2DOF_95
    d_border = flat_earth_distance(10.0, math.radians(15.0), math.atan(240.0 / CAM.fy))
    assert e.range_m == pytest.approx(d_border / 2, rel=0.05)
    assert e.range_sigma_m >= d_border / math.sqrt(12.0)


def test_tall_target_above_the_drone_uses_the_prior_from_below():
    """A 30 m tower seen from 25 m AGL: the top edge's ray goes up and meets z = 30 m from below."""
    veh = np.array([0.0, 0.0, 25.0])
    rpy, grpy = (0.0, 0.0, NORTH), SEED_GIMBAL
    foot = np.array([0.0, 20.0, 0.0])  # nearer than the 23.4 m the image bottom row reaches
    top = project(foot + [0, 0, 30.0], veh, rpy, grpy)
    assert project(foot, veh, rpy, grpy)[1] > CAM.height and 0 < top[1] < CAM.cy  # above the optical axis
    box = Box(top[0] - 10, top[1], 20, CAM.height - top[1], 'tower')
    for ground in (None, HeightMap(-100, -100, 5.0, np.zeros((50, 50)))):
        # noise off: the prior is exact here, so it beats the border bound's uniform interval
        e = Geopositioner(CAM, exact(class_heights={'tower': (30.0, 0.0)}), ground=ground).estimate(
            box, Telemetry(veh, rpy, grpy, 25.0))
        assert e.ok and e.method == 'top_prior', (e.reason, e.method)
        np.testing.assert_allclose(e.point_enu[:2], foot[:2], atol=0.05)
    # with a 3 m (10 %) sigma on the tower height, the prior's range sigma (~12 m) loses to the bound's
    e = Geopositioner(CAM).estimate(box, Telemetry(veh, rpy, grpy, 25.0))
    assert e.ok and e.method == 'border_bound'
    assert mahalanobis2_xy(foot, e.point_enu, e.cov_xy) <= CHI2_2DOF_95


# --- degenerate input: no estimate, a reason, no exception --------------------------------


@pytest.mark.parametrize('box,tel,reason', [
    (box_with_bottom(320, 300), Telemetry([np.nan, 0, 30], (0, 0, 0), (0, 0.26, 0), 30.0), 'invalid_telemetry'),
    (box_with_bottom(320, 300), Telemetry([0, 0, 30], (0, np.nan, 0), (0, 0.26, 0), 30.0), 'invalid_telemetry'),
    (box_with_bottom(320, 300), Telemetry([0, 0, 30], (0, 0, 0), (0, 0.26, 0), float('nan')), 'invalid_agl'),
    (box_with_bottom(320, 300), Telemetry([0, 0, 30], (0, 0, 0), (0, 0.26, 0), None), 'invalid_agl'),
    (box_with_bottom(320, 300), Telemetry([0, 0], (0, 0, 0), (0, 0.26, 0), 30.0), 'invalid_telemetry'),
    (box_with_bottom(320, 300), Telemetry('abc', (0, 0, 0), (0, 0.26, 0), 30.0), 'invalid_telemetry'),
    (Box(700, 100, 10, 20), Telemetry([0, 0, 30], (0, 0, 0), (0, 0.26, 0), 30.0), 'box_outside_image'),
    (Box(-50, 100, 20, 20), Telemetry([0, 0, 30], (0, 0, 0), (0, 0.26, 0), 30.0), 'box_outside_image'),
    (Box(100, 100, -10, 20), Telemetry([0, 0, 30], (0, 0, 0), (0, 0.26, 0), 30.0), 'invalid_box'),
    (Box(100, np.nan, 10, 20), Telemetry([0, 0, 30], (0, 0, 0), (0, 0.26, 0), 30.0), 'invalid_box'),
    (box_with_bottom(320, 100), Telemetry([0, 0, 30], (0, 0, 0), (0, 0.26, 0), 30.0), 'ray_above_horizon'),
])
def test_degenerate_input_gives_no_estimate_and_a_reason(box, tel, reason):
    e = Geopositioner(CAM).estimate(box, tel)
    assert not e.ok
    assert e.reason == reason
    assert np.all(np.isnan(e.point_enu))


def test_ray_above_horizon_can_still_hit_a_hill_with_terrain():
    heights = np.zeros((20, 200))
    heights[:, 120:] = 200.0  # a cliff 200 m high from x = 600 m (5 m cells, x0 = 0)
    hm = HeightMap(0.0, -50.0, 5.0, heights)
    g = Geopositioner(CAM, exact(), hm)
    tel = Telemetry([0.0, 0.0, 30.0], (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), 30.0)  # level, facing east
    e = g.estimate(box_with_bottom(320.0, 200.0), tel)  # 5.9 deg above the horizon
    assert e.ok and 595.0 < e.point_enu[0] < 600.0  # on the bilinear slope between the cells at 595 and 600 m
    assert e.point_enu[2] == pytest.approx(30.0 + e.point_enu[0] * math.tan(math.atan(40.0 / CAM.fy)), abs=0.01)
    e = Geopositioner(CAM, exact()).estimate(box_with_bottom(320.0, 200.0), tel)
    assert not e.ok and e.reason == 'ray_above_horizon'


def test_class_depth_prior_moves_the_nearest_point_to_the_centre():
    g = Geopositioner(CAM, exact(class_depths={'tower': (3.8, 0.0)}))
    tel = Telemetry([0.0, 0.0, 30.0], (0.0, 0.0, NORTH), SEED_GIMBAL, 30.0)
    plain = g.estimate(box_with_bottom(400.0, 300.0), tel)
    tower = g.estimate(box_with_bottom(400.0, 300.0, cls='tower'), tel)
    d = tower.point_enu[:2] - plain.point_enu[:2]
    assert np.linalg.norm(d) == pytest.approx(3.8)
    assert compass_bearing(*d) == pytest.approx(plain.bearing_rad, abs=1e-9)  # along the view
    noisy = Geopositioner(CAM, exact(class_depths={'tower': (3.8, 0.4)})).estimate(
        box_with_bottom(400.0, 300.0, cls='tower'), tel)
    assert noisy.range_sigma_m == pytest.approx(0.4, rel=0.01)


# --- filtering ----------------------------------------------------------------------------


def _approach(g, truth, n=150, seed=0):
    """A drone flying north toward a static person 250 m ahead, white attitude noise; yields (t, estimate)."""
    rng = np.random.default_rng(seed)
    exact_g = Geopositioner(CAM, exact())
    for k in range(n):
        veh = np.array([0.0, 0.6 * k, 30.0])
        rpy, grpy = (0.0, 0.0, NORTH), SEED_GIMBAL
        box = pole_box(truth, veh, rpy, grpy, height=1.75)
        noisy_rpy = np.add(rpy, np.radians(rng.normal(0, 0.5, 3)))
        e = g.estimate(box, Telemetry(veh, noisy_rpy, grpy, 30.0))
        yield 0.1 * k, e


def test_target_filter_evaluates_the_measurement_noise_at_the_predicted_range():
    """A measurement that lands farther must not get less weight than one that lands nearer (bias)."""
    from uavcine.core.geoposition import GeoEstimate
    from uavcine.core.target_filter import TargetFilter
    f = TargetFilter()
    f.kf.start(0.0, np.array([0.0, 150.0]), np.eye(2))  # predicted: 150 m north of the drone
    R = np.diag([1.0, 100.0])  # across (east) 1 m^2, along (north) 100 m^2, as measured at 180 m
    est = GeoEstimate(ok=True, point_enu=np.array([0.0, 180.0, 0.0]), vehicle_enu=np.array([0.0, 0.0, 30.0]))
    Rp = f._at_prediction(0.0, est, R)
    along = (30.0 ** 2 + 150.0 ** 2) / (30.0 ** 2 + 180.0 ** 2)  # d(range)/d(depression) ~ (h^2 + d^2) / h
    across = 150.0 / 180.0
    np.testing.assert_allclose(Rp, np.diag([across ** 2 * 1.0, along ** 2 * 100.0]), atol=1e-9)


def test_target_filter_keeps_the_gps_bias_in_its_covariance_and_skips_weak_bounds():
    from uavcine.core.target_filter import TargetFilter
    truth = np.array([10.0, 150.0, 0.0])
    g = Geopositioner(CAM, GeoConfig(class_depths={}))
    f = TargetFilter()
    for t, e in _approach(g, truth, n=60):
        out = f.update(t, e)
    assert np.all(np.linalg.eigvalsh(out.cov_xy) >= 1.5 ** 2)  # GPS 1.5 m: a bias, not averaged away
    # a truncated box without a class prior: a weak interval, not fused into a filter that knows better
    veh = np.array([0.0, 140.0, 30.0])
    box = Box(300.0, 400.0, 40.0, 80.0, 'unknown')
    e = g.estimate(box, Telemetry(veh, (0.0, 0.0, NORTH), SEED_GIMBAL, 30.0))
    assert e.ok and e.method == 'border_bound'
    before = f.kf.position
    out = f.update(6.1, e)
    assert out.skipped and not out.accepted
    np.testing.assert_allclose(f.kf.position, before, atol=0.5)  # only the prediction moved it


# --- the box's fit to the target (the tracker's quality) ------------------------------


def test_box_fit_sigma_follows_the_quality_as_the_edge_shift_of_that_iou():
    """A box the tracker predicts at IoU q may have its bottom off by h (1 - q) / (1 + q) (a same-size box shifted
    that far has IoU q): the range sigma of source box_fit is the range change of that shift; q = 1 adds nothing."""
    g = Geopositioner(CAM, exact(box_fit_sigma=1.0))
    tel = Telemetry([0.0, 0.0, 30.0], (0.0, 0.0, NORTH), SEED_GIMBAL, 30.0)
    w, h, v = 30.0, 100.0, 300.0
    sure = g.estimate(Box(320.0 - w / 2, v - h, w, h, '', 1.0), tel)
    assert sure.ok and 'box_fit' not in sure.cov_sources and np.all(sure.cov_enu == 0.0)
    for q in (0.9, 0.6):
        shift = h * (1 - q) / (1 + q)
        e = g.estimate(Box(320.0 - w / 2, v - h, w, h, '', q), tel)
        up = g.estimate(Box(320.0 - w / 2, v - h - shift, w, h, '', 1.0), tel)
        down = g.estimate(Box(320.0 - w / 2, v - h + shift, w, h, '', 1.0), tel)
        range_sigma = math.sqrt(e.cov_sources['box_fit'][1, 1])  # the drone looks north: range is ENU y
        assert range_sigma == pytest.approx((up.range_m - down.range_m) / 2, rel=0.1)
        assert e.range_sigma_m == pytest.approx(range_sigma, rel=1e-6)  # the only source here
    assert g.estimate(Box(300.0, 200.0, w, h, '', 0.6), tel).range_sigma_m > \
        g.estimate(Box(300.0, 200.0, w, h, '', 0.9), tel).range_sigma_m
    off = Geopositioner(CAM, exact(box_fit_sigma=0.0)).estimate(Box(300.0, 200.0, w, h, '', 0.3), tel)
    assert 'box_fit' not in off.cov_sources
