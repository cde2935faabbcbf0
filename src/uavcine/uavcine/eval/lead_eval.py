"""Does leading the target help? Target-to-image-centre error with and without the lead, and the MAVLink ROI's.

    python -m uavcine.eval.lead_eval --out docs/lead_eval.md --png docs/lead_eval.png

For each shot (sim/chase_car_turn_brake.yaml, sim/lateral_car_turn_brake.yaml: a car that brakes and turns;
sim/walk_person.yaml: a walking person among walking people) the closed loop runs on the embedded simulator: sim
(gimbal commanded) -> truth boxes as the track (a test double standing in for detector + tracker, published
``--delay-s`` (0.3 s) after its image as their processing time would; the numbers are about pointing, not detection)
-> geo (Kalman) -> forecast (SMEMO for the person, constant velocity for cars) -> pointing -> sim. Each shot is
flown with leading off (aim at the estimate) and on (``lead``, the pointing node's defaults: aim where the
GeoTarget's Kalman velocity puts the target ``lead_s`` = 0.05 s after each command, the estimate's age made up from
its stamp, the displacement shrunk by the velocity's certainty |v|^2 / (|v|^2 + tr P_v), ``core.lead``), then on
with parts changed: not shrunk (``lead_certainty`` off); along the forecast node's most likely path (``lead_source``
forecast, how pointing led before), shrunk and not; with the simulator's true velocity put into the GeoTarget (a
test double: what the best velocity would do with the estimate's own position); with ``lead_s`` = 1 s (over-leading:
a check that the lead moves the aim the way it should); off and on again aiming from the drone's newest fix as it is
(how pointing aimed before: ``fix_fit_window_s`` 0; the table only). The error is the distance of the target's
projected box centre from the image centre, in pixels (640x480), over the frames after the forecast warm-up (the
first 4 s) that show the target's box centre; the share of frames that do is reported beside it (a lost target has
no pixel error). Decomposed with the simulator's truth (its camera pose at each frame): the signed error along the
target's image motion (+: the camera lags behind it) and across it, the target's own motion in the image while the
newest estimate aged (what leading has to make up), and the estimate's error (Kalman GeoTarget vs truth at its
stamp, in pixels of the same frame). The estimate's age at a command: command time minus its image stamp. The Kalman
velocity's error against the truth, and its NEES (error^T P_v^-1 error, mean; 2 where the filter's velocity
covariance is right). The mean is given again without the frames that follow a jump of the simulated body's attitude
(JUMP_DEG in 0.05 s). The MAVLink bridge's ROI (``roi_lead_s``) is emulated on each shot's GeoTargets of the run
with leading off (``roi_emulation``: the bridge's schedule and led_roi, an autopilot that holds each location).
``tests/test_lead_eval.py`` checks a short run of the lateral car.
"""
from __future__ import annotations

import argparse
import copy
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pymap3d
import torch
from transforms3d.quaternions import quat2mat

from ..core.camera import PinholeCamera, world_to_camera
from ..nodes import msgs
from ..nodes.base import RELIABLE, Node
from ..nodes.forecast import ForecastNode
from ..nodes.geo import GeoNode
from ..nodes.mavlink_pointing import led_roi
from ..nodes.pointing import PointingNode
from ..offline.host import OfflineHost
from ..sim.node import SimNode
from ..sim.scenario import load_scenario
from .lead_eval_findings import FINDINGS

SHOTS = [('chase_car_turn_brake', 'CHASE, car brakes and turns'),
         ('lateral_car_turn_brake', 'LATERAL, car brakes and turns'),
         ('walk_person', 'LATERAL, walking person')]
@dataclass
class LeadRun:
    """One flight of a shot: the pointing node's leading parameters, and whether the GeoTarget's velocity is
    replaced by the simulator's truth at its stamp (``truth_velocity``: what the best velocity would lead to)."""
    label: str
    lead: bool
    lead_s: float = 0.05
    fix_fit_window_s: float = 1.0
    lead_source: str = 'velocity'
    lead_certainty: bool = True
    truth_velocity: bool = False


