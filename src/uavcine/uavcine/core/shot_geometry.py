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
node plans previews with it (``plan_shot``: the target moved along its forecast, ``TargetPath``, or at
constant velocity, the camera ``altitude_m`` above the target's ground, looking at the target;
``continue_shot``: the same shot from where the camera is now, for previews of a shot already flying).
Positions are ENU metres, angles radians unless named ``_deg``. Python 3.8, numpy.
"""
import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

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


@dataclass
class TargetPath:
    """Where the target will be: ENU ``positions`` (n, 3) at ``times_s`` (n,), s from now, increasing (a
    forecast's path; n >= 2). Between them it moves straight from one to the next; before the first and
    after the last it goes on at the velocity of the first / last segment (a forecast's horizon is
    shorter than some shots)."""

    times_s: np.ndarray
    positions: np.ndarray

    def __post_init__(self):
        self.times_s = np.asarray(self.times_s, float).reshape(-1)
        self.positions = np.asarray(self.positions, float).reshape(-1, 3)
        if len(self.times_s) < 2 or len(self.positions) != len(self.times_s):
            raise ValueError('a target path needs n >= 2 times and n positions, got %d and %d'
                             % (len(self.times_s), len(self.positions)))
        if not np.all(np.diff(self.times_s) > 0):
            raise ValueError('the times of a target path must increase')
        if not (np.all(np.isfinite(self.times_s)) and np.all(np.isfinite(self.positions))):
            raise ValueError('a target path must be finite')

    @classmethod
    def constant_velocity(cls, position: Sequence[float], velocity: Sequence[float]) -> 'TargetPath':
        """The target at ``position`` now, moving at ``velocity`` (m/s; only its horizontal part)."""
        p = np.asarray(position, float).reshape(3)
        v = np.asarray(velocity, float).reshape(-1)
        v = np.array([v[0], v[1], 0.0]) if v.shape[0] >= 2 else np.zeros(3)
        return cls(np.array([0.0, 1.0]), np.stack([p, p + v]))

    def at(self, t: float) -> Tuple[np.ndarray, np.ndarray]:
        """(position (3,), velocity (3,)) t s from now."""
        ts, ps = self.times_s, self.positions
        k = int(np.clip(np.searchsorted(ts, t, side='right') - 1, 0, len(ts) - 2))
        v = (ps[k + 1] - ps[k]) / (ts[k + 1] - ts[k])
        return ps[k] + v * (float(t) - ts[k]), v


def continue_shot(plan: ShotPlan, camera_xy: Sequence[float], target_xy: Sequence[float]) -> ShotPlan:
    """The same shot flown on from where the camera is now (t = 0 at the camera): an ORBIT starts at the
    camera's bearing from the target, a FLYBY / FLYOVER's closest approach is as far ahead as the camera is
    behind the target along ``heading_deg``; CHASE and LATERAL do not depend on the time. A preview of a
    shot already flying then starts at the source image's viewpoint, whatever the shot's own clock."""
    d = np.asarray(camera_xy, float)[:2] - np.asarray(target_xy, float)[:2]
    out = ShotPlan(**vars(plan))
    if plan.type == 'ORBIT' and math.hypot(d[0], d[1]) > 1e-6:
        out.start_angle_deg = math.degrees(math.atan2(d[1], d[0]))
    elif plan.type in ('FLYBY', 'FLYOVER') and plan.speed_mps > 0:
        h = math.radians(plan.heading_deg)
        out.t_closest_s = -float(d @ [math.cos(h), math.sin(h)]) / plan.speed_mps
    return out


def plan_shot(plan: ShotPlan, target_pos: Sequence[float], target_vel: Sequence[float],
              times: Sequence[float], target_path: Optional[TargetPath] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Camera poses along ``plan`` at ``times`` (s from now): (n, 4, 4) camera-to-world (optical frame,
    ENU) and the target positions (n, 3). The target moves along ``target_path`` (a forecast) when given,
    else at constant velocity ``target_vel`` from ``target_pos`` (ground point, ENU); its heading is that
    of its velocity then, or ``heading_deg`` when it stands (< 0.3 m/s)."""
    motion = target_path if target_path is not None else TargetPath.constant_velocity(target_pos, target_vel)

    def heading(v):
        return math.atan2(v[1], v[0]) if math.hypot(v[0], v[1]) > 0.3 else math.radians(plan.heading_deg)

    closest = motion.at(plan.t_closest_s)[0]
    poses, targets = [], []
    for t in times:
        p, v = motion.at(float(t))
        xy = shot_xy(plan.type, float(t), p[:2], heading(v), closest[:2], plan.t_closest_s, plan.distance_m,
                     plan.speed_mps, plan.heading_deg, plan.side, plan.start_angle_deg, plan.direction)
        c = np.array([xy[0], xy[1], p[2] + plan.altitude_m])
        T = np.eye(4)
        T[:3, :3] = look_at(c, p + np.array([0.0, 0.0, plan.look_height_m]))
        T[:3, 3] = c
        poses.append(T)
        targets.append(p)
    return np.asarray(poses), np.asarray(targets)
