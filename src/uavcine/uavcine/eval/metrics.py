"""Metrics shared by the evaluations: box overlap, OTB success and precision, ellipse coverage.

OTB protocol (Wu, Lim, Yang, CVPR 2013): the success plot is the share of frames whose
IoU with the truth exceeds a threshold, for thresholds 0..1; its area (AUC) ranks trackers.
The precision plot is the share of frames whose centre error is within a distance;
precision at 20 px is the usual single number. A frame where the tracker reports no
box counts as IoU 0 and an infinite centre error; a frame whose target is out of view
is left out (there is no truth to overlap). Box overlap and centre error: ``core.box_ops``.
"""
from __future__ import annotations

import numpy as np

SUCCESS_THRESHOLDS = np.linspace(0.0, 1.0, 21)
PRECISION_THRESHOLDS = np.arange(0, 51)


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


NORM_PRECISION_THRESHOLDS = np.linspace(0.0, 0.5, 51)


def normalized_centre_error(pred_xywh, true_xywh) -> np.ndarray:
    """Centre error in units of the true box's width and height (TrackingNet, Mueller et al. ECCV 2018):
    ||((cx - cx*) / w*, (cy - cy*) / h*)||; a missing prediction (NaN) is infinite."""
    p = np.atleast_2d(np.asarray(pred_xywh, dtype=float))
    t = np.atleast_2d(np.asarray(true_xywh, dtype=float))
    dx = (p[:, 0] + p[:, 2] / 2 - t[:, 0] - t[:, 2] / 2) / np.maximum(t[:, 2], 1e-9)
    dy = (p[:, 1] + p[:, 3] / 2 - t[:, 1] - t[:, 3] / 2) / np.maximum(t[:, 3], 1e-9)
    e = np.hypot(dx, dy)
    return np.where(np.isfinite(e), e, np.inf)


def normalized_precision(norm_errors) -> float:
    """Area under the normalised precision curve, thresholds 0..0.5 (TrackingNet's P_norm)."""
    e = np.asarray(norm_errors, dtype=float)
    if e.size == 0:
        return float('nan')
    return float(np.mean([(e <= t).mean() for t in NORM_PRECISION_THRESHOLDS]))
