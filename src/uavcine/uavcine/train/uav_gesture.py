"""UAV-GESTURE (Perera, Law, Chahl, ECCV-W 2018): the keypoint loader and the two protocols of MMGR.

Layout (shared/data/uav_gesture, see its README): ``joint_positions/<class>/<video>/<video>.mat``
with ``pos_img`` 2 x 18 x T (OpenPose COCO-18 pixels, 1920x1080, 25 fps), and
``splits/<class>_{train,test}_split{1,2,3}.txt`` (one video name a line; three subject splits).

Protocols (seed §3.8):

- P-I: each test video is one sequence, entirely one gesture.
- P-II: at least the last 80 % of the frames are the gesture. We build each P-II test sequence
  deterministically, at the worst case the protocol allows (exactly 20 % of the frames foreign):
  for a test video of gesture g by subject S with L frames, the prefix is the last
  k = round(L / 4) frames (k / (L + k) = 20 %) of subject S's video of the next gesture after g
  in the label order (cyclically) that S performed in the same test split (any of S's videos when
  S has no other one there); if that video is shorter than k, all of it.

The splits are per gesture: a subject can be a test subject of one gesture and a training
subject of another (the files name 11 subjects, S1-S15, where the paper says 10).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from ..core.gestures.mmgr import UAV_GESTURE_LABELS

FPS = 25.0
IMAGE_SIZE = (1920, 1080)


@dataclass
class Video:
    name: str               # e.g. 'S13_allClear_HD'
    subject: str            # e.g. 'S13'
    label: str              # e.g. 'all_clear'
    points18: np.ndarray    # (T, 18, 2) pixels, (0, 0) where OpenPose found nothing


def load(root: str | Path) -> dict[str, Video]:
    """Every video of the dataset, by name."""
    root = Path(root)
    jp = root / 'joint_positions'
    if not jp.is_dir():
        raise FileNotFoundError('no UAV-GESTURE keypoints under %s (expected joint_positions/)' % root)
    videos = {}
    for label in UAV_GESTURE_LABELS:
        for mat in sorted((jp / label).glob('*/*.mat')):
            pos = scipy.io.loadmat(str(mat))['pos_img']                 # 2 x 18 x T
            name = mat.stem
            videos[name] = Video(name, name.split('_')[0], label, np.transpose(pos, (2, 1, 0)).astype(np.float64))
    return videos


def split(root: str | Path, k: int) -> tuple[list[str], list[str]]:
    """Video names (train, test) of subject split k (1, 2 or 3)."""
    out = {}
    for part in ('train', 'test'):
        names = []
        for label in UAV_GESTURE_LABELS:
            text = (Path(root) / 'splits' / ('%s_%s_split%d.txt' % (label, part, k))).read_text()
            names += re.findall(r'\S+', text)
        out[part] = names
    return out['train'], out['test']


def p2_prefix_source(videos: dict[str, Video], v: Video, pool: list[str] | None = None) -> Video:
    """The video whose end is prefixed to ``v`` under P-II (see the module doc); ``pool``: the test split."""
    mine = {o.label: o for o in videos.values() if o.subject == v.subject and o.name != v.name}
    if pool is not None:
        inside = {lab: o for lab, o in mine.items() if o.name in set(pool)}
        mine = inside or mine
    order = list(UAV_GESTURE_LABELS)
    i = order.index(v.label)
    for step in range(1, len(order)):
        other = mine.get(order[(i + step) % len(order)])
        if other is not None and other.label != v.label:
            return other
    raise ValueError('subject %s has no other gesture to prefix %s with' % (v.subject, v.name))


def p2_sequence(videos: dict[str, Video], v: Video, pool: list[str] | None = None,
                foreign: float = 0.2) -> tuple[np.ndarray, int]:
    """(T', 18, 2) the P-II test sequence of ``v`` and the number of foreign frames at its start."""
    L = len(v.points18)
    k = int(round(L * foreign / (1.0 - foreign)))
    src = p2_prefix_source(videos, v, pool).points18
    prefix = src[-k:] if len(src) >= k else src
    return np.concatenate([prefix, v.points18], axis=0), len(prefix)


def dev_split(root: str | Path, k: int, held_out: int = 2) -> tuple[list[str], list[str]]:
    """A development split inside split k's training subjects: the ``held_out`` highest-numbered training
    subjects are the development set (for choosing a recipe without looking at the test subjects)."""
    train, _ = split(root, k)
    subjects = sorted({n.split('_')[0] for n in train}, key=lambda s: int(s[1:]))
    dev = set(subjects[-held_out:])
    return [n for n in train if n.split('_')[0] not in dev], [n for n in train if n.split('_')[0] in dev]