#: The runs of each shot: the pointing node's defaults ('on'), its parts (no certainty shrink; the forecast path
#: instead of the velocity, as before), the truth's velocity, over-leading; the last two aim from the drone's newest
#: fix as it is, as the pointing node did before (the docs' findings, 1)
LEADS = [LeadRun('off', False, 0.0), LeadRun('on', True), LeadRun('on, not shrunk', True, lead_certainty=False),
         LeadRun('on, forecast path', True, lead_source='forecast'),
         LeadRun('on, forecast path, not shrunk', True, lead_source='forecast', lead_certainty=False),
         LeadRun("on, the truth's velocity", True, truth_velocity=True),
         LeadRun('on, lead_s 1 s', True, 1.0),
         LeadRun('off, newest fix as is', False, 0.0, 0.0), LeadRun('on, newest fix as is', True, 0.05, 0.0)]
#: The runs the figure shows (the table has them all)
PLOTTED = ('off', 'on', 'on, forecast path', "on, the truth's velocity", 'on, lead_s 1 s')
WARMUP_S = 4.0
#: A frame "after an attitude jump": the simulated body's roll or pitch changed by more than JUMP_DEG within
#: 0.05 s in the JUMP_WINDOW_S before it (the commands and the IMU the frame depends on). The simulator's tilt
#: follows the second difference of the nominal path at 0.05 s, whose heading rate has small steps where a
#: shot follows its target: tens of degrees for a few hundredths of a second, no airframe does that.
JUMP_DEG, JUMP_WINDOW_S = 10.0, 0.25
AIM_HEIGHT_M = 1.0   # the pointing node's aim_height_m default: the error parts are measured at that point


def _truth_tracker(delay_s: float):
    class TruthTracker(Node):
        """The shot target's truth box as a Track (a test double for detector + tracker), published
        ``delay_s`` after its image (the detector and tracker's processing time), stamped with the image."""
        NAME = 'truth_tracker'

        def setup(self):
            self.pub = self.create_publisher('uavcine_interfaces/msg/Track', 'target/track', RELIABLE)
            self.create_subscription('uavcine_interfaces/msg/TargetTruthArray', 'truth/targets', self.on_truth,
                                     RELIABLE)
            self.queue = []
            self.create_timer(0.01, self.flush)

        def on_truth(self, msg):
            for t in msg.targets:
                if not t.distractor and t.in_view and t.bbox.size_x > 0:
                    self.queue.append(self.new('uavcine_interfaces/msg/Track', header=msg.header, track_id=1,
                                               class_id=t.class_id, bbox=t.bbox, quality=1.0, state=2))

        def flush(self):
            now = self.now_ns()
            while self.queue and msgs.stamp_ns(self.queue[0].header.stamp) + int(delay_s * 1e9) <= now:
                self.pub.publish(self.queue.pop(0))
    return TruthTracker


class TruthVelocity(Node):
    """The GeoTarget with its velocity replaced by the simulator's truth at its stamp, its velocity covariance
    zero (a test double: what leading would do with a perfect velocity and the estimate's own position)."""
    NAME = 'truth_velocity'

    def setup(self):
        self.truth = {}   # image stamp -> the target's true ENU velocity
        self.pub = self.create_publisher('uavcine_interfaces/msg/GeoTarget', 'target/geo', RELIABLE)
        self.create_subscription('uavcine_interfaces/msg/TargetTruthArray', 'truth/targets', self.on_truth, RELIABLE)
        self.create_subscription('uavcine_interfaces/msg/GeoTarget', 'target/geo_estimate', self.on_geo, RELIABLE)

    def on_truth(self, msg):
        for t in msg.targets:
            if not t.distractor:
                self.truth[msgs.stamp_ns(msg.header.stamp)] = t.velocity_enu

    def on_geo(self, msg):
        v = self.truth.get(msgs.stamp_ns(msg.header.stamp))
        if v is not None:
            msg = copy.copy(msg)   # the geo node's own message is captured as it was
            msg.velocity_enu = v
            msg.velocity_covariance_enu_xy = np.zeros(4)
            self.pub.publish(msg)


def _nees(err, cov) -> float:
    """err^T P^-1 err of a 2-D error under its covariance [ee, en, ne, nn] (nan without one)."""
    P = np.reshape(np.asarray(cov, float), (2, 2))
    if np.linalg.det(P) <= 0:
        return math.nan
    return float(err @ np.linalg.solve(P, err))


def _xyz(p) -> np.ndarray:
    return np.array([float(p.x), float(p.y), float(p.z)])


