"""Evaluate target geopositioning on simulated flights (issue 6).

For every frame of a scenario and every target whose true box is in the image,
the true telemetry is corrupted by a noise model, the box is geopositioned
(core.geoposition) and filtered per target (TargetFilter), and compared with the
target's true position. Out come:

- ``<out>/geo_<scenario>_angular.png``: angular (bearing) error against true
  distance (the seed's figure 16), raw and filtered;
- ``<out>/geo_<scenario>_distance.png``: signed distance error against true
  distance (figure 17) with the predicted 2-sigma band;
- ``<out>/geo_<scenario>_map.png``: estimates against truth on the map (figure 18);
- ``<out>/geo_hilly_terrain.png`` (scenarios with terrain): flat earth against
  the terrain model;
- ``<out>/geo_eval.md``: per range bin (< 60, 60-100, 100-150, 150-200 m) the
  median and 95th-percentile horizontal error, the share of truths inside the
  95 % ellipse, the mean signed range error, raw and filtered, flat and terrain,
  and the seed's own 2-D formula as the baseline.

Noise (per frame, shared by all targets seen in it; the estimator is told these
sigmas): GPS 1.5 m per horizontal axis as a first-order Gauss-Markov process
(correlation time ``--gps-tau``; 0 = white), attitude and gimbal 0.5 deg per
angle (white, plus an optional per-run bias), AGL 0.3 m, box edges as given.

Sources: the embedded simulator (``uavcine.sim``) for scenario YAML files, or
``fixture:seed`` / ``fixture:hilly``, pure-geometry flights of the same set-up
(no rendering) for fast tests.

Longer than ~600 lines on purpose: one report (docs/geo_eval.md) from one command: the noise models,
the flights, the range-bin tables and the four figures belong together, and a reader checks a number
of the report against the code that made it in one file.

    python -m uavcine.eval.geo_eval sim/flight_test_towers.yaml sim/hilly.yaml --out docs
    uavcine eval-geo sim/flight_test_towers.yaml sim/hilly.yaml --out docs

Offline tool (Python 3.10+).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import math
import pickle
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from tqdm import tqdm

from uavcine.core.camera import PinholeCamera, camera_rotation, world_to_camera
from uavcine.core.geoposition import (FLAG_TRUNCATED, Box, GeoConfig, Geopositioner, Telemetry, compass_bearing,
                                      seed_flat_earth_point, wrap_pi)
from uavcine.core.kalman import KalmanConfig
from uavcine.core.target_filter import TargetFilter
from uavcine.core.telemetry_buffer import TelemetryBuffer
from uavcine.core.terrain import FlatGround, HeightMap
from uavcine.eval.metrics import inside_ellipse
from uavcine.nodes.base import ParamError as UsageError  # the uavcine command prints it as one line
from uavcine.nodes.geo import GeoNode

RANGE_BINS = ((0.0, 60.0, '< 60 m'), (60.0, 100.0, '60-100 m'), (100.0, 150.0, '100-150 m'),
              (150.0, 200.0, '150-200 m'))


# ---------------------------------------------------------------------------- inputs
@dataclass
class Sample:
    """One target seen in one frame: its true box and position, and the true telemetry."""

    t: float                 # s since the start
    target_id: int
    cls: str
    box: tuple               # (x, y, w, h), px, clipped to the image
    truth_enu: np.ndarray    # (3,) footprint centre on the ground
    tel: Telemetry           # true telemetry (vehicle ENU, body rpy with true yaw, gimbal rpy, AGL)


@dataclass
class Flight:
    name: str
    camera: PinholeCamera
    ground: object                       # FlatGround | HeightMap (the truth)
    samples: list                        # [Sample], in time order
    track: np.ndarray                    # (N, 3) vehicle ENU over time (for the map)
    targets: dict                        # id -> (cls, truth ENU at the start)
    notes: str = ''
    sensor_logs: dict | None = None      # noise seed -> the simulator's sensor streams (sim_flight only)


@dataclass
class NoiseModel:
    gps_sigma_m: float = 1.5         # per horizontal axis
    gps_tau_s: float = 60.0          # Gauss-Markov correlation time (0 = white)
    att_sigma_deg: float = 0.5       # white, per angle per frame
    gimbal_sigma_deg: float = 0.5
    att_bias_deg: float = 0.0        # per-run constant bias sigma, per angle (body and gimbal)
    agl_sigma_m: float = 0.3
    pixel_sigma: float = 0.0         # box edge noise (truth boxes: 0)

    def describe(self) -> str:
        gps = ('white' if self.gps_tau_s <= 0 else 'Gauss-Markov, tau %g s' % self.gps_tau_s)
        s = ('GPS %.2g m per axis (%s); attitude %.2g deg and gimbal %.2g deg per angle, white'
             % (self.gps_sigma_m, gps, self.att_sigma_deg, self.gimbal_sigma_deg))
        if self.att_bias_deg > 0:
            s += ', plus a per-run bias of %.2g deg' % self.att_bias_deg
        return s + '; AGL %.2g m; box edges %.2g px' % (self.agl_sigma_m, self.pixel_sigma)


class NoisyTelemetry:
    """Applies a NoiseModel to true telemetry, one draw per frame time (shared by all targets of a frame)."""

    def __init__(self, model: NoiseModel, seed: int):
        self.m = model
        self.rng = np.random.default_rng(seed)
        self.t_last = None
        self.gps_bias = self.rng.normal(0.0, model.gps_sigma_m, 2)
        self.att_bias = np.radians(self.rng.normal(0.0, model.att_bias_deg, 3)) if model.att_bias_deg else np.zeros(3)
        self.gim_bias = np.radians(self.rng.normal(0.0, model.att_bias_deg, 3)) if model.att_bias_deg else np.zeros(3)
        self.cache = {}

    def frame(self, t: float):
        """The noise of the frame at time t: (gps (2,), d_rpy, d_gimbal, d_agl, pixel (4,))."""
        if t in self.cache:
            return self.cache[t]
        m = self.m
        if m.gps_tau_s > 0:
            if self.t_last is not None:
                phi = math.exp(-max(t - self.t_last, 0.0) / m.gps_tau_s)
                self.gps_bias = phi * self.gps_bias + math.sqrt(1 - phi ** 2) * self.rng.normal(0, m.gps_sigma_m, 2)
            gps = self.gps_bias.copy()
        else:
            gps = self.rng.normal(0.0, m.gps_sigma_m, 2)
        self.t_last = t
        d = (gps, self.att_bias + np.radians(self.rng.normal(0, m.att_sigma_deg, 3)),
             self.gim_bias + np.radians(self.rng.normal(0, m.gimbal_sigma_deg, 3)),
             float(self.rng.normal(0, m.agl_sigma_m)))
        self.cache = {t: d}
        return d

    def apply(self, s: Sample):
        gps, da, dg, dh = self.frame(s.t)
        tel = s.tel
        v = np.asarray(tel.vehicle_enu, float) + np.r_[gps, 0.0]
        return Telemetry(v, np.asarray(tel.body_rpy) + da, np.asarray(tel.gimbal_rpy) + dg,
                         None if tel.agl_m is None else tel.agl_m + dh)


# ---------------------------------------------------------------------------- sources
def tower_hull(base: float = 6.0, height: float = 30.0, top: float = 2.0, arm: float = 12.0) -> np.ndarray:
    """Vertices bounding a lattice tower (base square, narrow top, cross-arms), object frame."""
    b, t = base / 2, top / 2
    pts = [[sx * b, sy * b, 0.0] for sx in (-1, 1) for sy in (-1, 1)]
    pts += [[sx * t, sy * t, height] for sx in (-1, 1) for sy in (-1, 1)]
    pts += [[0.0, sy * arm / 2, 0.8 * height] for sy in (-1, 1)]
    return np.array(pts)


def true_box(cam: PinholeCamera, hull_world: np.ndarray, veh, rpy, grpy):
    """The clipped image box of a hull, or None when it is behind the camera or out of the image."""
    pc = world_to_camera(hull_world, veh, camera_rotation(rpy, grpy))
    if np.any(pc[:, 2] <= 0.5):
        return None
    uv = cam.project(pc)
    x0, y0 = np.clip(uv.min(0), 0, [cam.width, cam.height])
    x1, y1 = np.clip(uv.max(0), 0, [cam.width, cam.height])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return (float(x0), float(y0), float(x1 - x0), float(y1 - y0))


def fixture_flight(kind: str = 'seed', rate_hz: float = 10.0) -> Flight:
    """The seed's flight test in pure geometry: 30 m AGL, 6 m/s, 30 m beside 4 towers, camera 15 deg down.

    ``hilly``: the same pass over a heightmap (a slope and two hills), flying at
    30 m above the ground below the drone.
    """
    cam = PinholeCamera.from_dfov(640, 480, 92.0)
    towers = {k + 1: np.array([30.0, 150.0 + 120.0 * k]) for k in range(4)}
    if kind == 'seed':
        ground = FlatGround(0.0)
    elif kind == 'hilly':
        xs, ys = np.arange(-300, 301, 4.0), np.arange(-300, 1001, 4.0)
        X, Y = np.meshgrid(xs, ys)
        H = 0.06 * Y + 12 * np.exp(-((X - 40) ** 2 + (Y - 380) ** 2) / (2 * 60.0 ** 2)) \
            - 8 * np.exp(-((X - 20) ** 2 + (Y - 560) ** 2) / (2 * 50.0 ** 2))
        ground = HeightMap(float(xs[0]), float(ys[0]), 4.0, H - 0.0)
    else:
        raise ValueError('unknown fixture %r (seed, hilly)' % kind)
    hull = tower_hull()
    samples, track = [], []
    speed, duration = 6.0, 90.0
    for k in range(int(duration * rate_hz)):
        t = k / rate_hz
        y = speed * t
        gz = float(ground.height_at(0.0, y))
        veh = np.array([0.0, y, gz + 30.0])
        rpy = np.array([0.0, math.radians(3.6), math.pi / 2])  # nose down for 6 m/s, facing north
        grpy = np.array([0.0, math.radians(15.0) - rpy[1], 0.0])  # gimbal holds 15 deg below the horizon
        track.append(veh)
        for tid, xy in towers.items():
            foot = np.array([xy[0], xy[1], float(ground.height_at(*xy))])
            box = true_box(cam, hull + foot, veh, rpy, grpy)
            if box is None:
                continue
            samples.append(Sample(t, tid, 'tower', box, foot, Telemetry(veh, rpy, grpy, 30.0)))
    targets = {tid: ('tower', np.array([xy[0], xy[1], float(ground.height_at(*xy))])) for tid, xy in towers.items()}
    return Flight('fixture_' + kind, cam, ground, samples, np.array(track), targets,
                  notes='pure-geometry fixture (no rendering)')


def sim_flight(path: str, max_frames: int | None = None, min_visibility: float = 0.5, sensor_seeds: int = 1) -> Flight:
    """A scenario YAML through the embedded simulator: true boxes, true telemetry, true ground.

    Frames are rendered (the truth's visibility needs the image); targets less than
    ``min_visibility`` visible (occluded by trees, buildings or a hill) are left out, as
    a tracker would lose them. The extraction is cached under data/geo_eval/.
    """
    from uavcine.sim import Simulator, load_scenario  # offline simulator
    sc = load_scenario(path)
    key = hashlib.sha1(Path(path).read_bytes() + repr((max_frames, min_visibility, sensor_seeds, 3)).encode()
                       ).hexdigest()[:12]
    cache = Path('data/geo_eval') / ('%s_%s.pkl' % (Path(path).stem, key))
    if cache.exists():
        with open(cache, 'rb') as f:
            return pickle.load(f)
    sim = Simulator(sc)
    samples, track = [], []
    stop = sim.n_frames if max_frames is None else min(max_frames, sim.n_frames)
    try:
        frames = tqdm(sim.frames(0, stop), total=stop, desc='render %s' % Path(path).stem, leave=False,
                      disable=not sys.stderr.isatty())
    except ImportError:  # pragma: no cover
        frames = sim.frames(0, stop)
    for fr in frames:
        st = fr.state
        track.append(np.asarray(st.pos, float))
        tel = Telemetry(np.asarray(st.pos, float), np.asarray(st.body_rpy, float), np.asarray(st.gimbal_rpy, float),
                        float(st.agl))
        for tt in fr.truth:
            if tt.bbox_xywh is None or tt.distractor or tt.visibility < min_visibility:
                continue
            samples.append(Sample(fr.t, tt.id, tt.cls, tuple(tt.bbox_xywh), np.asarray(tt.enu, float), tel))
    targets = {o.id: (o.cls, sim.world.pose(o, 0.0)[0]) for o in sim.world.targets if not o.distractor}
    flight = Flight(sc.name, sim.camera, sim.world.ground, samples, np.array(track), targets,
                    notes='embedded simulator, %d frames at %g Hz; targets at least %d %% visible'
                          % (stop, sim.rate_hz, 100 * min_visibility))
    # the simulator's sensor streams under several noise seeds (no re-rendering: sensors are independent)
    from uavcine.sim.sensors import SensorSuite
    flight.sensor_logs = {}
    for seed in range(sensor_seeds):
        sim.sensors = SensorSuite(sim, sc.sensors, sim.seed + seed)
        flight.sensor_logs[seed] = sensor_log(sim, stop / sim.rate_hz)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache, 'wb') as f:
        pickle.dump(flight, f)
    return flight


def sensor_log(sim, duration_s: float) -> dict:
    """Every sample the simulated sensors deliver: name -> [(t_stamp, t_delivery, value)], plus their set-up."""
    log = {}
    for name in ('gps', 'imu', 'gimbal', 'agl'):
        rate = sim.sensors.rate(name)
        rows = []
        for k in range(int(duration_s * rate) + 2):
            smp = sim.sensors.sample(name, k)
            if smp.dropped:
                continue
            v = smp.value
            val = {'gps': lambda: np.asarray(v['enu'], float), 'imu': lambda: np.asarray(v['rpy'], float),
                   'gimbal': lambda: np.asarray(v['rpy'], float), 'agl': lambda: float(v['range'])}[name]()
            rows.append((smp.t_stamp, smp.t_delivery, val))
        log[name] = rows
    cfg = sim.scenario.sensors
    log['config'] = {n: (getattr(cfg, n).sigma, getattr(cfg, n).drift) for n in ('gps', 'imu', 'gimbal', 'agl')}
    log['declination_deg'] = float(cfg.magnetic_declination_deg)
    log['camera_latency_s'] = float(cfg.camera.latency_s)
    return log


class SimTelemetry:
    """The simulator's own sensor streams, paired with each frame as the geo node pairs them.

    At an image's stamp t only samples delivered by t + camera latency exist; the fix
    is a line fitted to the fixes around t, attitude and gimbal angles interpolated, the AGL
    the sample nearest t (core.telemetry_buffer, the geo node's own pairing code).
    """

    def __init__(self, log: dict):
        self.log = log
        self.latency = log['camera_latency_s']
        self.cache = {}

    def _buffer(self, name: str, t: float):
        b = TelemetryBuffer(maxlen=50)
        for ts, td, v in self.log[name]:
            if td <= t + self.latency and ts >= t - 2.0:
                b.add(int(round(ts * 1e9)), v)
        return b

    def apply(self, s: Sample) -> Telemetry:
        if s.t not in self.cache:
            t_ns = int(round(s.t * 1e9))
            bufs = {n: self._buffer(n, s.t) for n in ('gps', 'imu', 'gimbal', 'agl')}
            if any(not b.items for b in bufs.values()):
                self.cache = {s.t: None}
            else:
                enu = bufs['gps'].fit(t_ns, int(GeoNode.Params.fix_fit_window_s * 1e9))[1]
                ang = {n: bufs[n].interpolate(t_ns, extrapolate=False, angles=True)[1] for n in ('imu', 'gimbal')}
                self.cache = {s.t: Telemetry(enu, ang['imu'], ang['gimbal'], bufs['agl'].nearest(t_ns)[1])}
        return self.cache[s.t]


def load_flight(source: str, max_frames: int | None = None, sensor_seeds: int = 1) -> Flight:
    if source.startswith('fixture:'):
        try:
            return fixture_flight(source.split(':', 1)[1])
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    if not Path(source).exists():
        raise FileNotFoundError('scenario %s does not exist' % source)
    from uavcine.sim import ScenarioError  # lazy: start-up time: importing it loads cv2, the renderer
    try:
        return sim_flight(source, max_frames, sensor_seeds=sensor_seeds)
    except ScenarioError as exc:
        raise UsageError('scenario %s: %s' % (source, exc)) from exc


# ---------------------------------------------------------------------------- the evaluation
@dataclass
class Record:
    """One estimate of one variant for one sample (NaN where there is none)."""

    t: float
    target_id: int
    true_dist: float
    ok: bool
    est: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))
    cov_xy: np.ndarray = field(default_factory=lambda: np.full((2, 2), np.nan))
    range_sigma: float = math.nan
    ang_err_deg: float = math.nan
    dist_err: float = math.nan       # estimated - true horizontal distance from the true drone position
    h_err: float = math.nan
    inside95: bool = False
    truncated: bool = False
    err_xy: np.ndarray = field(default_factory=lambda: np.full(2, np.nan))  # estimate - truth, ENU m
    # the drone's own horizontal position error in this frame (reported - true, ENU m): every estimate is placed
    # relative to the reported position, so this offset passes into it one to one
    gps_err_xy: np.ndarray = field(default_factory=lambda: np.full(2, np.nan))


def _record(s: Sample, ok: bool, est=None, cov_xy=None, range_sigma=math.nan, truncated=False,
            gps_err_xy=None) -> Record:
    v = np.asarray(s.tel.vehicle_enu, float)
    d_true = s.truth_enu[:2] - v[:2]
    true_dist = float(np.hypot(*d_true))
    gps = np.full(2, np.nan) if gps_err_xy is None else np.asarray(gps_err_xy, float)[:2]
    if not ok:
        return Record(s.t, s.target_id, true_dist, False, truncated=truncated, gps_err_xy=gps)
    d_est = est[:2] - v[:2]
    ang = math.degrees(float(wrap_pi(compass_bearing(*d_est) - compass_bearing(*d_true))))
    err = est[:2] - s.truth_enu[:2]
    inside = bool(inside_ellipse(err, cov_xy)[0]) if cov_xy is not None else False
    if cov_xy is None:
        cov_xy = np.full((2, 2), np.nan)
    return Record(s.t, s.target_id, true_dist, True, np.asarray(est, float), cov_xy, range_sigma, ang,
                  float(np.hypot(*d_est) - true_dist), float(np.hypot(*err)), inside, truncated, err, gps)


def geo_config(noise: NoiseModel, **kw) -> GeoConfig:
    return GeoConfig(sigma_gps_h_m=noise.gps_sigma_m, sigma_agl_m=noise.agl_sigma_m,
                     sigma_attitude_deg=math.hypot(noise.att_sigma_deg, noise.att_bias_deg),
                     sigma_gimbal_deg=math.hypot(noise.gimbal_sigma_deg, noise.att_bias_deg),
                     sigma_pixel=math.hypot(noise.pixel_sigma, GeoConfig.sigma_pixel), **kw)  # + the node's 2 px:
    # even a true box's bottom centre is not exactly the foot (perspective, cross-arms, footprint)


def sim_geo_config(log: dict) -> tuple:
    """(GeoConfig, correlated fractions) matching the simulator's sensor set-up: sigma = hypot(white, drift)."""
    c = log['config']
    tot = {n: math.hypot(*c[n]) for n in c}
    frac = {n: (c[n][1] ** 2 / tot[n] ** 2 if tot[n] > 0 else 0.0) for n in c}
    cfg = GeoConfig(sigma_gps_h_m=tot['gps'], sigma_agl_m=max(tot['agl'], 0.05),
                    sigma_attitude_deg=tot['imu'], sigma_gimbal_deg=tot['gimbal'], sigma_pixel=GeoConfig.sigma_pixel,
                    heading_is_magnetic=log['declination_deg'] != 0.0, declination_deg=log['declination_deg'])
    correlated = {'gps': frac['gps'], 'attitude': frac['imu'], 'gimbal': frac['gimbal'], 'altitude': frac['agl'],
                  'box_shape': 1.0, 'class_height': 1.0, 'class_depth': 1.0}
    return cfg, {k: v for k, v in correlated.items() if v > 0}


def evaluate(flight: Flight, noise: NoiseModel, seed: int, accel_sigma: float = 0.5,
             terrain: bool | None = None, telemetry: str = 'model') -> dict:
    """Records per variant: 'seed' (the seed's 2-D formula), 'raw' and 'filtered' (flat earth), and with a
    terrain model 'raw_terrain' and 'filtered_terrain'.

    telemetry 'model': the NoiseModel on the true telemetry; 'sim': the simulator's own sensor
    streams (latency, drift, magnetic yaw) under noise seed ``seed``.
    """
    use_terrain = isinstance(flight.ground, HeightMap) if terrain is None else terrain
    if telemetry == 'sim':
        if not flight.sensor_logs or seed not in flight.sensor_logs:
            raise ValueError('--telemetry sim needs a simulator scenario (not a fixture)')
        log = flight.sensor_logs[seed]
        cfg, correlated = sim_geo_config(log)
        noisy = SimTelemetry(log)
    else:
        cfg = geo_config(noise)
        correlated = {'gps': 1.0 if noise.gps_tau_s > 0 else 0.0, 'box_shape': 1.0, 'class_height': 1.0,
                      'class_depth': 1.0}
        if noise.att_bias_deg > 0:
            for src, white in (('attitude', noise.att_sigma_deg), ('gimbal', noise.gimbal_sigma_deg)):
                correlated[src] = noise.att_bias_deg ** 2 / (noise.att_bias_deg ** 2 + white ** 2)
        noisy = NoisyTelemetry(noise, seed)
    estimators = {'': Geopositioner(flight.camera, cfg)}
    if use_terrain:
        estimators['_terrain'] = Geopositioner(flight.camera, cfg, flight.ground)
    kcfg = KalmanConfig(accel_sigma=accel_sigma)
    filters = {}
    out = {'seed': []}
    for suffix in estimators:
        out['raw' + suffix] = []
        out['filtered' + suffix] = []
    prng = np.random.default_rng([seed, 7])
    for s in flight.samples:
        tel = noisy.apply(s)
        if tel is None:
            continue
        gps_off = np.asarray(tel.vehicle_enu, float)[:2] - np.asarray(s.tel.vehicle_enu, float)[:2]
        x, y, w, h = s.box
        if noise.pixel_sigma > 0:
            x, y = x + prng.normal(0, noise.pixel_sigma), y + prng.normal(0, noise.pixel_sigma)
        box = Box(x, y, w, h, s.cls)
        # the seed: d = h / tan(theta + alpha) along heading + beta, no roll, flat earth, bottom edge as is
        theta = tel.body_rpy[1] + tel.gimbal_rpy[1]
        yaw = tel.body_rpy[2] + tel.gimbal_rpy[2] - (math.radians(cfg.declination_deg) if cfg.heading_is_magnetic
                                                     else 0.0)
        p = seed_flat_earth_point(flight.camera, x + w / 2, y + h, tel.vehicle_enu, tel.agl_m, theta, yaw)
        out['seed'].append(_record(s, p is not None, p, None, gps_err_xy=gps_off))
        for suffix, g in estimators.items():
            e = g.estimate(box, tel)
            trunc = bool(e.flags & FLAG_TRUNCATED)
            if not e.ok:
                out['raw' + suffix].append(_record(s, False, truncated=trunc, gps_err_xy=gps_off))
                out['filtered' + suffix].append(_record(s, False, truncated=trunc, gps_err_xy=gps_off))
                continue
            out['raw' + suffix].append(_record(s, True, e.point_enu, e.cov_xy, e.range_sigma_m, trunc, gps_off))
            key = (suffix, s.target_id)
            if key not in filters:
                filters[key] = TargetFilter(kcfg, correlated, g.terrain_height)
            f = filters[key].update(s.t, e)
            out['filtered' + suffix].append(_record(s, True, f.position_enu, f.cov_xy, f.range_sigma_m, trunc,
                                                    gps_off))
    return out


def bin_stats(records: list, lo: float, hi: float) -> dict:
    rs = [r for r in records if lo <= r.true_dist < hi]
    ok = [r for r in rs if r.ok]
    if not ok:
        return {'n': len(rs), 'n_ok': 0}
    h = np.array([r.h_err for r in ok])
    gps = np.array([r.gps_err_xy for r in ok])
    rel = np.hypot(*(np.array([r.err_xy for r in ok]) - gps).T)  # error relative to the reported drone position
    cov_known = [r for r in ok if np.all(np.isfinite(r.cov_xy))]
    return {'n': len(rs), 'n_ok': len(ok), 'median': float(np.median(h)), 'p95': float(np.percentile(h, 95)),
            'coverage': float(np.mean([r.inside95 for r in cov_known])) if cov_known else math.nan,
            'bias': float(np.mean([r.dist_err for r in ok])),
            'ang_median': float(np.median(np.abs([r.ang_err_deg for r in ok]))),
            'truncated': sum(r.truncated for r in rs),
            'gps_median': float(np.median(np.hypot(*gps.T))), 'rel_median': float(np.median(rel))}


# ---------------------------------------------------------------------------- figures
def _plt():
    import matplotlib  # lazy: matplotlib: start-up time, only for the figures
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: matplotlib: start-up time, only for the figures
    return plt


def _binned_median(x, y, edges):
    c, m = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (x >= lo) & (x < hi)
        if sel.sum() >= 3:
            c.append(0.5 * (lo + hi))
            m.append(np.median(y[sel]))
    return np.array(c), np.array(m)


def plot_errors(runs: list, name: str, out: Path, title: str) -> list:
    """Figures 16 and 17 of the seed: angular and distance error against true distance (first run's points)."""
    plt = _plt()
    files = []
    rec = runs[0]
    edges = np.arange(0, 260, 10.0)
    for what, ylabel, fname in (('ang', 'angular error (deg)', 'angular'), ('dist', 'distance error (m)', 'distance')):
        fig, ax = plt.subplots(figsize=(7.5, 4.5))
        for variant, colour, label in (('seed', '#bbbbbb', "seed's formula"), ('raw', '#e0a040', 'raw (ours)'),
                                       ('filtered', '#1f5fbf', 'filtered (ours)')):
            ok = [r for r in rec[variant] if r.ok]
            if not ok:
                continue
            x = np.array([r.true_dist for r in ok])
            y = np.array([r.ang_err_deg if what == 'ang' else r.dist_err for r in ok])
            ax.scatter(x, y, s=3, c=colour, alpha=0.35, lw=0)
            allx = np.concatenate([[r.true_dist for r in run[variant] if r.ok] for run in runs])
            ally = np.concatenate([[(r.ang_err_deg if what == 'ang' else r.dist_err) for r in run[variant] if r.ok]
                                   for run in runs])
            c, m = _binned_median(allx, ally, edges)
            ax.plot(c, m, '-', c=colour, lw=2, label=label + ' (median, %d runs)' % len(runs))
        if what == 'dist':
            ok = [r for r in rec['raw'] if r.ok and np.isfinite(r.range_sigma)]
            x = np.array([r.true_dist for r in ok])
            s = np.array([r.range_sigma for r in ok])
            c, m = _binned_median(x, s, edges)
            ax.fill_between(c, -2 * m, 2 * m, color='#e0a040', alpha=0.15, label='raw: predicted +-2 sigma (range)')
        ax.axhline(0, c='k', lw=0.5)
        ax.set_xlabel('true horizontal distance drone -> target (m)')
        ax.set_ylabel(ylabel)
        ax.set_xlim(0, 250)
        lim = np.nanpercentile(np.abs([r.ang_err_deg if what == 'ang' else r.dist_err
                                       for r in rec['raw'] if r.ok and r.true_dist < 200] or [1.0]), 95)
        ax.set_ylim(-1.6 * lim, 1.6 * lim)
        ax.set_title('%s: %s' % (title, 'figure 16, angular error' if what == 'ang' else 'figure 17, distance error'))
        ax.legend(loc='upper left', fontsize=8)
        ax.grid(alpha=0.3)
        f = out / ('geo_%s_%s.png' % (name, fname))
        fig.tight_layout()
        fig.savefig(f, dpi=110)
        plt.close(fig)
        files.append(f)
    return files


def plot_map(flight: Flight, rec: dict, name: str, out: Path, title: str, suffix: str = '') -> Path:
    """Figure 18: the map (filtered estimates, truth as pins) and the errors around the truth, raw and filtered."""
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.2), gridspec_kw={'width_ratios': [1.4, 1, 1]})
    colours = (('#2ca02c', 0, 60), ('#bcbd22', 60, 100), ('#ff7f0e', 100, 150), ('#d62728', 150, 200),
               ('#7f0000', 200, 1e9))
    ax = axes[0]
    ax.plot(flight.track[:, 0], flight.track[:, 1], '-', c='#555555', lw=1, label='drone track')
    for col, lo, hi in colours:
        pts = np.array([r.est[:2] for r in rec['filtered' + suffix] if r.ok and lo <= r.true_dist < hi]).reshape(-1, 2)
        ax.scatter(pts[:, 0], pts[:, 1], s=4, c=col, alpha=0.6, lw=0,
                   label=('%d-%d m' % (lo, hi)) if hi < 1e9 else '> %d m' % lo)
    for tid, (cls, p) in flight.targets.items():
        ax.plot(p[0], p[1], 'kv', ms=8)
        ax.annotate('%s %d' % (cls, tid), p[:2], xytext=(6, 4), textcoords='offset points', fontsize=8)
    ax.set_aspect('equal', adjustable='datalim')
    ax.set_title('filtered estimates on the map (pins: truth at t = 0)')
    ax.set_xlabel('east (m)')
    ax.set_ylabel('north (m)')
    ax.legend(loc='best', fontsize=7, markerscale=3)
    ax.grid(alpha=0.3)
    lim = 1.0
    for ax, variant in zip(axes[1:], ('raw' + suffix, 'filtered' + suffix)):
        for col, lo, hi in colours[:-1]:  # the table's range bins (< 200 m)
            err = np.array([r.est[:2] - _truth_at(flight, r) for r in rec[variant]
                            if r.ok and lo <= r.true_dist < hi]).reshape(-1, 2)
            ax.scatter(err[:, 0], err[:, 1], s=4, c=col, alpha=0.5, lw=0)
            if len(err) and variant.startswith('raw'):
                lim = max(lim, float(np.percentile(np.abs(err), 95)) * 1.2)
        ax.axhline(0, c='k', lw=0.5)
        ax.axvline(0, c='k', lw=0.5)
        ax.set_title('%s: estimate - truth, < 200 m' % variant.replace('_', ' '))
        ax.set_xlabel('east error (m)')
        ax.set_aspect('equal')
        ax.grid(alpha=0.3)
    for ax in axes[1:]:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    axes[1].set_ylabel('north error (m)')
    fig.suptitle('%s: figure 18, estimates vs truth, coloured by true distance' % title)
    fig.tight_layout()
    f = out / ('geo_%s_map%s.png' % (name, suffix))
    fig.savefig(f, dpi=100)
    plt.close(fig)
    return f


