"""Constant-velocity forecasts: the strong simple peer on pedestrian data (Schöller et al., 2020).

``constant_velocity``: the last observed displacement repeated. ``sampled_constant_velocity``: K
futures whose heading and speed are the last ones with Gaussian noise (heading in radians, speed as a
relative factor), the best-of-K peer of a multimodal model. numpy, Python 3.8.
"""
from typing import Optional

import numpy as np


def constant_velocity(past: np.ndarray, pred_len: int, fit_points: int = 2) -> np.ndarray:
    """past (A, T, 2) -> (A, 1, pred_len, 2): a constant displacement per step from the last position.

    ``fit_points`` = 2: the last displacement (the benchmark peer). More: the least-squares slope over the
    last ``fit_points`` positions (noisy estimates, e.g. geolocated targets), anchored at the fitted present.
    """
    if fit_points <= 2:
        v, x0 = past[:, -1] - past[:, -2], past[:, -1]
    else:
        n = min(fit_points, past.shape[1])
        t = np.arange(n, dtype=np.float64) - (n - 1)           # ..., -1, 0 (the present)
        y = past[:, -n:].astype(np.float64)                    # (A, n, 2)
        tc = t - t.mean()
        v = np.einsum('t,atd->ad', tc, y - y.mean(1, keepdims=True)) / float((tc ** 2).sum())
        x0 = y.mean(1) - v * t.mean()
        v, x0 = v.astype(past.dtype), x0.astype(past.dtype)
    steps = np.arange(1, pred_len + 1, dtype=past.dtype)[None, :, None]
    return (x0[:, None] + steps * v[:, None])[:, None]


def sampled_constant_velocity(past: np.ndarray, pred_len: int, k: int, sigma_heading: float, sigma_speed: float,
                              rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """past (A, T, 2) -> (A, k, pred_len, 2); the first of the k is the plain constant velocity."""
    rng = rng if rng is not None else np.random.default_rng(0)
    a = past.shape[0]
    v = (past[:, -1] - past[:, -2]).astype(np.float64)
    ang = rng.normal(0.0, sigma_heading, size=(a, k))
    scale = np.clip(rng.normal(1.0, sigma_speed, size=(a, k)), 0.0, None)
    ang[:, 0], scale[:, 0] = 0.0, 1.0
    c, s = np.cos(ang), np.sin(ang)
    vx = scale * (c * v[:, :1] - s * v[:, 1:])
    vy = scale * (s * v[:, :1] + c * v[:, 1:])
    steps = np.arange(1, pred_len + 1)[None, None, :]
    x = past[:, -1, 0][:, None, None] + steps * vx[..., None]
    y = past[:, -1, 1][:, None, None] + steps * vy[..., None]
    return np.stack([x, y], axis=-1).astype(past.dtype)
