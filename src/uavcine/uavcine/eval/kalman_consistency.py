"""Is the geo node's Kalman filter as sure of itself as it should be? NEES and NIS against the simulator's truth.

    python -m uavcine.eval.kalman_consistency --out docs/kalman_consistency.md --png docs/kalman_consistency.png

Each calibration scenario (by default sim/orbit_car.yaml, the same with its car braking and accelerating at up to
4 m/s^2 instead of 2 (``orbit_car@4``: a hard-braking car), six random scenes of a car at 4-14 m/s on random
roads (``random_car``, RANDOM_CAR_SEEDS, one sensor seed each), sim/person_occlusion.yaml, sim/gesture_orbit.yaml: NOT
the three shots of docs/lead_eval.md, which judge the lead; sim/hilly.yaml has several targets and needs its
terrain, left out) runs on the embedded simulator
with its own gimbal (no pointing node) for ``--seeds`` sensor-noise seeds: sim -> the shot target's truth box as
the track (the test double of eval.lead_eval, no delay: the filter sees what it would) -> the geo node, whose
per-frame estimates (``core.geoposition.GeoEstimate``, with their covariance per noise source) are recorded with
the target's true position and velocity at the image stamp. The estimates are then replayed through
``core.target_filter.TargetFilter`` under each filter model (accel_sigma, the white share of the correlated
sources) and the filter is scored (Bar-Shalom, "Estimation with Applications to Tracking and Navigation", 5.4):

- position NEES: e^T P^-1 e of the GeoTarget position (the filter's covariance + the bias sources' added back, as
  published) against the truth; 2 on average when the covariance is right (2-D);
- velocity NEES: the same for the velocity and its covariance P_v (what ``core.lead`` shrinks the lead with);
- NIS: nu^T S^-1 nu of each accepted innovation (the white measurement noise R and the prediction P), 2 on average
  when R and Q are right; a NIS above 2 with a velocity NEES above 2 says the process noise Q is too small (the
  motion changes more than it allows); a NIS below 2 with a NEES above 2 says R is too large or the errors are not
  white.

The first ``WARMUP_S`` of each track (the filter's start) are left out. Offline tool (Python 3.10+).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from ..core.kalman import KalmanConfig
from ..core.target_filter import TargetFilter
from ..nodes import msgs
from ..nodes.geo import GeoNode, GeoParams
from ..offline.host import OfflineHost
from ..sim.node import SimNode
from ..sim.scenario import load_scenario, random_scenario
from .lead_eval import _truth_tracker

CALIBRATION = ('orbit_car', 'orbit_car@4', 'random_car', 'person_occlusion', 'gesture_orbit')
WARMUP_S = 2.0


@dataclass
class Model:
    """A filter model to score: the white-acceleration sigma per class (``accel``: class -> m/s^2, '' for the
    rest) and the correlated sources with the share of each one's variance that drifts (the rest is white)."""
    label: str
    accel: dict
    correlated: dict

    def accel_for(self, cls: str) -> float:
        return float(self.accel.get(cls, self.accel['']))


class RecordingGeo(GeoNode):
    """The geo node, recording each estimate it filters (image stamp, GeoEstimate, class)."""
    NAME = 'geo'

    def setup(self):
        self.recorded = []
        super().setup()

    def publish(self, track, t_ns, est):
        self.recorded.append((int(t_ns), est, str(track.class_id)))
        super().publish(track, t_ns, est)


def scenario_path(scenario: str, repo: Path, tmp: Path) -> Path:
    """sim/<name>.yaml, or for 'name@A' a copy in ``tmp`` whose shot target (the first) accelerates and brakes at
    up to A m/s^2 (``max_accel``): the same scene with a harder-braking target."""
    name, _, accel = scenario.partition('@')
    path = repo / 'sim' / ('%s.yaml' % name)
    if not accel:
        return path
    doc = yaml.safe_load(path.read_text())
    doc['targets'][0]['max_accel'] = float(accel)
    out = tmp / ('%s_accel%s.yaml' % (name, accel))
    out.write_text(yaml.safe_dump(doc))
    return out


#: Random scenes (``sim.scenario.random_scenario(seed, classes=('car',))``) whose car moves: 4-14 m/s along random
#: roads, turning where they bend, under ORBIT, CHASE, FLYBY and LATERAL shots; pooled as one row ``random_car``
RANDOM_CAR_SEEDS = (100, 101, 103, 104, 105, 107)