def _truth_at(flight: Flight, r: Record) -> np.ndarray:
    return r.est[:2] - r.err_xy


def plot_terrain(runs: list, name: str, out: Path, title: str) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    edges = np.arange(0, 260, 10.0)
    for variant, colour, label in (('filtered', '#d62728', 'flat earth (filtered)'),
                                   ('filtered_terrain', '#1f5fbf', 'terrain model (filtered)'),
                                   ('raw', '#ff9f9f', 'flat earth (raw)'), ('raw_terrain', '#9fbfff', 'terrain (raw)')):
        x = np.concatenate([[r.true_dist for r in run[variant] if r.ok] for run in runs])
        y = np.concatenate([[r.dist_err for r in run[variant] if r.ok] for run in runs])
        if variant.startswith('raw'):
            ax.scatter(x, y, s=2, c=colour, alpha=0.3, lw=0)
        else:
            c, m = _binned_median(x, y, edges)
            ax.plot(c, m, '-', c=colour, lw=2, label=label + ', median')
    ax.axhline(0, c='k', lw=0.5)
    ax.set_xlim(0, 250)
    ax.set_xlabel('true horizontal distance drone -> target (m)')
    ax.set_ylabel('distance error (m)')
    ax.set_title('%s: flat-earth bias vs terrain model' % title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    f = out / ('geo_%s_terrain.png' % name)
    fig.savefig(f, dpi=110)
    plt.close(fig)
    return f


# ---------------------------------------------------------------------------- report
def pooled(runs: list, variant: str) -> list:
    return [r for run in runs for r in run[variant]]


def table(runs: list, variants: Iterable[str]) -> str:
    lines = ['| variant | range | n (ok) | median (m) | p95 (m) | in 95% ellipse | mean range error (m) | '
             'median bearing error (deg) | truncated | drone GPS error, median (m) | median relative to the drone (m) |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for v in variants:
        recs = pooled(runs, v)
        for lo, hi, label in RANGE_BINS:
            s = bin_stats(recs, lo, hi)
            if s['n_ok'] == 0:
                lines.append('| %s | %s | %d (0) | - | - | - | - | - | - | - | - |' % (v, label, s['n']))
                continue
            cov = '-' if not math.isfinite(s['coverage']) else '%.1f %%' % (100 * s['coverage'])
            lines.append('| %s | %s | %d (%d) | %.2f | %.2f | %s | %+.2f | %.2f | %d | %.2f | %.2f |'
                         % (v, label, s['n'], s['n_ok'], s['median'], s['p95'], cov, s['bias'], s['ang_median'],
                            s['truncated'], s['gps_median'], s['rel_median']))
        s = bin_stats(recs, RANGE_BINS[0][0], RANGE_BINS[-1][1])
        if s['n_ok'] and math.isfinite(s['coverage']):
            lines.append('| %s | **all < 200 m** | %d (%d) | %.2f | %.2f | **%.1f %%** | %+.2f | %.2f | %d | %.2f | %.2f |'
                         % (v, s['n'], s['n_ok'], s['median'], s['p95'], 100 * s['coverage'], s['bias'],
                            s['ang_median'], s['truncated'], s['gps_median'], s['rel_median']))
    return '\n'.join(lines)


def per_run_medians(runs: list, variant: str, lo: float, hi: float) -> list:
    return [bin_stats(run[variant], lo, hi).get('median', math.nan) for run in runs]


def sensitivity_section(flight: Flight, noise: NoiseModel, seeds: int, accel_sigma: float) -> list:
    """The same flight with the GPS error white (what averaging could reach) and with attitude biases."""
    md = ['### Sensitivity (%s, filtered)' % flight.name, '',
          'The GPS error of a real receiver drifts over minutes (ionosphere, orbits, multipath): over one pass '
          'it is nearly a bias, which no filter averages away and which alone gives a median horizontal '
          'error of 1.18 sigma (Rayleigh) = %.2f m. The rows below change one assumption at a time.'
          % (1.1774 * noise.gps_sigma_m), '']
    cases = [('GPS white (independent every frame)', dataclasses.replace(noise, gps_tau_s=0.0)),
             ('attitude and gimbal with a per-run bias of 0.3 deg', dataclasses.replace(noise, att_bias_deg=0.3))]
    for label, nm in cases:
        runs = [evaluate(flight, nm, seed, accel_sigma, terrain=False) for seed in range(seeds)]
        md += ['%s: %s' % (label, nm.describe()), '', table(runs, ['filtered']), '']
    return md


def run_eval(sources: list, out: Path, seeds: int, noise: NoiseModel, accel_sigma: float,
             max_frames: int | None = None, command: str = '', telemetry: str = 'model',
             sensitivity: bool = False) -> str:
    out.mkdir(parents=True, exist_ok=True)
    md = ['# Geopositioning evaluation (issue 6)', '',
          'Generated by `%s`.' % (command or 'python -m uavcine.eval.geo_eval'), '',
          '- noise: %s' % (noise.describe() if telemetry == 'model' else
                           "the simulator's own sensor streams (white + slow drift, latency, magnetic yaw; "
                           "see each scenario's `sensors:`), paired with each image as the geo node does"),
          '- %d noise runs per scenario (seeds 0..%d), statistics pooled over runs; truth boxes from the '
          'simulator (no detector/tracker error)' % (seeds, seeds - 1),
          '- filter: constant-velocity Kalman, white acceleration %.2g m/s^2, gate chi2(2) 99.9 %%; '
          'slowly varying sources (GPS) kept out of its averaging and added to its covariance' % accel_sigma,
          '- `seed` = the seed\'s 2-D formula d = h / tan(theta + alpha) on the bottom edge as is; `raw` = ours '
          'unfiltered; `filtered` = ours after the Kalman filter; `_terrain` = ray-terrain intersection',
          '- horizontal error = distance between estimate and truth; coverage = share of truths inside the '
          'estimate\'s 95 % ellipse (chi2(2) = 5.99)',
          '- drone GPS error = distance between the drone\'s reported and true position in the same frames: every '
          'estimate is placed relative to the reported position, so this error passes into it one to one; '
          '"relative to the drone" = the estimate\'s error with that frame\'s GPS offset taken out (what the '
          'geometry and the filter contribute; meaningful where the GPS error is slow: a filter averages a white GPS '
          'error out, and taking one frame\'s offset out then adds it back)', '']
    for src in sources:
        flight = load_flight(src, max_frames, sensor_seeds=seeds if telemetry == 'sim' else 1)
        name = flight.name + ('_simtel' if telemetry == 'sim' else '')
        runs = [evaluate(flight, noise, seed, accel_sigma, telemetry=telemetry) for seed in range(seeds)]
        variants = [v for v in ('seed', 'raw', 'filtered', 'raw_terrain', 'filtered_terrain') if v in runs[0]]
        md += ['## %s' % name, '', '%s; %d samples (target x frame) per run. %s' % (src, len(flight.samples),
                                                                                    flight.notes), '']
        md += [table(runs, variants), '']
        for v in [v for v in variants if v.startswith('filtered')]:
            meds = [per_run_medians(runs, v, lo, hi) for lo, hi, _ in RANGE_BINS]
            md.append('Per-run medians, %s: ' % v + '; '.join(
                '%s: %s' % (label, ', '.join('%.2f' % m for m in mm)) for (_, _, label), mm in zip(RANGE_BINS, meds)))
            md.append('')
        files = plot_errors(runs, name, out, name)
        files.append(plot_map(flight, runs[0], name, out, name))
        if 'raw_terrain' in runs[0]:
            files.append(plot_map(flight, runs[0], name, out, name, '_terrain'))
            files.append(plot_terrain(runs, name, out, name))
        md += ['Figures: ' + ', '.join('`%s`' % f.name for f in files), '']
        if sensitivity and telemetry == 'model' and src == sources[0]:
            md += sensitivity_section(flight, noise, seeds, accel_sigma)
    text = '\n'.join(md) + '\n'
    (out / ('geo_eval.md' if telemetry == 'model' else 'geo_eval_simtel.md')).write_text(text)
    return text


# ---------------------------------------------------------------------------- command line
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument('scenarios', nargs='*', default=['sim/flight_test_towers.yaml', 'sim/hilly.yaml'],
                   help='scenario YAML files, or fixture:seed / fixture:hilly (default: the seed flight and hilly)')
    p.add_argument('--out', default='docs', help='folder for geo_*.png and geo_eval.md (default docs)')
    p.add_argument('--seeds', type=int, default=5, help='noise runs per scenario (default 5)')
    p.add_argument('--gps-sigma', type=float, default=1.5, help='GPS sigma per horizontal axis, m (1.5)')
    p.add_argument('--gps-tau', type=float, default=60.0,
                   help='GPS error correlation time, s (Gauss-Markov; 0 = white) (60)')
    p.add_argument('--att-sigma', type=float, default=0.5, help='attitude sigma per angle, deg (0.5)')
    p.add_argument('--gimbal-sigma', type=float, default=0.5, help='gimbal sigma per angle, deg (0.5)')
    p.add_argument('--att-bias', type=float, default=0.0, help='per-run attitude/gimbal bias sigma, deg (0)')
    p.add_argument('--agl-sigma', type=float, default=0.3, help='AGL sigma, m (0.3)')
    p.add_argument('--pixel-sigma', type=float, default=0.0, help='box edge noise, px (0: truth boxes)')
    p.add_argument('--accel-sigma', type=float, default=0.5, help='Kalman white acceleration, m/s^2 (0.5)')
    p.add_argument('--max-frames', type=int, help='use only the first N frames of each scenario')
    p.add_argument('--sensitivity', action='store_true',
                   help='also run the first scenario with white GPS and with attitude biases (filtered rows)')
    p.add_argument('--telemetry', choices=['model', 'sim'], default='model',
                   help="noise on the true telemetry from the options above (model), or the simulator's own "
                        'sensor streams (sim; report geo_eval_simtel.md)')


def cmd_eval_geo(args) -> int:
    if args.seeds < 1:
        raise UsageError('--seeds must be at least 1')
    noise = NoiseModel(args.gps_sigma, args.gps_tau, args.att_sigma, args.gimbal_sigma, args.att_bias,
                       args.agl_sigma, args.pixel_sigma)
    command = ' '.join(['python -m uavcine.eval.geo_eval'] + sys.argv[1:]) if args.cmd_line is None else args.cmd_line
    text = run_eval(args.scenarios, Path(args.out), args.seeds, noise, args.accel_sigma, args.max_frames, command,
                    args.telemetry, args.sensitivity)
    print(text)
    return 0


def register(subparsers) -> None:
    """Hook for the ``uavcine`` command: ``uavcine eval-geo ...``."""
    p = subparsers.add_parser('eval-geo', help='evaluate geopositioning on simulated flights (figures + table)')
    add_arguments(p)
    p.set_defaults(func=cmd_eval_geo, cmd_line=None)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog='python -m uavcine.eval.geo_eval', description=__doc__.split('\n')[0])
    add_arguments(p)
    args = p.parse_args(argv)
    args.cmd_line = None
    try:
        return cmd_eval_geo(args)
    except (FileNotFoundError, ValueError) as exc:
        print('geo_eval: error: %s' % exc, file=sys.stderr)
        return 2


if __name__ == '__main__':
    # run the module under its own name, so cached flights pickle uavcine.eval.geo_eval classes, not __main__'s
    from uavcine.eval import geo_eval
    sys.exit(geo_eval.main())
