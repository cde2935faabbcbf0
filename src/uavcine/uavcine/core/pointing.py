"""Camera pointing: the gimbal angles that put a geolocated target at the image centre.

What an autopilot does in ROI mode (MAV_CMD_DO_SET_ROI_LOCATION), for vehicles and
simulators that take gimbal angles instead. Frames as in uavcine.core.camera:
the target's offset from the drone in ENU is turned into the body (FLU) frame, and
the gimbal's yaw (about up, counter-clockwise) and pitch (positive = looking down)
make its forward axis point along it. A slew-rate limit keeps the motion smooth
enough to film. Python 3.8.
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
