"""core.terrain: bilinear heights, clamping, and ray intersections against hand-computed cases."""
import math

import numpy as np
import pytest

from uavcine.core.terrain import FlatGround, HeightMap


def ramp(slope=0.1, nx=101, ny=51, res=2.0, x0=-10.0, y0=-20.0):
    """z = slope * (x - x0) on a grid: bilinear interpolation reproduces it exactly inside."""
    i = np.arange(nx)
    heights = np.tile(slope * i * res, (ny, 1))
    return HeightMap(x0, y0, res, heights)


def test_height_at_nodes_midpoints_and_vectorised():
    h = np.array([[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]])  # heights[j, i]
    hm = HeightMap(100.0, 200.0, 5.0, h)
    assert hm.height_at(100.0, 200.0) == 0.0
    assert hm.height_at(110.0, 205.0) == 12.0
    assert hm.height_at(102.5, 200.0) == pytest.approx(0.5)
    assert hm.height_at(102.5, 202.5) == pytest.approx((0.0 + 1.0 + 10.0 + 11.0) / 4)
    out = hm.height_at(np.array([100.0, 105.0, 110.0]), np.array([200.0, 205.0, 200.0]))
    assert out.shape == (3,)
    np.testing.assert_allclose(out, [0.0, 11.0, 2.0])
    grid = hm.height_at(np.full((2, 2), 105.0), 200.0)  # broadcasting
    assert grid.shape == (2, 2)


def test_height_at_clamps_outside_and_nan():
    hm = HeightMap(0.0, 0.0, 1.0, np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert hm.height_at(-50.0, -50.0) == 1.0
    assert hm.height_at(50.0, 50.0) == 4.0
    assert hm.height_at(0.5, 99.0) == pytest.approx(3.5)
    assert math.isnan(hm.height_at(float('nan'), 0.0))


def test_single_row_grid_is_usable():
    hm = HeightMap(0.0, 0.0, 1.0, np.array([[1.0, 3.0]]))
    assert hm.height_at(0.5, 7.0) == pytest.approx(2.0)


def test_bad_grids_are_refused():
    with pytest.raises(ValueError):
        HeightMap(0, 0, 0.0, np.zeros((2, 2)))
    with pytest.raises(ValueError):
        HeightMap(0, 0, 1.0, np.zeros(4))
    with pytest.raises(ValueError):
        HeightMap(0, 0, 1.0, np.array([[0.0, np.nan]]))


def test_intersect_ray_on_a_ramp_matches_the_analytic_hit():
    hm = ramp(slope=0.1, x0=0.0, y0=0.0)
    # Ray z = 50 - x (45 deg down, heading east) meets z = 0.1 x at x = 50 / 1.1.
    p = hm.intersect_ray([0.0, 50.0, 50.0], [1.0, 0.0, -1.0], max_range=1000.0)
    assert p is not None
    np.testing.assert_allclose(p, [50 / 1.1, 50.0, 5 / 1.1], atol=1e-6)


def test_intersect_ray_misses_and_degenerate_inputs():
    hm = ramp(x0=0.0, y0=0.0)
    assert hm.intersect_ray([0, 50, 50], [1, 0, 1], 1000.0) is None  # climbs faster than the ramp
    assert hm.intersect_ray([0, 50, 50], [1, 0, -1], 10.0) is None   # beyond max_range
    assert hm.intersect_ray([100, 50, 0], [1, 0, -1], 100.0) is None  # starts below ground
    assert hm.intersect_ray([0, 50, 50], [0, 0, 0], 100.0) is None
    assert hm.intersect_ray([0, np.nan, 50], [1, 0, -1], 100.0) is None


def test_intersect_ray_finds_the_first_hill_not_the_plain_behind():
    heights = np.zeros((3, 200))
    heights[:, 50:55] = 20.0  # a 20 m wall from x = 50 to 54 (1 m cells)
    hm = HeightMap(0.0, -1.0, 1.0, heights)
    d = np.array([1.0, 0.0, -10.0 / 150.0])  # would land at x = 150 without the wall
    p = hm.intersect_ray([0.0, 0.0, 15.0], d, 1000.0)
    assert p is not None and 49.0 <= p[0] <= 50.0
    assert p[2] == pytest.approx(hm.height_at(p[0], p[1]))


def test_flat_ground():
    g = FlatGround(2.0)
    assert g.height_at(3.0, 4.0) == 2.0
    assert g.height_at(np.zeros(4), 0.0).shape == (4,)
    p = g.intersect_ray([0.0, 0.0, 32.0], [0.0, 1.0, -math.tan(math.radians(15))], 1000.0)
    np.testing.assert_allclose(p, [0.0, 30.0 / math.tan(math.radians(15)), 2.0])
    assert g.intersect_ray([0, 0, 32], [1, 0, 0], 1e6) is None      # parallel
    assert g.intersect_ray([0, 0, 32], [1, 0, 0.1], 1e6) is None    # upward
    assert g.intersect_ray([0, 0, 1], [1, 0, -1], 1e6) is None      # below
    assert g.intersect_ray([0, 0, 32], [1, 0, -0.01], 100.0) is None  # beyond range


def test_mapping_roundtrip():
    hm = ramp()
    hm2 = HeightMap.from_mapping(hm.to_mapping())
    assert hm2.extent == hm.extent
    np.testing.assert_array_equal(hm2.heights, hm.heights)
    with pytest.raises(ValueError):
        HeightMap.from_mapping({'x0': 0, 'heights': np.zeros((2, 2))})