def fly(shot: str, lead: bool, lead_s: float, repo: Path, delay_s: float = 0.3, label: str = '',
        duration_s: float = 0.0, fix_fit_window_s: float = 1.0, lead_source: str = 'velocity',
        lead_certainty: bool = True, truth_velocity: bool = False) -> dict:
    """One closed-loop run: per-frame errors and their parts, the estimate's age and velocity against the truth,
    the truth and forecast paths for the map. ``duration_s`` > 0 cuts the scenario short."""
    scen = repo / 'sim' / ('%s.yaml' % shot)
    sc = load_scenario(scen)
    cam = PinholeCamera.from_dfov(sc.camera.width, sc.camera.height, sc.camera.dfov_deg, dist=sc.camera.dist)
    host = OfflineHost()
    sim = host.add_node(SimNode, {'scenario': str(scen), 'duration_s': float(duration_s)})
    host.add_node(_truth_tracker(delay_s))
    host.add_node(GeoNode, {'origin_from_first_fix': False, 'origin_lat': sc.origin.lat, 'origin_lon': sc.origin.lon,
                            'origin_alt': sc.origin.alt},
                  remap={'target/geo': 'target/geo_estimate'} if truth_velocity else None)
    if truth_velocity:
        host.add_node(TruthVelocity)
    host.add_node(ForecastNode)
    pointing = host.add_node(PointingNode, {'lead': bool(lead), 'lead_s': float(lead_s),
                                            'fix_fit_window_s': float(fix_fit_window_s),
                                            'lead_source': lead_source, 'lead_certainty': bool(lead_certainty),
                                            'aim_height_m': AIM_HEIGHT_M})
    truth = host.capture('/truth/targets')
    poses = host.capture('/truth/camera_pose')
    geo = host.capture('/target/geo_estimate' if truth_velocity else '/target/geo')   # the geo node's
    cmds = host.capture('/gimbal/command')
    fc = host.capture('/forecast/paths')
    host.run()
    t0 = truth[0][0]
    pose_at = {msgs.stamp_ns(m.header.stamp): (_xyz(m.pose.position), quat2mat(msgs.quaternion_wxyz(
        m.pose.orientation))) for _, m in poses}
    truth_at = {}   # image stamp -> (target position, velocity)
    gt = np.array([g[0] for g in geo])                           # arrival times of the estimates
    gs = np.array([msgs.stamp_ns(g[1].header.stamp) for g in geo])
    up = np.array([0.0, 0.0, AIM_HEIGHT_M])
    rows, tgt, others = [], [], {}
    sensors = sim.sim.sensors

    def gps_slow_error(t_s):
        return np.asarray(sensors.cfg.gps.bias, float) + np.asarray(sensors.drift['gps'](t_s), float)
    for t, m in truth:
        s = msgs.stamp_ns(m.header.stamp)
        for x in m.targets:
            if not x.distractor:
                truth_at[s] = (_xyz(x.position_enu), _xyz(x.velocity_enu))
                tgt.append(truth_at[s][0][:2])
            elif x.class_id in ('person', 'car'):
                others.setdefault(int(x.id), []).append((float(x.position_enu.x), float(x.position_enu.y)))
    for t, m in truth:
        s = msgs.stamp_ns(m.header.stamp)
        x = [x for x in m.targets if not x.distractor][0]
        c = x.bbox_full.center.position
        err = np.array([float(c.x) - cam.width / 2.0, float(c.y) - cam.height / 2.0])
        inside = bool(x.in_view) and 0 <= float(c.x) <= cam.width and 0 <= float(c.y) <= cam.height
        row = {'t': (t - t0) / 1e9, 'err': err, 'inside': inside, 'along': math.nan, 'across': math.nan,
               'motion': math.nan, 'est': math.nan}
        C, R = pose_at.get(s, (None, None))
        if C is not None:
            def px(p):
                return cam.project(world_to_camera(np.asarray(p, float)[None], C, R))[0]
            pos, vel = truth_at[s]
            here = px(pos + up)
            d = px(pos + up + 0.1 * vel) - here
            if np.linalg.norm(d) > 1e-3:          # a moving target: the error along its image motion
                row['along'] = float((err @ d) / np.linalg.norm(d))   # +: the target ahead, the camera lagging
                row['across'] = abs(float((err[0] * d[1] - err[1] * d[0]) / np.linalg.norm(d)))
            i = np.searchsorted(gt, s, side='right') - 1   # the newest estimate received by the frame's time
            if i >= 0 and int(gs[i]) in truth_at:
                then = truth_at[int(gs[i])][0]
                row['motion'] = float(np.linalg.norm(here - px(then + up)))
                row['est'] = float(np.linalg.norm(px(_xyz(geo[i][1].position_enu) + up) - px(then + up)))
        ts = np.arange(-JUMP_WINDOW_S, 1e-6, 0.01) + (s - sim.t0_ns) / 1e9
        rp = np.degrees([sim.sim.drone_state(float(u)).body_rpy[:2] for u in ts])
        row['jump'] = bool(np.abs(rp[5:] - rp[:-5]).max() > JUMP_DEG)   # over 0.05 s
        rows.append(row)
    lat = []
    for t, _ in cmds:   # each command against the newest estimate's image stamp received before it
        i = np.searchsorted(gt, t, side='right') - 1
        if i >= 0:
            lat.append((t - gs[i]) / 1e9)
    vel = []            # the Kalman GeoTarget's velocity against the truth at its stamp
    for t, g in geo:
        s = msgs.stamp_ns(g.header.stamp)
        if s in truth_at and (t - t0) / 1e9 >= WARMUP_S:
            vel.append(((s - t0) / 1e9, float(np.linalg.norm(truth_at[s][1][:2])),
                        float(np.linalg.norm(_xyz(g.velocity_enu)[:2])),
                        float(np.linalg.norm(_xyz(g.velocity_enu)[:2] - truth_at[s][1][:2])),
                        _nees(_xyz(g.velocity_enu)[:2] - truth_at[s][1][:2], g.velocity_covariance_enu_xy)))
    paths = []
    for t, m in fc:
        if m.agent_id == 'target' and (t - t0) / 1e9 >= WARMUP_S:
            best = m.paths[m.most_likely]
            paths.append(((t - t0) / 1e9, np.array([[p.pose.position.x, p.pose.position.y] for p in best.poses]),
                          [np.array([[p.pose.position.x, p.pose.position.y] for p in q.poses]) for q in m.paths]))
    te = np.array([r['t'] for r in rows])
    e = np.array([float(np.linalg.norm(r['err'])) for r in rows])
    ins = np.array([r['inside'] for r in rows])
    after = te >= WARMUP_S
    keep = after & ins
    if not keep.any():
        keep = after

    def stat(v, f):     # nan where there is nothing to measure (a run shorter than the warm-up)
        v = np.asarray(v, float)
        v = v[np.isfinite(v)]
        return float(f(v)) if v.size else math.nan

    def med(key):
        return stat([r[key] for r, k in zip(rows, keep) if k], np.median)
    vel = np.array(vel) if vel else np.zeros((0, 5))
    calm = keep & ~np.array([r['jump'] for r in rows])
    return {'shot': shot, 'label': label or ('on' if lead else 'off'), 'lead': bool(lead), 'lead_s': lead_s,
            'fix_fit_window_s': fix_fit_window_s, 't': te,
            'err': np.where(ins, e, np.nan), 'mean': stat(e[keep], np.mean), 'median': stat(e[keep], np.median),
            'p90': stat(e[keep], lambda v: np.percentile(v, 90)), 'along': med('along'), 'across': med('across'),
            'motion': med('motion'),
            'est': med('est'), 'in_view': stat(ins[after], np.mean),
            'calm_mean': stat(e[calm], np.mean), 'calm_share': float(calm.sum() / max(keep.sum(), 1)),
            'latency_s': float(np.mean(lat)) if lat else float('nan'), 'velocity': vel,
            'vel_rms': float(np.sqrt(np.mean(vel[:, 3] ** 2))) if len(vel) else math.nan,
            'vel_nees': stat(vel[:, 4], np.mean),
            'led': pointing.led, 'commands': pointing.commands, 'target': np.array(tgt), 'others': others,
            'paths': paths, 'cls': sc.targets[0].cls,
            # for roi_emulation: the geo node's GeoTargets (arrival, message); by frame stamp after the warm-up, the
            # target's and the camera's true positions and the GPS's slow error then (its bias and drift: what an
            # autopilot's navigation filter keeps of it, the white noise averaged away); the ENU origin, the focal
            # length
            'geo_msgs': geo, 'truth_velocity': {s: v for s, (_, v) in truth_at.items()}, 'frames': [(s, truth_at[s][0], pose_at[s][0], gps_slow_error((s - sim.t0_ns) / 1e9))
                                        for s in sorted(truth_at) if s in pose_at and (s - t0) / 1e9 >= WARMUP_S],
            'origin': (sc.origin.lat, sc.origin.lon, sc.origin.alt), 'fx': cam.fx}


