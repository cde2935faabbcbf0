"""Leading a target: how far to move the aim point along the target's estimated velocity.

A camera aimed at a geolocated target lags it by the estimate's age (detector, tracker, geo, queueing)
plus whatever follows the command (the gimbal's response, its hold until the next command). Moving the
aim point by velocity x time makes that lag up, but the velocity is itself an estimate: a Kalman
filter's from positions a metre or two noisy, about as wrong (1 m/s) as a person walks. A lead with the
estimate's full length then adds as much error as it removes (docs/lead_eval.md measures it).

``certainty``: the displacement is shrunk by k = |v|^2 / (|v|^2 + tr(P_v)), the Wiener gain of a signal
of power |v|^2 seen through noise of power tr(P_v) = E|v_hat - v|^2 (the estimate's velocity
covariance), with the estimate v_hat standing in for v. A car at 12 m/s under 0.5 m/s of noise keeps
k ~ 1; a person standing still, whose velocity is only the noise, gets k ~ 0.5 or less and a lead that
shrinks with its speed (the displacement is k |v| dt ~ |v|^3 for small speeds), so leading does not
move the aim at noise. No covariance (all zeros): k = 1.

``lead_displacement``: the shrunk constant-velocity displacement over ``dt_s``; the pointing node (gimbal
angles) and the MAVLink bridge (the ROI it sends an autopilot) both lead with it. Python 3.8, numpy.
"""
from typing import Sequence

import numpy as np


def certainty(velocity: Sequence[float], velocity_cov: Sequence[float]) -> float:
    """k in [0, 1]: |v|^2 / (|v|^2 + tr(P_v)) for a velocity (n,) and its covariance (n*n, row-major, or n x n).

    Non-finite inputs give 0 (no lead on a broken estimate)."""
    v = np.asarray(velocity, dtype=float).reshape(-1)
    cov = np.asarray(velocity_cov, dtype=float).reshape(-1)
    if not (np.all(np.isfinite(v)) and np.all(np.isfinite(cov))):
        return 0.0
    signal = float(v @ v)
    noise = float(np.trace(cov.reshape(v.size, v.size))) if cov.size == v.size * v.size else 0.0
    if signal <= 0.0:
        return 0.0
    return signal / (signal + max(noise, 0.0))


def lead_displacement(velocity: Sequence[float], velocity_cov: Sequence[float], dt_s: float,
                      shrink: bool = True) -> np.ndarray:
    """The aim point's displacement over ``dt_s`` at constant ``velocity``, times ``certainty`` (with ``shrink``)."""
    v = np.asarray(velocity, dtype=float).reshape(-1)
    if not np.all(np.isfinite(v)) or not np.isfinite(dt_s):
        return np.zeros_like(v)
    k = certainty(v, velocity_cov) if shrink else 1.0
    return k * v * float(dt_s)
