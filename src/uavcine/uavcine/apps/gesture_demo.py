"""`uavcine gesture-demo`: a person signals "all clear" and the drone starts its ORBIT around them.

Graph (offline host, simulated time): simulator (sim/gesture_orbit.yaml: the drone hovers at the
shot's start point until a START ShotCommand) -> truth_track (the person's true box as the Track:
a stand-in for detector + tracker) -> gesture_actor (the person's skeleton: a real UAV-GESTURE
*training-split* sequence retargeted into the box, with keypoint noise: a stand-in for the pose
network) -> gesture node (MMGR skeleton recogniser + safety gate) -> /shot/command -> simulator.

Writes OUT/bag (rosbag2 MCAP of every topic), OUT/gesture_timeline.png (recognised gestures, the
commands and the drone's bearing around the person over time) and OUT/summary.json.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

from ..core.gestures.mmgr import UAV_GESTURE_LABELS
from ..nodes.gesture import GestureNode, GestureParams
from ..offline.host import OfflineHost
from ..sim.node import SimNode
from .gesture_actor import GestureActorNode, TruthTrackNode

REPO = Path(__file__).resolve().parents[4]


def run(out: Path, model: str, video: str, start_s: float, duration_s: float, data_dir: str = '',
        progress: bool = True, min_confidence: float = GestureParams().min_confidence) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    if (out / 'bag').exists() and (out / 'summary.json').exists():  # our own earlier run: replace it
        import shutil
        shutil.rmtree(out / 'bag')
        (out / 'summary.json').unlink()
    host = OfflineHost(out / 'bag', strict=False)
    try:
        host.add_node(SimNode, {'scenario': str(REPO / 'sim' / 'gesture_orbit.yaml')})
        host.add_node(TruthTrackNode)
        host.add_node(GestureActorNode, {'video': video, 'start_s': start_s, 'duration_s': duration_s,
                                         'data_dir': data_dir})
        host.add_node(GestureNode, {'model_path': model, 'min_person_px': 60.0, 'min_confidence': min_confidence})
        gestures = host.capture('/gesture/recognised')
        commands = host.capture('/shot/command')
        poses = host.capture('/truth/vehicle_pose')
        reason = host.run(progress=progress)
    finally:
        host.close()
    t0 = poses[0][0]
    rec = [((t - t0) / 1e9, m.label, float(m.confidence), m.reason) for t, m in gestures]
    labels = next((tuple(m.labels) for _, m in gestures if m.labels), UAV_GESTURE_LABELS)  # the model's classes
    cmds = [((t - t0) / 1e9, m.command_name, m.source) for t, m in commands]
    bearing = [((t - t0) / 1e9, math.degrees(math.atan2(m.pose.position.y, m.pose.position.x))) for t, m in poses]
    summary = {'stopped': reason, 'errors': list(host.errors), 'video': video, 'gesture_start_s': start_s,
               'gesture_end_s': start_s + duration_s, 'commands': cmds,
               'recognised': {lab: sum(1 for _, l, _, _ in rec if l == lab) for lab in sorted({l for _, l, _, _ in rec if l})},
               'max_confidence': {lab: round(max(c for _, l, c, _ in rec if l == lab), 3)
                                  for lab in sorted({l for _, l, _, _ in rec if l})},
               'min_confidence': min_confidence,
               'no_gesture_reasons': sorted({r.split(' (')[0] for _, l, _, r in rec if not l})}
    plot(out / 'gesture_timeline.png', rec, cmds, bearing, start_s, duration_s, video, labels)
    (out / 'summary.json').write_text(json.dumps(summary, indent=1))
    return summary


def plot(path, rec, cmds, bearing, start_s, duration_s, video, labels=UAV_GESTURE_LABELS):
    import matplotlib  # lazy: start-up time (the command line imports this module to register it)
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: start-up time, and after matplotlib.use('Agg')
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True, gridspec_kw={'height_ratios': [2.2, 1]})
    a1.axvspan(start_s, start_s + duration_s, color='#cfe8cf', label='person performs %s' % video)
    lab = [(t, labels.index(l), c) for t, l, c, _ in rec if l in labels]
    if lab:
        t, y, c = zip(*lab)
        sc = a1.scatter(t, y, c=c, cmap='viridis', vmin=0, vmax=1, s=18, zorder=3)
        fig.colorbar(sc, ax=[a1, a2], label='confidence', pad=0.01)  # both panels keep the same width
    for t, name, src in cmds:
        for a in (a1, a2):
            a.axvline(t, color='crimson', lw=1.5)
        a1.text(t, len(labels) - 0.5, ' %s\n (%s)' % (name, src.split(':')[-1]), color='crimson', va='top',
                fontsize=9)
    a1.set_yticks(range(len(labels)))
    a1.set_yticklabels(labels, fontsize=8)
    a1.set_ylim(-0.5, len(labels) - 0.5)
    a1.set_title('Recognised gestures (5 s window, every 0.5 s) and the shot commands they sent')
    a1.legend(loc='lower right', fontsize=8)
    tb, b = zip(*bearing)
    a2.plot(tb, np.unwrap(np.radians(b)) * 180 / math.pi, color='k')
    a2.set_ylabel('drone bearing\naround person, deg')
    a2.set_xlabel('time, s')
    a1.tick_params(labelbottom=True)
    fig.savefig(path, dpi=110, bbox_inches='tight')
    plt.close(fig)


def cmd_gesture_demo(args) -> int:
    model = Path(args.model)
    if not (model.is_file() or (REPO / model).is_file()):
        print('uavcine gesture-demo: no model at %s (train: python -m uavcine.train.gesture_train)' % model,
              file=sys.stderr)
        return 2
    s = run(Path(args.out), str(model if model.is_file() else REPO / model), args.video, args.start, args.duration,
            args.data, progress=not args.no_progress, min_confidence=args.min_confidence)
    print(json.dumps({k: s[k] for k in ('commands', 'recognised', 'max_confidence', 'no_gesture_reasons')}, indent=1))
    print('timeline: %s' % (Path(args.out) / 'gesture_timeline.png'))
    return 1 if s['errors'] else 0


def register(subparsers):
    p = subparsers.add_parser('gesture-demo', help='a person signals all_clear and the drone starts its ORBIT')
    p.add_argument('--out', default='runs/gesture_demo')
    p.add_argument('--model', default=GestureParams().model_path, help='recogniser (default: the gesture node\'s)')
    p.add_argument('--video', default='S1_allClear_HD', help='UAV-GESTURE training-split video the person performs')
    p.add_argument('--start', type=float, default=5.0, help='gesture start, s')
    p.add_argument('--duration', type=float, default=12.0, help='gesture length, s')
    p.add_argument('--data', default='', help='UAV-GESTURE folder (default: shared/data/uav_gesture)')
    p.add_argument('--min-confidence', type=float, default=GestureParams().min_confidence,
                   help="the gesture node's min_confidence for the demo (default: the node's own, %(default)s; "
                   'see MODEL_CARD_gesture.md)')
    p.add_argument('--no-progress', action='store_true')
    p.set_defaults(func=cmd_gesture_demo)
    return p
