"""Sensor noise, bias, rates and dropouts; terrain: objects stand on it and depth lands on it."""
import math

import numpy as np
import pytest

from sim_fixtures import small_sim


def test_gps_noise_bias_and_covariance():
    sim = small_sim(duration_s=60.0, sensors={'gps': {'rate_hz': 10.0, 'sigma': 2.0, 'sigma_v': 3.0, 'drift': 0.0,
                                                      'bias': [5.0, -1.0, 0.0], 'latency_s': 0.2}})
    err = []
    for k in range(5, 405):  # (the first samples' stamps are clamped to the start)
        s = sim.sensors.sample('gps', k)
        assert s.t_delivery - s.t_stamp == pytest.approx(0.2, abs=0.006)
        enu = sim.world.enu(s.value['lat'], s.value['lon'], s.value['alt'])
        assert enu == pytest.approx(s.value['enu'], abs=1e-3)  # geodetic and ENU agree (pymap3d round trip)
        err.append(enu - sim.drone_state(s.t_stamp).pos)
    err = np.array(err)
    assert err.mean(0) == pytest.approx([5.0, -1.0, 0.0], abs=0.4)
    assert err.std(0) == pytest.approx([2.0, 2.0, 3.0], rel=0.15)
    cov = sim.sensors.sample('gps', 0).value['covariance'].reshape(3, 3)
    assert np.diag(cov) == pytest.approx([4.0, 4.0, 9.0], abs=1e-3)


def test_attitude_noise_and_dropouts():
    sim = small_sim(duration_s=60.0, sensors={'imu': {'rate_hz': 50.0, 'sigma': 0.5, 'drift': 0.0, 'dropout': 0.2}})
    samples = [sim.sensors.sample('imu', k) for k in range(2000)]
    dropped = np.mean([s.dropped for s in samples])
    assert dropped == pytest.approx(0.2, abs=0.03)
    e = np.array([np.degrees(np.asarray(s.value['rpy']) - sim.drone_state(s.t_stamp).body_rpy) for s in samples])
    e[:, 2] = (e[:, 2] + 180) % 360 - 180
    assert e.std(0) == pytest.approx([0.5, 0.5, 0.5], rel=0.1)
    # latest() skips dropped samples and never returns one from the future
    for t in (1.0, 7.33, 30.0):
        s = sim.sensors.latest('imu', t)
        assert not s.dropped and s.t_delivery <= t + 1e-9 and s.t_delivery > t - 0.5


def test_samples_do_not_depend_on_query_order():
    a = small_sim(seed=4).sensors.sample('gps', 17).value['enu']
    sim = small_sim(seed=4)
    for k in range(17):
        sim.sensors.sample('gps', k)
    assert np.array_equal(sim.sensors.sample('gps', 17).value['enu'], a)


def test_hilly_terrain_objects_stand_on_it_and_depth_lands_on_it():
    sim = small_sim(world={'terrain': {'type': 'hills', 'amplitude_m': 15.0, 'wavelength_m': 120.0, 'base_slope_deg': 5.0}},
                    targets=[{'id': 1, 'cls': 'car', 'position': [40.0, 10.0]}],
                    gimbal={'mode': 'lock'}, shot={'target': 1, 'point': None, 'altitude_ref': 'agl'})
    g = sim.world.ground
    f = sim.frame(0)
    tt = f.target(1)
    assert tt.enu[2] == pytest.approx(g.height_at(40.0, 10.0)) and abs(tt.enu[2]) > 0.5  # not the flat plane
    assert f.state.agl == pytest.approx(30.0, abs=1e-6)
    assert tt.visibility > 0.95 and tt.bbox_xywh is not None
    r = sim.renderer
    d = f.depth.astype(float)
    m = (f.ids == 0) & np.isfinite(d)
    P = np.stack([r.XN, r.YN, np.ones_like(r.XN)], -1)[m] * d[m][:, None]
    W = P @ f.state.R_world_optical.T + f.state.pos
    dz = W[:, 2] - g.height_at(W[:, 0], W[:, 1])
    assert np.median(np.abs(dz)) < 0.05 and np.percentile(np.abs(dz), 95) < 0.5  # coarse (4x) ray march


def test_motion_blur_and_pixel_noise_are_optional_camera_effects():
    base = dict(targets=[{'id': 1, 'cls': 'car', 'position': [40.0, 0.0]}],
                shot={'type': 'FLYBY', 'point': [40.0, 0.0], 'distance_m': 20.0, 'speed_mps': 15.0, 'yaw': 'travel'})
    sharp = small_sim(**base).frame(20)
    blurred = small_sim(camera={'rate_hz': 10.0, 'motion_blur': 0.8}, **base).frame(20)
    noisy = small_sim(camera={'rate_hz': 10.0, 'noise_sigma': 5.0}, **base).frame(20)

    def edges(img):
        g = img.astype(float).mean(-1)
        return np.abs(np.diff(g, axis=1)).mean()
    assert edges(blurred.rgb) < 0.9 * edges(sharp.rgb)
    assert blurred.truth[0].bbox_xywh == sharp.truth[0].bbox_xywh  # truth is mid-exposure
    d = noisy.rgb.astype(float) - sharp.rgb
    assert d.std() == pytest.approx(5.0, rel=0.15)
