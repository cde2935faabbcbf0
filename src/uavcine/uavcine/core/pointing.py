"""Camera pointing: the gimbal angles that put a geolocated target at the image centre.

What an autopilot does in ROI mode (MAV_CMD_DO_SET_ROI_LOCATION), for vehicles and
simulators that take gimbal angles instead. Frames as in uavcine.core.camera:
the target's offset from the drone in ENU is turned into the body (FLU) frame, and
the gimbal's yaw (about up, counter-clockwise) and pitch (positive = looking down)
make its forward axis point along it. A slew-rate limit keeps the motion smooth
enough to film: it bounds how fast the camera turns in the world (what the footage shows),
``slew_in_world``, so the gimbal still makes up a body that yaws or rolls quickly (a
multirotor turning in a chase) instead of letting the camera swing with it. Python 3.8.
"""
import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

from .camera import rot_flu


@dataclass
class PointingConfig:
    max_rate_dps: float = 60.0         # gimbal slew-rate limit, deg/s, per axis
    min_pitch_deg: float = -30.0       # mechanical limits of the gimbal (pitch positive down)
    max_pitch_deg: float = 90.0
    max_yaw_deg: float = 180.0         # |yaw| relative to the body


def look_at(offset_enu: Sequence[float], body_rpy: Sequence[float]) -> Tuple[float, float]:
    """Gimbal (pitch, yaw) in radians, relative to the body, to look along ``offset_enu`` (target - drone)."""
    v = rot_flu(*body_rpy).T @ np.asarray(offset_enu, dtype=float)
    yaw = math.atan2(v[1], v[0])
    pitch = math.atan2(-v[2], math.hypot(v[0], v[1]))
    return pitch, yaw


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def slew(current: Optional[Tuple[float, float]], target: Tuple[float, float], dt: float,
         cfg: PointingConfig) -> Tuple[float, float]:
    """Move (pitch, yaw) toward ``target`` by at most max_rate_dps * dt per axis, inside the limits."""
    pitch = min(max(target[0], math.radians(cfg.min_pitch_deg)), math.radians(cfg.max_pitch_deg))
    yaw = min(max(_wrap(target[1]), -math.radians(cfg.max_yaw_deg)), math.radians(cfg.max_yaw_deg))
    if current is None or dt <= 0:
        return pitch, yaw
    step = math.radians(cfg.max_rate_dps) * dt
    dp = min(max(pitch - current[0], -step), step)
    dy = min(max(_wrap(yaw - current[1]), -step), step)
    return current[0] + dp, _wrap(current[1] + dy)


def camera_axis_enu(angles: Tuple[float, float], body_rpy: Sequence[float]) -> np.ndarray:
    """The camera's forward axis in ENU for gimbal (pitch, yaw) relative to a body at ``body_rpy``."""
    return rot_flu(*body_rpy) @ rot_flu(0.0, angles[0], angles[1]) @ np.array([1.0, 0.0, 0.0])


def world_angles(angles: Tuple[float, float], body_rpy: Sequence[float]) -> Tuple[float, float]:
    """The camera's (pitch, yaw) in the world (ENU, pitch positive down) for gimbal angles on a body at body_rpy."""
    return look_at(camera_axis_enu(angles, body_rpy), (0.0, 0.0, 0.0))


def slew_in_world(current_world: Optional[Tuple[float, float]], offset_enu: Sequence[float],
                  body_rpy: Sequence[float], dt: float, cfg: PointingConfig):
    """``slew`` with the rate limit on the camera's direction in the world, not on the gimbal's angles to the body.

    ``current_world``: the camera's last commanded (pitch, yaw) in the world (None: none yet); ``offset_enu``:
    target - drone; ``body_rpy``: the body's attitude now. The commanded direction moves toward the target
    by at most max_rate_dps * dt in world pitch and yaw, then is put on the body as it is now, inside the
    gimbal's limits. Returns (gimbal (pitch, yaw) relative to the body, the camera's (pitch, yaw) in the world).
    A body that turns at 100 deg/s under a still target asks for no camera motion at all; slewing the
    body-relative angles instead lets the camera swing with the body at up to that rate.
    """
    free = PointingConfig(cfg.max_rate_dps, -90.0, 90.0, 180.0)
    want = look_at(offset_enu, (0.0, 0.0, 0.0))
    new = want if current_world is None or dt <= 0 else slew(current_world, want, dt, free)
    rel = slew(None, look_at(camera_axis_enu(new, (0.0, 0.0, 0.0)), body_rpy), 0.0, cfg)
    return rel, world_angles(rel, body_rpy)
