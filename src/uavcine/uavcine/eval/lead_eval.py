"""Does leading the target help? Target-to-image-centre error with and without the forecast lead.

    python -m uavcine.eval.lead_eval --out docs/lead_eval.md --png docs/lead_eval.png

For each shot (sim/chase_car_turn_brake.yaml, sim/lateral_car_turn_brake.yaml: a car that brakes and
turns; sim/walk_person.yaml: a walking person among walking people) the closed loop runs on the
embedded simulator: sim (gimbal commanded) -> truth boxes as the track (a test double standing in for
detector + tracker, published ``--delay-s`` (0.3 s) after its image as their processing time would; the
numbers are about pointing, not detection) -> geo (Kalman) -> forecast
(SMEMO for the person, constant velocity for cars) -> pointing (``lead_s``) -> sim. Each shot is flown
with ``lead_s`` = 0 (aim at the estimate), the measured pipeline latency, and 1 s. The error is the
distance of the target's projected box centre from the image centre, in pixels (640x480), over the
frames after the forecast warm-up (the first 4 s) that show the target's box centre; the share of
frames that do is reported beside it (a lost target has no pixel error). The latency is measured in the lead-0 run: command
time minus the image stamp of the estimate it used, averaged.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

from ..nodes import msgs
from ..nodes.base import RELIABLE, Node
from ..nodes.forecast import ForecastNode
from ..nodes.geo import GeoNode
from ..nodes.pointing import PointingNode
from ..offline.host import OfflineHost
from ..sim.node import SimNode
from ..sim.scenario import load_scenario

SHOTS = [('chase_car_turn_brake', 'CHASE, car brakes and turns'),
         ('lateral_car_turn_brake', 'LATERAL, car brakes and turns'),
         ('walk_person', 'LATERAL, walking person')]
WARMUP_S = 4.0


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


def fly(shot: str, lead_s: float, repo: Path, delay_s: float = 0.0) -> dict:
    """One closed-loop run; per-frame errors, the latency, the truth and forecast paths for the map."""
    scen = repo / 'sim' / ('%s.yaml' % shot)
    sc = load_scenario(scen)
    host = OfflineHost()
    host.add_node(SimNode, {'scenario': str(scen)})
    host.add_node(_truth_tracker(delay_s))
    host.add_node(GeoNode, {'origin_from_first_fix': False, 'origin_lat': sc.origin.lat, 'origin_lon': sc.origin.lon,
                            'origin_alt': sc.origin.alt})
    host.add_node(ForecastNode)
    pointing = host.add_node(PointingNode, {'lead_s': float(lead_s)})
    truth = host.capture('/truth/targets')
    geo = host.capture('/target/geo')
    cmds = host.capture('/gimbal/command')
    fc = host.capture('/forecast/paths')
    host.run()
    t0 = truth[0][0]
    err, t_err, tgt, others, inside = [], [], [], {}, []
    for t, m in truth:
        for x in m.targets:
            if not x.distractor:
                c = x.bbox_full.center.position
                err.append(math.hypot(float(c.x) - 320.0, float(c.y) - 240.0))
                inside.append(bool(x.in_view) and 0 <= float(c.x) <= 640 and 0 <= float(c.y) <= 480)
                t_err.append((t - t0) / 1e9)
                tgt.append((float(x.position_enu.x), float(x.position_enu.y)))
            elif x.class_id in ('person', 'car'):
                others.setdefault(int(x.id), []).append((float(x.position_enu.x), float(x.position_enu.y)))
    # latency: each command against the newest estimate's image stamp received before it
    gt = np.array([g[0] for g in geo])
    gs = np.array([msgs.stamp_ns(g[1].header.stamp) for g in geo])
    lat = []
    for t, _ in cmds:
        i = np.searchsorted(gt, t, side='right') - 1
        if i >= 0:
            lat.append((t - gs[i]) / 1e9)
    paths = []
    for t, m in fc:
        if m.agent_id == 'target' and (t - t0) / 1e9 >= WARMUP_S:
            best = m.paths[m.most_likely]
            paths.append(((t - t0) / 1e9, np.array([[p.pose.position.x, p.pose.position.y] for p in best.poses]),
                          [np.array([[p.pose.position.x, p.pose.position.y] for p in q.poses]) for q in m.paths]))
    e, te, ins = np.array(err), np.array(t_err), np.array(inside)
    after = te >= WARMUP_S
    keep = after & ins
    if not keep.any():
        keep = after
    return {'shot': shot, 'lead_s': lead_s, 't': te, 'err': np.where(ins, e, np.nan), 'mean': float(e[keep].mean()),
            'median': float(np.median(e[keep])), 'p90': float(np.percentile(e[keep], 90)),
            'in_view': float(np.mean(ins[after])), 'latency_s': float(np.mean(lat)) if lat else float('nan'),
            'led': pointing.led, 'commands': pointing.commands, 'target': np.array(tgt), 'others': others,
            'paths': paths, 'cls': sc.targets[0].cls}


def plot(runs: list[dict], leads: list[float], path: Path) -> None:
    import matplotlib  # only when the figure is drawn (start-up time)
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # after choosing the Agg backend
    shots = [s for s, _ in SHOTS]
    fig, axes = plt.subplots(2, len(shots), figsize=(5.2 * len(shots), 9.5))
    for j, shot in enumerate(shots):
        rs = [r for r in runs if r['shot'] == shot]
        ref = [r for r in rs if r['lead_s'] > 0][0]
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
            ax.plot(r['t'], r['err'], lw=1, label='lead %.2f s: mean %.1f px' % (r['lead_s'], r['mean']))
        ax.axvline(WARMUP_S, color='0.5', ls=':')
        ax.set_xlabel('time, s')
        ax.set_ylabel('target to image centre, px')
        ax.set_ylim(0, 400)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', default='docs/lead_eval.md')
    ap.add_argument('--png', default='docs/lead_eval.png')
    ap.add_argument('--shots', nargs='+', default=[s for s, _ in SHOTS])
    ap.add_argument('--delay-s', type=float, default=0.3,
                    help="detector + tracker processing time the truth-box double adds (s)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    repo = Path(__file__).resolve().parents[4]
    runs = []
    for shot in args.shots:
        base = fly(shot, 0.0, repo, args.delay_s)
        latency = round(base['latency_s'], 2)
        runs.append(base)
        for lead in (latency, 1.0):
            runs.append(fly(shot, lead, repo, args.delay_s))
        for r in runs[-3:]:
            print('%s lead %.2f s: mean %.1f px, median %.1f, p90 %.1f, latency %.3f s, %d of %d commands led' % (
                shot, r['lead_s'], r['mean'], r['median'], r['p90'], r['latency_s'], r['led'], r['commands']),
                flush=True)
    lines = ['| shot | lead_s | mean px | median px | p90 px | frames with the target in the image | '
             'commands led by the forecast |',
             '| --- | ---: | ---: | ---: | ---: | ---: | ---: |']
    desc = dict(SHOTS)
    for r in runs:
        lines.append('| %s (%s) | %.2f | %.1f | %.1f | %.1f | %.0f%% | %d / %d |' % (
            r['shot'], desc[r['shot']], r['lead_s'], r['mean'], r['median'], r['p90'], 100 * r['in_view'], r['led'],
            r['commands']))
    lat = ', '.join('%s %.3f s' % (r['shot'], r['latency_s']) for r in runs if r['lead_s'] == 0)
    text = '\n'.join(lines) + '\n\nTrack published %.2f s after its image (stand-in for detector + tracker time). ' \
        'Measured pipeline latency (command time minus the image stamp of the estimate it used, lead 0 runs): %s.\n' % (
            args.delay_s, lat)
    print(text)
    head = ('# Leading the target: pointing error with and without the forecast\n\n'
            'Written by `python -m uavcine.eval.lead_eval --out %s --png %s` (simulator; numbers from this '
            'shared, loaded CPU are deterministic, not timings).\n\n%s\n\n![maps and errors](%s)\n\n' % (
                args.out, args.png, __doc__.split('\n\n', 2)[2].strip(), Path(args.png).name))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(head + text)
    plot(runs, [], Path(args.png))
    return 0


if __name__ == '__main__':
    sys.exit(main())
