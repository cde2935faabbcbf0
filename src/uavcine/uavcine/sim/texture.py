"""The ground's orthophoto: a procedural top-down image of the world, made once per world.

It holds grass, farmland parcels (crop colours, plough stripes), forest clumps,
dirt tracks, asphalt roads with lane marks, flat roofs of buildings (clutter),
the shadows of every static object (baked: they never move) and, on hilly
terrain, hill shading. The renderer warps it into the camera (a homography on
flat ground, a per-pixel lookup on terrain).

Texture pixel (i, j) covers world x in [xmin + i res, xmin + (i+1) res] and
y in [ymax - (j+1) res, ymax - j res] (row 0 is the north edge); RGB uint8.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ..core.terrain import FlatGround

GRASS = np.array([92, 122, 58], np.float32)
CROPS = np.array([[196, 176, 110], [100, 132, 52], [128, 98, 72], [182, 166, 118], [132, 156, 74]], np.float32)
ASPHALT = np.array([78, 78, 80], np.float32)
DIRT = np.array([160, 138, 104], np.float32)
FOREST = np.array([48, 74, 36], np.float32)


class Orthophoto:
    def __init__(self, img: np.ndarray, xmin: float, ymax: float, res: float):
        self.img = img
        self.xmin, self.ymax, self.res = float(xmin), float(ymax), float(res)
        self.pyramid = [img]
        while min(self.pyramid[-1].shape[:2]) > 128 and len(self.pyramid) < 7:
            self.pyramid.append(cv2.pyrDown(self.pyramid[-1]))
        self.mean_color = img[::7, ::7].reshape(-1, 3).mean(0)

    @property
    def shape(self):
        return self.img.shape

    def to_px(self, x, y):
        """World ENU (x, y) -> continuous texture coordinates (col, row) where pixel centres sit at +0.5."""
        return (np.asarray(x) - self.xmin) / self.res, (self.ymax - np.asarray(y)) / self.res


def _noise(rng, shape, cell_px, octaves=1):
    h, w = shape
    out = np.zeros(shape, np.float32)
    amp, tot = 1.0, 0.0
    for o in range(octaves):
        c = max(2, int(cell_px / (2 ** o)))
        small = rng.random((h // c + 2, w // c + 2)).astype(np.float32)
        out += amp * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        tot += amp
        amp *= 0.5
    return out / tot - 0.5


def _pts(poly_xy, tex: 'Orthophoto', shift=2):
    i, j = tex.to_px(poly_xy[:, 0], poly_xy[:, 1])
    return np.round(np.stack([i - 0.5, j - 0.5], 1) * (1 << shift)).astype(np.int32)


def make_orthophoto(world, rng: np.random.Generator) -> Orthophoto:
    sc = world.sc
    x0, x1, y0, y1 = sc.world.extent_m
    res = float(sc.world.texture_res_m)
    W, H = int(math.ceil((x1 - x0) / res)), int(math.ceil((y1 - y0) / res))
    tex = Orthophoto(np.zeros((1, 1, 3), np.uint8), x0, y0 + H * res, res)
    f = world.features
    shape = (H, W)
    # grass with patches of lighter/darker growth
    n1 = _noise(rng, shape, 40.0 / res, octaves=3)
    n2 = _noise(rng, shape, 6.0 / res, octaves=2)
    img = GRASS[None, None, :] * (1.0 + 0.35 * n1[..., None] + 0.15 * n2[..., None])
    img[..., 0] += 25 * n1  # some yellowing
    # farmland parcels
    if f.fields:
        label = np.zeros(shape, np.int16)
        for k, (poly, crop, ang) in enumerate(f.fields):
            cv2.fillPoly(label, [_pts(poly, tex)], k + 1, lineType=cv2.LINE_8, shift=2)
        m = label > 0
        if m.any():
            # per-field lookup tables (index 0 = no field), evaluated on the whole image in float32
            crop = np.array([0] + [c for _, c, _ in f.fields])
            ang = np.array([0.0] + [a for _, _, a in f.fields], np.float32)
            period = np.where(crop == 2, 1.2, 3.0).astype(np.float32)
            tint = np.concatenate([np.ones((1, 3)), np.random.default_rng(int(rng.integers(1 << 31)))
                                   .uniform(0.9, 1.1, (len(f.fields), 3))]).astype(np.float32)
            col = (CROPS[crop] * tint).astype(np.float32)
            X = (x0 + (np.arange(W, dtype=np.float32) + 0.5) * res)[None, :]
            Y = (tex.ymax - (np.arange(H, dtype=np.float32) + 0.5) * res)[:, None]
            ca, sa, pe = np.cos(ang)[label], np.sin(ang)[label], (2 * np.pi / period)[label]
            stripe = np.sin((X * ca + Y * sa) * pe)
            shade = 1.0 + 0.045 * stripe + 0.25 * n1 + 0.1 * n2
            img = np.where(m[..., None], col[label] * shade[..., None], img)
    # forest clumps: canopies seen from above, each with its shadow and a sunlit side
    sun2 = world.sun[:2] / max(np.linalg.norm(world.sun[:2]), 1e-6)
    sh_off = -world.sun[:2] / max(world.sun[2], 0.2) * 4.0
    for c, r in f.forests:
        crowns = []
        for _ in range(int(r * r / 10)):
            a, d = rng.uniform(0, 2 * np.pi), r * math.sqrt(rng.random())
            crowns.append((c + d * np.array([math.cos(a), math.sin(a)]), rng.uniform(2.0, 4.5), rng.uniform(0.8, 1.2)))
        # work in the patch's own window of the orthophoto
        ci, cj = tex.to_px(c[0], c[1])
        pad = (r + 30.0) / res
        i0, i1 = int(max(ci - pad, 0)), int(min(ci + pad, W))
        j0, j1 = int(max(cj - pad, 0)), int(min(cj + pad, H))
        if i1 <= i0 or j1 <= j0:
            continue
        win = (slice(j0, j1), slice(i0, i1))
        off = np.array([i0, j0]) * 4

        def px(p):
            return tuple(int(v) for v in (_pts(p[None], tex)[0] - off))
        sub = (j1 - j0, i1 - i0)
        shadow_f = np.zeros(sub, np.uint8)
        for p, cr, _ in crowns:
            cv2.circle(shadow_f, px(p + sh_off), max(1, int(4 * cr / res)), 255, -1, cv2.LINE_8, 2)
        img[win] *= (1.0 - 0.5 * cv2.GaussianBlur(shadow_f, (0, 0), 0.5 / res).astype(np.float32)[..., None] / 255.0)
        canopy = np.zeros(sub + (3,), np.float32)
        cmask = np.zeros(sub, np.uint8)
        for p, cr, tone in crowns:
            base = np.array([62, 96, 44], np.float32) * tone
            cv2.circle(canopy, px(p), max(1, int(4 * cr / res)), tuple(float(v) for v in base), -1, cv2.LINE_AA, 2)
            cv2.circle(canopy, px(p + sun2 * cr * 0.35), max(1, int(4 * cr * 0.55 / res)),
                       tuple(float(v) for v in base * 1.3), -1, cv2.LINE_AA, 2)
            cv2.circle(cmask, px(p), max(1, int(4 * cr / res)), 255, -1, cv2.LINE_AA, 2)
        canopy = cv2.GaussianBlur(canopy, (0, 0), 0.3 / res)
        fm = cmask.astype(np.float32)[..., None] / 255.0
        img[win] = img[win] * (1 - fm) + canopy * (1.0 + 0.35 * n2[win][..., None]) * fm
    # dirt tracks and roads
    for line in f.tracks:
        cv2.polylines(img, [_pts(line, tex)], False, tuple(float(v) for v in DIRT), max(1, int(3.0 / res)), cv2.LINE_AA, 2)
    for line in f.roads:
        cv2.polylines(img, [_pts(line, tex)], False, (120, 118, 112), max(1, int(9.0 / res)), cv2.LINE_AA, 2)  # shoulder
        cv2.polylines(img, [_pts(line, tex)], False, tuple(float(v) for v in ASPHALT), max(1, int(7.0 / res)), cv2.LINE_AA, 2)
        # dashed centre line: 3 m dash, 6 m gap
        seg = np.diff(line, axis=0)
        s = np.concatenate([[0], np.cumsum(np.linalg.norm(seg, axis=1))])
        for a in np.arange(0, s[-1] - 3, 9.0):
            p = np.stack([np.interp([a, a + 3], s, line[:, 0]), np.interp([a, a + 3], s, line[:, 1])], 1)
            cv2.polylines(img, [_pts(p, tex)], False, (225, 225, 215), max(1, int(0.15 / res)), cv2.LINE_AA, 2)
    # flat roofs of buildings (clutter) with their shadows
    shadow = np.zeros(shape, np.uint8)
    sun = world.sun
    for poly, roof in f.footprints:
        h = rng.uniform(3.0, 9.0)
        off = -sun[:2] / max(sun[2], 0.2) * h
        cv2.fillConvexPoly(shadow, cv2.convexHull(_pts(np.concatenate([poly, poly + off]), tex)), 255, cv2.LINE_8, 2)
    # shadows of static objects (baked)
    for obj in world.objects:
        if obj.motion.moving:
            continue
        pos, yaw, _ = world.pose(obj, 0.0)
        draw_shadow(shadow, obj.model, pos, yaw, sun, lambda P: _pts(P[:, :2], tex), res)
    sh = cv2.GaussianBlur(shadow, (0, 0), 0.35 / res).astype(np.float32) / 255.0
    img *= (1.0 - 0.45 * sh)[..., None]
    for poly, roof in f.footprints:  # roofs over their own shadow
        c = np.asarray(roof, np.float32)
        cv2.fillPoly(img, [_pts(poly, tex)], tuple(float(v) for v in c), cv2.LINE_AA, 2)
        ridge = np.array([(poly[0] + poly[3]) / 2, (poly[1] + poly[2]) / 2])
        cv2.polylines(img, [_pts(ridge, tex)], False, tuple(float(v) * 0.8 for v in c), max(1, int(0.3 / res)), cv2.LINE_AA, 2)
    # hill shading
    if not isinstance(world.ground, FlatGround):
        hm = world.ground
        ys = tex.ymax - (np.arange(0, H, 8) + 0.5) * res
        xs = x0 + (np.arange(0, W, 8) + 0.5) * res
        Xg, Yg = np.meshgrid(xs, ys)
        e = 1.0
        dzdx = (hm.height_at(Xg + e, Yg) - hm.height_at(Xg - e, Yg)) / (2 * e)
        dzdy = (hm.height_at(Xg, Yg + e) - hm.height_at(Xg, Yg - e)) / (2 * e)
        n = np.stack([-dzdx, -dzdy, np.ones_like(dzdx)], -1)
        n /= np.linalg.norm(n, axis=-1, keepdims=True)
        lam = np.clip(n @ sun, 0.0, 1.0) / max(sun[2], 0.2)
        shade = (0.45 + 0.55 * lam).astype(np.float32)
        img *= cv2.resize(shade, (W, H), interpolation=cv2.INTER_LINEAR)[..., None]
    img += rng.normal(0, 4.0, img.shape[:2]).astype(np.float32)[..., None]
    # fade to the mean colour over the outer 60 m: beyond the orthophoto the renderer uses that colour
    mean = img[::7, ::7].reshape(-1, 3).mean(0)
    e = int(min(60.0 / res, W // 2, H // 2))
    ramp = ((np.arange(e, dtype=np.float32) + 0.5) / e)
    for sl, a in (((slice(0, e), slice(None)), ramp[:, None]), ((slice(H - e, H), slice(None)), ramp[::-1, None]),
                  ((slice(None), slice(0, e)), ramp[None, :]), ((slice(None), slice(W - e, W)), ramp[None, ::-1])):
        img[sl] = img[sl] * a[..., None] + mean * (1 - a[..., None])
    np.clip(img, 0, 255, out=img)
    tex.__init__(img.astype(np.uint8), x0, tex.ymax, res)
    return tex


def draw_shadow(mask, model, pos, yaw, sun, to_px, res_m_per_px, value=255):
    """Paint the ground shadow of a model standing at pos (ENU) with heading yaw into a uint8 mask.

    ``to_px`` maps ENU ground points (N,3) to int32 pixel coordinates with 2 bits of sub-pixel shift.
    Points are projected along the sun onto the plane of the object's base.
    """
    c, s = math.cos(yaw), math.sin(yaw)
    R = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    sz = max(sun[2], 0.15)

    def ground(P):  # local points -> world points on the base plane along the sun
        W = P @ R.T
        return W - (W[:, 2:3] / sz) * sun[None, :] + pos * np.array([1, 1, 0])

    if len(model.poly_verts):
        V = ground(model.poly_verts.reshape(-1, 3)).reshape(-1, 4, 3)
        for quad in V:
            cv2.fillConvexPoly(mask, cv2.convexHull(to_px(quad)), value, cv2.LINE_8, 2)
    if len(model.seg):
        S = ground(model.seg.reshape(-1, 3)).reshape(-1, 2, 3)
        for seg, w in zip(S, model.seg_width):
            p = to_px(seg)
            cv2.line(mask, tuple(int(v) for v in p[0]), tuple(int(v) for v in p[1]), value,
                     max(1, int(round(w / res_m_per_px))), cv2.LINE_8, 2)
    if len(model.sph):
        C = ground(model.sph)
        az = math.degrees(math.atan2(-sun[1], sun[0]))  # image rows grow southward
        for cpt, r in zip(C, model.sph_r):
            p = to_px(cpt[None])[0]
            axes = (max(1, int(round(4 * r / res_m_per_px / sz))), max(1, int(round(4 * r / res_m_per_px))))
            cv2.ellipse(mask, (int(p[0]), int(p[1])), axes, az, 0, 360, value, -1, cv2.LINE_8, 2)
