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
    alone: dict = field(default_factory=dict)   # target id -> pixels it covers with nothing in front
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
        self.XN = (r[:, 0] / r[:, 2]).reshape(self.H, self.W).astype(np.float64)
        self.YN = (r[:, 1] / r[:, 2]).reshape(self.H, self.W).astype(np.float64)
        self.RN = np.sqrt(self.XN ** 2 + self.YN ** 2 + 1.0).astype(np.float32)  # range / depth
        self.f = 0.5 * (camera.fx + camera.fy)
        rng = np.random.default_rng(12345)
        leaf = cv2.GaussianBlur(rng.random((256, 256)).astype(np.float32), (0, 0), 1.2)
        self.leaf = ((leaf - leaf.mean()) / leaf.std()).astype(np.float32)
        self._static_pose = {}

    # ------------------------------------------------------------------ ground
    def _ground_flat(self, C, R, h):
        """Ground colour (float32 HxWx3), depth (float32) and sky mask on the plane z = h."""
        dz = R[2, 0] * self.XN + R[2, 1] * self.YN + R[2, 2]  # world z of the ray [xn, yn, 1]
        with np.errstate(divide='ignore', invalid='ignore'):
            depth = np.where(dz < -1e-9, (h - C[2]) / dz, np.inf)
        sky = ~(depth * self.RN < MAX_RANGE)
        depth[sky] = np.inf
        depth = depth.astype(np.float32)
        # homography: orthophoto cv coords (i, j) -> image cv coords
        o = self.ortho
        M = np.array([[o.res, 0.0, o.xmin + 0.5 * o.res],
                      [0.0, -o.res, o.ymax - 0.5 * o.res],
                      [0.0, 0.0, h]])
        M[:, 2] -= C
        T = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
        H0 = T @ self.cam.K @ R.T @ M
        # texel footprint per pixel -> mip level (anisotropy compromise: sqrt of the grazing factor)
        sin_graze = np.clip(-dz / self.RN, 1e-3, 1.0)
        fp = depth * self.RN / (self.f * o.res) / np.sqrt(sin_graze)
        return self._warp_levels(fp, sky, lambda L, r0, r1: cv2.warpPerspective(
            o.pyramid[L], np.array([[1, 0, 0], [0, 1, -r0], [0, 0, 1]], float) @ H0 @ self._level_scale(L),
            (self.W, r1 - r0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)), depth, sky

    @staticmethod
    def _level_scale(L):
        s = float(2 ** L)
        return np.array([[s, 0.0, 0.5 * s - 0.5], [0.0, s, 0.5 * s - 0.5], [0.0, 0.0, 1.0]])

    def _warp_levels(self, fp, sky, warp):
        nlev = len(self.ortho.pyramid)
        with np.errstate(divide='ignore', invalid='ignore'):
            lev = np.clip(np.log2(np.maximum(fp, 1.0)), 0, nlev - 1).astype(np.float32)
        lev[sky] = -5.0
        out = np.zeros((self.H, self.W, 3), np.float32)
        for L in range(nlev):
            w = np.clip(1.0 - np.abs(lev - L), 0.0, 1.0)
            if L == 0:
                w[(lev < 0) & ~sky] = 1.0
            rows = np.nonzero(w.max(axis=1) > 0)[0]
            if rows.size == 0:
                continue
            r0, r1 = int(rows[0]), int(rows[-1]) + 1
            img = warp(L, r0, r1)
            out[r0:r1] += img.astype(np.float32) * w[r0:r1, :, None]
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
        fp = np.where(sky, 1.0, depth * self.RN / (self.f * o.res) / np.sqrt(sin_graze))

        def warp(L, r0, r1):
            sc = 2.0 ** L
            mx = (ci[r0:r1] / sc - 0.5).astype(np.float32)
            my = (cj[r0:r1] / sc - 0.5).astype(np.float32)
            return cv2.remap(o.pyramid[L], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
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
            zbuf = depth.copy()
        ids = np.zeros((self.H, self.W), np.int32)
        sun_c = R.T @ self.world.sun
        # cull and sort objects (near first: later tests then reject hidden pixels early)
        todo = []
        for obj in self.world.objects:
            pos, yaw = self._object_pose(obj, t)
            rad = obj.model.radius
            cz = world_to_camera(pos + np.array([0.0, 0.0, obj.model.size[2] / 2]), C, R)[0]
            if cz[2] < -rad:
                continue
            zc = max(cz[2], 1e-3)
            if abs(cz[0]) - rad > zc * (self.cam.cx + 2) / self.cam.fx * 1.3 + rad:
                continue
            if abs(cz[1]) - rad > zc * (self.cam.cy + 2) / self.cam.fy * 1.3 + rad:
                continue
            if not obj.is_target and self.f * rad / zc < 0.7:
                continue
            todo.append((cz[2], obj, pos, yaw))
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
        # final depth: objects in front of the ground
        depth = np.minimum(depth, zbuf)
        sky &= ids == 0
        # haze and sky
        rng_m = depth * self.RN
        with np.errstate(over='ignore', invalid='ignore'):
            hz = np.exp(-np.where(sky, 0.0, rng_m) / self.visibility).astype(np.float32)
        rgb = rgb * hz[..., None] + HAZE * (1.0 - hz[..., None])
        if sky.any():
            up = R[2, 0] * self.XN + R[2, 1] * self.YN + R[2, 2]
            el = np.clip(up / self.RN, 0.0, 1.0).astype(np.float32)
            a = np.sqrt(el)[..., None]
            skyc = SKY_HORIZON * (1 - a) + SKY_ZENITH * a
            rgb[sky] = skyc[sky]
        if noise_sigma > 0:
            nrng = np.random.default_rng(noise_seed)
            rgb += nrng.normal(0.0, noise_sigma, rgb.shape[:2]).astype(np.float32)[..., None]
        out = np.clip(rgb, 0, 255).astype(np.uint8)
        return RenderOut(out, ids, depth, alone, sky)

    @staticmethod
    def _union(acc):
        """Number of distinct pixels in a list of (y0, x0, bool mask) pieces."""
        if not acc:
            return 0
        y0 = min(a[0] for a in acc)
        x0 = min(a[1] for a in acc)
        y1 = max(a[0] + a[2].shape[0] for a in acc)
        x1 = max(a[1] + a[2].shape[1] for a in acc)
        u = np.zeros((y1 - y0, x1 - x0), bool)
        for ay, ax, m in acc:
            u[ay - y0:ay - y0 + m.shape[0], ax - x0:ax - x0 + m.shape[1]] |= m
        return int(u.sum())

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
        reg[m.astype(bool)] *= 0.58

    def _draw(self, obj, pos, yaw, C, R, sun_c, rgb, ids, zbuf, acc):
        mdl = obj.model
        M = yaw_matrix(yaw)
        RM = R.T @ M                       # local -> optical rotation
        tc = (pos - C) @ R                 # local origin in the optical frame
        oid = obj.id
        if len(mdl.poly_verts):
            V = mdl.poly_verts.reshape(-1, 3) @ RM.T + tc
            V = V.reshape(-1, 4, 3)
            Nc = mdl.poly_normal @ RM.T
            front = np.einsum('ij,ij->i', Nc, V[:, 0]) < 0
            lam = AMBIENT + DIFFUSE * np.clip(Nc @ sun_c, 0.0, 1.0)
            cols = mdl.poly_color * lam[:, None]
            for k in np.nonzero(front)[0]:
                self._poly(V[k], Nc[k], cols[k], oid, rgb, ids, zbuf, acc)
        if len(mdl.seg):
            S = (mdl.seg.reshape(-1, 3) @ RM.T + tc).reshape(-1, 2, 3)
            for k in range(len(S)):
                self._segment(S[k], mdl.seg_width[k], mdl.seg_color[k], oid, rgb, ids, zbuf, acc)
        if len(mdl.sph):
            Sc = mdl.sph @ RM.T + tc
            for k in range(len(Sc)):
                self._sphere(Sc[k], mdl.sph_r[k], mdl.sph_color[k], sun_c, oid, rgb, ids, zbuf, acc)

    def _region(self, uv, pad=1):
        x0, y0 = np.floor(uv.min(0)).astype(int) - pad
        x1, y1 = np.ceil(uv.max(0)).astype(int) + pad + 1
        return max(x0, 0), max(y0, 0), min(x1, self.W), min(y1, self.H)

    def _poly(self, P, n, col, oid, rgb, ids, zbuf, acc):
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
            rgb[y0:y1, x0:x1][w] = col
        else:
            rgb[y0:y1, x0:x1][w] = col[w]

    def _segment(self, S, width, col, oid, rgb, ids, zbuf, acc):
        a, b = S[0], S[1]
        if a[2] < NEAR and b[2] < NEAR:
            return
        if a[2] < NEAR or b[2] < NEAR:
            if a[2] < NEAR:
                a, b = b, a
            t = (a[2] - NEAR) / (a[2] - b[2])
            b = a + t * (b - a)
        zm = 0.5 * (a[2] + b[2])
        th = max(1, int(round(self.f * width / zm)))
        uv = self._project(np.stack([a, b]))
        if not np.all(np.isfinite(uv)):
            return
        x0, y0, x1, y1 = self._region(uv, pad=th // 2 + 1)
        if x1 <= x0 or y1 <= y0:
            return
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        p = np.round((uv - np.array([x0, y0])) * 16).astype(np.int32)
        cv2.line(m, (int(p[0, 0]), int(p[0, 1])), (int(p[1, 0]), int(p[1, 1])), 1, th, cv2.LINE_8, 4)
        m = m.view(bool)
        if not m.any():
            return
        # depth along the segment: interpolate by the pixel's position between the two ends
        uvl = uv - np.array([x0, y0])
        dv = uvl[1] - uvl[0]
        L2 = float(dv @ dv)
        if L2 > 1e-6:
            jj, ii = np.mgrid[0:y1 - y0, 0:x1 - x0]
            s = np.clip(((ii + 0.5 - uvl[0, 0] - 0.5) * dv[0] + (jj + 0.5 - uvl[0, 1] - 0.5) * dv[1]) / L2, 0, 1)
            z = (a[2] + s * (b[2] - a[2])).astype(np.float32)
        else:
            z = np.float32(zm)
        self._commit(m, z, col, oid, x0, y0, x1, y1, rgb, ids, zbuf, acc)

    def _sphere(self, c, r, col, sun_c, oid, rgb, ids, zbuf, acc):
        if c[2] < NEAR + r:
            return
        uv = self._project(c[None])[0]
        if not np.all(np.isfinite(uv)):
            return
        rp = self.f * r / c[2]
        x0, y0, x1, y1 = self._region(np.array([uv - rp, uv + rp]))
        if x1 <= x0 or y1 <= y0:
            return
        jj, ii = np.mgrid[y0:y1, x0:x1]
        dx = (ii - uv[0]) / max(rp, 0.5)
        dy = (jj - uv[1]) / max(rp, 0.5)
        q = dx * dx + dy * dy
        m = q <= 1.0
        if not m.any():
            return
        nz = np.sqrt(np.clip(1.0 - q, 0.0, 1.0))
        z = (c[2] - r * nz).astype(np.float32)
        lam = AMBIENT + DIFFUSE * np.clip(dx * sun_c[0] + dy * sun_c[1] - nz * sun_c[2], 0.0, 1.0)
        L = self.leaf
        lt = L[(jj - int(uv[1])) % 256, (ii - int(uv[0])) % 256]
        shade = (lam * (1.0 + 0.18 * lt)).astype(np.float32)
        self._commit(m, z, col[None, None, :] * shade[..., None], oid, x0, y0, x1, y1, rgb, ids, zbuf, acc)