def fly_all(shots: list[str], repo: Path, delay_s: float = 0.3, leads=LEADS, progress=None,
            duration_s: float = 0.0) -> list[dict]:
    """Every shot with every LeadRun of ``leads``; ``progress(run)`` after each."""
    runs = []
    for shot in shots:
        for r in leads:
            runs.append(fly(shot, r.lead, r.lead_s, repo, delay_s, r.label, duration_s, r.fix_fit_window_s,
                            r.lead_source, r.lead_certainty, r.truth_velocity))
            if progress:
                progress(runs[-1])
    return runs


#: (roi_lead_s, roi_lead_certainty, the truth's velocity in the GeoTargets) of the MAVLink bridge's emulated ROI
#: (0: as before; 0.25 s shrunk: its default)
ROI_LEADS = ((0.0, True, False), (0.25, True, False), (0.25, False, False), (0.5, True, False), (0.25, True, True))


def roi_emulation(r: dict, roi_lead_s: float, certain: bool = True, rate_hz: float = 2.0,
                  poll_s: float = 0.01, truth_velocity: bool = False) -> dict:
    """The MAVLink bridge's ROI over one run's GeoTargets, the autopilot holding each location until the next.

    The bridge's schedule (a poll every ``poll_s``; the newest GeoTarget sent when one came since the last send
    and 1/``rate_hz`` has passed) and its location (nodes.mavlink_pointing.led_roi, ``roi_lead_s``); an autopilot
    in ROI mode that points the camera at the held location at once (no mount delay), from where its navigation
    filter puts the camera (the truth + the GPS's slow error: the GeoTarget, geolocated from the same GPS, shares
    it). Per frame after the warm-up: the angle at the camera between where it so points and the target (truth;
    both at the ground), as pixels from the image centre (fx tan); the held ROI less the GPS's slow error (where the
    camera points, in the world) against the target: along its motion (m, +: lags), across it and in all (m).
    ``truth_velocity``: the GeoTargets' velocity replaced by the simulator's at their stamps (covariance zero): what
    the best velocity would do."""
    geo = r['geo_msgs']
    if truth_velocity:
        geo = [(t, _with_velocity(m, r['truth_velocity'].get(msgs.stamp_ns(m.header.stamp)))) for t, m in geo]
    if not geo:
        return {'roi_lead_s': roi_lead_s, 'median_px': math.nan, 'mean_px': math.nan, 'along_m': math.nan,
                'across_m': math.nan, 'dist_m': math.nan}
    held = []   # (send time, ROI ENU)
    i, new, last, nxt = 0, False, None, geo[0][0]
    for now in range(int(geo[0][0]), int(geo[-1][0] + 1e9), int(poll_s * 1e9)):
        while i < len(geo) and geo[i][0] <= now:
            last, new, i = geo[i][1], True, i + 1
        if new and now >= nxt:
            lat, lon, _ = led_roi(last, now, roi_lead_s, certain)
            e, n, _ = pymap3d.geodetic2enu(lat, lon, float(last.geodetic.altitude), *r['origin'])
            held.append((now, np.array([e, n, float(last.position_enu.z)])))
            new, nxt = False, now + int(1e9 / rate_hz)
    ts = np.array([h[0] for h in held])
    px, along, across, dist, prev = [], [], [], [], None
    for s, pos, cam, gps_err in r['frames']:
        j = np.searchsorted(ts, s, side='right') - 1
        if j < 0:
            continue
        roi = held[j][1]
        a, b = roi - (cam + gps_err), pos - cam
        ang = math.acos(min(1.0, float(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b))))
        px.append(r['fx'] * math.tan(ang))
        miss = (pos - (roi - gps_err))[:2]    # where the camera points, in the world: the ROI less the GPS error
        dist.append(float(np.linalg.norm(miss)))
        if prev is not None and np.linalg.norm(pos[:2] - prev[:2]) > 1e-3:
            u = (pos[:2] - prev[:2]) / np.linalg.norm(pos[:2] - prev[:2])
            along.append(float(u @ miss))
            across.append(abs(float(u[0] * miss[1] - u[1] * miss[0])))
        prev = pos
    return {'roi_lead_s': roi_lead_s, 'median_px': float(np.median(px)), 'mean_px': float(np.mean(px)),
            'along_m': float(np.median(along)) if along else math.nan,
            'across_m': float(np.median(across)) if across else math.nan, 'dist_m': float(np.median(dist))}


