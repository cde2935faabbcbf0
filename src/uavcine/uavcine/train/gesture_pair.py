"""What the seven joints keep of all_clear vs not_clear (issue #16): per subject, a few summaries of each video.

In UAV-GESTURE both signals are the right arm raised and lowered again and again, thumb up (all_clear) or down
(not_clear); COCO-18 has no thumb. For every subject with both videos this prints, per video: the head's median
offset from the shoulder midpoint (x, in that frame's shoulder widths: ``skeleton.arm_pose``), the right upper
arm's direction at the top of the motion (degrees from straight up, image x to the right positive, over the
frames where the right wrist is in its highest 20 %), and the motion's period (s; first autocorrelation peak
above 0.2 of the right wrist's height), and how many subjects differ in the same direction. ``--png`` plots the
right wrist's height and the right elbow's angle over time, per subject (green all_clear, red not_clear).

    python -m uavcine.train.gesture_train pair-stats --data ../shared/data/uav_gesture --png docs/gesture_thumb_pair.png
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.gestures import skeleton as K
from . import uav_gesture as U

PAIR = ('all_clear', 'not_clear')


def summaries(v: U.Video) -> dict:
    """Head offset (x), right upper arm's angle at the top of the motion, period of the right wrist's motion."""
    p7, _ = K.joint_proc(v.points18)
    pose = K.arm_pose(p7)
    y = p7[:, K.R_WRIST, 1]
    top = y <= np.quantile(y, 0.2)
    upper = pose[top, 0:2]
    yy = y - y.mean()
    ac = np.correlate(yy, yy, 'full')[len(yy) - 1:]
    ac = ac / max(ac[0], 1e-9)
    peaks = np.flatnonzero((ac[1:-1] > ac[:-2]) & (ac[1:-1] > ac[2:]) & (ac[1:-1] > 0.2)) + 1
    return {'head_x': float(np.median(pose[:, 10])),
            'upper_arm_top_deg': float(np.degrees(np.arctan2(upper[:, 0], -upper[:, 1])).mean()),
            'period_s': float(peaks[0] / U.FPS) if len(peaks) else float('nan')}


def pair_stats(videos: dict[str, U.Video]) -> dict:
    """Per subject with both videos: each video's ``summaries``; and per summary, the number of subjects where
    all_clear's value is below not_clear's."""
    by = {(v.subject, v.label): summaries(v) for v in videos.values() if v.label in PAIR}
    subjects = sorted({s for s, _ in by if all((s, g) in by for g in PAIR)}, key=lambda s: int(s[1:]))
    keys = ('head_x', 'upper_arm_top_deg', 'period_s')
    out = {'subjects': {s: {g: by[s, g] for g in PAIR} for s in subjects}, 'all_clear_below': {}}
    print('%-5s' % 'subj' + ''.join('%24s' % ('%s AC / NC' % k) for k in keys))
    for s in subjects:
        print('%-5s' % s + ''.join('%12.2f%12.2f' % (by[s, 'all_clear'][k], by[s, 'not_clear'][k]) for k in keys))
    for k in keys:
        below = sum(by[s, 'all_clear'][k] < by[s, 'not_clear'][k] for s in subjects)
        out['all_clear_below'][k] = int(below)
        print('%s: all_clear below not_clear in %d of %d subjects' % (k, below, len(subjects)))
    return out


def plot(videos: dict[str, U.Video], png: Path) -> None:
    import matplotlib  # lazy: plotting only
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: plotting only, after the Agg backend is chosen
    subjects = sorted({v.subject for v in videos.values() if v.label in PAIR}, key=lambda s: int(s[1:]))
    fig, axes = plt.subplots(len(subjects), 2, figsize=(9, 1.1 * len(subjects)), sharex=True)
    for row, s in zip(axes, subjects):
        for v in videos.values():
            if v.subject != s or v.label not in PAIR:
                continue
            p7, _ = K.joint_proc(v.points18)
            t = np.arange(len(p7)) / U.FPS
            c = 'g' if v.label == 'all_clear' else 'r'
            row[0].plot(t, -p7[:, K.R_WRIST, 1], c, lw=0.7)
            row[1].plot(t, np.degrees(np.arccos(np.clip(K.arm_pose(p7)[:, 4], -1, 1))), c, lw=0.7)
        row[0].set_ylabel(s, fontsize=7)
        for ax in row:
            ax.tick_params(labelsize=6)
    axes[0, 0].set_title('right wrist height (shoulder widths); green all_clear, red not_clear', fontsize=8)
    axes[0, 1].set_title('right elbow angle (deg)', fontsize=8)
    axes[-1, 0].set_xlabel('s', fontsize=7)
    axes[-1, 1].set_xlabel('s', fontsize=7)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(png), dpi=60)
    plt.close(fig)
    print('wrote %s' % png)
