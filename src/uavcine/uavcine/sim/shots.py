"""The drone and its gimbal along UAV cinematography shot types.

Shot types (after the seed's trajectory generator, report section 4.2, and the
shot-type taxonomy it cites), all relative to a target that may move:

- ORBIT: circle of radius ``distance_m`` around the target at ``speed_mps`` (tangential), from
  ``start_angle_deg`` (ENU bearing of the drone seen from the target), ``direction`` ccw/cw;
- FLYBY: straight line along ``heading_deg`` passing the target at ``distance_m`` (closest approach at
  ``t_closest_s``; the target on the ``side`` of the path);
- FLYOVER: a FLYBY with zero distance: straight over the target;
- CHASE: behind the target at ``distance_m`` along its direction of motion;
- LATERAL: beside the target at ``distance_m``, flying parallel to it;
- WAYPOINTS: along a polyline at ``speed_mps``; HOVER: still at the first waypoint (or behind the point).

Altitude: ``altitude_m`` above the target's ground (``altitude_ref: target``) or above the ground
under the drone (``agl``). Body heading: travel direction or facing the target (``yaw``).
Shot commands (uavcine_interfaces/ShotCommand, e.g. from the director's gestures) change the shot
from their time on: START flies the planned shot (an ORBIT starts at ``start_angle_deg`` then),
HOLD hovers where the drone is, LATERAL_LEFT/RIGHT fly a LATERAL shot with the drone on that side of
the target, END hovers and returns the camera to its rest (``pitch_deg`` ahead). With
``start_on_command`` the drone hovers at the shot's start point until START. Each change blends
the old path into the new one over ``command_blend_s`` (smoothstep), so the path stays smooth.
Body attitude (FLU in ENU, positive pitch = nose down) follows the multirotor's tilt: pitch
grows with forward speed and acceleration, roll with lateral acceleration, plus a smooth wind
wobble. Gimbal: ``fixed`` holds the camera at ``pitch_deg`` down and the body's heading (+yaw_deg)
whatever the body's tilt (a stabilised gimbal); ``lock`` points the camera's axis at the target's
centre; ``mount`` is a rigid camera mount (the camera tilts with the body); ``command`` follows
/gimbal/command, (pitch, yaw) relative to the body: a stabilised gimbal that turns the command into a
direction in the world with the body's attitude when it arrives and holds it, horizon level, until the
next (between commands the camera does not swing with the body's tilt and yaw, as a rigid pan-tilt
would: the tilt of the nominal path's acceleration has brief spikes of tens of degrees, where a
shot's reference heading changes). Gimbal angles reported are relative to the body (FLU), as
/vehicle/gimbal carries them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from transforms3d.euler import mat2euler

from ..core.camera import camera_rotation, rot_flu
from ..core.pointing import world_angles
from ..core.shot_geometry import SHOT_TYPES, shot_xy
from .scenario import ShotCfg, TargetCfg
from .world import PathMotion

G = 9.81


@dataclass
class DroneState:
    """Truth of the vehicle at one time. Angles in radians; positions ENU metres."""

    t: float
    pos: np.ndarray          # ENU position of base_link (= the camera's centre)
    vel: np.ndarray          # ENU velocity
    body_rpy: tuple          # attitude of base_link in ENU (roll, pitch, yaw), pitch>0 nose down
    gimbal_rpy: tuple        # camera head (FLU) relative to base_link
    R_world_optical: np.ndarray
    agl: float               # height above the ground right below, m

    @property
    def cam_pos(self) -> np.ndarray:
        return self.pos


class _Wobble:
    """Smooth, seeded disturbance: a sum of sinusoids (deterministic for any t, no state)."""

    def __init__(self, rng, channels, sigma, fmin=0.05, fmax=0.6, n=6):
        self.f = rng.uniform(fmin, fmax, (channels, n))
        self.ph = rng.uniform(0, 2 * np.pi, (channels, n))
        self.a = sigma * math.sqrt(2.0 / n)

    def __call__(self, t):
        return self.a * np.sin(2 * np.pi * self.f * t + self.ph).sum(axis=1)


class Shot:
    def __init__(self, world, cfg: ShotCfg, gimbal, duration_s: float, seed: int):
        self.world, self.cfg, self.gimbal = world, cfg, gimbal
        self.duration = float(duration_s)
        rng = np.random.default_rng([seed, 7])
        self.wob_pos = _Wobble(rng, 3, cfg.position_wobble_m, fmin=0.02, fmax=0.2)
        self.wob_att = _Wobble(rng, 3, math.radians(cfg.wobble_deg), fmin=0.1, fmax=1.5)
        self.target = world.object(cfg.target) if cfg.target is not None else None
        lock_id = gimbal.target if gimbal.target is not None else cfg.target
        self.lock = world.object(lock_id) if lock_id is not None else None
        self.t_closest = cfg.t_closest_s if cfg.t_closest_s is not None else duration_s / 2
        self.commands = []  # gimbal mode 'command': (t, pitch, yaw) relative to the body, in arrival order
        # shot commands: (t, mode) with mode PLANNED | HOLD | LATERAL_LEFT | LATERAL_RIGHT | END
        self.timeline = [(0.0, 'HOLD')] if cfg.start_on_command else []
        self.path = None
        if cfg.type == 'WAYPOINTS':
            tc = TargetCfg(id=0, cls='drone', path=[list(map(float, w[:2])) for w in cfg.waypoints],
                           speeds=[cfg.speed_mps], smooth=True, max_accel=3.0)
            self.path = PathMotion(tc, duration_s + 5)
            wp = np.asarray([w if len(w) > 2 else list(w) + [cfg.altitude_m] for w in cfg.waypoints], float)
            self.path_alt = wp[:, 2]

    # -- reference ---------------------------------------------------------------------
    def ref(self, t):
        """(ground position (3,), heading) of what the shot is built around."""
        if self.target is not None:
            p, yaw, vel = self.world.pose(self.target, t)
            if np.linalg.norm(vel[:2]) > 0.3:
                p_prev = self.world.pose(self.target, t - 1.5)[0]
                d = p - p_prev
                if np.linalg.norm(d[:2]) > 0.2:
                    yaw = math.atan2(d[1], d[0])
            return p, yaw
        pt = self.cfg.point or [0.0, 0.0]
        z = float(self.world.ground.height_at(pt[0], pt[1]))
        return np.array([pt[0], pt[1], z]), 0.0

    def _horizontal(self, t, typ=None, side=None):
        c = self.cfg
        p, hd = self.ref(t)
        typ = typ or c.type
        if typ in SHOT_TYPES:  # the shot generator shared with the view-synthesis previews (core/shot_geometry.py)
            p0 = self.ref(self.t_closest)[0] if typ in ('FLYBY', 'FLYOVER') else p
            xy = shot_xy(typ, t, p[:2], hd, p0[:2], self.t_closest, c.distance_m, c.speed_mps, c.heading_deg,
                         side or c.side, c.start_angle_deg, c.direction)
        elif typ == 'WAYPOINTS':
            x, y, _, _ = self.path.pose(t)
            xy = np.array([float(x), float(y)])
        else:  # HOVER
            if c.waypoints:
                xy = np.asarray(c.waypoints[0][:2], float)
            else:
                h = math.radians(c.heading_deg)
                xy = p[:2] - c.distance_m * np.array([math.cos(h), math.sin(h)])
        return xy, p

    def position(self, t) -> np.ndarray:
        """Nominal position (no wind wobble), ENU, after the shot commands received so far."""
        if not self.timeline:
            return self._planned(t)
        return self._position_after(t, len(self.timeline) - 1)

    def shot_command(self, t: float, command: str) -> bool:
        """A ShotCommand (START, HOLD, LATERAL_LEFT, LATERAL_RIGHT, END) takes effect at time t.

        Returns False (and changes nothing) when the shot already does that: a second START does
        not restart a running ORBIT, a second HOLD does not move the hover point."""
        mode = {'START': 'PLANNED'}.get(command, command)
        if mode not in ('PLANNED', 'HOLD', 'LATERAL_LEFT', 'LATERAL_RIGHT', 'END'):
            raise ValueError('unknown shot command %r' % command)
        if mode == (self.timeline[-1][1] if self.timeline else 'PLANNED'):
            return False
        self.timeline.append((float(t), mode))
        return True

    def _position_after(self, t, k):
        """Position under the first k+1 timeline entries (entry k applies from its time on, blended in)."""
        ts, mode = self.timeline[k]
        if k > 0 and t < ts:
            return self._position_after(t, k - 1)
        if mode in ('HOLD', 'END'):
            new = self._planned(0.0, t_offset=0.0) if k == 0 else self._position_after(ts, k - 1)
        elif mode == 'PLANNED':
            new = self._planned(t, t_offset=ts if self.cfg.start_on_command else 0.0)
        else:
            new = self._planned(t, typ='LATERAL', side='right' if mode == 'LATERAL_LEFT' else 'left')
        if k == 0 or self.cfg.command_blend_s <= 0 or t - ts >= self.cfg.command_blend_s:
            return new
        a = (t - ts) / self.cfg.command_blend_s
        a = a * a * (3 - 2 * a)
        return (1 - a) * self._position_after(t, k - 1) + a * new

    def _planned(self, t, typ=None, side=None, t_offset=0.0) -> np.ndarray:
        """Nominal position of a shot of type ``typ`` (default: the planned one) started at t_offset."""
        c = self.cfg
        if typ is None and t_offset:
            xy, p = self._horizontal(t - t_offset)
            xy = xy + (self.ref(t)[0][:2] - p[:2])  # the shot's clock starts at t_offset, around where the target is now
            p = self.ref(t)[0]
        else:
            xy, p = self._horizontal(t, typ, side)
        if c.type == 'WAYPOINTS' and typ is None:
            s = float(np.interp(t + self.path.t0, self.path.ts, self.path.s_t))
            alt = float(np.interp(s, self.path.s_knot, self.path_alt))
        else:
            alt = c.altitude_m
        if c.altitude_ref == 'agl':
            z = float(self.world.ground.height_at(xy[0], xy[1])) + alt
        else:
            z = float(p[2]) + alt
        return np.array([xy[0], xy[1], z])

    # -- full state --------------------------------------------------------------------
    def state(self, t: float) -> DroneState:
        p0, vel, body, yaw = self._body(t)
        gimbal = self._gimbal(t, p0, body, yaw)
        R = camera_rotation(body, gimbal)
        agl = float(p0[2] - self.world.ground.height_at(p0[0], p0[1]))
        return DroneState(float(t), p0, vel, body, gimbal, R, agl)

    def _body(self, t: float):
        """(position, velocity, body attitude (roll, pitch, yaw), heading) at t: the drone without its gimbal."""
        c = self.cfg
        h = 0.05
        p_m, p0, p_p = self.position(t - h), self.position(t), self.position(t + h)
        vel = (p_p - p_m) / (2 * h)   # of the nominal path: heading and tilt do not follow the wind wobble
        ha = c.tilt_window_s   # the acceleration the attitude loop follows: over +-tilt_window_s
        a_m, a_p = (p_m, p_p) if ha == h else (self.position(t - ha), self.position(t + ha))
        acc = (a_p - 2 * p0 + a_m) / (ha * ha)
        p0 = p0 + self.wob_pos(t)
        # body heading
        mode = c.yaw
        if mode == 'auto':
            mode = 'target' if c.type in ('ORBIT', 'LATERAL', 'HOVER') else 'travel'
        if mode == 'travel' and np.linalg.norm(vel[:2]) > 0.5:
            yaw = math.atan2(vel[1], vel[0])
        elif c.type in ('FLYBY', 'FLYOVER') and mode == 'travel':
            yaw = math.radians(c.heading_deg)
        else:
            tp = self.ref(t)[0]
            yaw = math.atan2(tp[1] - p0[1], tp[0] - p0[0])
        # tilt of a multirotor: forward speed (drag) and acceleration
        cy, sy = math.cos(yaw), math.sin(yaw)
        fwd = np.array([cy, sy])
        left = np.array([-sy, cy])
        v_f = float(vel[:2] @ fwd)
        a_f, a_l = float(acc[:2] @ fwd), float(acc[:2] @ left)
        wob = self.wob_att(t)
        pitch = math.radians(c.tilt_gain_deg_per_mps) * v_f + math.atan(a_f / G) + wob[1]
        roll = math.atan(-a_l / G) + wob[0]
        yaw_b = yaw + 0.5 * wob[2]
        return p0, vel, (roll, pitch, yaw_b), yaw

    def command(self, t: float, pitch: float, yaw: float):
        """Gimbal mode 'command': from time t the head points at (pitch, yaw) relative to the body, rad."""
        self.commands.append((float(t), float(pitch), float(yaw)))

    def _commanded(self, t):
        """(time, pitch, yaw) of the command in force at t, or None."""
        for tc, pitch, yaw in reversed(self.commands):
            if tc <= t + 1e-9:
                return tc, pitch, yaw
        return None

    def _ended(self, t):
        for ts, mode in reversed(self.timeline):
            if ts <= t + 1e-9:
                return mode == 'END'
        return False

    def _gimbal(self, t, pos, body, yaw_heading):
        g = self.gimbal
        if self._ended(t):  # END: the camera back to its rest, ahead and pitch_deg down
            return (0.0, math.radians(g.pitch_deg), 0.0)
        cmd = self._commanded(t) if g.mode == 'command' else None
        if g.mode == 'mount':
            return (0.0, math.radians(g.pitch_deg), math.radians(g.yaw_deg))
        if cmd is not None:  # the commanded direction on the body as it was then, held in the world since
            tc, pitch, yaw = cmd
            cam_pitch, cam_yaw = world_angles((pitch, yaw), self._body(tc)[2])
        elif g.mode == 'lock' and (self.lock is not None or self.cfg.point is not None):
            if self.lock is not None:
                tp, _, _ = self.world.pose(self.lock, t)
                tp = tp + np.array([0, 0, self.lock.model.size[2] / 2])
            else:
                tp = self.ref(t)[0]
            d = tp - pos
            cam_yaw = math.atan2(d[1], d[0])
            cam_pitch = math.atan2(-d[2], math.hypot(d[0], d[1]))
        else:
            cam_yaw = yaw_heading + math.radians(g.yaw_deg)
            cam_pitch = math.radians(g.pitch_deg)
        R_cam = rot_flu(0.0, cam_pitch, cam_yaw)
        R_rel = rot_flu(*body).T @ R_cam
        r, p, y = mat2euler(R_rel, 'sxyz')
        return (float(r), float(p), float(y))