def _with_velocity(msg, v):
    """A copy of a GeoTarget with velocity ``v`` (ENU, m/s; None: as it is) and no velocity covariance."""
    if v is None:
        return msg
    msg = copy.copy(msg)
    msg.velocity_enu = type(msg.velocity_enu)(x=float(v[0]), y=float(v[1]), z=float(v[2]))
    msg.velocity_covariance_enu_xy = np.zeros(4)
    return msg


def roi_table(runs: list[dict]) -> str:
    """roi_emulation of each shot's leading-off run (whose GeoTargets the ROI would follow) for every ROI_LEADS."""
    lines = ['| shot | roi_lead_s | shrunk by the certainty | velocity | median px | mean px | median along the motion '
             'm (+: lags) | median across the motion m | median distance m |', '| --- | ---: | --- | --- |' + ' ---: |' * 5]
    for r in runs:
        if r['label'] != 'off':
            continue
        for lead_s, certain, truth in ROI_LEADS:
            e = roi_emulation(r, lead_s, certain, truth_velocity=truth)
            lines.append('| %s | %.2f | %s | %s | %.1f | %.1f | %+.2f | %.2f | %.2f |' % (
                r['shot'], lead_s, 'yes' if certain else 'no', "the truth's" if truth else 'Kalman',
                e['median_px'], e['mean_px'],
                e['along_m'], e['across_m'], e['dist_m']))
    return '\n'.join(lines)


