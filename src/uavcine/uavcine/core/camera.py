"""Pinhole camera with optional plumb-bob distortion, and the vehicle->camera rotation chain.

Frames (REP-103 / REP-105):
- world: local ENU (x east, y north, z up), metres, anchored at a geodetic origin;
- body ("base_link"): FLU (x forward, y left, z up); attitude = yaw, pitch, roll
  of body in ENU as intrinsic Z-Y'-X'' (yaw 0 = facing east, counter-clockwise positive;
  positive pitch = nose DOWN, the right-hand rotation about the left axis);
- gimbal: FLU frame of the camera head, relative to body (its pitch positive = looking down);
- camera optical ("camera_optical"): x right, y down, z forward.

Pixels: continuous coordinates, the image spans [0, width] x [0, height], the
centre of pixel (i, j) is (i + 0.5, j + 0.5). K follows; cx = width/2 by default.

Python 3.8, numpy only (transforms3d for Euler angles).
"""
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from transforms3d.euler import euler2mat

#: Columns are the optical frame's axes expressed in FLU: x_opt = -y_flu, y_opt = -z_flu, z_opt = x_flu.
R_FLU_OPTICAL = np.array([[0.0, 0.0, 1.0],
                          [-1.0, 0.0, 0.0],
                          [0.0, -1.0, 0.0]])


def rot_flu(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Rotation of an FLU frame in its parent (ENU or FLU): R = Rz(yaw) Ry(pitch) Rx(roll)."""
    return euler2mat(roll, pitch, yaw, 'sxyz')


def camera_rotation(body_rpy: Sequence[float], gimbal_rpy: Sequence[float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """R_world_optical: columns are the optical axes in ENU, from body attitude and gimbal angles (rad)."""
    return rot_flu(*body_rpy) @ rot_flu(*gimbal_rpy) @ R_FLU_OPTICAL


def focal_from_dfov(width: int, height: int, dfov_deg: float) -> float:
    """Focal length in pixels for a diagonal field of view (square pixels)."""
    if not 0.0 < dfov_deg < 180.0:
        raise ValueError('diagonal FOV must be in (0, 180) degrees, got %r' % dfov_deg)
    return 0.5 * math.hypot(width, height) / math.tan(math.radians(dfov_deg) / 2.0)


@dataclass
class PinholeCamera:
    """Intrinsics of CameraInfo: K = [fx 0 cx; 0 fy cy; 0 0 1], D = plumb_bob [k1 k2 p1 p2 k3]."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    dist: np.ndarray = field(default_factory=lambda: np.zeros(5))

    @classmethod
    def from_dfov(cls, width: int = 640, height: int = 480, dfov_deg: float = 92.0, dist: Sequence[float] = ()):
        f = focal_from_dfov(width, height, dfov_deg)
        d = np.zeros(5)
        d[:len(dist)] = dist
        return cls(width, height, f, f, width / 2.0, height / 2.0, d)

    @classmethod
    def from_camera_info(cls, msg) -> 'PinholeCamera':
        """From a sensor_msgs/CameraInfo (plumb_bob or no distortion)."""
        k = np.asarray(msg.k, dtype=float)
        if k.shape != (9,) or k[0] <= 0 or k[4] <= 0:
            raise ValueError('CameraInfo K is not a valid camera matrix: %s' % (k.tolist(),))
        if int(msg.width) <= 0 or int(msg.height) <= 0:
            raise ValueError('CameraInfo has no image size')
        model = getattr(msg, 'distortion_model', '') or 'plumb_bob'
        d = np.zeros(5)
        dm = np.asarray(msg.d, dtype=float)
        if dm.size:
            if model not in ('plumb_bob', 'rational_polynomial'):
                raise ValueError('unsupported distortion model %r' % model)
            d[:min(5, dm.size)] = dm[:5]
        return cls(int(msg.width), int(msg.height), k[0], k[4], k[2], k[5], d)

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def dfov_deg(self) -> float:
        return math.degrees(2 * math.atan(0.5 * math.hypot(self.width / self.fx, self.height / self.fy)))

    @property
    def has_distortion(self) -> bool:
        return bool(np.any(self.dist != 0))

    def distort_normalized(self, xn: np.ndarray, yn: np.ndarray):
        k1, k2, p1, p2, k3 = self.dist
        r2 = xn * xn + yn * yn
        radial = 1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 ** 3
        xd = xn * radial + 2 * p1 * xn * yn + p2 * (r2 + 2 * xn * xn)
        yd = yn * radial + p1 * (r2 + 2 * yn * yn) + 2 * p2 * xn * yn
        return xd, yd

    def undistort_normalized(self, xd: np.ndarray, yd: np.ndarray, iterations: int = 20):
        """Invert the plumb-bob model by fixed-point iteration (as OpenCV's undistortPoints)."""
        xn, yn = xd.copy(), yd.copy()
        if not self.has_distortion:
            return xn, yn
        k1, k2, p1, p2, k3 = self.dist
        for _ in range(iterations):
            r2 = xn * xn + yn * yn
            radial = 1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 ** 3
            dx = 2 * p1 * xn * yn + p2 * (r2 + 2 * xn * xn)
            dy = p1 * (r2 + 2 * yn * yn) + 2 * p2 * xn * yn
            xn = (xd - dx) / radial
            yn = (yd - dy) / radial
        return xn, yn

    def project(self, p_cam: np.ndarray) -> np.ndarray:
        """Points in the optical frame (N,3) -> pixels (N,2); points behind the camera give NaN."""
        p = np.atleast_2d(np.asarray(p_cam, dtype=float))
        z = p[:, 2]
        with np.errstate(divide='ignore', invalid='ignore'):
            xn, yn = p[:, 0] / z, p[:, 1] / z
        xd, yd = self.distort_normalized(xn, yn)
        uv = np.stack([self.fx * xd + self.cx, self.fy * yd + self.cy], axis=1)
        uv[z <= 1e-9] = np.nan
        return uv

    def rays(self, uv: np.ndarray) -> np.ndarray:
        """Pixels (N,2) -> unit rays in the optical frame (N,3)."""
        uv = np.atleast_2d(np.asarray(uv, dtype=float))
        xd = (uv[:, 0] - self.cx) / self.fx
        yd = (uv[:, 1] - self.cy) / self.fy
        xn, yn = self.undistort_normalized(xd, yd)
        r = np.stack([xn, yn, np.ones_like(xn)], axis=1)
        return r / np.linalg.norm(r, axis=1, keepdims=True)

    def camera_info_fields(self) -> dict:
        """Fields of a sensor_msgs/CameraInfo for this camera (P = K | 0, R = I)."""
        return {'height': self.height, 'width': self.width, 'distortion_model': 'plumb_bob',
                'd': np.asarray(self.dist, dtype=np.float64),
                'k': self.K.reshape(-1).astype(np.float64),
                'r': np.eye(3).reshape(-1),
                'p': np.hstack([self.K, np.zeros((3, 1))]).reshape(-1).astype(np.float64)}


def world_to_camera(p_world: np.ndarray, cam_pos_enu: np.ndarray, R_world_optical: np.ndarray) -> np.ndarray:
    """ENU points (N,3) -> optical frame (N,3)."""
    return (np.atleast_2d(p_world) - np.asarray(cam_pos_enu)) @ R_world_optical
