"""3-D models of what the simulator draws: targets (person, car, lattice tower) and occluders (tree, building).

A model is a set of primitives in the object's local frame (x forward, y left,
z up, metres; origin on the ground at the footprint's centre):

- polygons: planar convex faces (quads; triangles repeat a vertex) with a colour
  and an outward normal, drawn with a z-buffer and Lambert shading;
- segments: thick lines (a lattice tower's members, a trunk, a wire) with a width
  in metres, drawn at that width in pixels (at least one pixel);
- spheres: tree canopies.

``hull`` holds the vertices whose projection bounds what the model draws: the
ground-truth 2-D box of a target is the projection of these vertices, clipped to
the image (see truth.py). ``size`` is the model's 3-D box (length, width, height).
The true dimensions follow the issue: person ~0.5x0.5x1.75 m, car ~4.5x1.8x1.5 m,
lattice tower 6x6 m at the base, 30 m high (its cross-arms reach wider).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import ConvexHull, QhullError

CLASSES = ('person', 'car', 'tower')

# Unit-cube corners, ordered so that faces below are counter-clockwise seen from outside.
_CUBE = np.array([[-1, -1, -1], [1, -1, -1], [1, 1, -1], [-1, 1, -1],
                  [-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]], dtype=float) / 2.0
_FACES = {'bottom': (0, 3, 2, 1), 'top': (4, 5, 6, 7), 'front': (1, 2, 6, 5),
          'back': (0, 4, 7, 3), 'left': (3, 7, 6, 2), 'right': (0, 1, 5, 4)}


@dataclass
class Model:
    """Primitives of one object in its local frame (see module doc)."""

    poly_verts: np.ndarray = field(default_factory=lambda: np.zeros((0, 4, 3)))
    poly_color: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    poly_normal: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    seg: np.ndarray = field(default_factory=lambda: np.zeros((0, 2, 3)))
    seg_width: np.ndarray = field(default_factory=lambda: np.zeros(0))
    seg_color: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    sph: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    sph_r: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sph_color: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    size: tuple = (0.0, 0.0, 0.0)

    def __post_init__(self):
        self._hull = None
        self._radius = None

    @property
    def hull(self) -> np.ndarray:
        """Vertices bounding every primitive (polygon corners, segment ends, sphere boxes); cached."""
        if self._hull is None:
            self._hull = self._make_hull()
        return self._hull

    def _make_hull(self) -> np.ndarray:
        pts = [self.poly_verts.reshape(-1, 3)]
        if len(self.seg):  # segment ends widened by half the member's width along each axis
            ends = self.seg.reshape(-1, 3)
            half = np.repeat(self.seg_width, 2)[:, None, None] / 2 * np.concatenate([np.eye(3), -np.eye(3)])[None]
            pts.append((ends[:, None, :] + half).reshape(-1, 3))
        if len(self.sph):
            for c, r in zip(self.sph, self.sph_r):
                pts.append(c + _CUBE * 2 * r)
        P = np.concatenate(pts) if pts else np.zeros((0, 3))
        if len(P) > 16:  # only the convex hull's vertices bound a projection (fewer points to project per frame)
            try:
                P = P[ConvexHull(P).vertices]
            except QhullError:
                pass
        return P

    @property
    def radius(self) -> float:
        """Radius of a sphere around the model's half-height point that holds the whole model; cached."""
        if self._radius is None:
            h = self.hull - np.array([0.0, 0.0, self.size[2] / 2])
            self._radius = float(np.linalg.norm(h, axis=1).max()) if len(h) else 0.0
        return self._radius


class ModelBuilder:
    def __init__(self):
        self.pv, self.pc, self.pn, self.sg, self.sw, self.sc, self.sp, self.sr, self.spc = ([] for _ in range(9))

    def box(self, center, size, color, faces=None, skip=('bottom',)):
        """An axis-aligned box; ``faces`` maps face names to colours that differ from ``color``."""
        v = np.asarray(center, float) + _CUBE * np.asarray(size, float)
        for name, idx in _FACES.items():
            if name in skip:
                continue
            self.quad(v[list(idx)], (faces or {}).get(name, color))
        return self

    def frustum(self, bottom_size, top_size, z0, z1, color, skip=('bottom',), faces=None):
        """A box whose top is smaller than its bottom (a roof, a tower's body)."""
        b = _CUBE[:4].copy()
        b[:, :2] *= np.asarray(bottom_size, float)
        b[:, 2] = z0
        t = _CUBE[4:].copy()
        t[:, :2] *= np.asarray(top_size, float)
        t[:, 2] = z1
        v = np.concatenate([b, t])
        for name, idx in _FACES.items():
            if name not in skip:
                self.quad(v[list(idx)], (faces or {}).get(name, color))
        return self

    def quad(self, verts, color):
        v = np.asarray(verts, float)
        if len(v) == 3:
            v = np.concatenate([v, v[-1:]])
        n = np.cross(v[1] - v[0], v[2] - v[0])
        if np.linalg.norm(n) < 1e-12:
            n = np.cross(v[2] - v[0], v[3] - v[0])
        self.pv.append(v)
        self.pc.append(np.asarray(color, float))
        self.pn.append(n / np.linalg.norm(n))
        return self

    def segment(self, p0, p1, width, color, max_len=12.0):
        """A thick line, split into pieces no longer than ``max_len`` (each piece gets one depth)."""
        p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
        n = max(1, int(np.ceil(np.linalg.norm(p1 - p0) / max_len)))
        for k in range(n):
            self.sg.append([p0 + (p1 - p0) * k / n, p0 + (p1 - p0) * (k + 1) / n])
            self.sw.append(float(width))
            self.sc.append(np.asarray(color, float))
        return self

    def sphere(self, center, r, color):
        self.sp.append(np.asarray(center, float))
        self.sr.append(float(r))
        self.spc.append(np.asarray(color, float))
        return self

    def build(self, size) -> Model:
        def arr(x, shape):
            return np.asarray(x, float).reshape(shape) if len(x) else np.zeros(shape[:0] + (0,) + shape[1:])
        return Model(arr(self.pv, (-1, 4, 3)), arr(self.pc, (-1, 3)), arr(self.pn, (-1, 3)),
                     arr(self.sg, (-1, 2, 3)), np.asarray(self.sw, float), arr(self.sc, (-1, 3)),
                     arr(self.sp, (-1, 3)), np.asarray(self.sr, float), arr(self.spc, (-1, 3)),
                     tuple(float(s) for s in size))


