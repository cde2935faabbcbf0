"""Filtering geopositions: a constant-velocity Kalman filter that keeps slowly varying (bias) sources apart.

The per-frame estimates of ``core.geoposition`` carry a covariance per noise source; GPS and
the class priors drift or repeat from frame to frame, so averaging them as white noise would
shrink the covariance below the real error. ``TargetFilter`` fuses only the white part and adds
the bias part back to the output covariance (see its docstring). Python 3.8, numpy.
"""
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from uavcine.core.geoposition import GeoEstimate, compass_bearing
from uavcine.core.kalman import ConstantVelocityKF, KalmanConfig, KalmanUpdate



@dataclass
class FilteredTarget:
    """The filter's target: ENU position/velocity with covariance, range/bearing from the drone."""

    position_enu: np.ndarray
    velocity_enu: np.ndarray
    cov_enu: np.ndarray               # 3x3: filter covariance + the bias sources' covariance
    range_m: float
    range_sigma_m: float
    bearing_rad: float
    bearing_sigma_rad: float
    accepted: bool                    # the measurement passed the gate
    mahalanobis2: float
    restarted: bool
    skipped: bool = False             # a weak truncated-box bound the filter already knows better: not fused
    cov_velocity_xy: Optional[np.ndarray] = None  # 2x2: the filter's velocity covariance (bias sources add none to it)

    @property
    def cov_xy(self) -> np.ndarray:
        return self.cov_enu[:2, :2]


class TargetFilter:
    """Kalman filter on geopositions that does not average slowly varying errors away.

    A GPS error is not white: it drifts over minutes, so consecutive estimates
    share it and averaging them does not shrink it. The sources named in
    ``correlated_sources`` (names, or name -> the fraction of its variance that
    drifts, e.g. {'gps': 1.0, 'attitude': 0.5}) are therefore left out of the filter's measurement
    noise R (only the white part is fused) and their covariance, taken from the
    latest estimate, is added back to the filter's covariance on output
    (a "consider" covariance: the bias is not estimated, it is accounted for).
    A class prior (height, footprint) and the box's shape (where the object's axis
    is in its box) are such biases too: the same error for every frame of one target.

    A truncated box's bound ('border_bound') is the same weak interval frame after
    frame, not new information each time: it is fused only while the filter knows
    less than it along the view (at the start), never averaged down.
    """

    def __init__(self, config: Optional[KalmanConfig] = None,
                 correlated_sources=('gps', 'box_shape', 'class_height', 'class_depth'), height_fn=None):
        self.kf = ConstantVelocityKF(config, dim=2)
        if isinstance(correlated_sources, dict):
            self.correlated = {str(k): float(v) for k, v in correlated_sources.items()}
        else:
            self.correlated = {str(k): 1.0 for k in correlated_sources}
        if any(not 0.0 <= v <= 1.0 for v in self.correlated.values()):
            raise ValueError('correlated fractions must be in [0, 1]: %s' % self.correlated)
        self.height_fn = height_fn  # (x, y) -> ground z, or None to take the measurement's z

    def reset(self) -> None:
        self.kf.reset()

    @property
    def initialized(self) -> bool:
        return self.kf.initialized

    def _at_prediction(self, t_s: float, est: GeoEstimate, R: np.ndarray) -> np.ndarray:
        """R re-evaluated at the predicted range instead of the measured one.

        Ground-intersection noise grows with range (along the view as (h^2 + d^2) / h
        per radian of depression, across it as d), so a measurement that happens to
        land farther gets a larger R and less weight: weighting by the measurement's
        own R biases the filter short (about -3 m at 150-200 m on the seed flight).
        An EKF whose measurement is the ray would evaluate its Jacobian at the
        prediction; scaling R to the predicted range does the same here.
        """
        p_pred, _ = self.kf.predicted(t_s)
        v = est.vehicle_enu
        d_m = est.point_enu[:2] - v[:2]
        r_m = float(np.linalg.norm(d_m))
        r_p = float(np.linalg.norm(p_pred - v[:2]))
        h = max(float(v[2] - est.point_enu[2]), 1.0)
        if r_m < 1e-6 or not math.isfinite(r_p):
            return R
        u = d_m / r_m
        w = np.array([u[1], -u[0]])
        along = min(max((h * h + r_p * r_p) / (h * h + r_m * r_m), 0.25), 4.0)
        across = min(max(r_p / r_m, 0.5), 2.0)
        T = along * np.outer(u, u) + across * np.outer(w, w)
        return T @ R @ T.T

    def update(self, t_s: float, est: GeoEstimate) -> FilteredTarget:
        c_bias = est.cov_of(self.correlated)
        R = est.cov_enu[:2, :2] - c_bias[:2, :2] + np.eye(2) * 1e-6
        if self.kf.initialized:
            R = self._at_prediction(t_s, est, R)
        skipped = False
        if est.method == 'border_bound' and self.kf.initialized:
            _, P_pred = self.kf.predicted(t_s)
            u = est.point_enu[:2] - est.vehicle_enu[:2]
            u = u / max(float(np.linalg.norm(u)), 1e-9)
            skipped = float(u @ R @ u) >= float(u @ P_pred @ u)
        if skipped:
            self.kf.predict(t_s)
            up = KalmanUpdate(False, math.nan)
        else:
            up = self.kf.update(t_s, est.point_enu[:2], R)
        pos = self.kf.position
        z = float(self.height_fn(pos[0], pos[1])) if self.height_fn is not None else float(est.point_enu[2])
        cov = np.zeros((3, 3))
        cov[:2, :2] = self.kf.P_position + c_bias[:2, :2]
        cov[2, 2] = est.cov_enu[2, 2]
        # range/bearing are relative to the drone: its own GPS error cancels out of them
        c_rel = self.kf.P_position + (c_bias - est.cov_of({'gps': self.correlated.get('gps', 0.0)}))[:2, :2]
        d = pos - est.vehicle_enu[:2]
        r = float(np.hypot(d[0], d[1]))
        if r > 1e-9:
            u = d / r
            w = np.array([u[1], -u[0]])
            r_sig = math.sqrt(max(float(u @ c_rel @ u), 0.0))
            b_sig = math.sqrt(max(float(w @ c_rel @ w), 0.0)) / r
        else:
            r_sig, b_sig = math.sqrt(max(np.trace(c_rel), 0.0)), math.pi
        v = self.kf.velocity
        return FilteredTarget(position_enu=np.array([pos[0], pos[1], z]), velocity_enu=np.array([v[0], v[1], 0.0]),
                              cov_enu=cov, range_m=r, range_sigma_m=r_sig,
                              bearing_rad=compass_bearing(d[0], d[1]), bearing_sigma_rad=b_sig,
                              accepted=up.accepted, mahalanobis2=up.mahalanobis2, restarted=up.restarted,
                              skipped=skipped, cov_velocity_xy=self.kf.P_velocity.copy())
