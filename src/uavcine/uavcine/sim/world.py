"""The simulated world: ground (flat or a procedural heightmap), map features, objects and how they move.

Frame: local ENU metres (x east, y north, z up) anchored at the scenario's
geodetic origin (WGS84, converted with pymap3d). Object poses are a ground
position (x, y, with z the ground height there) and a heading (yaw, ENU angle:
0 = east, counter-clockwise); objects stand upright.

Everything random is drawn from ``numpy.random.default_rng`` seeded by the
scenario seed, in a fixed order, so a seed gives the same world every time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
import pymap3d

from ..core.terrain import FlatGround, HeightMap
from . import models
from .scenario import Scenario, TargetCfg


# ---------------------------------------------------------------------------- terrain
def make_terrain(sc: Scenario, rng: np.random.Generator):
    """FlatGround(0) or a HeightMap of Gaussian hills + a low-frequency roll + an optional incline."""
    tc = sc.world.terrain
    if tc.type == 'flat':
        return FlatGround(0.0)
    x0, x1, y0, y1 = sc.world.extent_m
    margin = 200.0
    res = tc.resolution_m
    xs = np.arange(x0 - margin, x1 + margin + res, res)
    ys = np.arange(y0 - margin, y1 + margin + res, res)
    X, Y = np.meshgrid(xs, ys)
    H = np.zeros_like(X)
    for _ in range(tc.hills):
        cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        w = tc.wavelength_m * rng.uniform(0.5, 1.2)
        a = tc.amplitude_m * rng.uniform(0.4, 1.0) * (1 if rng.random() < 0.8 else -0.5)
        H += a * np.exp(-((X - cx) ** 2 + (Y - cy) ** 2) / (2 * (w / 2.5) ** 2))
    for _ in range(3):  # long rolling undulation
        k = 2 * np.pi / (tc.wavelength_m * rng.uniform(2, 4))
        th = rng.uniform(0, np.pi)
        H += 0.15 * tc.amplitude_m * np.sin(k * (X * np.cos(th) + Y * np.sin(th)) + rng.uniform(0, 2 * np.pi))
    H += math.tan(math.radians(tc.base_slope_deg)) * X
    H -= H[np.argmin(np.abs(ys)), np.argmin(np.abs(xs))]  # the ENU origin stays at height 0
    return HeightMap(float(xs[0]), float(ys[0]), res, H)


def ground_height(ground, x, y):
    return ground.height_at(x, y)


# ---------------------------------------------------------------------------- motion
class StaticMotion:
    def __init__(self, x: float, y: float, yaw: float):
        self.x, self.y, self.yaw = float(x), float(y), float(yaw)

    def pose(self, t):
        """(x, y, yaw, speed) at time(s) t."""
        t = np.asarray(t, float)
        return (np.full(t.shape, self.x), np.full(t.shape, self.y), np.full(t.shape, self.yaw), np.zeros(t.shape))

    @property
    def moving(self) -> bool:
        return False


def catmull_rom(pts: np.ndarray, closed: bool, n: int = 12):
    """Dense points of a centripetal-free (uniform) Catmull-Rom spline through pts; returns (dense, knot_index)."""
    P = np.asarray(pts, float)
    m = len(P)
    if m < 3:
        return P.copy(), np.arange(m) * 1
    ext = np.concatenate([P[-1:], P, P[:2]]) if closed else np.concatenate([2 * P[:1] - P[1:2], P, 2 * P[-1:] - P[-2:-1]])
    segs = m if closed else m - 1
    out, knots = [], []
    u = np.linspace(0, 1, n, endpoint=False)[:, None]
    for i in range(segs):
        p0, p1, p2, p3 = ext[i], ext[i + 1], ext[i + 2], ext[i + 3]
        c = 0.5 * ((2 * p1) + (-p0 + p2) * u + (2 * p0 - 5 * p1 + 4 * p2 - p3) * u ** 2 + (-p0 + 3 * p1 - 3 * p2 + p3) * u ** 3)
        knots.append(len(out) * n)
        out.append(c)
    dense = np.concatenate(out)
    dense = np.concatenate([dense, P[:1] if closed else P[-1:]])
    knots.append(len(dense) - 1)
    return dense, np.asarray(knots)


class PathMotion:
    """Moves along waypoints with a speed per segment, optional pauses, acceleration-limited speed changes.

    Precomputes arc length s(t) on a 0.02 s grid (deterministic), then looks poses up by interpolation.
    """

    DT = 0.02

    def __init__(self, cfg: TargetCfg, horizon_s: float):
        pts = np.asarray(cfg.path, float)
        closed = bool(cfg.loop)
        if cfg.smooth:
            dense, knots = catmull_rom(pts, closed)
        else:
            dense = np.concatenate([pts, pts[:1]]) if closed else pts
            knots = np.arange(len(dense))
        d = np.linalg.norm(np.diff(dense, axis=0), axis=1)
        keep = np.concatenate([[True], d > 1e-6])
        remap = np.cumsum(keep) - 1
        dense, knots = dense[keep], remap[knots]
        d = np.linalg.norm(np.diff(dense, axis=0), axis=1)
        self.dense = dense
        self.s_dense = np.concatenate([[0.0], np.cumsum(d)])
        self.length = float(self.s_dense[-1])
        self.closed = closed
        s_knot = self.s_dense[knots]
        self.s_knot = s_knot
        nseg = len(knots) - 1
        speeds = list(cfg.speeds) or [1.5 if cfg.cls == 'person' else 8.0]
        if len(speeds) < nseg:  # one value, or fewer than segments: the last speed holds to the end
            speeds = speeds + [speeds[-1]] * (nseg - len(speeds))
        waits = list(cfg.waits_s) + [0.0] * (nseg + 1)
        hd = np.arctan2(np.diff(dense[:, 1]), np.diff(dense[:, 0]))
        self.s_mid = 0.5 * (self.s_dense[:-1] + self.s_dense[1:])
        self.heading = np.unwrap(hd)
        # integrate s(t) with the acceleration limit, braking for pauses and the path's end
        a = max(0.05, float(cfg.max_accel))
        T = float(horizon_s) + float(cfg.start_s) + 1.0
        n = int(math.ceil(T / self.DT)) + 1
        ts = np.arange(n) * self.DT
        s_arr = np.zeros(n)
        v_arr = np.zeros(n)
        s, v, seg, lap, wait_left, done = 0.0, 0.0, 0, 0, waits[0], False
        stop_at = [i for i in range(1, nseg + 1) if waits[i % (nseg if closed else nseg + 1)] > 0 or (not closed and i == nseg)]
        for k in range(n):
            s_arr[k], v_arr[k] = s + lap * self.length, v
            if done:  # the end of an open path: stay there
                continue
            if wait_left > 0:
                wait_left -= self.DT
                continue
            target_v = speeds[min(seg, nseg - 1)]  # seg == nseg on the way into the end of the path
            nxt = [sk for sk in stop_at if sk > seg]
            if nxt:
                dist = s_knot[nxt[0]] - s
                target_v = min(target_v, math.sqrt(max(0.0, 2 * a * max(dist - 0.05, 0.0))))
            v = v + float(np.clip(target_v - v, -a * self.DT, a * self.DT))
            s += v * self.DT
            while seg < nseg and s >= s_knot[seg + 1] - 1e-9:
                seg += 1
                w = waits[seg % nseg] if closed else waits[seg]
                if seg == nseg:
                    if closed:
                        s -= self.length
                        lap += 1
                        seg = 0
                        wait_left = waits[0]
                    else:
                        s, v, done = self.length, 0.0, True
                        break
                if w > 0:
                    wait_left, v = w, 0.0
                    s = s_knot[seg] if seg < nseg else s
        self.ts, self.s_t, self.v_t = ts, s_arr, v_arr
        self.t0 = float(cfg.start_s)

    @property
    def moving(self) -> bool:
        return True

    def pose(self, t):
        t = np.asarray(t, float) + self.t0
        s = np.interp(t, self.ts, self.s_t)
        v = np.interp(t, self.ts, self.v_t)
        sl = np.mod(s, self.length) if self.closed else np.clip(s, 0, self.length)
        x = np.interp(sl, self.s_dense, self.dense[:, 0])
        y = np.interp(sl, self.s_dense, self.dense[:, 1])
        yaw = np.interp(sl, self.s_mid, self.heading)
        return x, y, np.mod(yaw + np.pi, 2 * np.pi) - np.pi, v


# ---------------------------------------------------------------------------- objects
@dataclass
class SimObject:
    id: int                  # > 0; targets keep their scenario ids, occluders get ids from 1000 up
    kind: str                # 'target' | 'occluder'
    cls: str                 # person | car | tower | box | tree | building
    model: models.Model
    motion: object           # StaticMotion | PathMotion
    distractor: bool = False

    @property
    def is_target(self) -> bool:
        return self.kind == 'target'


@dataclass
class Features:
    """Vector map features (ENU metres) the texture draws and objects avoid."""

    roads: List[np.ndarray] = field(default_factory=list)        # polylines, 7 m asphalt
    tracks: List[np.ndarray] = field(default_factory=list)       # polylines, 3 m dirt
    fields: List[tuple] = field(default_factory=list)            # (polygon (4,2), crop kind, stripe angle)
    footprints: List[tuple] = field(default_factory=list)        # (polygon (4,2), roof colour)
    forests: List[tuple] = field(default_factory=list)           # (centre, radius)


def _polyline_dist(p: np.ndarray, line: np.ndarray) -> float:
    a, b = line[:-1], line[1:]
    ab = b - a
    t = np.clip(np.einsum('ij,ij->i', p - a, ab) / np.maximum(np.einsum('ij,ij->i', ab, ab), 1e-9), 0, 1)
    return float(np.min(np.linalg.norm(a + t[:, None] * ab - p, axis=1)))


def _wiggly_line(rng, extent, margin=100.0):
    """A road across the world: from one side to the opposite, gently curving."""
    x0, x1, y0, y1 = extent
    if rng.random() < 0.5:
        a = np.array([x0 - margin, rng.uniform(y0, y1)])
        b = np.array([x1 + margin, rng.uniform(y0, y1)])
    else:
        a = np.array([rng.uniform(x0, x1), y0 - margin])
        b = np.array([rng.uniform(x0, x1), y1 + margin])
    n = 12
    t = np.linspace(0, 1, n)[:, None]
    pts = a + t * (b - a)
    normal = np.array([-(b - a)[1], (b - a)[0]]) / np.linalg.norm(b - a)
    L = np.linalg.norm(b - a)
    off = np.zeros(n)
    for _ in range(2):
        off += rng.uniform(0.02, 0.06) * L * np.sin(np.pi * rng.uniform(0.5, 2.0) * t[:, 0] + rng.uniform(0, 6.28))
    pts = pts + off[:, None] * normal
    dense, _ = catmull_rom(pts, False, n=8)
    return dense


def make_features(sc: Scenario, rng: np.random.Generator) -> Features:
    w = sc.world
    ext = w.extent_m
    f = Features()
    for line in getattr(w, 'road_paths', []) or []:
        f.roads.append(np.asarray(line, float))
    for _ in range(w.roads):
        f.roads.append(_wiggly_line(rng, ext))
    # farmland: a rotated grid of parcels, each one crop
    if w.fields:
        ang = rng.uniform(0, np.pi / 2)
        cs, sn = np.cos(ang), np.sin(ang)
        R = np.array([[cs, -sn], [sn, cs]])
        span = max(ext[1] - ext[0], ext[3] - ext[2]) * 0.8 + 200
        u = -span
        while u < span:
            du = rng.uniform(60, 160)
            v = -span
            while v < span:
                dv = rng.uniform(50, 140)
                if rng.random() < 0.75:
                    g = 3.0  # strip of grass between parcels
                    poly = np.array([[u + g, v + g], [u + du - g, v + g], [u + du - g, v + dv - g], [u + g, v + dv - g]]) @ R.T
                    c = poly.mean(0)
                    if ext[0] - 150 < c[0] < ext[1] + 150 and ext[2] - 150 < c[1] < ext[3] + 150:
                        f.fields.append((poly, int(rng.integers(0, 5)), float(ang + rng.choice([0, np.pi / 2]))))
                v += dv
            u += du
        for _ in range(w.tracks):  # dirt tracks along parcel edges
            if rng.random() < 0.5:
                u0 = rng.uniform(-span * 0.5, span * 0.5)
                line = np.array([[u0, -span], [u0, span]]) @ R.T
            else:
                v0 = rng.uniform(-span * 0.5, span * 0.5)
                line = np.array([[-span, v0], [span, v0]]) @ R.T
            f.tracks.append(line)
    for _ in range(w.forest_patches):
        f.forests.append((np.array([rng.uniform(ext[0], ext[1]), rng.uniform(ext[2], ext[3])]), rng.uniform(25, 70)))
    # building footprints: clustered beside roads
    for k in range(w.footprints):
        if f.roads and rng.random() < 0.85:
            line = f.roads[int(rng.integers(len(f.roads)))]
            i = int(rng.integers(1, len(line) - 1))
            d = line[i + 1] - line[i]
            d = d / (np.linalg.norm(d) + 1e-9)
            nrm = np.array([-d[1], d[0]]) * rng.choice([-1, 1])
            c = line[i] + d * rng.uniform(0, 8) + nrm * rng.uniform(14, 30)
            yaw = math.atan2(d[1], d[0])
        else:
            c = np.array([rng.uniform(ext[0], ext[1]), rng.uniform(ext[2], ext[3])])
            yaw = rng.uniform(0, np.pi)
        L, W = rng.uniform(8, 22), rng.uniform(6, 12)
        cs, sn = math.cos(yaw), math.sin(yaw)
        corners = np.array([[L, W], [-L, W], [-L, -W], [L, -W]]) / 2 @ np.array([[cs, sn], [-sn, cs]]) + c
        roof = models.ROOF_COLORS[int(rng.integers(len(models.ROOF_COLORS)))]
        r = 0.5 * math.hypot(L, W)
        if any(np.linalg.norm(c - q.mean(0)) < r + 0.5 * np.linalg.norm(q[0] - q[2]) + 2 for q, _ in f.footprints):
            continue  # no overlapping roofs
        if any(_polyline_dist(c[None], line) < r + 4.5 for line in f.roads):
            continue  # not on a road
        f.footprints.append((corners, roof))
    return f


class World:
    """Ground, features, objects; object poses at any time; ENU <-> geodetic."""

    def __init__(self, sc: Scenario, seed: int):
        self.sc = sc
        self.seed = int(seed)
        rng = np.random.default_rng([self.seed, 1])
        self.ground = make_terrain(sc, rng)
        self.flat = isinstance(self.ground, FlatGround)
        self.features = make_features(sc, np.random.default_rng([self.seed, 2]))
        az, el = math.radians(sc.world.sun_azimuth_deg), math.radians(sc.world.sun_elevation_deg)
        #: unit vector toward the sun, ENU
        self.sun = np.array([math.sin(az) * math.cos(el), math.cos(az) * math.cos(el), math.sin(el)])
        self.objects: List[SimObject] = []
        horizon = sc.duration_s + 5.0
        mrng = np.random.default_rng([self.seed, 3])
        for t in sc.targets:
            self.objects.append(self._target(t, mrng, horizon))
        self._add_distractors(np.random.default_rng([self.seed, 4]), horizon)
        # painted forests are flat: keep them away from where targets stand or drive
        ways = [o.motion.dense if isinstance(o.motion, PathMotion) else np.array([[o.motion.x, o.motion.y]])
                for o in self.objects]
        if ways:
            pts = np.concatenate(ways)
            self.features.forests = [(c, r) for c, r in self.features.forests
                                     if np.min(np.linalg.norm(pts - c, axis=1)) > r + 15.0]
        oid = 1000
        for o in sc.occluders:
            self.objects.append(self._occluder(oid, o.kind, o.position, math.radians(o.yaw_deg), mrng,
                                               height=o.height, radius=o.radius, size=o.size, roof=o.roof))
            oid += 1
        self._add_random_occluders(np.random.default_rng([self.seed, 5]), oid)

    # -- building ----------------------------------------------------------------------
    def _target(self, t: TargetCfg, rng, horizon) -> SimObject:
        kw = {}
        if t.size is not None:
            if t.cls == 'box':
                kw = {'size': tuple(t.size)}
            else:
                kw = dict(zip(('length', 'width', 'height'), t.size))
                if t.cls == 'tower':
                    kw = {'base': t.size[0], 'height': t.size[2]}
        model = models.make_model(t.cls, np.random.default_rng([self.seed, 10, t.id]), **kw)
        if t.position is not None and not t.path:
            motion = StaticMotion(t.position[0], t.position[1], math.radians(t.yaw_deg))
        else:
            motion = PathMotion(t, horizon)
        return SimObject(t.id, 'target', t.cls, model, motion, distractor=t.distractor)

    def _occluder(self, oid, kind, pos, yaw, rng, height=None, radius=None, size=None, roof='flat'):
        r = np.random.default_rng([self.seed, 20, oid])
        if kind == 'tree':
            model = models.tree(r, height=height, radius=radius)
        else:
            L, W = (size or [None, None])[:2]
            model = models.building(r, length=L, width=W, height=height, roof=roof)
        return SimObject(oid, 'occluder', kind, model, StaticMotion(pos[0], pos[1], yaw))

    def _center_of_action(self):
        s = self.sc.shot
        if s.target is not None:
            x, y, _, _ = self.object(s.target).motion.pose(0.0)
            return np.array([float(x), float(y)])
        if s.point is not None:
            return np.asarray(s.point[:2], float)
        return np.zeros(2)

    def _clear(self, p, r, extra=()):
        for x, y, rr in list(self.sc.world.keep_clear) + list(extra):
            if math.hypot(p[0] - x, p[1] - y) < rr + r:
                return False
        for line in self.features.roads:
            if _polyline_dist(p[None, :], line) < 5.0 + r:
                return False
        for o in self.objects:
            if isinstance(o.motion, PathMotion):
                if _polyline_dist(p[None, :], o.motion.dense) < r + 3.0:
                    return False
            else:
                if math.hypot(p[0] - o.motion.x, p[1] - o.motion.y) < r + o.model.radius * 0.7 + 1.0:
                    return False
        return True

    def _add_distractors(self, rng, horizon):
        c = self._center_of_action()
        next_id = max([t.id for t in self.sc.targets] + [0]) + 1
        for dc in self.sc.distractors:
            for _ in range(dc.count):
                for _try in range(50):
                    p = c + rng.uniform(-dc.radius_m, dc.radius_m, 2)
                    if self._clear(p, 3.0):
                        break
                cfg = TargetCfg(id=next_id, cls=dc.cls, distractor=True)
                if rng.random() < dc.moving:
                    v = float(rng.uniform(*dc.speed_mps)) if dc.cls != 'person' else float(rng.uniform(0.7, 2.0))
                    road = self._nearby_road(p, dc.radius_m) if dc.cls == 'car' else None
                    if road is not None:
                        cfg.path = road.tolist()
                        cfg.speeds = [v]
                        cfg.smooth = False
                        cfg.start_s = float(rng.uniform(0, 60))
                    else:
                        pts = [p]
                        hd = rng.uniform(0, 2 * np.pi)
                        for _k in range(3):
                            hd += rng.uniform(-1.5, 1.5)
                            pts.append(pts[-1] + v * horizon / 3 * np.array([np.cos(hd), np.sin(hd)]))
                        cfg.path = [list(map(float, q)) for q in pts]
                        cfg.speeds = [v, v * rng.uniform(0.5, 1.5), v * rng.uniform(0.5, 1.5)]
                else:
                    cfg.position = [float(p[0]), float(p[1])]
                    cfg.yaw_deg = float(rng.uniform(0, 360))
                self.objects.append(self._target(cfg, rng, horizon))
                next_id += 1

    def _nearby_road(self, p, radius):
        for line in self.features.roads:
            if _polyline_dist(p[None, :], line) < radius:
                # drive on the right-hand lane: offset the centre line by 1.8 m
                d = np.gradient(line, axis=0)
                d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-9
                return line + np.stack([d[:, 1], -d[:, 0]], 1) * 1.8
        return None

    def _add_random_occluders(self, rng, oid):
        ext = self.sc.world.extent_m
        n_tree, n_bld = self.sc.world.trees, self.sc.world.buildings
        # buildings near the centre of action (within 150 m) so they matter for occlusion
        c = self._center_of_action()
        for _ in range(n_bld):
            for _try in range(30):
                p = c + rng.uniform(-150, 150, 2)
                if self._clear(p, 12.0):
                    self.objects.append(self._occluder(oid, 'building', p, rng.uniform(0, np.pi), rng,
                                                       roof='gable' if rng.random() < 0.5 else 'flat'))
                    oid += 1
                    break
        # trees: half scattered, half in hedgerows along field edges
        hedge = [f for f in self.features.fields]
        for k in range(n_tree):
            for _try in range(20):
                if hedge and k % 2 == 0:
                    poly = hedge[int(rng.integers(len(hedge)))][0]
                    i = int(rng.integers(4))
                    p = poly[i] + (poly[(i + 1) % 4] - poly[i]) * rng.uniform(0, 1)
                else:
                    p = np.array([rng.uniform(ext[0], ext[1]), rng.uniform(ext[2], ext[3])])
                if self._clear(p, 4.0):
                    self.objects.append(self._occluder(oid, 'tree', p, 0.0, rng))
                    oid += 1
                    break

    # -- queries -----------------------------------------------------------------------
    @property
    def targets(self) -> List[SimObject]:
        return [o for o in self.objects if o.is_target]

    def object(self, oid: int) -> SimObject:
        for o in self.objects:
            if o.id == oid:
                return o
        raise KeyError(oid)

    def pose(self, obj: SimObject, t: float):
        """(position ENU (3,), yaw, velocity ENU (3,)) of an object at time t (s)."""
        x, y, yaw, v = obj.motion.pose(t)
        x, y, yaw, v = float(x), float(y), float(yaw), float(v)
        z = float(self.ground.height_at(x, y))
        if obj.motion.moving and v > 0:
            x2, y2, _, _ = obj.motion.pose(t + 0.05)
            z2 = float(self.ground.height_at(float(x2), float(y2)))
            vel = (np.array([float(x2), float(y2), z2]) - np.array([x, y, z])) / 0.05
        else:
            vel = np.zeros(3)
        return np.array([x, y, z]), yaw, vel

    def geodetic(self, enu) -> tuple:
        """ENU (m) -> (lat, lon, ellipsoid height) via pymap3d."""
        o = self.sc.origin
        e = np.asarray(enu, float)
        lat, lon, h = pymap3d.enu2geodetic(e[..., 0], e[..., 1], e[..., 2], o.lat, o.lon, o.alt)
        return lat, lon, h

    def enu(self, lat, lon, alt) -> np.ndarray:
        o = self.sc.origin
        return np.array(pymap3d.geodetic2enu(lat, lon, alt, o.lat, o.lon, o.alt))