# ---------------------------------------------------------------------------- palettes
CAR_COLORS = [(200, 30, 30), (230, 230, 230), (30, 30, 35), (40, 70, 160), (150, 150, 155),
              (200, 170, 40), (30, 110, 60), (120, 20, 30)]
SHIRT_COLORS = [(200, 40, 40), (40, 90, 200), (240, 240, 235), (240, 200, 40), (40, 150, 70),
                (230, 110, 30), (120, 50, 140), (30, 30, 30)]
PANTS_COLORS = [(40, 45, 70), (30, 30, 30), (90, 80, 60), (60, 60, 65)]
ROOF_COLORS = [(150, 70, 55), (120, 118, 115), (90, 88, 92), (170, 95, 70), (200, 195, 185)]
WALL_COLORS = [(225, 215, 195), (200, 190, 170), (180, 175, 165), (235, 230, 220)]


def person(rng=None, length=0.3, width=0.5, height=1.75) -> Model:
    """Legs, torso, head: a standing person seen from the air (0.3 deep, 0.5 wide, 1.75 m)."""
    rng = rng or np.random.default_rng(0)
    shirt = SHIRT_COLORS[rng.integers(len(SHIRT_COLORS))]
    pants = PANTS_COLORS[rng.integers(len(PANTS_COLORS))]
    h = height
    b = ModelBuilder()
    leg_h = 0.48 * h
    b.box((0, 0.1 * width / 0.5, leg_h / 2), (0.22, 0.18, leg_h), pants)
    b.box((0, -0.1 * width / 0.5, leg_h / 2), (0.22, 0.18, leg_h), pants)
    torso_h = 0.36 * h
    b.box((0, 0, leg_h + torso_h / 2), (length, width, torso_h), shirt)
    head = h - leg_h - torso_h
    b.box((0, 0, leg_h + torso_h + head / 2), (0.22, 0.2, head), (205, 160, 130),
          faces={'top': (60, 45, 35)})
    return b.build((length, width, height))


def car(rng=None, length=4.5, width=1.8, height=1.5) -> Model:
    """Body, wheels, cabin with glass sides: a car (4.5 x 1.8 x 1.5 m)."""
    rng = rng or np.random.default_rng(0)
    paint = np.asarray(CAR_COLORS[rng.integers(len(CAR_COLORS))], float)
    glass = (45, 55, 65)
    b = ModelBuilder()
    wheel = 0.33
    body_top = 0.55 * height
    b.box((0, 0, (wheel + body_top) / 2), (length, width, body_top - wheel), paint)
    for sx in (-1, 1):
        for sy in (-1, 1):
            b.box((sx * 0.32 * length, sy * (width / 2 - 0.15), wheel / 2 + 0.05), (0.66, 0.28, wheel + 0.1),
                  (25, 25, 25), skip=('bottom',))
    cab_l = 0.5 * length
    b.frustum((cab_l, width * 0.94), (cab_l * 0.72, width * 0.8), body_top, height, glass)
    b.box((-0.05 * length, 0, height - 0.005), (cab_l * 0.72 - 0.02, width * 0.8 - 0.02, 0.01), paint * 0.95)
    return b.build((length, width, height))