def recordings(spec: str, repo: Path, seeds: int, duration_s: float = 0.0) -> list:
    """The recordings of one calibration row: a scenario ('name', 'name@max_accel') under ``seeds`` sensor seeds,
    or 'random_car': each RANDOM_CAR_SEEDS scene once (sensor seed 0)."""
    if spec != 'random_car':
        return [record(spec, repo, s, duration_s) for s in range(seeds)]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in RANDOM_CAR_SEEDS:
            doc = json.loads(json.dumps(random_scenario(seed, classes=('car',)).to_dict(), default=float))
            path = Path(tmp) / ('random_car_%d.yaml' % seed)
            path.write_text(yaml.safe_dump(doc))
            out.append(_record(path, 0, duration_s, {}, {}))
    return out


def record(scenario: str, repo: Path, seed: int, duration_s: float = 0.0, sim_params=None, geo_params=None) -> list:
    """[(t_s, GeoEstimate, class, true position (3,), true velocity (3,))] of one run of a scenario
    ('name' or 'name@max_accel', ``scenario_path``); ``sim_params``, ``geo_params``: more node parameters."""
    with tempfile.TemporaryDirectory() as tmp:
        return _record(scenario_path(scenario, repo, Path(tmp)), seed, duration_s, sim_params or {}, geo_params or {})


def _record(path: Path, seed: int, duration_s: float, sim_params: dict, geo_params: dict) -> list:
    sc = load_scenario(path)
    host = OfflineHost()
    host.add_node(SimNode, dict({'scenario': str(path), 'seed': int(seed), 'duration_s': float(duration_s)},
                                **sim_params))
    host.add_node(_truth_tracker(0.0))
    geo = host.add_node(RecordingGeo, {'origin_from_first_fix': False, 'origin_lat': sc.origin.lat,
                                       'origin_lon': sc.origin.lon, 'origin_alt': sc.origin.alt, **geo_params})
    truth = host.capture('/truth/targets')
    host.run()
    at = {}
    for _, m in truth:
        for x in m.targets:
            if not x.distractor:
                p, v = x.position_enu, x.velocity_enu
                at[msgs.stamp_ns(m.header.stamp)] = (np.array([p.x, p.y, p.z], float), np.array([v.x, v.y, v.z], float))
    t0 = min((t for t, _, _ in geo.recorded), default=0)
    return [((t - t0) * 1e-9, est, cls) + at[t] for t, est, cls in geo.recorded if t in at]


def replay(rec: list, model: Model) -> dict:
    """One filter model over one recording: per-update arrays of NEES (position, velocity), NIS, errors."""
    out = {k: [] for k in ('t', 'nees_p', 'nees_v', 'nis', 'err_p', 'err_v', 'sig_v', 'speed', 'restart', 'white')}
    filt, t_start, prev = None, None, None
    for t, est, cls, p_true, v_true in rec:
        # the white split on its own: consecutive estimates' error change d against the sum of their white
        # covariances R (what the filter fuses): E[d^T (R_k + R_k-1)^-1 d] = 2 when the white share is right (the
        # drifting part hardly changes in 0.1-0.2 s); far above 2, errors that change every frame are taken for bias
        e_raw = est.point_enu[:2] - p_true[:2]
        R_w = est.cov_enu[:2, :2] - est.cov_of(model.correlated)[:2, :2]
        if prev is not None and t - prev[0] <= 0.25:
            d = e_raw - prev[1]
            out['white'].append(float(d @ np.linalg.solve(R_w + prev[2] + np.eye(2) * 1e-6, d)))
        prev = (t, e_raw, R_w)
        if filt is None:
            filt = TargetFilter(KalmanConfig(accel_sigma=model.accel_for(cls)), model.correlated)
            t_start = t
        f = filt.update(t, est)
        if f.restarted:
            t_start = t
            out['restart'].append(t)
        if t - t_start < WARMUP_S or f.skipped:
            continue
        e_p = f.position_enu[:2] - p_true[:2]
        e_v = f.velocity_enu[:2] - v_true[:2]
        Pv = f.cov_velocity_xy
        out['t'].append(t)
        out['nees_p'].append(float(e_p @ np.linalg.solve(f.cov_xy, e_p)))
        out['nees_v'].append(float(e_v @ np.linalg.solve(Pv, e_v)))
        out['nis'].append(f.mahalanobis2 if f.accepted and not f.restarted else math.nan)
        out['err_p'].append(float(np.linalg.norm(e_p)))
        out['err_v'].append(float(np.linalg.norm(e_v)))
        out['sig_v'].append(float(math.sqrt(np.trace(Pv))))
        out['speed'].append(float(np.linalg.norm(v_true[:2])))
    return {k: np.asarray(v, float) for k, v in out.items()}


