"""The plain Python API of the simulator: frames with images, ground truth and telemetry, no host needed.

    from uavcine.sim import load_scenario, Simulator
    sim = Simulator(load_scenario('sim/flight_test_towers.yaml'), seed=0)
    for frame in sim.frames():
        frame.rgb            # HxWx3 uint8 RGB
        frame.truth          # [TargetTruth(id, cls, bbox_xywh, visibility, truncated, enu, geodetic, ...)]
        frame.telemetry      # .true (DroneState + geodetic) and .measured (latest noisy sensor samples)
        frame.depth          # HxW float32, optical-frame z in metres, +inf for sky
        frame.flow           # HxWx2 float32 px, computed on first access: this frame -> the next one

Frame k is the world at t = k / camera.rate_hz seconds after the start; its
stamp is ``start_ns + t`` (start_ns: 2024-01-01T00:00:00Z, the offline host's
default start, unless given). Ground-truth 2-D boxes are the projection of the
target model's 3-D hull vertices (the corners of its parts; for a box model the
8 corners of its 3-D box) clipped to the image: they bound exactly what is
drawn. ``visibility`` is the fraction of the target's in-image pixels not hidden
by other objects or terrain; ``truncated`` says the unclipped box leaves the
image (or the target crosses the camera's near plane).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator, List, Optional

import numpy as np

from ..core.camera import PinholeCamera, world_to_camera
from .render import NEAR, Renderer, RenderOut, yaw_matrix
from .scenario import Scenario
from .sensors import SENSORS, SensorSuite
from .shots import DroneState, Shot
from .texture import make_orthophoto
from .world import World

#: 2024-01-01T00:00:00Z, the offline host's default start of simulated time.
START_NS = 1_704_067_200 * 1_000_000_000


@dataclass
class TargetTruth:
    id: int
    cls: str
    bbox_xywh: Optional[tuple]   # pixels (x_min, y_min, w, h), clipped to the image; None when not in view
    visibility: float            # visible / unoccluded in-image pixels, 0..1
    truncated: bool              # the unclipped box leaves the image
    in_view: bool                # some pixel of the target is in the image (occluded or not)
    pixels: int                  # pixels the target shows in the image
    enu: np.ndarray              # ground point under the target's centre (ENU, m)
    geodetic: tuple              # (lat, lon, ellipsoid height) of enu
    yaw: float                   # heading, ENU rad
    velocity_enu: np.ndarray
    size: tuple                  # 3-D box (length, width, height), m
    distractor: bool = False
    bbox_full: Optional[tuple] = None   # unclipped projected box (x_min, y_min, w, h)
    range_m: float = 0.0         # camera -> target centre distance


@dataclass
class Telemetry:
    true: dict                   # lat lon alt enu vel rpy gimbal_rpy agl (rad, m)
    measured: dict               # sensor name -> latest delivered Sample (or None)


class Frame:
    def __init__(self, sim: 'Simulator', index: int, t: float, state: DroneState, out: RenderOut,
                 truth: List[TargetTruth], telemetry: Optional[Telemetry]):
        self.sim, self.index, self.t, self.state = sim, index, t, state
        self.t_ns = sim.start_ns + int(round(t * 1e9))
        self.rgb, self.ids, self.depth = out.rgb, out.ids, out.depth
        self.truth, self.telemetry = truth, telemetry
        self.camera = sim.camera
        self._flow = None

    @property
    def cam_pos_enu(self) -> np.ndarray:
        return self.state.pos

    @property
    def R_world_optical(self) -> np.ndarray:
        return self.state.R_world_optical

    @property
    def flow(self) -> np.ndarray:
        """Optical flow (HxWx2 float32, pixels) from this frame to the next (t + 1/rate)."""
        if self._flow is None:
            self._flow = self.sim.flow(self)
        return self._flow

    def target(self, tid: int) -> Optional[TargetTruth]:
        for tt in self.truth:
            if tt.id == tid:
                return tt
        return None


class Simulator:
    def __init__(self, scenario: Scenario, seed: Optional[int] = None, start_ns: int = START_NS,
                 camera_rate_hz: Optional[float] = None):
        self.scenario = scenario
        self.seed = int(scenario.seed if seed is None else seed)
        if camera_rate_hz:
            scenario.camera.rate_hz = float(camera_rate_hz)
        self.start_ns = int(start_ns)
        self.world = World(scenario, self.seed)
        c = scenario.camera
        self.camera = PinholeCamera.from_dfov(c.width, c.height, c.dfov_deg, dist=c.dist)
        self.ortho = make_orthophoto(self.world, np.random.default_rng([self.seed, 6]))
        self.renderer = Renderer(self.world, self.camera, self.ortho, scenario.world.visibility_m)
        self.shot = Shot(self.world, scenario.shot, scenario.gimbal, scenario.duration_s, self.seed)
        self.sensors = SensorSuite(self, scenario.sensors, self.seed)
        self._state_cache = {}

    # -- time ---------------------------------------------------------------------------
    @property
    def duration_s(self) -> float:
        return float(self.scenario.duration_s)

    @property
    def rate_hz(self) -> float:
        return float(self.scenario.camera.rate_hz)

    @property
    def n_frames(self) -> int:
        return int(math.floor(self.duration_s * self.rate_hz + 1e-9)) + 1

    def command_gimbal(self, t: float, pitch: float, yaw: float):
        """Gimbal mode 'command': point the head at (pitch down, yaw left) relative to the body from time t."""
        self.shot.command(t, pitch, yaw)
        self._state_cache = {k: v for k, v in self._state_cache.items() if k < t}

    def command_shot(self, t: float, command: str) -> bool:
        """A ShotCommand (START, HOLD, LATERAL_LEFT, LATERAL_RIGHT, END) from time t on; False: already doing it."""
        changed = self.shot.shot_command(t, command)
        if changed:
            self._state_cache = {k: v for k, v in self._state_cache.items() if k < t}
        return changed

    def drone_state(self, t: float) -> DroneState:
        key = round(float(t), 9)
        st = self._state_cache.get(key)
        if st is None:
            st = self.shot.state(float(t))
            if len(self._state_cache) > 4096:
                self._state_cache.clear()
            self._state_cache[key] = st
        return st

    # -- frames -------------------------------------------------------------------------
    def frames(self, start: int = 0, stop: Optional[int] = None, step: int = 1) -> Iterator[Frame]:
        stop = self.n_frames if stop is None else min(stop, self.n_frames)
        for k in range(start, stop, step):
            yield self.frame(k)

    def __iter__(self):
        return self.frames()

    def __len__(self):
        return self.n_frames

    def frame(self, k: int) -> Frame:
        return self.render_at(k / self.rate_hz, index=k)

    def render_at(self, t: float, index: int = -1, telemetry: bool = True) -> Frame:
        """The frame at any time t (seconds since the start)."""
        st = self.drone_state(t)
        cam = self.scenario.camera
        noise_seed = [self.seed, 200, int(round(t * 1e6))]
        blur = cam.motion_blur > 0
        out = self.renderer.render(st, t, 0.0 if blur else cam.noise_sigma, noise_seed)
        if blur:  # average renders over the exposure (truth, ids and depth stay those of mid-exposure)
            e = cam.motion_blur / self.rate_hz
            acc = out.rgb.astype(np.float32)
            subs = (-0.5, -0.25, 0.25, 0.5)
            for a in subs:
                acc += self.renderer.render(self.drone_state(t + a * e), t + a * e).rgb
            acc /= 1 + len(subs)
            if cam.noise_sigma > 0:
                acc += np.random.default_rng(noise_seed).normal(0.0, cam.noise_sigma, acc.shape[:2])[..., None]
            out.rgb = np.clip(acc + 0.5, 0, 255).astype(np.uint8)
        truth = self.truth(st, t, out)
        tel = self.telemetry(st, t) if telemetry else None
        return Frame(self, index, t, st, out, truth, tel)

    # -- ground truth -------------------------------------------------------------------
    def truth(self, st: DroneState, t: float, out: RenderOut) -> List[TargetTruth]:
        res = []
        W, H = self.camera.width, self.camera.height
        C, R = st.pos, st.R_world_optical
        for obj in self.world.targets:
            pos, yaw, vel = self.world.pose(obj, t)
            Pw = obj.model.hull @ yaw_matrix(yaw).T + pos
            box, full, trunc = self.project_box(Pw, C, R)
            lat, lon, alt = self.world.geodetic(pos)
            rng_m = float(np.linalg.norm(pos + np.array([0, 0, obj.model.size[2] / 2]) - C))
            vis, pix, in_view = 0.0, 0, False
            if box is not None:
                alone, (y0, x0, y1, x1) = out.alone.get(obj.id, (0, (0, 0, 0, 0)))
                pix = int(np.count_nonzero(out.ids[y0:y1, x0:x1] == obj.id))
                in_view = alone > 0
                vis = float(pix) / alone if alone > 0 else 0.0
                if not in_view:
                    box = None
            res.append(TargetTruth(obj.id, obj.cls, box, vis, trunc, in_view, pix, pos,
                                   (float(lat), float(lon), float(alt)), yaw, vel, obj.model.size,
                                   obj.distractor, full, rng_m))
        return res

    def project_box(self, Pw: np.ndarray, C, R):
        """(clipped box, full box, truncated) of world points' projection; boxes as (x, y, w, h) or None."""
        W, H = self.camera.width, self.camera.height
        Pc = world_to_camera(Pw, C, R)
        front = Pc[:, 2] >= NEAR
        if not front.any():
            return None, None, True
        crossed = not front.all()
        if crossed:  # hull clipped by the near plane: points in front + edge intersections
            A, B = Pc[front], Pc[~front]
            t = (A[:, None, 2] - NEAR) / (A[:, None, 2] - B[None, :, 2])
            X = A[:, None, :] + t[..., None] * (B[None, :, :] - A[:, None, :])
            Pc = np.concatenate([A, X.reshape(-1, 3)])
        uv = self.camera.project(Pc)
        uv = uv[np.all(np.isfinite(uv), axis=1)]
        if len(uv) == 0:
            return None, None, True
        x0, y0 = uv.min(0)
        x1, y1 = uv.max(0)
        full = (float(x0), float(y0), float(x1 - x0), float(y1 - y0))
        trunc = crossed or x0 < 0 or y0 < 0 or x1 > W or y1 > H
        cx0, cy0, cx1, cy1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(W)), min(y1, float(H))
        if cx1 <= cx0 or cy1 <= cy0:
            return None, full, trunc
        return (float(cx0), float(cy0), float(cx1 - cx0), float(cy1 - cy0)), full, bool(trunc)

    # -- telemetry ----------------------------------------------------------------------
    def true_telemetry(self, st: DroneState) -> dict:
        lat, lon, alt = self.world.geodetic(st.pos)
        return {'lat': float(lat), 'lon': float(lon), 'alt': float(alt), 'enu': st.pos, 'vel': st.vel,
                'rpy': tuple(st.body_rpy), 'gimbal_rpy': tuple(st.gimbal_rpy), 'agl': st.agl}

    def telemetry(self, st: DroneState, t: float) -> Telemetry:
        meas = {s: self.sensors.latest(s, t) for s in SENSORS[:4]}
        return Telemetry(self.true_telemetry(st), meas)

    # -- optical flow -------------------------------------------------------------------
    def flow(self, frame: Frame, dt: Optional[float] = None) -> np.ndarray:
        """Flow (HxWx2 float32 px) of every pixel of ``frame`` to where its surface point is at t + dt.

        Static points move with the camera; pixels of a moving object move with it (its pose
        at both times); sky pixels are points at infinity (rotation only). NaN where the point
        goes behind the next camera.
        """
        dt = 1.0 / self.rate_hz if dt is None else float(dt)
        r = self.renderer
        st0, st1 = frame.state, self.drone_state(frame.t + dt)
        d = frame.depth.astype(np.float64)
        sky = ~np.isfinite(d)
        Xc = np.stack([r.XN, r.YN, np.ones_like(r.XN)], -1)
        Pc = Xc * np.where(sky, 1.0, d)[..., None]
        Pw = Pc @ st0.R_world_optical.T + np.where(sky, 0.0, 1.0)[..., None] * st0.pos
        for obj in self.world.targets:
            if not obj.motion.moving:
                continue
            m = frame.ids == obj.id
            if not m.any():
                continue
            p0, y0, _ = self.world.pose(obj, frame.t)
            p1, y1, _ = self.world.pose(obj, frame.t + dt)
            local = (Pw[m] - p0) @ yaw_matrix(y0)
            Pw[m] = local @ yaw_matrix(y1).T + p1
        P1 = Pw.reshape(-1, 3)
        C1 = np.where(sky.reshape(-1, 1), 0.0, 1.0) * st1.pos
        Pc1 = (P1 - C1) @ st1.R_world_optical
        uv1 = self.camera.project(Pc1).reshape(self.camera.height, self.camera.width, 2)
        jj, ii = np.mgrid[0:self.camera.height, 0:self.camera.width]
        uv0 = np.stack([ii + 0.5, jj + 0.5], -1)
        return (uv1 - uv0).astype(np.float32)