def tower(rng=None, base=6.0, height=30.0, top=1.6, arm=11.0) -> Model:
    """A steel lattice power-line tower: tapered legs, horizontal rings, X bracing, two cross-arms.

    Base ``base`` x ``base`` m, ``height`` m high; the cross-arms span ``arm`` m across the
    line (local y), so the tower's 2-D box is wider than its base near the top.
    """
    steel = (150, 150, 145)
    b = ModelBuilder()
    levels = np.linspace(0, height * 0.8, 7)

    def half(z):  # half width of the body at height z
        zb = height * 0.8
        return base / 2 + (top / 2 - base / 2) * min(z, zb) / zb

    corners = [(1, 1), (-1, 1), (-1, -1), (1, -1)]
    for sx, sy in corners:
        b.segment((sx * half(0), sy * half(0), 0), (sx * half(levels[-1]), sy * half(levels[-1]), levels[-1]), 0.35, steel)
        b.segment((sx * half(levels[-1]), sy * half(levels[-1]), levels[-1]), (sx * top / 2, sy * top / 2, height), 0.3, steel)
    for k, z in enumerate(levels):
        hz = half(z)
        ring = [(sx * hz, sy * hz, z) for sx, sy in corners]
        for i in range(4):
            b.segment(ring[i], ring[(i + 1) % 4], 0.18, steel)
        if k + 1 < len(levels):
            z1 = levels[k + 1]
            h1 = half(z1)
            ring1 = [(sx * h1, sy * h1, z1) for sx, sy in corners]
            for i in range(4):  # X bracing on each face
                b.segment(ring[i], ring1[(i + 1) % 4], 0.12, steel)
                b.segment(ring[(i + 1) % 4], ring1[i], 0.12, steel)
    for z_arm, span in ((height * 0.8, arm), (height * 0.97, arm * 0.6)):
        hz = half(z_arm) if z_arm < height * 0.8 + 1e-6 else top / 2
        for sx in (-1, 1):
            b.segment((sx * hz, -span / 2, z_arm), (sx * hz, span / 2, z_arm), 0.3, steel)
            b.segment((sx * hz, -span / 2, z_arm), (sx * hz, -hz, z_arm + 1.5), 0.15, steel)
            b.segment((sx * hz, span / 2, z_arm), (sx * hz, hz, z_arm + 1.5), 0.15, steel)
        for sy in (-1, 1):  # insulator strings
            b.segment((0, sy * span / 2, z_arm), (0, sy * span / 2, z_arm - 2.0), 0.25, (210, 210, 200))
    return b.build((base, arm, height))


def tree(rng=None, height=None, radius=None) -> Model:
    """A broadleaf tree: a short trunk and a cluster of canopy spheres."""
    rng = rng or np.random.default_rng(0)
    height = float(height if height is not None else rng.uniform(6, 14))
    radius = float(radius if radius is not None else rng.uniform(0.22, 0.35) * height)
    green = np.array([52, 82, 38], float) * rng.uniform(0.75, 1.25) + rng.normal(0, 6, 3)
    b = ModelBuilder()
    b.segment((0, 0, 0), (0, 0, height - radius), max(0.25, 0.04 * height), (90, 70, 50))
    b.sphere((0, 0, height - radius), radius, green)
    for _ in range(3):
        a = rng.uniform(0, 2 * np.pi)
        r = radius * rng.uniform(0.5, 0.75)
        d = radius - r * 0.6
        b.sphere((d * np.cos(a), d * np.sin(a), height - radius - rng.uniform(0, 0.3) * radius), r,
                 green * rng.uniform(0.85, 1.15))
    return b.build((2 * radius, 2 * radius, height))


def building(rng=None, length=None, width=None, height=None, roof='flat') -> Model:
    """A house or block: walls and a flat or gabled roof."""
    rng = rng or np.random.default_rng(0)
    length = float(length if length is not None else rng.uniform(8, 20))
    width = float(width if width is not None else rng.uniform(6, 12))
    height = float(height if height is not None else rng.uniform(3, 9))
    wall = WALL_COLORS[rng.integers(len(WALL_COLORS))]
    roof_c = ROOF_COLORS[rng.integers(len(ROOF_COLORS))]
    b = ModelBuilder()
    if roof == 'gable':
        eave = height * 0.7
        b.box((0, 0, eave / 2), (length, width, eave), wall, skip=('bottom', 'top'))
        x, y = length / 2, width / 2
        b.quad([(-x, -y, eave), (x, -y, eave), (x, 0, height), (-x, 0, height)], roof_c)
        b.quad([(x, y, eave), (-x, y, eave), (-x, 0, height), (x, 0, height)], roof_c)
        b.quad([(x, -y, eave), (x, y, eave), (x, 0, height)], wall)
        b.quad([(-x, y, eave), (-x, -y, eave), (-x, 0, height)], wall)
    else:
        b.box((0, 0, height / 2), (length, width, height), wall, faces={'top': roof_c})
    return b.build((length, width, height))


def box_target(size=(4.0, 2.0, 2.0), color=(200, 60, 60)) -> Model:
    """A plain box (tests: its drawn pixels fill exactly its 3-D box's projection)."""
    return ModelBuilder().box((0, 0, size[2] / 2), size, color).build(size)


def make_model(kind: str, rng=None, **kw) -> Model:
    """Model by kind name: person, car, tower, tree, building, box."""
    makers = {'person': person, 'car': car, 'tower': tower, 'tree': tree, 'building': building, 'box': box_target}
    if kind not in makers:
        raise ValueError('unknown object kind %r (known: %s)' % (kind, ', '.join(makers)))
    if kind == 'box':
        return box_target(**kw)
    return makers[kind](rng, **kw)
