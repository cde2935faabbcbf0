"""Where the camera is along a cinematography shot: the one shot generator of uavcine.

The shot types of the seed's trajectory generator (AI4Media report section 4.2, after the shot
taxonomy it cites), relative to a target that may move (the published tool assumed it still):

- ORBIT: a circle of radius ``distance_m`` around the target at ``speed_mps`` (tangential), starting at
  ``start_angle_deg`` (ENU bearing of the drone seen from the target), ``direction`` ccw / cw;
- FLYBY: a straight line along ``heading_deg`` passing the target at ``distance_m`` at ``t_closest_s``
  (the target on the ``side`` of the path), carried along by the target's motion;
- FLYOVER: a FLYBY with zero distance;
- CHASE: ``distance_m`` behind the target, along its direction of motion;
- LATERAL: ``distance_m`` beside the target, on its ``side``.

``shot_xy`` is the horizontal geometry; the simulator (sim/shots.py) flies it and the view-synthesis
node plans previews with it (``plan_shot``: a constant-velocity forecast of the target, the camera
``altitude_m`` above the target's ground, looking at the target). Positions are ENU metres,
angles radians unless named ``_deg``. Python 3.8, numpy.
"""
import math
from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np

from .camera import camera_rotation

SHOT_TYPES = ('ORBIT', 'FLYBY', 'FLYOVER', 'CHASE', 'LATERAL')


def shot_xy(typ: str, t: float, target_xy: np.ndarray, target_heading: float, target_xy_closest: np.ndarray,
            t_closest: float, distance_m: float, speed_mps: float, heading_deg: float, side: str,
            start_angle_deg: float, direction: str) -> np.ndarray:
    """Horizontal ENU position (2,) of the drone at shot time t, the target at ``target_xy`` (heading
    ``target_heading``) then and at ``target_xy_closest`` at the FLYBY's closest approach."""
    s = 1.0 if side == 'right' else -1.0
    p = np.asarray(target_xy, float)[:2]
    if typ == 'ORBIT':
        w = speed_mps / distance_m * (1.0 if direction == 'ccw' else -1.0)
        a = math.radians(start_angle_deg) + w * t
        return p + distance_m * np.array([math.cos(a), math.sin(a)])
    if typ in ('FLYBY', 'FLYOVER'):
        h = math.radians(heading_deg)
        u = np.array([math.cos(h), math.sin(h)])
        left = np.array([-u[1], u[0]])
        d = distance_m if typ == 'FLYBY' else 0.0
        p0 = np.asarray(target_xy_closest, float)[:2]
        # relative to the target: the closest approach happens at t_closest
        return p0 + s * d * left + (t - t_closest) * speed_mps * u + (p - p0)
    if typ == 'CHASE':
        return p - distance_m * np.array([math.cos(target_heading), math.sin(target_heading)])
    if typ == 'LATERAL':
        left = np.array([-math.sin(target_heading), math.cos(target_heading)])
        return p + s * distance_m * left
    raise ValueError('unknown shot type %r (one of %s)' % (typ, ', '.join(SHOT_TYPES)))


@dataclass
class ShotPlan:
    """A shot to preview (the parameters of ``shot_xy``; the ShotCfg of the simulator has the same names)."""

    type: str = 'ORBIT'
    distance_m: float = 30.0
    altitude_m: float = 30.0        # camera above the target's ground
    speed_mps: float = 3.0
    heading_deg: float = 0.0
    side: str = 'right'
    start_angle_deg: float = 270.0
    direction: str = 'ccw'
    t_closest_s: float = 0.0        # FLYBY / FLYOVER: closest approach, s after the start
    look_height_m: float = 1.0      # the camera looks at this height above the target's ground


def look_at(cam_pos: np.ndarray, point: np.ndarray) -> np.ndarray:
    """R_world_optical of a level camera (no roll) at ``cam_pos`` looking at ``point`` (a locked gimbal)."""
    d = np.asarray(point, float) - np.asarray(cam_pos, float)
    yaw = math.atan2(d[1], d[0])
    pitch = math.atan2(-d[2], math.hypot(d[0], d[1]))
    return camera_rotation((0.0, pitch, yaw))


def plan_shot(plan: ShotPlan, target_pos: Sequence[float], target_vel: Sequence[float],
              times: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    """Camera poses along ``plan`` at ``times`` (s from now): (n, 4, 4) camera-to-world (optical frame,
    ENU) and the forecast target positions (n, 3). The target moves at constant velocity
    ``target_vel`` from ``target_pos`` (ground point, ENU); its heading is that of its velocity, or
    ``heading_deg`` when it stands (< 0.3 m/s)."""
    p0 = np.asarray(target_pos, float)
    v = np.asarray(target_vel, float)
    v = np.array([v[0], v[1], 0.0]) if v.shape[0] >= 2 else np.zeros(3)
    hd = math.atan2(v[1], v[0]) if math.hypot(v[0], v[1]) > 0.3 else math.radians(plan.heading_deg)
    closest = p0 + v * plan.t_closest_s
    poses, targets = [], []
    for t in times:
        p = p0 + v * float(t)
        xy = shot_xy(plan.type, float(t), p[:2], hd, closest[:2], plan.t_closest_s, plan.distance_m, plan.speed_mps,
                     plan.heading_deg, plan.side, plan.start_angle_deg, plan.direction)
        c = np.array([xy[0], xy[1], p[2] + plan.altitude_m])
        T = np.eye(4)
        T[:3, :3] = look_at(c, p + np.array([0.0, 0.0, plan.look_height_m]))
        T[:3, 3] = c
        poses.append(T)
        targets.append(p)
    return np.asarray(poses), np.asarray(targets)