def summary(reps: list) -> dict:
    """Pooled over runs: mean NEES/NIS (2 when consistent), the share inside the 95 % chi2(2) ellipse, rms errors."""
    cat = {k: np.concatenate([r[k] for r in reps]) for k in reps[0]}

    def m(v):
        v = v[np.isfinite(v)]
        return float(np.mean(v)) if v.size else math.nan
    # restarts: each run's start is one, the rest a run of gated measurements (or a gap)
    return {'n': int(cat['t'].size), 'restarts': int(cat['restart'].size) - len(reps),
            'nees_p': m(cat['nees_p']), 'nees_v': m(cat['nees_v']), 'nis': m(cat['nis']), 'white': m(cat['white']),
            'in95_v': m((cat['nees_v'] <= 5.991).astype(float)),
            'in95_p': m((cat['nees_p'] <= 5.991).astype(float)),
            'rms_p': float(np.sqrt(m(cat['err_p'] ** 2))), 'rms_v': float(np.sqrt(m(cat['err_v'] ** 2))),
            'sig_v': float(np.sqrt(m(cat['sig_v'] ** 2)))}


def models() -> list:
    """The filter models scored: before (GPS all drift, attitude all white; accel_sigma 0.5, and 1, 2: what more
    process noise alone would do), the geo node's defaults now, and now's noise split with one accel_sigma for
    every class (0.5, 1, 2)."""
    p = GeoParams()
    fr = list(p.correlated_fractions)
    now = dict(zip(p.correlated_sources, fr * len(p.correlated_sources) if len(fr) == 1 else fr))
    before = {'gps': 1.0, 'box_shape': 1.0, 'class_height': 1.0, 'class_depth': 1.0}
    out = [Model('before: accel 0.5, GPS all drift, attitude white', {'': 0.5}, before)]
    out += [Model('before, accel %.0f' % a, {'': a}, before) for a in (1.0, 2.0)]
    accel = dict(zip(p.class_names, p.class_accel_sigmas), **{'': p.accel_sigma})
    out += [Model('now (node defaults): accel %s, GPS and attitude half drift'
                  % ', '.join('%s %.1f' % (c, a) for c, a in zip(p.class_names, p.class_accel_sigmas)
                              if c != 'tower'), accel, now)]
    out += [Model('now, accel %.1f for all' % a, {'': a}, now) for a in (0.5, 1.0, 2.0)]
    return out


