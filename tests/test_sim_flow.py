"""Depth and optical flow agree with the camera's (and a moving target's) motion."""
import cv2
import numpy as np
import pytest

from sim_fixtures import small_sim


@pytest.fixture(scope='module')
def pair():
    sim = small_sim(duration_s=3.0, world={'buildings': 0, 'footprints': 12},
                    targets=[{'id': 1, 'cls': 'car', 'path': [[40.0, 25.0], [70.0, 45.0]], 'speeds': [9.0],
                              'max_accel': 20.0},
                             {'id': 2, 'cls': 'tower', 'position': [75.0, 30.0]}],
                    gimbal={'mode': 'fixed', 'pitch_deg': 35.0},
                    shot={'type': 'FLYBY', 'point': [30.0, 0.0], 'distance_m': 25.0, 'speed_mps': 8.0,
                          'heading_deg': 20.0, 'yaw': 'travel', 'wobble_deg': 0.5, 'tilt_gain_deg_per_mps': 0.6})
    return sim, sim.frame(10), sim.frame(11)


def test_depth_backprojects_onto_the_ground_and_the_objects(pair):
    sim, f0, _ = pair
    r = sim.renderer
    d = f0.depth.astype(np.float64)
    ground = (f0.ids == 0) & np.isfinite(d)
    assert ground.mean() > 0.5
    P = np.stack([r.XN, r.YN, np.ones_like(r.XN)], -1) * d[..., None]
    W = P @ f0.state.R_world_optical.T + f0.state.pos
    assert np.abs(W[ground][:, 2]).max() < 1e-3  # flat ground at z = 0
    for oid in (1, 2):
        m = f0.ids == oid
        assert m.sum() > 20
        pos, yaw, _ = sim.world.pose(sim.world.object(oid), f0.t)
        local = (W[m] - pos) @ np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
        hull = sim.world.object(oid).model.hull
        tol = (1.5 * d[m] / r.f)[:, None]  # rasterisation: a pixel and a half at that depth
        inside = np.all((local >= hull.min(0) - tol) & (local <= hull.max(0) + tol), axis=1)
        assert inside.mean() > 0.995


def test_flow_warps_the_next_image_onto_this_one(pair):
    sim, f0, f1 = pair
    flow = f0.flow
    assert flow.shape == (480, 640, 2) and flow.dtype == np.float32
    jj, ii = np.mgrid[0:480, 0:640].astype(np.float32)
    mx, my = ii + flow[..., 0], jj + flow[..., 1]
    warped = cv2.remap(f1.rgb, mx, my, cv2.INTER_LINEAR).astype(float)
    valid = (np.isfinite(f0.depth) & (mx > 2) & (mx < 637) & (my > 2) & (my < 477))
    err_flow = np.abs(warped - f0.rgb).mean(-1)[valid].mean()
    err_still = np.abs(f1.rgb.astype(float) - f0.rgb).mean(-1)[valid].mean()
    assert np.abs(flow[valid]).mean() > 3.0  # the camera really moves
    assert err_flow < 0.35 * err_still and err_flow < 6.0, (err_flow, err_still)
    # the moving car's pixels land on the car in the next frame
    car = valid & (f0.ids == 1)
    assert car.sum() > 20
    land = f1.ids[np.clip(np.round(my[car] - 0.0).astype(int), 0, 479), np.clip(np.round(mx[car]).astype(int), 0, 639)]
    assert (land == 1).mean() > 0.9
    # ... which a camera-only flow would not do (the car moves 0.9 m per frame)
    assert np.abs(flow[car] - flow[valid & (f0.ids == 0)].mean(0)).mean() > 0.5


def test_depth_and_flow_agree_with_the_next_depth(pair):
    sim, f0, f1 = pair
    r = sim.renderer
    flow = f0.flow
    m = (f0.ids == 0) & np.isfinite(f0.depth)
    jj, ii = np.nonzero(m)
    sel = slice(None, None, 97)
    jj, ii = jj[sel], ii[sel]
    d0 = f0.depth[jj, ii].astype(float)
    P = np.stack([r.XN[jj, ii], r.YN[jj, ii], np.ones(len(jj))], -1) * d0[:, None]
    W = P @ f0.state.R_world_optical.T + f0.state.pos
    z1 = ((W - f1.state.pos) @ f1.state.R_world_optical)[:, 2]
    u1 = ii + 0.5 + flow[jj, ii, 0]
    v1 = jj + 0.5 + flow[jj, ii, 1]
    ok = (u1 > 1) & (u1 < 639) & (v1 > 1) & (v1 < 479)
    d1 = cv2.remap(f1.depth, (u1 - 0.5).astype(np.float32)[None], (v1 - 0.5).astype(np.float32)[None],
                   cv2.INTER_LINEAR)[0]
    ok &= (f1.ids[v1.astype(int).clip(0, 479), u1.astype(int).clip(0, 639)] == 0)
    assert ok.sum() > 500
    rel = np.abs(d1[ok] - z1[ok]) / z1[ok]
    assert np.median(rel) < 2e-3 and np.percentile(rel, 95) < 1e-2