def line(r: dict) -> str:
    return '%s lead %s: mean %.1f px, median %.1f, p90 %.1f, along the motion %+.1f, estimate age %.3f s, %d of %d ' \
        'commands led' % (r['shot'], r['label'], r['mean'], r['median'], r['p90'], r['along'], r['latency_s'],
                          r['led'], r['commands'])


HEADER = ['shot', 'leading', 'mean px', 'median px', 'p90 px', 'median along the motion px (+: lags)',
          'median across the motion px (abs)',
          'median target motion while the estimate aged px', 'median estimate error px',
          'mean px, frames after no attitude jump (their share)', 'frames with the target in the image',
          'commands led', 'estimate age at a command s',
          'Kalman velocity error rms m/s', 'Kalman velocity NEES, mean (2: as its covariance says)']


def cells(r: dict) -> list[str]:
    desc = dict(SHOTS)
    return ['%s (%s)' % (r['shot'], desc.get(r['shot'], '')), r['label'], '%.1f' % r['mean'], '%.1f' % r['median'],
            '%.1f' % r['p90'], '%+.1f' % r['along'], '%.1f' % r['across'], '%.1f' % r['motion'], '%.1f' % r['est'],
            '%.1f (%.0f%%)' % (r['calm_mean'], 100 * r['calm_share']), '%.0f%%' % (100 * r['in_view']),
            '%d / %d' % (r['led'], r['commands']), '%.3f' % r['latency_s'],
            '%.2f' % r['vel_rms'], '%.1f' % r['vel_nees']]


def markdown_table(runs: list[dict]) -> str:
    lines = ['| %s |' % ' | '.join(HEADER), '| --- | --- |%s' % (' ---: |' * (len(HEADER) - 2))]
    lines += ['| %s |' % ' | '.join(cells(r)) for r in runs]
    return '\n'.join(lines)


