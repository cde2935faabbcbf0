"""Ground models for ray casting: a flat plane and a regular heightmap (DEM grid).

Frame: local ENU (x east, y north, z up), metres, the same frame the vehicle
position and the camera rays are expressed in.

HeightMap grid convention: ``heights[j, i]`` is the ground height (ENU z, metres)
at ``(x0 + i * resolution, y0 + j * resolution)``; shape ``[ny, nx]``. Between
nodes the height is bilinear; outside the grid it is clamped to the edge
(the border heights extend outward).

On disk (read by the nodes, not here: core does no file I/O) a heightmap is an
``.npz`` with arrays ``x0``, ``y0``, ``resolution`` (scalars) and ``heights``
(2-D); :meth:`HeightMap.from_mapping` builds one from ``np.load(path)``.

``intersect_ray`` answers the first point where a ray from ``origin`` meets the
ground within ``max_range`` metres, or None. For the heightmap it marches at a
fixed step (half a cell by default) and refines the bracketing interval by
bisection: bounded work, no iterative solver that may not converge. Ridges
thinner than the step can be missed, which is the price of a bounded march.

Python 3.8, numpy only.
"""
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

#: Bisection stops when the bracket is shorter than this (metres along the ray).
BISECTION_TOL_M = 1e-4
#: Hard cap on samples in one march (bounds the work for huge ranges / tiny cells).
MAX_MARCH_SAMPLES = 200000


def _unit_direction(origin_enu, direction_enu):
    """Validated (origin, unit direction) or None for NaN / zero input."""
    o = np.asarray(origin_enu, dtype=float).reshape(-1)
    d = np.asarray(direction_enu, dtype=float).reshape(-1)
    if o.shape != (3,) or d.shape != (3,) or not (np.all(np.isfinite(o)) and np.all(np.isfinite(d))):
        return None
    n = float(np.linalg.norm(d))
    if n < 1e-12:
        return None
    return o, d / n


@dataclass
class FlatGround:
    """The horizontal plane z = height (ENU metres): the seed's flat-earth model."""

    height: float = 0.0

    def height_at(self, x, y):
        """Ground height at (x, y): the plane's height, broadcast to the inputs' shape."""
        shape = np.broadcast(np.asarray(x, dtype=float), np.asarray(y, dtype=float)).shape
        if shape == ():
            return float(self.height)
        return np.full(shape, float(self.height))

    def intersect_ray(self, origin_enu, direction_enu, max_range: float = math.inf) -> Optional[np.ndarray]:
        """First point of the ray on the plane within max_range (m), or None.

        None when the ray is parallel to or points away from the plane, starts
        below it, is NaN, or meets it farther than max_range.
        """
        od = _unit_direction(origin_enu, direction_enu)
        if od is None:
            return None
        o, d = od
        dz = o[2] - self.height
        if dz < 0.0:
            return None
        if dz == 0.0:
            return o.copy()
        if d[2] >= -1e-12:
            return None
        t = dz / -d[2]
        if t > max_range:
            return None
        p = o + t * d
        p[2] = self.height
        return p


