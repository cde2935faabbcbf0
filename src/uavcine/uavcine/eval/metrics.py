"""Metrics shared by the evaluations: box overlap, OTB success and precision, ellipse coverage.

OTB protocol (Wu, Lim, Yang, CVPR 2013): the success plot is the share of frames whose
IoU with the truth exceeds a threshold, for thresholds 0..1; its area (AUC) ranks trackers.
The precision plot is the share of frames whose centre error is within a distance;
precision at 20 px is the usual single number. A frame where the tracker reports no
box counts as IoU 0 and an infinite centre error; a frame whose target is out of view
is left out (there is no truth to overlap).
"""
from __future__ import annotations

import numpy as np

SUCCESS_THRESHOLDS = np.linspace(0.0, 1.0, 21)
PRECISION_THRESHOLDS = np.arange(0, 51)


def iou_xywh(a, b) -> np.ndarray:
    """IoU of boxes (x, y, w, h), row by row; NaN rows (no box) give 0."""
    a = np.atleast_2d(np.asarray(a, dtype=float))
    b = np.atleast_2d(np.asarray(b, dtype=float))
    x1 = np.maximum(a[:, 0], b[:, 0])
    y1 = np.maximum(a[:, 1], b[:, 1])
    x2 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    y2 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        out = np.where(union > 0, inter / union, 0.0)
    return np.nan_to_num(out, nan=0.0)


def centre_error(a, b) -> np.ndarray:
    """Distance between box centres in pixels; NaN rows give +inf."""
    a = np.atleast_2d(np.asarray(a, dtype=float))
    b = np.atleast_2d(np.asarray(b, dtype=float))
    d = np.hypot(a[:, 0] + a[:, 2] / 2 - b[:, 0] - b[:, 2] / 2, a[:, 1] + a[:, 3] / 2 - b[:, 1] - b[:, 3] / 2)
    return np.where(np.isfinite(d), d, np.inf)


def success_curve(ious) -> np.ndarray:
    ious = np.asarray(ious, dtype=float)
    if ious.size == 0:
        return np.full(SUCCESS_THRESHOLDS.shape, np.nan)
    return np.array([(ious > t).mean() for t in SUCCESS_THRESHOLDS])


def success_auc(ious) -> float:
    """Mean of the success curve over the 21 OTB thresholds (the OTB toolkit's AUC)."""
    return float(np.mean(success_curve(ious)))


def precision_curve(errors) -> np.ndarray:
    errors = np.asarray(errors, dtype=float)
    if errors.size == 0:
        return np.full(PRECISION_THRESHOLDS.shape, np.nan)
    return np.array([(errors <= t).mean() for t in PRECISION_THRESHOLDS])


def precision_at(errors, px: float = 20.0) -> float:
    errors = np.asarray(errors, dtype=float)
    return float((errors <= px).mean()) if errors.size else float('nan')


def inside_ellipse(err_xy, cov_2x2, prob: float = 0.95) -> np.ndarray:
    """Whether each 2-D error lies inside the ``prob`` confidence ellipse of its covariance (chi-square, 2 dof)."""
    err = np.atleast_2d(np.asarray(err_xy, dtype=float))
    cov = np.asarray(cov_2x2, dtype=float).reshape(-1, 2, 2)
    d2 = np.einsum('ni,nij,nj->n', err, np.linalg.inv(cov), err)
    return d2 <= -2.0 * np.log(1.0 - prob)
