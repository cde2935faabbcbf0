"""Constant-velocity Kalman filter in the local ENU frame, with Mahalanobis outlier gating.

State x = [position (dim), velocity (dim)] in ENU metres and m/s (dim = 2 for
east/north, 3 to include up). The motion model is the discrete white-noise
acceleration model (Bar-Shalom, "Estimation with Applications to Tracking and
Navigation", 6.3.2): per axis, over dt,

    F = [[1, dt], [0, 1]],   Q = q * [[dt^3/3, dt^2/2], [dt^2/2, dt]],   q = accel_sigma^2,

and the measurement is the position, z = H x + v, v ~ N(0, R). A measurement
whose squared Mahalanobis distance d^2 = nu^T S^-1 nu of the innovation
nu = z - H x (S = H P H^T + R) exceeds ``gate_chi2`` is rejected; after
``max_consecutive_outliers`` rejections in a row the filter restarts on the new
measurement (the target moved more than the model allows, or it is another one).

Python 3.8, numpy only.
"""
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

#: chi-square quantiles for the gate: 2 dof at 99 % and 99.9 %.
CHI2_2DOF_99 = 9.210340371976182
CHI2_2DOF_999 = 13.815510557964274


@dataclass
class KalmanConfig:
    accel_sigma: float = 0.5             # process noise: white acceleration, m/s^2 (per axis)
    gate_chi2: float = CHI2_2DOF_999     # reject measurements with d^2 above this (<= 0: no gate)
    init_speed_sigma: float = 5.0        # velocity sigma at (re)start, m/s
    max_consecutive_outliers: int = 5    # restart after this many rejections in a row
    max_gap_s: float = 10.0              # restart when no update for longer than this


@dataclass
class KalmanUpdate:
    """What one measurement did to the filter."""

    accepted: bool
    mahalanobis2: float
    restarted: bool = False


class ConstantVelocityKF:
    """CV Kalman filter on ENU position measurements with gating. Times in seconds."""

    def __init__(self, config: Optional[KalmanConfig] = None, dim: int = 2):
        if dim not in (2, 3):
            raise ValueError('dim must be 2 (east, north) or 3 (east, north, up), got %r' % dim)
        self.cfg = config or KalmanConfig()
        self.dim = dim
        self.x = np.zeros(2 * dim)
        self.P = np.eye(2 * dim)
        self.t = None  # type: Optional[float]
        self.t_update = None  # type: Optional[float]
        self.outliers_in_a_row = 0
        self.H = np.hstack([np.eye(dim), np.zeros((dim, dim))])

    @property
    def initialized(self) -> bool:
        return self.t is not None

    @property
    def position(self) -> np.ndarray:
        return self.x[:self.dim].copy()

    @property
    def velocity(self) -> np.ndarray:
        return self.x[self.dim:].copy()

    @property
    def P_position(self) -> np.ndarray:
        return self.P[:self.dim, :self.dim].copy()

    @property
    def P_velocity(self) -> np.ndarray:
        return self.P[self.dim:, self.dim:].copy()

    def reset(self) -> None:
        self.t = None
        self.t_update = None
        self.outliers_in_a_row = 0

    def start(self, t: float, z: np.ndarray, R: np.ndarray) -> None:
        """(Re)start at a measurement: position = z with covariance R, velocity 0 +- init_speed_sigma."""
        d = self.dim
        self.x = np.concatenate([np.asarray(z, dtype=float)[:d], np.zeros(d)])
        self.P = np.zeros((2 * d, 2 * d))
        self.P[:d, :d] = np.asarray(R, dtype=float)[:d, :d]
        self.P[d:, d:] = np.eye(d) * self.cfg.init_speed_sigma ** 2
        self.t = float(t)
        self.t_update = float(t)
        self.outliers_in_a_row = 0

    def transition(self, dt: float):
        """F and Q of the white-noise acceleration model over dt seconds."""
        d = self.dim
        I = np.eye(d)
        F = np.block([[I, dt * I], [np.zeros((d, d)), I]])
        q = self.cfg.accel_sigma ** 2
        Q = q * np.block([[dt ** 3 / 3.0 * I, dt ** 2 / 2.0 * I], [dt ** 2 / 2.0 * I, dt * I]])
        return F, Q

    def predict(self, t: float) -> None:
        """Advance the state to time t (no-op before start or for t not after the last time)."""
        if self.t is None:
            return
        dt = float(t) - self.t
        if dt <= 0.0:
            return
        F, Q = self.transition(dt)
        self.x = F @ self.x
        self.P = F @ self.P @ F.T + Q
        self.t = float(t)

    def predicted(self, t: float):
        """(position, position covariance) predicted at t, without changing the filter."""
        if self.t is None:
            raise RuntimeError('filter not started')
        dt = max(float(t) - self.t, 0.0)
        F, Q = self.transition(dt)
        x = F @ self.x
        P = F @ self.P @ F.T + Q
        return x[:self.dim].copy(), P[:self.dim, :self.dim].copy()

    def update(self, t: float, z: np.ndarray, R: np.ndarray) -> KalmanUpdate:
        """Predict to t and fuse the position measurement z (dim,) with covariance R (dim, dim)."""
        z = np.asarray(z, dtype=float)[:self.dim]
        R = np.asarray(R, dtype=float)[:self.dim, :self.dim]
        if self.t is None or (self.t_update is not None and float(t) - self.t_update > self.cfg.max_gap_s):
            self.start(t, z, R)
            return KalmanUpdate(True, 0.0, restarted=True)
        self.predict(t)
        nu = z - self.H @ self.x                 # innovation
        S = self.H @ self.P @ self.H.T + R       # innovation covariance
        try:
            d2 = float(nu @ np.linalg.solve(S, nu))
        except np.linalg.LinAlgError:
            d2 = math.inf
        if self.cfg.gate_chi2 > 0 and not d2 <= self.cfg.gate_chi2:
            self.outliers_in_a_row += 1
            if self.outliers_in_a_row >= self.cfg.max_consecutive_outliers:
                self.start(t, z, R)
                return KalmanUpdate(True, d2, restarted=True)
            return KalmanUpdate(False, d2)
        K = self.P @ self.H.T @ np.linalg.inv(S)  # Kalman gain
        self.x = self.x + K @ nu
        IKH = np.eye(2 * self.dim) - K @ self.H
        self.P = IKH @ self.P @ IKH.T + K @ R @ K.T  # Joseph form: stays symmetric positive
        self.t_update = float(t)
        self.outliers_in_a_row = 0
        return KalmanUpdate(True, d2)
