"""CPU renderer (numpy + OpenCV): orthophoto ground, sky and haze, z-buffered objects, id-buffer, depth.

All projection goes through uavcine.core.camera (PinholeCamera.project / rays,
world_to_camera): one camera model in the whole project. OpenCV's drawing and
warping functions put pixel centres at integer coordinates, ours at +0.5
(image spans [0, W] x [0, H]); every call below converts with ``- 0.5``.

Per frame:

1. Ground. Flat ground is a plane, so the orthophoto maps into the image by a
   homography: ``cv2.warpPerspective`` of a mip level of the orthophoto (levels
   blended by the texel footprint, so far ground does not alias). Terrain is
   ray-marched on a 4x coarser grid (HeightMap heights), the hit points are
   upsampled, and the orthophoto is looked up with ``cv2.remap``.
2. Shadows of moving objects, projected along the sun onto the ground.
3. Objects, with a z-buffer: planar faces (depth from the face's plane per
   pixel), thick segments (one depth per piece), spheres (per-pixel depth);
   Lambert shading from the sun. Each pixel records the id of what it shows.
4. Sky above the horizon and aerial haze (contrast falls with range).
5. Optional sensor effects: pixel noise.

Depth is the optical-frame z (metres) of the surface each pixel shows; +inf
for sky (REP 117's "too far" value).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..core.camera import PinholeCamera, world_to_camera
from ..core.terrain import FlatGround

NEAR = 0.2
SKY_ZENITH = np.array([105, 145, 205], np.float32)
SKY_HORIZON = np.array([196, 210, 226], np.float32)
HAZE = np.array([188, 198, 212], np.float32)
AMBIENT, DIFFUSE = 0.45, 0.7
MAX_RANGE = 20000.0


@dataclass
class RenderOut:
    rgb: np.ndarray            # HxWx3 uint8
    ids: np.ndarray            # HxW int32: object id, 0 = ground or sky
    depth: np.ndarray          # HxW float32 optical z, +inf sky
    alone: dict = field(default_factory=dict)   # target id -> (pixels it covers with nothing in front, region)
    sky: np.ndarray = None     # HxW bool


def yaw_matrix(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def clip_near(P: np.ndarray, near: float = NEAR) -> np.ndarray:
    """Clip a convex polygon (optical frame, (n,3)) to z >= near (Sutherland-Hodgman on one plane)."""
    out = []
    n = len(P)
    for i in range(n):
        a, b = P[i], P[(i + 1) % n]
        ina, inb = a[2] >= near, b[2] >= near
        if ina:
            out.append(a)
        if ina != inb:
            t = (near - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return np.asarray(out) if out else np.zeros((0, 3))


class Renderer:
    def __init__(self, world, camera: PinholeCamera, ortho, visibility_m: float = 2500.0, terrain_step: int = 4):
        self.world, self.cam, self.ortho = world, camera, ortho
        self.W, self.H = camera.width, camera.height
        self.visibility = float(visibility_m)
        self.terrain_step = int(terrain_step)
        jj, ii = np.mgrid[0:self.H, 0:self.W]
        uv = np.stack([ii.ravel() + 0.5, jj.ravel() + 0.5], 1)
        r = camera.rays(uv)  # unit rays, optical frame (undistorted)
        self.XN = (r[:, 0] / r[:, 2]).reshape(self.H, self.W).astype(np.float32)
        self.YN = (r[:, 1] / r[:, 2]).reshape(self.H, self.W).astype(np.float32)
        self.RN = np.sqrt(self.XN ** 2 + self.YN ** 2 + 1.0).astype(np.float32)  # range / depth
        lo = (self.W // 8, self.H // 8)
        self.XNl = cv2.resize(self.XN, lo, interpolation=cv2.INTER_AREA).astype(np.float64)
        self.YNl = cv2.resize(self.YN, lo, interpolation=cv2.INTER_AREA).astype(np.float64)
        self.log2RNl = np.log2(np.sqrt(self.XNl ** 2 + self.YNl ** 2 + 1.0))
        self.f = 0.5 * (camera.fx + camera.fy)
        rng = np.random.default_rng(12345)
        leaf = cv2.GaussianBlur(rng.random((256, 256)).astype(np.float32), (0, 0), 1.2)
        self.leaf = ((leaf - leaf.mean()) / leaf.std()).astype(np.float32)
        self._static_pose = {}
        # beyond the orthophoto the ground is its mean colour (the texture fades to it at its edges)
        self._border = tuple(float(v) for v in ortho.mean_color)
        self._haze_img = np.broadcast_to(HAZE.astype(np.uint8), (self.H, self.W, 3)).copy()
        self._static = None

    # ------------------------------------------------------------------ ground
    def _ground_flat(self, C, R, h):
        """Ground colour (uint8 HxWx3), depth (float32) and sky mask on the plane z = h."""
        Hc = float(C[2] - h)  # camera height above the plane
        dz = (R[2, 0] * self.XN + R[2, 1] * self.YN + R[2, 2]).astype(np.float32)  # world z of ray [xn, yn, 1]
        sky = -dz * MAX_RANGE <= Hc * self.RN
        with np.errstate(divide='ignore', invalid='ignore'):
            depth = np.where(sky, np.float32(np.inf), np.float32(Hc) / -dz).astype(np.float32)
        # homography: orthophoto cv coords (i, j) -> image cv coords
        o = self.ortho
        M = np.array([[o.res, 0.0, o.xmin + 0.5 * o.res],
                      [0.0, -o.res, o.ymax - 0.5 * o.res],
                      [0.0, 0.0, h]])
        M[:, 2] -= C
        T = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
        H0 = T @ self.cam.K @ R.T @ M
        # texel footprint per pixel, on a coarse grid (it is smooth): range / (f res) / sqrt(sin(grazing))
        dzl = R[2, 0] * self.XNl + R[2, 1] * self.YNl + R[2, 2]
        with np.errstate(divide='ignore', invalid='ignore'):
            lev_l = (np.log2(max(Hc, 1e-3) / (self.f * o.res)) + 1.5 * (self.log2RNl - np.log2(np.maximum(-dzl, 1e-6))))
        lev = cv2.resize(lev_l.astype(np.float32), (self.W, self.H), interpolation=cv2.INTER_LINEAR)
        return self._warp_levels(lev, sky, lambda L, r0, r1: cv2.warpPerspective(
            o.pyramid[L], np.array([[1, 0, 0], [0, 1, -r0], [0, 0, 1]], float) @ H0 @ self._level_scale(L),
            (self.W, r1 - r0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
            borderValue=self._border)), depth, sky

    @staticmethod
    def _level_scale(L):
        s = float(2 ** L)
        return np.array([[s, 0.0, 0.5 * s - 0.5], [0.0, s, 0.5 * s - 0.5], [0.0, 0.0, 1.0]])

    def _warp_levels(self, lev, sky, warp):
        """Blend mip levels by texel footprint (uint8 out): level L shows where log2(footprint) >= L.

        ``lev`` is log2 of the footprint in texels. Only the rows a level touches are warped
        and blended (levels > 0 live near the horizon).
        """
        nlev = len(self.ortho.pyramid)
        lev = np.clip(np.nan_to_num(lev, nan=0.0, posinf=nlev - 1.0), 0, nlev - 1).astype(np.float32)
        lev[sky] = 0.0
        ground_rows = np.nonzero(~sky.all(axis=1))[0]
        out = np.zeros((self.H, self.W, 3), np.uint8)
        if ground_rows.size == 0:
            return out
        g0, g1 = int(ground_rows[0]), int(ground_rows[-1]) + 1
        row_min = np.where(sky, np.inf, lev).min(axis=1)
        row_max = lev.max(axis=1)
        rows0 = np.nonzero(row_min[g0:g1] < 1.0)[0]
        if rows0.size:
            r0, r1 = g0 + int(rows0[0]), g0 + int(rows0[-1]) + 1
            out[r0:r1] = warp(0, r0, r1)
        for L in range(1, nlev):
            rows = np.nonzero(row_max[g0:g1] > L - 1)[0]
            if rows.size == 0:
                break
            r0, r1 = g0 + int(rows[0]), g0 + int(rows[-1]) + 1
            w = np.clip(lev[r0:r1] - (L - 1), 0.0, 1.0)
            img = warp(L, r0, r1)
            out[r0:r1] = cv2.blendLinear(out[r0:r1], img, 1.0 - w, w)
        return out

    def _ground_terrain(self, C, R):
        """Ray-march the heightmap on a coarse grid, upsample the hit points, look the orthophoto up."""
        g = self.world.ground
        s = self.terrain_step
        h, w = (self.H + s - 1) // s, (self.W + s - 1) // s
        xn = cv2.resize(self.XN.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA).astype(np.float64)
        yn = cv2.resize(self.YN.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA).astype(np.float64)
        d = np.stack([xn, yn, np.ones_like(xn)], -1).reshape(-1, 3) @ R.T  # world ray with optical z = 1
        n = 96
        ts = np.geomspace(0.5, 8000.0, n)
        P = C[None, None, :] + ts[None, :, None] * d[:, None, :]
        clear = P[..., 2] - g.height_at(P[..., 0], P[..., 1])
        below = clear <= 0
        hit = below.any(axis=1)
        k = np.argmax(below, axis=1)
        lo = np.where(k > 0, ts[np.maximum(k - 1, 0)], 0.0)
        hi = ts[k]
        for _ in range(10):  # bisection on the bracket
            mid = 0.5 * (lo + hi)
            Q = C + mid[:, None] * d
            c = Q[:, 2] - g.height_at(Q[:, 0], Q[:, 1])
            lo = np.where(c > 0, mid, lo)
            hi = np.where(c > 0, hi, mid)
        t = 0.5 * (lo + hi)
        t = np.where(hit, t, 8000.0).reshape(h, w).astype(np.float32)
        skyf = (~hit).reshape(h, w).astype(np.float32)
        tt = cv2.resize(t, (self.W, self.H), interpolation=cv2.INTER_LINEAR)
        sky = cv2.resize(skyf, (self.W, self.H), interpolation=cv2.INTER_LINEAR) > 0.5
        depth = tt.astype(np.float32)
        depth[sky] = np.inf
        # world hit points of every pixel
        X = C[0] + tt * (R[0, 0] * self.XN + R[0, 1] * self.YN + R[0, 2])
        Y = C[1] + tt * (R[1, 0] * self.XN + R[1, 1] * self.YN + R[1, 2])
        o = self.ortho
        ci, cj = o.to_px(X, Y)
        dz = R[2, 0] * self.XN + R[2, 1] * self.YN + R[2, 2]
        sin_graze = np.clip(-dz / self.RN, 0.05, 1.0)
        with np.errstate(divide='ignore', invalid='ignore'):
            fp = np.where(sky, 0.0, np.log2(np.maximum(depth * self.RN / (self.f * o.res) / np.sqrt(sin_graze), 1e-6)))

        def warp(L, r0, r1):
            sc = 2.0 ** L
            mx = (ci[r0:r1] / sc - 0.5).astype(np.float32)
            my = (cj[r0:r1] / sc - 0.5).astype(np.float32)
            return cv2.remap(o.pyramid[L], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=self._border)
        return self._warp_levels(fp, sky, warp), depth, sky

    # ------------------------------------------------------------------ objects
    def _object_pose(self, obj, t):
        if not obj.motion.moving:
            p = self._static_pose.get(obj.id)
            if p is None:
                p = self.world.pose(obj, 0.0)[:2]
                self._static_pose[obj.id] = p
            return p
        pos, yaw, _ = self.world.pose(obj, t)
        return pos, yaw

    def _project(self, Pc):
        uv = self.cam.project(Pc)
        return uv - 0.5  # cv coords

    def render(self, state, t: float, noise_sigma: float = 0.0, noise_seed=None) -> RenderOut:
        C = np.asarray(state.pos, float)
        R = np.asarray(state.R_world_optical, float)
        if isinstance(self.world.ground, FlatGround):
            rgb, depth, sky = self._ground_flat(C, R, float(self.world.ground.height))
            zbuf = np.full((self.H, self.W), np.inf, np.float32)  # the plane hides nothing above it
        else:
            rgb, depth, sky = self._ground_terrain(C, R)
            # the terrain hides objects behind hills; the tolerance covers its coarse (4x) sampling,
            # so that an object standing on the ground is not cut by the interpolated surface
            zbuf = depth * np.float32(1.03) + np.float32(1.0)
        ids = np.zeros((self.H, self.W), np.int32)
        sun_c = R.T @ self.world.sun
        # cull and sort objects (near first: later tests then reject hidden pixels early)
        objs = self.world.objects
        if self._static is None:
            self._static = [o for o in objs if not o.motion.moving]
            self._static_c = np.array([self._object_pose(o, 0.0)[0] + [0, 0, o.model.size[2] / 2]
                                       for o in self._static]).reshape(-1, 3)
            self._static_r = np.array([o.model.radius for o in self._static])
            self._moving = [o for o in objs if o.motion.moving]
        poses = [self._object_pose(o, t) for o in self._moving]
        cand = self._static + self._moving
        cen = np.concatenate([self._static_c] + [[p + np.array([0, 0, o.model.size[2] / 2])]
                                                  for o, (p, _) in zip(self._moving, poses)]).reshape(-1, 3)
        rad = np.concatenate([self._static_r, [o.model.radius for o in self._moving]])
        cz = world_to_camera(cen, C, R) if len(cen) else np.zeros((0, 3))
        zc = np.maximum(cz[:, 2], 1e-3)
        vis = ((cz[:, 2] > -rad)
               & (np.abs(cz[:, 0]) - rad <= zc * (self.cam.cx + 2) / self.cam.fx * 1.3 + rad)
               & (np.abs(cz[:, 1]) - rad <= zc * (self.cam.cy + 2) / self.cam.fy * 1.3 + rad))
        small = self.f * rad / zc < 0.7
        todo = []
        ns = len(self._static)
        for i in np.nonzero(vis)[0]:
            obj = cand[i]
            if small[i] and not obj.is_target:
                continue
            pos, yaw = self._object_pose(obj, t) if i < ns else poses[i - ns]
            todo.append((cz[i, 2], obj, pos, yaw))
        todo.sort(key=lambda e: e[0])
        # moving objects' shadows (static ones are baked into the orthophoto)
        for _, obj, pos, yaw in todo:
            if obj.motion.moving:
                self._shadow(rgb, ids, obj, pos, yaw, C, R)
        alone = {}
        for _, obj, pos, yaw in todo:
            acc = [] if obj.is_target else None
            self._draw(obj, pos, yaw, C, R, sun_c, rgb, ids, zbuf, acc)
            if acc is not None:
                alone[obj.id] = self._union(acc)
        depth = np.minimum(depth, zbuf)  # objects in front of the ground
        sky &= ids == 0
        # aerial haze: contrast falls as exp(-range / visibility)
        with np.errstate(over='ignore', invalid='ignore'):
            hz = np.exp(depth * self.RN * np.float32(-1.0 / self.visibility))
        hz[sky] = 1.0
        rgb = cv2.blendLinear(rgb, self._haze_img, hz, 1.0 - hz)
        sky_rows = np.nonzero(sky.any(axis=1))[0]
        if sky_rows.size:
            r0, r1 = int(sky_rows[0]), int(sky_rows[-1]) + 1
            up = R[2, 0] * self.XN[r0:r1] + R[2, 1] * self.YN[r0:r1] + R[2, 2]
            a = np.sqrt(np.clip(up / self.RN[r0:r1], 0.0, 1.0)).astype(np.float32)[..., None]
            skyc = SKY_HORIZON * (1 - a) + SKY_ZENITH * a
            m = sky[r0:r1]
            rgb[r0:r1][m] = skyc[m].astype(np.uint8)
        if noise_sigma > 0:
            nrng = np.random.default_rng(noise_seed)
            n = nrng.normal(0.0, noise_sigma, rgb.shape[:2]).astype(np.float32)[..., None]
            rgb = np.clip(rgb + n, 0, 255).astype(np.uint8)
        return RenderOut(rgb, ids, depth, alone, sky)

    @staticmethod
    def _union(acc):
        """(number of distinct pixels, (y0, x0, y1, x1) region) of a list of (y0, x0, bool mask) pieces."""
        if not acc:
            return 0, (0, 0, 0, 0)
        y0 = min(a[0] for a in acc)
        x0 = min(a[1] for a in acc)
        y1 = max(a[0] + a[2].shape[0] for a in acc)
        x1 = max(a[1] + a[2].shape[1] for a in acc)
        u = np.zeros((y1 - y0, x1 - x0), bool)
        for ay, ax, m in acc:
            u[ay - y0:ay - y0 + m.shape[0], ax - x0:ax - x0 + m.shape[1]] |= m
        return int(u.sum()), (y0, x0, y1, x1)

    def _shadow(self, rgb, ids, obj, pos, yaw, C, R):
        sun = self.world.sun
        sz = max(sun[2], 0.15)
        Pw = obj.model.hull @ yaw_matrix(yaw).T
        G = Pw - (Pw[:, 2:3] / sz) * sun[None, :] + pos
        Pc = world_to_camera(G, C, R)
        if np.any(Pc[:, 2] < NEAR):
            return
        uv = self._project(Pc)
        hull = cv2.convexHull(np.round(uv * 16).astype(np.int32))
        x0, y0 = np.floor(uv.min(0)).astype(int) - 1
        x1, y1 = np.ceil(uv.max(0)).astype(int) + 2
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, self.W), min(y1, self.H)
        if x1 <= x0 or y1 <= y0:
            return
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(m, hull - np.array([x0 * 16, y0 * 16], np.int32), 1, cv2.LINE_8, 4)
        reg = rgb[y0:y1, x0:x1]
        mb = m.astype(bool)
        reg[mb] = (reg[mb] * 0.58).astype(np.uint8)

    def _draw(self, obj, pos, yaw, C, R, sun_c, rgb, ids, zbuf, acc):
        mdl = obj.model
        M = yaw_matrix(yaw)
        RM = R.T @ M                       # local -> optical rotation
        tc = (pos - C) @ R                 # local origin in the optical frame
        oid = obj.id
        if len(mdl.poly_verts):
            V = mdl.poly_verts.reshape(-1, 3) @ RM.T + tc
            Vq = V.reshape(-1, 4, 3)
            Nc = mdl.poly_normal @ RM.T
            front = np.einsum('ij,ij->i', Nc, Vq[:, 0]) < 0
            lam = AMBIENT + DIFFUSE * np.clip(Nc @ sun_c, 0.0, 1.0)
            cols = mdl.poly_color * lam[:, None]
            UV = self._project(V).reshape(-1, 4, 2) if V[:, 2].min() >= NEAR else None
            # far faces first so that a face's own object is consistent at equal depth
            idx = np.nonzero(front)[0]
            idx = idx[np.argsort(Vq[idx, :, 2].mean(1))]
            for k in idx:
                self._poly(Vq[k], Nc[k], cols[k], oid, rgb, ids, zbuf, acc, None if UV is None else UV[k])
        if len(mdl.seg) and (obj.is_target or self.f * mdl.radius / max(tc[2], NEAR) > 12.0):  # far trunks: LOD
            S = (mdl.seg.reshape(-1, 3) @ RM.T + tc).reshape(-1, 2, 3)
            self._segments(S, mdl.seg_width, mdl.seg_color, oid, rgb, ids, zbuf, acc)
        if len(mdl.sph):
            Sc = mdl.sph @ RM.T + tc
            self._spheres(Sc, mdl.sph_r, mdl.sph_color, sun_c, oid, rgb, ids, zbuf, acc)

    def _region(self, uv, pad=1):
        x0, y0 = np.floor(uv.min(0)).astype(int) - pad
        x1, y1 = np.ceil(uv.max(0)).astype(int) + pad + 1
        return max(x0, 0), max(y0, 0), min(x1, self.W), min(y1, self.H)

    def _poly(self, P, n, col, oid, rgb, ids, zbuf, acc, uv=None):
        if uv is None:
            if P[:, 2].min() < NEAR:
                P = clip_near(P)
                if len(P) < 3:
                    return
            uv = self._project(P)
        x0, y0, x1, y1 = self._region(uv)
        if x1 <= x0 or y1 <= y0:
            return
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        pts = np.round((uv - np.array([x0, y0])) * 16).astype(np.int32)
        cv2.fillConvexPoly(m, pts, 1, cv2.LINE_8, 4)
        m = m.view(bool)
        if not m.any():
            return
        d = float(n @ P[0])
        with np.errstate(divide='ignore', invalid='ignore'):
            z = d / (n[0] * self.XN[y0:y1, x0:x1] + n[1] * self.YN[y0:y1, x0:x1] + n[2])
        z = np.clip(np.nan_to_num(z, nan=P[:, 2].max(), posinf=P[:, 2].max(), neginf=P[:, 2].max()),
                    P[:, 2].min(), P[:, 2].max()).astype(np.float32)
        self._commit(m, z, col, oid, x0, y0, x1, y1, rgb, ids, zbuf, acc)

    def _commit(self, m, z, col, oid, x0, y0, x1, y1, rgb, ids, zbuf, acc):
        zr = zbuf[y0:y1, x0:x1]
        w = m & (z < zr)
        if acc is not None:
            acc.append((y0, x0, m))
        if not w.any():
            return
        zr[w] = z[w] if np.ndim(z) else z
        ids[y0:y1, x0:x1][w] = oid
        if np.ndim(col) == 1:
            rgb[y0:y1, x0:x1][w] = np.clip(col, 0, 255).astype(np.uint8)
        else:
            rgb[y0:y1, x0:x1][w] = np.clip(col[w], 0, 255).astype(np.uint8)

    def _segments(self, S, width, col, oid, rgb, ids, zbuf, acc):
        """All thick segments of one object: drawn far-to-near into an index canvas, one z-test."""
        za, zb = S[:, 0, 2], S[:, 1, 2]
        keep = (za >= NEAR) | (zb >= NEAR)
        if not keep.any():
            return
        S, width, col = S[keep].copy(), width[keep], col[keep]
        za, zb = S[:, 0, 2], S[:, 1, 2]
        for i in np.nonzero((za < NEAR) | (zb < NEAR))[0]:  # pull the end behind the camera onto the near plane
            a, b = S[i]
            if a[2] < NEAR:
                a, b = b, a
            t = (a[2] - NEAR) / (a[2] - b[2])
            S[i] = [a, a + t * (b - a)]
        uv = self._project(S.reshape(-1, 3)).reshape(-1, 2, 2)
        z = S[:, :, 2]
        th = np.maximum(1, np.round(self.f * width / z.mean(1))).astype(int)
        pad = int(th.max()) // 2 + 2
        x0, y0, x1, y1 = self._region(uv.reshape(-1, 2), pad=pad)
        if x1 <= x0 or y1 <= y0:
            return
        canvas = np.zeros((y1 - y0, x1 - x0), np.int32)
        p = np.round((uv - np.array([x0, y0])) * 16).astype(np.int64)
        for k in np.argsort(-z.mean(1)):
            cv2.line(canvas, (int(p[k, 0, 0]), int(p[k, 0, 1])), (int(p[k, 1, 0]), int(p[k, 1, 1])),
                     int(k) + 1, int(th[k]), cv2.LINE_8, 4)
        m = canvas > 0
        if not m.any():
            return
        jj, ii = np.nonzero(m)
        k = canvas[jj, ii] - 1
        a = uv[k, 0] - np.array([x0, y0])
        d = uv[k, 1] - uv[k, 0]
        L2 = np.maximum((d * d).sum(1), 1e-9)
        s = np.clip(((ii - a[:, 0]) * d[:, 0] + (jj - a[:, 1]) * d[:, 1]) / L2, 0.0, 1.0)
        zz = np.full(m.shape, np.inf, np.float32)
        zz[jj, ii] = z[k, 0] + s * (z[k, 1] - z[k, 0])
        cc = np.zeros(m.shape + (3,), np.float32)
        cc[jj, ii] = col[k]
        self._commit(m, zz, cc, oid, x0, y0, x1, y1, rgb, ids, zbuf, acc)

    def _spheres(self, Sc, rad, col, sun_c, oid, rgb, ids, zbuf, acc):
        """Canopy spheres of one object; far trees (< 2 px) are one flat disc."""
        ok = Sc[:, 2] >= NEAR + rad
        if not ok.any():
            return
        Sc, rad, col = Sc[ok], rad[ok], col[ok]
        uv = self._project(Sc)
        rp = self.f * rad / Sc[:, 2]
        if rp.max() < 6.0:  # level of detail: flat-shaded discs, far to near, one depth each
            if rp.max() >= 3.0:
                x0, y0, x1, y1 = self._region(np.concatenate([uv - rp[:, None], uv + rp[:, None]]))
                if x1 <= x0 or y1 <= y0:
                    return
                canvas = np.zeros((y1 - y0, x1 - x0), np.int32)
                order = np.argsort(-(Sc[:, 2] - rad))
                shade = AMBIENT + DIFFUSE * np.clip(-sun_c[2] * 0.7 + 0.3, 0, 1)
                for k in order:
                    c = np.round((uv[k] - np.array([x0, y0])) * 16).astype(int)
                    cv2.circle(canvas, (int(c[0]), int(c[1])), int(round(rp[k] * 16)), int(k) + 1, -1, cv2.LINE_8, 4)
                m = canvas > 0
                if not m.any():
                    return
                k = canvas[m] - 1
                zz = np.full(m.shape, np.inf, np.float32)
                zz[m] = Sc[k, 2] - rad[k]
                cc = np.zeros(m.shape + (3,), np.float32)
                cc[m] = col[k] * shade * (1.0 + 0.12 * self.leaf[:m.shape[0], :m.shape[1]][m, None])
                self._commit(m, zz, cc, oid, x0, y0, x1, y1, rgb, ids, zbuf, acc)
                return
            lo, hi = (uv - rp[:, None]).min(0), (uv + rp[:, None]).max(0)
            c = 0.5 * (lo + hi)
            r = 0.5 * float((hi - lo).max())
            x0, y0, x1, y1 = self._region(np.array([c - r, c + r]))
            if x1 <= x0 or y1 <= y0:
                return
            yy, xx = np.ogrid[y0:y1, x0:x1]
            m = (xx - c[0]) ** 2 + (yy - c[1]) ** 2 <= max(r, 0.5) ** 2
            if not m.any():
                return
            colr = col.mean(0) * (AMBIENT + 0.5 * DIFFUSE)
            self._commit(m, np.float32(Sc[:, 2].min() - rad.max()), colr, oid, x0, y0, x1, y1, rgb, ids, zbuf, acc)
            return
        x0, y0, x1, y1 = self._region(np.concatenate([uv - rp[:, None], uv + rp[:, None]]))
        if x1 <= x0 or y1 <= y0:
            return
        h, w = y1 - y0, x1 - x0
        zz = np.full((h, w), np.inf, np.float32)
        cc = np.zeros((h, w, 3), np.float32)
        yy, xx = np.ogrid[y0:y1, x0:x1]
        for k in range(len(Sc)):
            r = max(rp[k], 0.5)
            dx = (xx - uv[k, 0]) / r
            dy = (yy - uv[k, 1]) / r
            q = dx * dx + dy * dy
            nz = np.sqrt(np.clip(1.0 - q, 0.0, 1.0))
            z = np.where(q <= 1.0, Sc[k, 2] - rad[k] * nz, np.inf).astype(np.float32)
            lam = AMBIENT + DIFFUSE * np.clip(dx * sun_c[0] + dy * sun_c[1] - nz * sun_c[2], 0.0, 1.0)
            lt = self.leaf[(yy - int(uv[k, 1])) % 256, (xx - int(uv[k, 0])) % 256]
            closer = z < zz
            zz = np.where(closer, z, zz)
            cc = np.where(closer[..., None], col[k] * (lam * (1.0 + 0.18 * lt))[..., None], cc)
        m = np.isfinite(zz)
        self._commit(m, zz, cc, oid, x0, y0, x1, y1, rgb, ids, zbuf, acc)
