"""Scenario files: what a simulated flight contains, as YAML under sim/.

A scenario is a tree of dataclasses (below); ``load_scenario(path)`` reads a YAML
file into it and ``Scenario.from_dict`` builds one from a dict (unknown keys are
errors, so a typo is one clear line, not a silently ignored setting).
``random_scenario(seed, ...)`` draws a random one for dataset generation.

Units: metres, seconds, degrees in files (radians inside the code). Positions
are local ENU metres (x east, y north) relative to ``origin`` (WGS84).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

import numpy as np
import yaml

from ..errors import UserError

SHOT_TYPES = ('ORBIT', 'FLYBY', 'FLYOVER', 'CHASE', 'LATERAL', 'WAYPOINTS', 'HOVER')
GIMBAL_MODES = ('fixed', 'lock', 'mount', 'command')


class ScenarioError(UserError, ValueError):
    """A scenario file or dict is wrong (one line for the user)."""


@dataclass
class Origin:
    lat: float = 37.4107   # CATEC test field area, Seville (any WGS84 point works)
    lon: float = -6.0029
    alt: float = 0.0       # ellipsoid height of the ENU origin, m


@dataclass
class TerrainCfg:
    type: str = 'flat'            # flat | hills
    amplitude_m: float = 20.0     # hills: typical peak height
    wavelength_m: float = 250.0   # hills: typical hill width
    resolution_m: float = 4.0     # heightmap grid spacing
    hills: int = 8                # number of Gaussian hills (plus a low-frequency roll)
    base_slope_deg: float = 0.0   # a constant incline added (toward +x)


@dataclass
class WorldCfg:
    extent_m: List[float] = field(default_factory=lambda: [-400.0, 400.0, -400.0, 400.0])  # xmin xmax ymin ymax
    texture_res_m: float = 0.25      # orthophoto ground sampling distance
    terrain: TerrainCfg = field(default_factory=TerrainCfg)
    roads: int = 2                   # random asphalt roads crossing the world
    road_paths: List[List[List[float]]] = field(default_factory=list)  # explicit roads: polylines [[x, y], ...]
    tracks: int = 4                  # dirt tracks
    fields: bool = True              # farmland parcels
    footprints: int = 40             # flat building roofs in the texture (clutter)
    trees: int = 60                  # random 3-D trees (occluders)
    buildings: int = 6               # random 3-D buildings (occluders)
    forest_patches: int = 3          # dense tree clumps painted in the texture
    keep_clear: List[List[float]] = field(default_factory=list)  # [x, y, r]: no random occluders here
    sun_azimuth_deg: float = 135.0   # compass (from north, clockwise)
    sun_elevation_deg: float = 50.0
    visibility_m: float = 2500.0     # haze: contrast halves at about 0.7 x this range


@dataclass
class CameraCfg:
    width: int = 640
    height: int = 480
    dfov_deg: float = 92.0
    rate_hz: float = 10.0
    dist: List[float] = field(default_factory=list)   # plumb-bob k1 k2 p1 p2 k3
    noise_sigma: float = 0.0       # additive Gaussian pixel noise (0-255 scale)
    motion_blur: float = 0.0       # exposure as a fraction of the frame period (0 = off)


@dataclass
class GimbalCfg:
    mode: str = 'fixed'            # fixed: stabilised at pitch/yaw; lock: points at the target (truth); mount: rigid on
                                   # the body; command: follows /gimbal/command (fixed until the first command)
    pitch_deg: float = 15.0        # down
    yaw_deg: float = 0.0           # relative to the body's heading
    target: Optional[int] = None   # lock on this target id (default: the shot's)


@dataclass
class ShotCfg:
    type: str = 'FLYBY'
    target: Optional[int] = None          # target id the shot is built around
    point: Optional[List[float]] = None   # or a fixed ENU point [x, y] (z from the ground)
    distance_m: float = 30.0              # ORBIT radius, FLYBY closest distance, CHASE/LATERAL offset
    altitude_m: float = 30.0              # above the target's ground (altitude_ref=target) or the ground below (agl)
    altitude_ref: str = 'target'          # target | agl
    speed_mps: float = 6.0                # FLYBY/FLYOVER/WAYPOINTS ground speed; ORBIT tangential speed
    heading_deg: float = 0.0              # FLYBY/FLYOVER direction of travel (ENU, 0 = east, CCW)
    side: str = 'right'                   # FLYBY/LATERAL: which side of the path the target is on
    start_angle_deg: float = 270.0        # ORBIT: bearing of the drone from the target at t=0 (ENU angle)
    direction: str = 'ccw'                # ORBIT: ccw | cw
    t_closest_s: Optional[float] = None   # FLYBY/FLYOVER: time of closest approach (default: mid-scenario)
    waypoints: List[List[float]] = field(default_factory=list)  # WAYPOINTS: [x, y] or [x, y, alt]
    yaw: str = 'auto'                     # auto | travel | target: body heading policy
    tilt_gain_deg_per_mps: float = 0.6    # body pitch (nose down) per m/s of forward speed
    tilt_window_s: float = 0.05           # the tilt follows the nominal path's acceleration over +-this (0.05: a
                                          # second difference as fine as the velocity's; an airframe's attitude
                                          # loop takes 0.2-0.3 s, and the nominal path's heading-rate steps give
                                          # tens of degrees for a few hundredths of a second at 0.05)
    wobble_deg: float = 0.4               # smooth attitude disturbance (wind), 1 sigma
    position_wobble_m: float = 0.3        # smooth position disturbance, 1 sigma
    start_on_command: bool = False        # hover at the shot's start point until a START ShotCommand
    command_blend_s: float = 3.0          # a ShotCommand's new path blends in over this long (smoothstep)


@dataclass
class TargetCfg:
    id: int = 0
    cls: str = 'car'                          # person | car | tower | box
    position: Optional[List[float]] = None    # static: [x, y]
    yaw_deg: float = 0.0                      # static heading (ENU)
    path: List[List[float]] = field(default_factory=list)  # moving: waypoints [x, y]
    speeds: List[float] = field(default_factory=list)       # m/s per path segment (one value: constant)
    waits_s: List[float] = field(default_factory=list)      # pause at each waypoint (optional)
    loop: bool = False                        # go back to the first waypoint and repeat
    smooth: bool = True                       # round the corners (Catmull-Rom)
    start_s: float = 0.0                      # offset along the motion (seconds of travel already done)
    max_accel: float = 2.0                    # m/s^2 for speed changes
    size: Optional[List[float]] = None        # override (length, width, height) of the model
    distractor: bool = False                  # a same-class object that is not the shot's target


@dataclass
class OccluderCfg:
    kind: str = 'tree'                        # tree | building
    position: List[float] = field(default_factory=lambda: [0.0, 0.0])
    yaw_deg: float = 0.0
    height: Optional[float] = None
    radius: Optional[float] = None            # tree canopy radius
    size: Optional[List[float]] = None        # building length, width
    roof: str = 'flat'                        # flat | gable


@dataclass
class DistractorCfg:
    cls: str = 'car'
    count: int = 3
    radius_m: float = 60.0        # around the shot target
    moving: float = 0.5           # fraction that move
    speed_mps: List[float] = field(default_factory=lambda: [1.0, 10.0])


@dataclass
class NoiseCfg:
    rate_hz: float = 10.0
    sigma: float = 0.0            # white noise, 1 sigma (m for gps horizontal/agl, deg for attitude)
    sigma_v: float = 0.0          # gps: vertical sigma (m)
    bias: List[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # constant offset (m or deg: roll pitch yaw)
    drift: float = 0.0            # slow random-walk-like wander amplitude (same units as sigma)
    latency_s: float = 0.0
    jitter_s: float = 0.0         # uniform +- jitter of the stamp
    dropout: float = 0.0          # probability a sample is lost


def _noise(**kw):
    return field(default_factory=lambda: NoiseCfg(**kw))


@dataclass
class SensorsCfg:
    gps: NoiseCfg = _noise(rate_hz=5.0, sigma=1.0, sigma_v=2.0, drift=1.0, latency_s=0.1, jitter_s=0.005)
    imu: NoiseCfg = _noise(rate_hz=50.0, sigma=0.3, drift=0.3, latency_s=0.01)
    gimbal: NoiseCfg = _noise(rate_hz=30.0, sigma=0.1, latency_s=0.01)
    agl: NoiseCfg = _noise(rate_hz=10.0, sigma=0.1, latency_s=0.02)
    camera: NoiseCfg = _noise(rate_hz=0.0, latency_s=0.05, jitter_s=0.002)  # rate comes from camera.rate_hz
    magnetic_declination_deg: float = 0.0   # see sensors.py: attitude yaw is published w.r.t. magnetic north


@dataclass
class Scenario:
    name: str = 'scenario'
    description: str = ''
    seed: int = 0
    duration_s: float = 30.0
    origin: Origin = field(default_factory=Origin)
    world: WorldCfg = field(default_factory=WorldCfg)
    camera: CameraCfg = field(default_factory=CameraCfg)
    gimbal: GimbalCfg = field(default_factory=GimbalCfg)
    shot: ShotCfg = field(default_factory=ShotCfg)
    targets: List[TargetCfg] = field(default_factory=list)
    occluders: List[OccluderCfg] = field(default_factory=list)
    distractors: List[DistractorCfg] = field(default_factory=list)
    sensors: SensorsCfg = field(default_factory=SensorsCfg)

    @classmethod
    def from_dict(cls, d: dict) -> 'Scenario':
        sc = _build(cls, d or {}, 'scenario')
        sc.validate()
        return sc

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def target(self, tid: int) -> TargetCfg:
        for t in self.targets:
            if t.id == tid:
                return t
        raise ScenarioError('no target with id %d (ids: %s)' % (tid, [t.id for t in self.targets]))

    def validate(self):
        if self.duration_s <= 0:
            raise ScenarioError('duration_s must be positive')
        if self.shot.type not in SHOT_TYPES:
            raise ScenarioError('shot.type %r is not one of %s' % (self.shot.type, ', '.join(SHOT_TYPES)))
        if self.gimbal.mode not in GIMBAL_MODES:
            raise ScenarioError('gimbal.mode %r is not one of %s' % (self.gimbal.mode, ', '.join(GIMBAL_MODES)))
        if self.world.terrain.type not in ('flat', 'hills'):
            raise ScenarioError('world.terrain.type must be flat or hills, not %r' % self.world.terrain.type)
        if self.camera.rate_hz <= 0:
            raise ScenarioError('camera.rate_hz must be positive')
        if self.shot.tilt_window_s <= 0:
            raise ScenarioError('shot.tilt_window_s must be positive')
        e = self.world.extent_m
        if len(e) != 4 or e[1] <= e[0] or e[3] <= e[2]:
            raise ScenarioError('world.extent_m must be [xmin, xmax, ymin, ymax] with max > min')
        ids = [t.id for t in self.targets]
        if len(set(ids)) != len(ids):
            raise ScenarioError('target ids must be unique, got %s' % ids)
        for t in self.targets:
            if t.cls not in ('person', 'car', 'tower', 'box'):
                raise ScenarioError('target %d: cls %r is not person, car, tower or box' % (t.id, t.cls))
            if t.id <= 0:
                raise ScenarioError('target ids must be positive integers, got %d' % t.id)
            if t.position is None and len(t.path) < 2:
                raise ScenarioError('target %d needs a position [x, y] or a path of at least 2 waypoints' % t.id)
            if t.path and t.speeds and len(t.speeds) not in (1, len(t.path) - 1 + int(t.loop)):
                raise ScenarioError('target %d: speeds needs 1 value or one per path segment' % t.id)
        for o in self.occluders:
            if o.kind not in ('tree', 'building'):
                raise ScenarioError('occluder kind %r is not tree or building' % o.kind)
        s = self.shot
        if s.type in ('ORBIT', 'CHASE', 'LATERAL', 'FLYBY', 'FLYOVER') and s.target is None and s.point is None:
            raise ScenarioError('shot %s needs a target id or a point' % s.type)
        if s.target is not None:
            self.target(s.target)
        if s.type == 'WAYPOINTS' and len(s.waypoints) < 2:
            raise ScenarioError('shot WAYPOINTS needs at least 2 waypoints')
        if s.type in ('ORBIT',) and s.distance_m <= 0:
            raise ScenarioError('ORBIT needs a positive distance_m (the radius)')
        if self.gimbal.mode == 'lock' and self.gimbal.target is None and s.target is None and s.point is None:
            raise ScenarioError('gimbal mode lock needs gimbal.target or a shot target/point')


def _build(cls, d: Any, where: str, base=None):
    """Strict dict -> dataclass (recursing into dataclass and List[dataclass] fields).

    Nested dataclass fields start from the parent's default (e.g. the GPS's own
    rate and noise), so a file only lists what it changes.
    """
    if isinstance(d, cls):
        return d
    if not isinstance(d, dict):
        raise ScenarioError('%s: expected a mapping, got %r' % (where, d))
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(names))
    if unknown:
        raise ScenarioError('%s: unknown key %s (known: %s)' % (where, ', '.join(unknown), ', '.join(names)))
    base = base if base is not None else cls()
    kwargs = {}
    hints = _hints(cls)
    for k, v in d.items():
        sub = hints.get(k)
        if dataclasses.is_dataclass(sub):
            kwargs[k] = _build(sub, v, '%s.%s' % (where, k), getattr(base, k))
        elif isinstance(sub, tuple) and sub[0] == 'list':
            if not isinstance(v, list):
                raise ScenarioError('%s.%s: expected a list' % (where, k))
            kwargs[k] = [_build(sub[1], x, '%s.%s[%d]' % (where, k, i)) for i, x in enumerate(v)]
        else:
            kwargs[k] = v
    try:
        return dataclasses.replace(base, **kwargs)
    except TypeError as exc:
        raise ScenarioError('%s: %s' % (where, exc)) from exc


def _hints(cls):
    out = {}
    for name, ann in {'world': WorldCfg, 'terrain': TerrainCfg, 'camera': CameraCfg, 'gimbal': GimbalCfg,
                      'shot': ShotCfg, 'origin': Origin, 'sensors': SensorsCfg}.items():
        if name in {f.name for f in dataclasses.fields(cls)}:
            out[name] = ann
    if cls is SensorsCfg:
        out.update({k: NoiseCfg for k in ('gps', 'imu', 'gimbal', 'agl', 'camera')})
    if cls is Scenario:
        out.update({'targets': ('list', TargetCfg), 'occluders': ('list', OccluderCfg),
                    'distractors': ('list', DistractorCfg)})
    return out


def load_scenario(path) -> Scenario:
    """Read a scenario YAML file (see sim/*.yaml)."""
    p = Path(path)
    if not p.exists():
        # also look under the repository's sim/ folder for bare names ('orbit_car' or 'orbit_car.yaml')
        repo_sim = Path(__file__).resolve().parents[4] / 'sim'
        for cand in (repo_sim / p.name, repo_sim / (p.name + '.yaml')):
            if cand.exists():
                p = cand
                break
        else:
            raise ScenarioError('scenario file %s not found' % path)
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ScenarioError('cannot parse %s: %s' % (p, str(exc).splitlines()[0])) from exc
    sc = Scenario.from_dict(data or {})
    if sc.name == 'scenario':
        sc.name = p.stem
    return sc


def random_scenario(seed: int, *, classes=('person', 'car', 'tower'), shots=SHOT_TYPES[:5], duration_s: float = 20.0,
                    terrain: Optional[str] = None, camera_rate_hz: float = 5.0, n_distractors=(0, 4),
                    extent_m: float = 300.0, texture_res_m: float = 0.35, gimbal: Optional[str] = None) -> Scenario:
    """A random scene for dataset generation: one main target, distractors, occluders, a random shot.

    Everything is drawn from ``seed``; the same seed gives the same scenario.
    """
    rng = np.random.default_rng(seed)
    weights = np.array([{'person': 0.4, 'car': 0.4, 'tower': 0.2}.get(c, 0.2) for c in classes])
    cls = str(rng.choice(list(classes), p=weights / weights.sum()))
    shot_type = str(rng.choice(list(shots)))
    if cls == 'tower' and shot_type in ('CHASE', 'LATERAL'):
        shot_type = 'FLYBY'
    speed = {'person': (0.8, 2.5), 'car': (4.0, 14.0), 'tower': (0.0, 0.0), 'box': (0.0, 0.0)}[cls]
    moving = cls in ('person', 'car') and (shot_type in ('CHASE', 'LATERAL') or rng.random() < 0.6)
    tgt = TargetCfg(id=1, cls=cls)
    if moving:
        pts = [[0.0, 0.0]]
        heading = rng.uniform(0, 2 * math.pi)
        v = rng.uniform(*speed)
        reach = v * duration_s * 1.3 + 20
        n = int(rng.integers(2, 5))
        for _ in range(n):
            heading += rng.uniform(-1.2, 1.2)
            step = reach / n
            pts.append([pts[-1][0] + step * math.cos(heading), pts[-1][1] + step * math.sin(heading)])
        c = np.mean(pts, axis=0)
        tgt.path = [[round(p[0] - c[0], 2), round(p[1] - c[1], 2)] for p in pts]
        tgt.speeds = [round(float(rng.uniform(*speed)), 2) for _ in range(n)]
    else:
        tgt.position = [float(rng.uniform(-20, 20)), float(rng.uniform(-20, 20))]
        tgt.yaw_deg = float(rng.uniform(0, 360))
    scale = {'person': 1.0, 'car': 1.6, 'tower': 3.0, 'box': 1.5}[cls]
    alt = float(rng.uniform(12, 35) * (1.0 if cls != 'tower' else 1.3))
    dist = float(rng.uniform(10, 40) * scale)
    shot = ShotCfg(type=shot_type, target=1, distance_m=dist, altitude_m=alt,
                   speed_mps=float(rng.uniform(3, 9)), heading_deg=float(rng.uniform(0, 360)),
                   start_angle_deg=float(rng.uniform(0, 360)), direction=str(rng.choice(['ccw', 'cw'])),
                   side=str(rng.choice(['left', 'right'])))
    if shot_type == 'CHASE':
        shot.distance_m = float(rng.uniform(15, 40) * scale)
    gmode = gimbal or str(rng.choice(['lock', 'lock', 'fixed']))
    # a fixed gimbal looks about at the target (the body faces it), give or take 12 degrees
    look = math.degrees(math.atan2(alt, max(dist, 1.0)))
    g = GimbalCfg(mode=gmode, pitch_deg=float(np.clip(look + rng.uniform(-12, 12), 5, 80)))
    if gmode == 'fixed':
        shot.yaw = 'target'
    ter = terrain or str(rng.choice(['flat', 'flat', 'hills']))
    w = WorldCfg(extent_m=[-extent_m, extent_m, -extent_m, extent_m], texture_res_m=texture_res_m,
                 terrain=TerrainCfg(type=ter, amplitude_m=float(rng.uniform(8, 25))),
                 roads=int(rng.integers(1, 4)), tracks=int(rng.integers(1, 5)),
                 footprints=int(rng.integers(5, 40)), trees=int(rng.integers(10, 80)),
                 buildings=int(rng.integers(0, 8)), forest_patches=int(rng.integers(0, 4)),
                 sun_azimuth_deg=float(rng.uniform(0, 360)), sun_elevation_deg=float(rng.uniform(25, 70)),
                 visibility_m=float(rng.uniform(1200, 4000)))
    d = []
    nd = int(rng.integers(n_distractors[0], n_distractors[1] + 1))
    if nd:
        d.append(DistractorCfg(cls=cls if cls != 'tower' else 'car', count=nd, radius_m=40 * scale))
    if rng.random() < 0.5:
        other = 'person' if cls != 'person' else 'car'
        d.append(DistractorCfg(cls=other, count=int(rng.integers(1, 4)), radius_m=40 * scale))
    occ = []  # a few trees beside the target's way, for occlusions
    way = np.asarray(tgt.path if tgt.path else [tgt.position], float)
    for _ in range(int(rng.integers(0, 5))):
        p = way[int(rng.integers(len(way)))]
        a = rng.uniform(0, 2 * math.pi)
        r = rng.uniform(4.0, 12.0) * (2.0 if cls == 'tower' else 1.0)
        occ.append(OccluderCfg(kind='tree', position=[float(p[0] + r * math.cos(a)), float(p[1] + r * math.sin(a))]))
    return Scenario(name='random_%d' % seed, seed=int(seed), duration_s=duration_s, world=w,
                    camera=CameraCfg(rate_hz=camera_rate_hz), gimbal=g, shot=shot, targets=[tgt], distractors=d,
                    occluders=occ)