def plot(runs: list[dict], path: Path, dpi: int = 66) -> None:
    """Per shot: the map (truth, forecast paths), the error over time per run, the Kalman speed against the truth."""
    import matplotlib  # only when the figure is drawn (start-up time)
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # after choosing the Agg backend
    shots = list(dict.fromkeys(r['shot'] for r in runs))
    fig, axes = plt.subplots(3, len(shots), figsize=(5.2 * len(shots), 13), squeeze=False)
    for j, shot in enumerate(shots):
        rs = [r for r in runs if r['shot'] == shot and r['label'] in PLOTTED]
        ref = ([r for r in rs if r['lead']] or rs)[0]
        ax = axes[0, j]
        for tr in ref['others'].values():
            tr = np.array(tr)
            ax.plot(tr[:, 0], tr[:, 1], color='0.7', lw=1)
        ax.plot(ref['target'][:, 0], ref['target'][:, 1], 'k-', lw=2, label='target (truth)')
        for k, (t, best, allp) in enumerate(ref['paths'][::5]):
            for q in allp:
                ax.plot(q[:, 0], q[:, 1], color='tab:orange', alpha=0.15, lw=0.8)
            ax.plot(best[:, 0], best[:, 1], color='tab:red', lw=1.3, label='most likely forecast' if k == 0 else None)
            ax.plot(best[0, 0], best[0, 1], 'o', color='tab:red', ms=3)
        ax.set_aspect('equal')
        ax.set_title('%s: forecast paths every 2 s\n(%s; orange: all K)' % (shot, 'SMEMO' if ref['cls'] == 'person'
                                                                         else 'constant velocity'))
        ax.set_xlabel('east, m')
        ax.set_ylabel('north, m')
        ax.legend(fontsize=8)
        ax = axes[1, j]
        for r in rs:
            ax.plot(r['t'], r['err'], lw=1, label='lead %s: median %.1f, mean %.1f px' % (r['label'], r['median'],
                                                                                         r['mean']))
        ax.axvline(WARMUP_S, color='0.5', ls=':')
        ax.set_xlabel('time, s')
        ax.set_ylabel('target to image centre, px')
        ax.set_ylim(0, 300)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        ax = axes[2, j]
        v = rs[0]['velocity']
        if len(v):
            ax.plot(v[:, 0], v[:, 1], 'k-', lw=1.5, label='truth')
            ax.plot(v[:, 0], v[:, 2], color='tab:blue', lw=1,
                    label='geo Kalman (rms error %.2f m/s)' % rs[0]['vel_rms'])
        ax.set_xlabel('time, s')
        ax.set_ylabel('target speed, m/s')
        ax.set_title('the estimate\'s velocity (lead %s run)' % rs[0]['label'], fontsize=9)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


ROI_TEXT = """## The MAVLink bridge's ROI, emulated

An ArduPilot vehicle is pointed with MAV_CMD_DO_SET_ROI_LOCATION: the autopilot holds the camera on the location
sent until the next one, 1/`roi_rate_hz` (0.5 s) later. `roi_emulation` replays each shot's GeoTargets (the run
with leading off) through the bridge's schedule and its `led_roi` (nodes/mavlink_pointing.py: the pointing node's
rule, `core.lead`, over the estimate's age at the send + `roi_lead_s`), for an autopilot that points at the held
location at once from where its navigation filter puts it (the truth + the GPS's slow error, which the GeoTarget
shares). Error columns as above, in pixels from the image centre (the angle at the camera) and in metres of the
location less the GPS's slow error against the target. The last row of each shot puts the simulator's true velocity
into the GeoTargets (what the best velocity would do).

"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', default='docs/lead_eval.md')
    ap.add_argument('--png', default='docs/lead_eval.png')
    ap.add_argument('--shots', nargs='+', default=[s for s, _ in SHOTS], choices=[s for s, _ in SHOTS])
    ap.add_argument('--delay-s', type=float, default=0.3,
                    help="detector + tracker processing time the truth-box double adds (s)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    repo = Path(__file__).resolve().parents[4]
    runs = fly_all(args.shots, repo, args.delay_s, progress=lambda r: print(line(r), flush=True))
    text = markdown_table(runs) + '\n\nTrack published %.2f s after its image (stand-in for detector + tracker ' \
        'time).\n' % args.delay_s
    print(text)
    head = ('# Leading the target: pointing error with and without the lead\n\n'
            'Written by `python -m uavcine.eval.lead_eval --out %s --png %s` (simulator; numbers from this '
            'shared, loaded CPU are deterministic, not timings).\n\n%s\n\n![maps and errors](%s)\n\n' % (
                args.out, args.png, __doc__.split('\n\n', 2)[2].strip(), Path(args.png).name))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    roi = ROI_TEXT + roi_table(runs) + '\n\n'
    print(roi)
    Path(args.out).write_text(head + text + '\n' + roi + FINDINGS)
    plot(runs, Path(args.png))
    return 0


if __name__ == '__main__':
    sys.exit(main())