def markdown(results: dict, command: str, seeds: int) -> str:
    lines = ['# Is the geo Kalman filter as sure as it should be? NEES and NIS against the simulator', '',
             'Written by `%s` (simulator, %d sensor-noise seeds per scenario, pooled; the first %.0f s of each '
             'track left out; random_car: six scenes, one seed each). See the module\'s docstring '
             '(eval/kalman_consistency.py) for the set-up. '
             'Consistent: mean NEES and NIS 2 (2-D), 95 %% of the NEES inside chi2(2) 5.99.' % (command, seeds,
                                                                                              WARMUP_S), '',
             '| scenario | target | filter model | n | restarts (gated away) | position NEES | velocity NEES | NIS '
             '| frame-to-frame error change against the white covariance (2) | velocity NEES in 95 % '
             '| rms position error m | rms velocity error m/s | velocity sigma (sqrt tr P_v) m/s |',
             '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
    for sc, (cls, rows) in results.items():
        for label, s in rows:
            lines.append('| %s | %s | %s | %d | %d | %.2f | %.2f | %.2f | %.1f | %.0f %% | %.2f | %.2f | %.2f |' % (
                sc, cls, label, s['n'], s['restarts'], s['nees_p'], s['nees_v'], s['nis'], s['white'],
                100 * s['in95_v'], s['rms_p'], s['rms_v'], s['sig_v']))
    return '\n'.join(lines) + '\n'


FINDINGS = """
![velocity NEES over time](kalman_consistency.png)

## What was mis-modelled

**The GPS's white noise was taken for a bias.** The simulator's GPS (sim/scenario.py, SensorsCfg) has 1.0 m of white
noise and 1.0 m of slow drift per axis, and its fix reports the sum; the geo node left the whole GPS variance out of
the filter's measurement noise R (``correlated_sources`` gps, fraction 1). The column "frame-to-frame error change
against the white covariance" measures that split on its own: consecutive estimates' error change against the sum
of their white covariances, 2 when the white part is right. Before: 20.0 on gesture_orbit (a standing person 7 m
away, where the GPS is nearly all of the error), 7.2 on the random cars: errors that change every frame, which the
filter, told they were slow, took for the target's motion. Velocity NEES 3.1 to 15.2 (2 when right), NIS above 2,
and on gesture_orbit 64 restarts (runs of gated measurements) in 3 runs. More process noise alone does not fix it:
accel_sigma 2 leaves gesture_orbit at NEES 7.4 and NIS 4.0 (rows "before, accel 2").

**Now** the node's defaults fuse the white half of the GPS's and of the IMU attitude's variance (``correlated_sources``
gps, attitude, box_shape, class_height, class_depth, box_fit with ``correlated_fractions`` 0.5, 0.5, 1, 1, 1, 1
(box_fit, issue #14, is zero here: the truth tracker's boxes have quality 1): the simulator's
sensors, white = drift for both, the rule eval.geo_eval's ``sim_geo_config`` already applied), and the process noise
is set per class (``class_accel_sigmas``): the person keeps 0.5 m/s^2 (velocity NEES 1.32 on person_occlusion and
1.35 on gesture_orbit, rms velocity error 0.83 -> 0.63 and 1.11 -> 0.62 m/s, no restarts); the car gets 1.0 m/s^2,
because the random cars (4-14 m/s, cornering) are overconfident at 0.5 even with the new split (NEES 14.7) while the
slow orbit_car is consistent there (2.20): 1.0 is the value whose worst ratio to 2 over the car rows is smallest
(random_car 3.48, orbit_car 1.17, orbit_car@4 1.09; 2.0 would put the random cars at 1.22 and the orbit car at 0.88
with 1.43 m/s of velocity error instead of 1.00). The car's velocity error: 2.28 -> 1.89 m/s on the random cars,
0.91 -> 1.00 on orbit_car (more process noise: a noisier, less lagging velocity). Position: rms error no worse
anywhere (2.06 -> 2.03 m orbit_car, 1.85 -> 1.82 person_occlusion, 1.95 -> 1.79 gesture_orbit, 2.37 -> 2.08
random_car).

## What is left

- One white-acceleration sigma cannot fit every car: slow orbit driving is under-confident (NEES 1.1), fast
  cornering over-confident (3.5). A manoeuvre-adaptive filter (an IMM of a quiet and a manoeuvring model) would
  fit both; not done.
- On the scripted scenes the white part is now too large rather than too small (frame-to-frame column 0.4-0.5,
  NIS about 1.0, position NEES 2.4-2.6; the random cars, imaged at 5 Hz, 2.6, 1.9 and 2.25): the geo node fits a line to the fixes within ``fix_fit_window_s`` (1 s) of each image, which
  smooths the GPS's white noise into an error that is neither white nor a bias (correlated over the window). A
  shaping state for it (or the fit's own variance as R) would make NIS and position NEES 2; the split here is the
  sensors', not fitted to these numbers.
  Tried and not taken (the code is not in the repository, so these numbers cannot be re-run from it): the
  filter given the fit's own split, from the line's weights w at
  the image stamp (h = w.w, c = w.w' with the fit one fix period earlier; here h 0.83, c 0.41 for 5 Hz fixes
  0.1 s late): drift f + c (1 - f), white (h - c)(1 - f) of one fix's variance. Position NEES 2.52 -> 2.14
  orbit_car, 2.54 -> 2.15 orbit_car@4, 2.25 -> 1.99 random_car, 2.39 -> 1.94 person_occlusion, 2.61 -> 2.01
  gesture_orbit; NIS 0.97 -> 1.47, 0.95 -> 1.47, 1.89 -> 2.42, 1.09 -> 1.81, 1.08 -> 2.01; velocity NEES 1.17 ->
  1.68, 1.09 -> 1.62, 3.48 -> 3.47, 1.32 -> 2.03, 1.35 -> 2.33; rms velocity error 1.00 -> 1.11 m/s orbit_car,
  0.63 -> 0.73 person_occlusion; the orbit_car demo's 95 % ellipse 87.9 -> 93.0 % of estimates. Not taken
  because eval.lead_eval's medians moved both ways: lead on 18.2 -> 18.5 px chase, 16.7 -> 17.3 lateral,
  21.4 -> 21.0 walk_person; forecast ROI 18.8 -> 17.2, 16.3 -> 16.0, 17.8 -> 19.9 px (the walking person's
  Kalman velocity NEES there 1.1 -> 2.7).
- A real receiver's split differs (its fix is filtered inside: mostly drift): ``correlated_fractions`` is the
  parameter to set per vehicle; the default follows the simulator, where the stack is evaluated.
- eval.geo_eval (docs/geo_eval.md) sets its own noise model, correlated fractions and accel_sigma, not the node's
  defaults: this change does not reach it. Re-run this round, its filtered medians moved within noise (towers
  2.60 -> 2.66 m, hilly with terrain 2.44 -> 2.45 m) with its unfiltered rows and sample counts, i.e. from
  simulator changes since it was last generated.
"""


def plot(series: dict, png: Path) -> None:
    """Velocity NEES over time (a 1 s running mean) per scenario, first seed, before and now."""
    import matplotlib  # only when the figure is drawn (start-up time)
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # after choosing the Agg backend
    fig, axes = plt.subplots(len(series), 1, figsize=(8, 2.2 * len(series)), sharex=False)
    for ax, (sc, reps) in zip(np.atleast_1d(axes), series.items()):
        for label, r in reps:
            n = max(1, min(10, r['t'].size))
            ax.plot(r['t'], np.convolve(r['nees_v'], np.ones(n) / n, mode='same'), lw=0.8, label=label)
        ax.axhline(2.0, color='k', lw=0.6, ls='--')
        ax.set_yscale('log')
        ax.set_ylabel('velocity NEES')
        ax.set_title(sc, fontsize=9)
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[-1].set_xlabel('time s')
    fig.tight_layout()
    fig.savefig(png, dpi=70)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--scenarios', nargs='+', default=list(CALIBRATION))
    ap.add_argument('--seeds', type=int, default=3)
    ap.add_argument('--duration-s', type=float, default=0.0, help='cut each scenario short (0: its own length)')
    ap.add_argument('--out', default='docs/kalman_consistency.md')
    ap.add_argument('--png', default='docs/kalman_consistency.png')
    args = ap.parse_args(argv)
    repo = Path(__file__).resolve().parents[4]
    for sc in args.scenarios:
        if sc != 'random_car' and not (repo / 'sim' / ('%s.yaml' % sc.partition('@')[0])).is_file():
            print('kalman_consistency: no scenario sim/%s.yaml' % sc, file=sys.stderr)
            return 2
    ms = models()
    results, series = {}, {}
    for sc in tqdm(args.scenarios, desc='scenarios'):
        recs = recordings(sc, repo, args.seeds, args.duration_s)
        recs = [r for r in recs if r]
        if not recs:
            continue
        reps = {m.label: [replay(r, m) for r in recs] for m in ms}
        results[sc] = (recs[0][0][2], [(m.label, summary(reps[m.label])) for m in ms])
        series[sc] = [(ms[0].label, reps[ms[0].label][0]), (ms[3].label, reps[ms[3].label][0])]
    command = 'python -m uavcine.eval.kalman_consistency --out %s --png %s' % (args.out, args.png)
    if args.seeds != 3:
        command += ' --seeds %d' % args.seeds
    Path(args.out).write_text(markdown(results, command, args.seeds) + FINDINGS)
    plot(series, Path(args.png))
    print('wrote %s and %s' % (args.out, args.png))
    return 0


if __name__ == '__main__':
    sys.exit(main())