@dataclass
class HeightMap:
    """Regular grid of ground heights (ENU metres), heights[j, i] at (x0 + i*res, y0 + j*res)."""

    x0: float
    y0: float
    resolution: float
    heights: np.ndarray  # [ny, nx], ENU metres, heights[j, i] at (x0 + i*res, y0 + j*res)

    def __post_init__(self):
        self.heights = np.asarray(self.heights, dtype=float)
        if self.heights.ndim != 2 or self.heights.shape[0] < 1 or self.heights.shape[1] < 1:
            raise ValueError('heights must be a non-empty 2-D array [ny, nx], got shape %s'
                             % (self.heights.shape,))
        if not np.all(np.isfinite(self.heights)):
            raise ValueError('heights contain NaN or inf')
        self.x0 = float(self.x0)
        self.y0 = float(self.y0)
        self.resolution = float(self.resolution)
        if not (self.resolution > 0.0 and math.isfinite(self.resolution)):
            raise ValueError('resolution must be a positive number of metres, got %r' % self.resolution)

    @classmethod
    def from_mapping(cls, m) -> 'HeightMap':
        """From a dict-like with keys x0, y0, resolution, heights (e.g. the result of np.load on an .npz)."""
        missing = [k for k in ('x0', 'y0', 'resolution', 'heights') if k not in m]
        if missing:
            raise ValueError('heightmap is missing %s' % ', '.join(missing))
        return cls(float(np.asarray(m['x0'])), float(np.asarray(m['y0'])),
                   float(np.asarray(m['resolution'])), np.asarray(m['heights'], dtype=float))

    def to_mapping(self) -> dict:
        """Arrays for np.savez (the inverse of from_mapping)."""
        return {'x0': np.float64(self.x0), 'y0': np.float64(self.y0),
                'resolution': np.float64(self.resolution), 'heights': self.heights}

    @property
    def shape(self):
        return self.heights.shape

    @property
    def extent(self):
        """(x_min, x_max, y_min, y_max) of the grid nodes, ENU metres."""
        ny, nx = self.heights.shape
        return (self.x0, self.x0 + (nx - 1) * self.resolution,
                self.y0, self.y0 + (ny - 1) * self.resolution)

    def height_at(self, x, y):
        """Bilinear ground height at ENU (x, y); vectorised; clamped to the grid's edge outside it.

        Scalars in give a float out; arrays broadcast together and give an array.
        NaN coordinates give NaN.
        """
        if isinstance(x, (float, int, np.floating)) and isinstance(y, (float, int, np.floating)):
            return self._height_scalar(float(x), float(y))
        xa = np.asarray(x, dtype=float)
        ya = np.asarray(y, dtype=float)
        xb, yb = np.broadcast_arrays(xa, ya)
        ny, nx = self.heights.shape
        u = np.clip((xb - self.x0) / self.resolution, 0.0, nx - 1.0)
        v = np.clip((yb - self.y0) / self.resolution, 0.0, ny - 1.0)
        bad = ~(np.isfinite(u) & np.isfinite(v))
        u = np.where(bad, 0.0, u)
        v = np.where(bad, 0.0, v)
        i0 = np.minimum(np.floor(u).astype(int), max(nx - 2, 0))
        j0 = np.minimum(np.floor(v).astype(int), max(ny - 2, 0))
        i1 = np.minimum(i0 + 1, nx - 1)
        j1 = np.minimum(j0 + 1, ny - 1)
        fu = u - i0
        fv = v - j0
        h = self.heights
        z = ((1 - fu) * (1 - fv) * h[j0, i0] + fu * (1 - fv) * h[j0, i1]
             + (1 - fu) * fv * h[j1, i0] + fu * fv * h[j1, i1])
        z = np.where(bad, np.nan, z)
        if z.ndim == 0:
            return float(z)
        return z

    def _height_scalar(self, x: float, y: float) -> float:
        # the same bilinear interpolation in plain Python: the ray march's bisection calls it
        # for one point at a time, where numpy's per-call overhead would dominate
        if not (math.isfinite(x) and math.isfinite(y)):
            return math.nan
        ny, nx = self.heights.shape
        u = min(max((x - self.x0) / self.resolution, 0.0), nx - 1.0)
        v = min(max((y - self.y0) / self.resolution, 0.0), ny - 1.0)
        i0 = min(int(u), max(nx - 2, 0))
        j0 = min(int(v), max(ny - 2, 0))
        i1 = min(i0 + 1, nx - 1)
        j1 = min(j0 + 1, ny - 1)
        fu, fv = u - i0, v - j0
        h = self.heights
        return float((1 - fu) * (1 - fv) * h[j0, i0] + fu * (1 - fv) * h[j0, i1]
                     + (1 - fu) * fv * h[j1, i0] + fu * fv * h[j1, i1])

    def intersect_ray(self, origin_enu, direction_enu, max_range: float = 2000.0,
                      step: Optional[float] = None) -> Optional[np.ndarray]:
        """First point where the ray meets the terrain within max_range (m), or None.

        March at ``step`` metres (default half a cell) along the ray; at the first
        sample at or below ground, bisect the bracket to BISECTION_TOL_M. None when
        the ray starts below ground, is NaN/zero, or stays above ground for max_range.
        """
        od = _unit_direction(origin_enu, direction_enu)
        if od is None or not (max_range > 0.0):
            return None
        o, d = od
        if not math.isfinite(max_range):
            max_range = 1e5
        g0 = o[2] - self.height_at(o[0], o[1])
        if g0 < 0.0:
            return None
        if g0 == 0.0:
            return o.copy()
        if step is None:
            step = 0.5 * self.resolution
        step = max(float(step), max_range / MAX_MARCH_SAMPLES)
        n = int(math.ceil(max_range / step))
        t = np.minimum(np.arange(1, n + 1) * step, max_range)
        pts = o[None, :] + t[:, None] * d[None, :]
        clearance = pts[:, 2] - self.height_at(pts[:, 0], pts[:, 1])
        below = np.nonzero(clearance <= 0.0)[0]
        if below.size == 0:
            return None
        k = int(below[0])
        lo = 0.0 if k == 0 else float(t[k - 1])
        hi = float(t[k])
        c_lo = g0 if k == 0 else float(clearance[k - 1])
        c_hi = float(clearance[k])
        while hi - lo > BISECTION_TOL_M:
            mid = 0.5 * (lo + hi)
            p = o + mid * d
            c_mid = p[2] - self.height_at(p[0], p[1])
            if c_mid > 0.0:
                lo, c_lo = mid, c_mid
            else:
                hi, c_hi = mid, c_mid
        # Last step: the clearance is linear enough over so short a bracket to interpolate
        # (this keeps finite-difference Jacobians of the hit point smooth).
        t_hit = lo + (hi - lo) * c_lo / (c_lo - c_hi) if c_lo > c_hi else hi
        p = o + t_hit * d
        p[2] = self.height_at(p[0], p[1])
        return p
