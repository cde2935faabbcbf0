"""The ground-plane warp that the stage-3 refiner (refiner.py) gets beside the source: the source's pixels moved to
a target camera as if the scene were one horizontal plane at a given world height (ENU, up = +z), the
plane-induced homography of two calibrated views. No depth image: one height per shot (the target's).
Python 3.8, numpy + OpenCV (no torch: the onnxruntime path uses it too).
"""
from typing import Tuple

import cv2
import numpy as np


def plane_homography(K: np.ndarray, T_src: np.ndarray, T_tgt: np.ndarray,
                     plane_z_m: float) -> Tuple[np.ndarray, np.ndarray, float]:
    """The homography source pixel -> target pixel induced by the horizontal plane at world height ``plane_z_m``
    (ENU, up = +z); also the plane's normal and offset in the target camera's frame (``n . X = d``). Poses:
    4 x 4 camera-to-world of the optical frames."""
    K = np.asarray(K, float)
    T_src = np.asarray(T_src, float)
    T = np.linalg.inv(np.asarray(T_tgt, float)) @ T_src                        # source optical -> target optical
    R, t = T[:3, :3], T[:3, 3]
    n = T_src[:3, :3].T @ np.array([0.0, 0.0, 1.0])                            # world up in the source frame
    d = float(plane_z_m) - float(T_src[2, 3])                                   # n . X for X on the plane (< 0)
    H = K @ (R + np.outer(t, n) / d) @ np.linalg.inv(K)   # X_t = R X + t = (R + t n^T / d) X for n . X = d
    n_t = R @ n
    return H, n_t, d + float(n_t @ t)


def central_plane_z(T_src: np.ndarray, K: np.ndarray, depth_m: float) -> float:
    """World height of the point at optical depth ``depth_m`` on the source's central ray (the data's stand-in for
    the target's height: the gimbal is locked on the target)."""
    K = np.asarray(K, float)
    ray = np.linalg.inv(K) @ np.array([K[0, 2], K[1, 2], 1.0])
    return float((np.asarray(T_src, float) @ np.append(depth_m * ray, 1.0))[2])


def plane_warp(image: np.ndarray, K: np.ndarray, T_src: np.ndarray, T_tgt: np.ndarray,
               plane_z_m: float) -> Tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 source -> (H, W, 3) uint8 source warped to the target camera by ``plane_homography`` (edges
    replicated) and (H, W) float32 valid mask: 1 where the target pixel's ray meets the plane in front of the
    target camera at a point in front of the source camera too."""
    Hh, Ww = image.shape[:2]
    H, n_t, d_t = plane_homography(K, T_src, T_tgt, plane_z_m)
    warped = cv2.warpPerspective(image, H, (Ww, Hh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    K = np.asarray(K, float)
    jj, ii = np.mgrid[0:Hh, 0:Ww]
    rays = np.linalg.inv(K) @ np.stack([ii.ravel(), jj.ravel(), np.ones(Hh * Ww)])
    denom = n_t @ rays
    lam = np.where(np.abs(denom) > 1e-9, d_t / np.where(np.abs(denom) > 1e-9, denom, 1.0), -1.0)
    X_t = rays * lam                                                             # points on the plane, target frame
    T = np.linalg.inv(np.asarray(T_src, float)) @ np.asarray(T_tgt, float)      # target optical -> source optical
    z_src = (T[:3, :3] @ X_t + T[:3, 3:4])[2]
    valid = ((lam > 0) & (z_src > 0)).reshape(Hh, Ww).astype(np.float32)
    return warped, valid
