"""Simulator geometry: projection through core.camera, ground-truth boxes vs the 3-D hull and the drawn pixels."""
import math

import numpy as np
import pytest

from uavcine.core.camera import PinholeCamera, world_to_camera
from uavcine.sim.render import yaw_matrix

from sim_fixtures import small_sim


def test_nadir_camera_projects_a_known_point_to_the_expected_pixel():
    # hover 30 m over the origin facing east, camera straight down: image up = east, image right = south
    sim = small_sim(gimbal={'mode': 'fixed', 'pitch_deg': 90.0})
    f = sim.frame(0)
    st = f.state
    assert np.allclose(st.pos, [0, 0, 30], atol=1e-9)
    cam = PinholeCamera.from_dfov(640, 480, 92.0)
    uv = cam.project(world_to_camera(np.array([[10.0, -5.0, 0.0]]), st.pos, st.R_world_optical))[0]
    fpx = cam.fx
    assert uv == pytest.approx([320 + fpx * 5 / 30, 240 - fpx * 10 / 30], abs=1e-6)
    # the rendered ground agrees: paint a red 2x2 m patch in the orthophoto at (10, -5) and find it
    o = sim.ortho
    i, j = o.to_px(10.0, -5.0)
    r = int(round(1.0 / o.res))
    for lev in range(len(o.pyramid)):
        s = 2 ** lev
        o.pyramid[lev][int(j / s) - max(r // s, 1):int(j / s) + max(r // s, 1),
                       int(i / s) - max(r // s, 1):int(i / s) + max(r // s, 1)] = (255, 0, 0)
    img = sim.frame(0).rgb.astype(int)
    red = (img[..., 0] > 200) & (img[..., 1] < 60) & (img[..., 2] < 60)
    jj, ii = np.nonzero(red)
    assert red.sum() > 20
    assert (ii.mean() + 0.5, jj.mean() + 0.5) == pytest.approx(tuple(uv), abs=1.0)


def test_forward_camera_horizon_row_matches_the_pitch():
    sim = small_sim(gimbal={'mode': 'fixed', 'pitch_deg': 15.0})
    f = sim.frame(0)
    cam = sim.camera
    # a point far away at camera height lies on the horizon: cy - f tan(15 deg)
    far = f.state.pos + np.array([5000.0, 0.0, 0.0])
    uv = cam.project(world_to_camera(far[None], f.state.pos, f.state.R_world_optical))[0]
    assert uv[1] == pytest.approx(240 - cam.fy * math.tan(math.radians(15)), abs=0.5)
    assert uv[0] == pytest.approx(320, abs=0.5)
    sky_rows = np.nonzero(f.depth[:, 320] == np.inf)[0]
    assert sky_rows.max() + 1 == pytest.approx(uv[1], abs=3)  # the drawn horizon (ground ends ~ there)


def _idbuf_box(frame, oid):
    jj, ii = np.nonzero(frame.ids == oid)
    return ii.min(), jj.min(), ii.max() + 1, jj.max() + 1


@pytest.mark.parametrize('cls,size', [('box', [4.0, 2.0, 2.0]), ('car', None), ('person', None), ('tower', None)])
def test_gt_box_is_the_projection_of_the_3d_hull_and_matches_drawn_pixels(cls, size):
    t = {'id': 1, 'cls': cls, 'position': [45.0, 8.0], 'yaw_deg': 30.0}
    if size:
        t['size'] = size
    sim = small_sim(targets=[t], gimbal={'mode': 'lock'}, shot={'target': 1, 'point': None})
    f = sim.frame(0)
    tt = f.target(1)
    obj = sim.world.object(1)
    # independent projection of the hull vertices (the 8 corners for a box model)
    P = obj.model.hull @ yaw_matrix(math.radians(30)).T + np.array([45.0, 8.0, 0.0])
    if cls == 'box':
        corners = np.array([[sx * 2, sy * 1, z] for sx in (-1, 1) for sy in (-1, 1) for z in (0, 2)])
        P = corners @ yaw_matrix(math.radians(30)).T + np.array([45.0, 8.0, 0.0])
    uv = sim.camera.project(world_to_camera(P, f.state.pos, f.state.R_world_optical))
    x0, y0 = uv.min(0)
    x1, y1 = uv.max(0)
    assert tt.bbox_xywh == pytest.approx((x0, y0, x1 - x0, y1 - y0), abs=1e-6)
    assert not tt.truncated and tt.visibility == pytest.approx(1.0)
    bx0, by0, bx1, by1 = _idbuf_box(f, 1)
    tol = 2.0 if cls == 'tower' else 1.5  # the tower's members are lines a whole number of pixels thick
    assert abs(bx0 - x0) <= tol and abs(by0 - y0) <= tol
    assert abs(bx1 - x1) <= tol and abs(by1 - y1) <= tol
    assert tt.pixels == (f.ids == 1).sum()
    assert tt.enu == pytest.approx([45.0, 8.0, 0.0])
    lat, lon, _ = tt.geodetic
    assert lat > sim.scenario.origin.lat and lon > sim.scenario.origin.lon  # north-east of the origin


def test_truncated_target_box_is_clipped_to_the_image():
    # a car near the left image border: half of it outside
    sim = small_sim(targets=[{'id': 1, 'cls': 'box', 'position': [40.0, 0.0], 'size': [4.0, 2.0, 2.0]}])
    f = sim.frame(0)
    st = f.state
    # find the ground point at the left border, mid height, and move the box there
    r = sim.camera.rays(np.array([[0.0, 300.0]]))[0] @ st.R_world_optical.T
    p = st.pos + r * (-st.pos[2] / r[2])
    sim2 = small_sim(targets=[{'id': 1, 'cls': 'box', 'position': [float(p[0]), float(p[1])], 'size': [4.0, 2.0, 2.0]}])
    f2 = sim2.frame(0)
    tt = f2.target(1)
    assert tt.truncated
    x, y, w, h = tt.bbox_xywh
    assert x == 0.0 and w > 0
    full = tt.bbox_full
    assert full[0] < 0 and full[0] + full[2] == pytest.approx(x + w)
    bx0, by0, bx1, by1 = _idbuf_box(f2, 1)
    assert bx0 == 0 and abs(bx1 - (x + w)) <= 1.5


def test_visibility_drops_behind_an_occluder_and_counts_pixels():
    tgt = {'id': 1, 'cls': 'car', 'position': [45.0, 0.0], 'yaw_deg': 90.0}
    clear = small_sim(targets=[tgt]).frame(0).target(1)
    assert clear.visibility == pytest.approx(1.0)
    # a building between the drone and the car
    occ = [{'kind': 'building', 'position': [38.0, 0.0], 'size': [3.0, 12.0], 'height': 6.0}]
    f = small_sim(targets=[tgt], occluders=occ).frame(0)
    tt = f.target(1)
    assert tt.bbox_xywh == pytest.approx(clear.bbox_xywh)  # the box is the target's, occluded or not
    assert 0.0 <= tt.visibility < 0.6
    assert tt.pixels == (f.ids == 1).sum()
    assert tt.visibility == pytest.approx(tt.pixels / clear.pixels, abs=0.02)


def test_target_out_of_view_has_no_box():
    f = small_sim(targets=[{'id': 1, 'cls': 'car', 'position': [-40.0, 0.0]}]).frame(0)  # behind the camera
    tt = f.target(1)
    assert tt.bbox_xywh is None and not tt.in_view and tt.pixels == 0 and tt.visibility == 0.0
