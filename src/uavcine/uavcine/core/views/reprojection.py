"""The geometric peer of novel-view synthesis: forward-warp the source view with its depth.

Every source pixel with a depth becomes a 3-D point (camera-to-world pose, pinhole K), is projected
into the target camera and splatted to its nearest pixel with a z-buffer (nearest surface wins);
sky pixels (depth +inf) move by the rotation only (points at infinity). Target pixels no source
pixel lands on are *holes* (disocclusions, newly visible ground, cracks where the view zooms in):
they are counted, then filled by OpenCV's inpainting (Telea) so the image can be scored.
Python 3.8, numpy + OpenCV.
"""
from typing import Tuple

import cv2
import numpy as np


def reproject(image: np.ndarray, depth: np.ndarray, K: np.ndarray, T_src: np.ndarray, T_tgt: np.ndarray,
              fill: bool = True) -> Tuple[np.ndarray, float]:
    """(H, W, 3) image, (H, W) optical-z depth (inf = sky) -> (warped image, fraction of hole pixels)."""
    H, W = depth.shape
    K = np.asarray(K, float)
    jj, ii = np.mgrid[0:H, 0:W]
    uv1 = np.stack([ii.ravel() + 0.5, jj.ravel() + 0.5, np.ones(H * W)])
    rays = np.linalg.inv(K) @ uv1                                # optical frame, z = 1
    d = depth.ravel().astype(float)
    sky = ~np.isfinite(d)
    T = np.linalg.inv(np.asarray(T_tgt, float)) @ np.asarray(T_src, float)   # source optical -> target optical
    p = T[:3, :3] @ (rays * np.where(sky, 1.0, d)) + np.where(sky, 0.0, 1.0) * T[:3, 3:4]
    z = p[2]
    ok = z > 1e-3
    u = np.floor(K[0, 0] * p[0, ok] / z[ok] + K[0, 2]).astype(int)
    v = np.floor(K[1, 1] * p[1, ok] / z[ok] + K[1, 2]).astype(int)
    zz = np.where(sky[ok], np.inf, z[ok])
    src = np.nonzero(ok)[0]
    inside = (u >= 0) & (u < W) & (v >= 0) & (v < H)
    u, v, zz, src = u[inside], v[inside], zz[inside], src[inside]
    order = np.argsort(-zz, kind='stable')     # far first, near overwrites
    out = np.zeros_like(image)
    hit = np.zeros((H, W), bool)
    flat = image.reshape(-1, image.shape[-1])
    out[v[order], u[order]] = flat[src[order]]
    hit[v[order], u[order]] = True
    holes = float((~hit).mean())
    if fill and holes > 0:
        out = cv2.inpaint(out, (~hit).astype(np.uint8), 3, cv2.INPAINT_TELEA)
    return out, holes
