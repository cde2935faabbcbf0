"""Tracking sequences, one home for the evaluation and the training: ``Seq``, OTB folders, the simulator suite.

``read_otb`` reads an OTB-format folder (img/*.jpg, groundtruth_rect.txt); ``sim_sequences``
renders (and caches under data/track_suite/) the embedded simulator's random scenarios of a
split, each exported in the same layout. ``eval/track_eval.py`` evaluates on them and
``train/siamfc_train.py`` trains and calibrates on them.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from tqdm import tqdm

from ..sim.scenario import OccluderCfg

from ..errors import UserError

# ----------------------------------------------------------------------------
# Sequences
# ----------------------------------------------------------------------------


@dataclass
class Seq:
    name: str
    frames: list | Callable[[int], np.ndarray]
    boxes: np.ndarray            # (N, 4) x, y, w, h (continuous px); nan where unknown
    visible: np.ndarray          # (N,) visible fraction of the target, 0..1
    meta: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.boxes)

    def frame(self, i: int) -> np.ndarray:
        return self.frames(i) if callable(self.frames) else self.frames[i]


class OTBError(UserError):
    """An OTB-layout folder that cannot be read as a sequence (one line says which file and why)."""


_NUM = re.compile(r'(\d+)$')


def _read_groundtruth(path: Path) -> np.ndarray:
    """x,y,w,h rows, separated by commas, tabs or spaces; 'NaN' (any case) or an empty row = out of view."""
    rows = []
    lines = path.read_text().splitlines()
    while lines and not lines[-1].strip():  # trailing blank lines
        lines.pop()
    for k, line in enumerate(lines):
        parts = [v for v in re.split(r'[,\s]+', line.strip()) if v]
        if not parts:
            rows.append([np.nan] * 4)
            continue
        try:
            vals = [float(v) for v in parts]
        except ValueError:
            raise OTBError('%s line %d: not 4 numbers: %r' % (path, k + 1, line.strip())) from None
        if len(vals) != 4:
            raise OTBError('%s line %d: %d values, expected x,y,w,h' % (path, k + 1, len(vals)))
        if not all(np.isfinite(vals)) or vals[2] <= 0 or vals[3] <= 0:
            vals = [np.nan] * 4  # out of view (some datasets write 0,0,0,0)
        rows.append(vals)
    if not rows:
        raise OTBError('%s: no boxes' % path)
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def read_otb(folder: str | Path, max_frames: int = 0) -> Seq:
    """An OTB-layout sequence: img/*.jpg|png and groundtruth_rect.txt (x,y,w,h, 1-based pixels as OTB).

    Rows of NaN (or 0 size) are frames with the target out of view. Grayscale frames come back as RGB.
    The frames must be numbered without gaps (0001.jpg, 0002.jpg, ...) and at least as many as the boxes:
    a missing or unreadable frame is an ``OTBError`` naming it (never a silent shift of the truth).
    ``max_frames`` > 0 keeps only the first frames. An optional ``visibility.txt`` (one fraction per line)
    gives occlusion/out-of-view; else visible where a box is given.
    """
    folder = Path(folder)
    gt_file = folder / 'groundtruth_rect.txt'
    if not gt_file.is_file():
        raise OTBError('not an OTB sequence folder (no groundtruth_rect.txt): %s' % folder)
    if not (folder / 'img').is_dir():
        raise OTBError('not an OTB sequence folder (no img/): %s' % folder)
    imgs = sorted((p for p in (folder / 'img').iterdir() if p.suffix.lower() in ('.jpg', '.jpeg', '.png')),
                  key=lambda p: (int(_NUM.search(p.stem).group(1)) if _NUM.search(p.stem) else -1, p.name))
    gt = _read_groundtruth(gt_file)
    gt[:, :2] -= 1.0  # OTB is 1-based; ours is continuous from 0
    if not imgs:
        raise OTBError('%s: no frames in img/' % folder)
    nums = [int(_NUM.search(p.stem).group(1)) if _NUM.search(p.stem) else None for p in imgs]
    if None not in nums:
        first = nums[0]
        for k, n in enumerate(nums):
            if n != first + k:
                raise OTBError('%s: frame number %d is missing (img/ goes from %s to %s)' % (
                    folder, first + k, imgs[k - 1].name, imgs[k].name))
    if len(imgs) < len(gt):
        raise OTBError('%s: %d boxes but only %d frames in img/ (frames after %s are missing)' % (
            folder, len(gt), len(imgs), imgs[-1].name))
    vis_file = folder / 'visibility.txt'
    vis = np.loadtxt(vis_file, ndmin=1) if vis_file.is_file() else np.isfinite(gt).all(axis=1).astype(float)
    n = len(gt) if max_frames <= 0 else min(len(gt), max_frames)

    def load(i):
        im = cv2.imread(str(imgs[i]), cv2.IMREAD_COLOR)  # grayscale files are expanded to 3 channels
        if im is None:
            raise OTBError('cannot read frame %s' % imgs[i])
        return cv2.cvtColor(im, cv2.COLOR_BGR2RGB)

    return Seq(folder.name, load, gt[:n], vis[:n].astype(np.float64), {'folder': str(folder)})


def otb_folders(paths) -> list:
    """Sequence folders from ``--otb`` arguments: a sequence folder itself, or a folder of sequence folders."""
    out = []
    for p in paths:
        p = Path(p)
        if (p / 'groundtruth_rect.txt').is_file():
            out.append(p)
        elif p.is_dir():
            subs = sorted(q for q in p.iterdir() if (q / 'groundtruth_rect.txt').is_file())
            if not subs:
                raise OTBError('no OTB sequences (folders with groundtruth_rect.txt) in %s' % p)
            out += subs
        else:
            raise OTBError('no such folder: %s' % p)
    return out


# ----------------------------------------------------------------------------
# Crop bank and pairs
# ----------------------------------------------------------------------------


REPO = Path(__file__).resolve().parents[4]
DATA = REPO / 'data' / 'track_suite'

# ----------------------------------------------------------------------------
# The simulator suite
# ----------------------------------------------------------------------------

#: Seeds of the random scenarios per split (disjoint: train the model, calibrate quality, test).
SPLITS = {'train': range(1000, 1080), 'calib': range(2000, 2010), 'test': range(3000, 3021), 'smoke': range(3000, 3003)}
RATE_HZ = 10.0
SPLIT_RATE_HZ = {'train': 5.0}  # training pairs need variety more than frame rate
SPLIT_DURATION_S = {'test': 12.0, 'smoke': 12.0}  # the CPU renderer is the cost on a shared 2-core machine
DURATION_S = 20.0


def sim_sequences(split: str, cache: bool = True) -> list:
    """Tracking sequences of a split, rendered by the embedded simulator (cached under data/track_suite/)."""
    if split not in SPLITS:
        raise SystemExit('error: unknown split %r (known: %s)' % (split, ', '.join(SPLITS)))
    out = []
    for seed in tqdm(SPLITS[split], desc='suite %s' % split, unit='seq'):
        folder = DATA / ('sim_%d' % seed)
        done = (folder / 'meta.json').is_file() or (folder / 'UNUSABLE').is_file()
        if not (cache and done):
            try:
                export_sim_sequence(seed, folder, rate_hz=SPLIT_RATE_HZ.get(split, RATE_HZ),
                                    duration_s=SPLIT_DURATION_S.get(split, DURATION_S))
            except Exception as e:  # a scenario the simulator cannot run: recorded, skipped
                folder.mkdir(parents=True, exist_ok=True)
                (folder / 'UNUSABLE').write_text('simulator error: %r\n' % e)
        if (folder / 'UNUSABLE').is_file():
            continue
        seq = read_otb(folder)
        meta_file = folder / 'meta.json'
        seq.meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
        out.append(seq)
    return out


def suite_scenario(seed: int, rate_hz: float = RATE_HZ, duration_s: float = DURATION_S):
    """The scenario of a suite seed: three kinds in turn, so that every split has each difficulty.

    seed % 3 == 0: ``random_scenario`` as it is (any class and shot, distractors, clutter);
    seed % 3 == 1: the same with the gimbal fixed (the target drifts out of view and back);
    seed % 3 == 2: a moving person or car in a CHASE or LATERAL shot, gimbal locked on it, with trees
    planted on its path (canopies occlude it from above, the typical aerial occlusion).
    Seeds whose target is never visible enough to start are skipped (UNUSABLE marker).
    """
    from ..sim import random_scenario  # lazy: start-up time: importing it loads cv2, the renderer
    kind = seed % 3
    if kind == 1:
        sc = random_scenario(seed, camera_rate_hz=rate_hz, duration_s=duration_s, gimbal='fixed')
    elif kind == 0:
        sc = random_scenario(seed, camera_rate_hz=rate_hz, duration_s=duration_s)
    else:
        sc = random_scenario(seed, camera_rate_hz=rate_hz, duration_s=duration_s, classes=('person', 'car'),
                             shots=('CHASE', 'LATERAL'), gimbal='lock')
    for t in sc.targets:  # sim.world.PathMotion reads speeds past the last segment when a target reaches the end
        if len(t.speeds) > 1:
            t.speeds = list(t.speeds) + [t.speeds[-1]] * 4
    if kind != 2:
        return sc
    rng = np.random.default_rng([seed, 77])
    path = np.asarray(sc.targets[0].path, dtype=float)
    if len(path) >= 2:
        seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
        cum = np.r_[0.0, np.cumsum(seg)]
        speed = float(np.mean(sc.targets[0].speeds)) if sc.targets[0].speeds else 5.0
        reach = min(cum[-1], speed * duration_s)  # plant only where the target goes during the sequence
        big = sc.targets[0].cls == 'car'
        for frac in (0.2, 0.45, 0.7):
            d = frac * reach
            i = min(int(np.searchsorted(cum, d, side='right')) - 1, len(seg) - 1)
            p = path[i] + (path[i + 1] - path[i]) * (d - cum[i]) / max(seg[i], 1e-6)
            sc.occluders.append(OccluderCfg(kind='tree', position=[float(p[0]), float(p[1])],
                                            radius=float(rng.uniform(3.5, 5.5) if big else rng.uniform(2.5, 4.0)),
                                            height=float(rng.uniform(7, 12))))
    return sc


def export_sim_sequence(seed: int, folder: Path, rate_hz: float = RATE_HZ, duration_s: float = DURATION_S,
                        min_side: float = 5.0) -> None:
    """Render ``suite_scenario(seed)`` and write it in OTB layout (img/, groundtruth_rect.txt, NaN rows when the
    target is out of view) plus visibility.txt (unoccluded fraction of the target per frame) and meta.json
    (class, rate, shot, attributes and every object's box per frame, for the simulated detector).

    The sequence starts at the first frame where the target is >= 80% visible, not truncated and at least
    ``min_side`` px; a scenario that never has one gets an UNUSABLE marker (returns False).
    """
    from ..sim import Simulator  # lazy: start-up time: importing it loads cv2, the renderer
    sc = suite_scenario(seed, rate_hz, duration_s)
    sim = Simulator(sc)
    tid = sc.shot.target
    (folder / 'img').mkdir(parents=True, exist_ok=True)
    boxes, vis, objects, started = [], [], [], False
    k = 0
    for f in sim.frames():
        tgt = next((o for o in f.truth if o.id == tid), None)
        ok = tgt is not None and tgt.bbox_xywh is not None and tgt.in_view
        if not started:
            if not (ok and tgt.visibility >= 0.8 and min(tgt.bbox_xywh[2:]) >= min_side and not tgt.truncated):
                continue
            started = True
        cv2.imwrite(str(folder / 'img' / ('%04d.jpg' % (k + 1))), cv2.cvtColor(f.rgb, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 92])
        boxes.append(tgt.bbox_xywh if ok else (np.nan,) * 4)
        vis.append(float(tgt.visibility) if ok else 0.0)
        objects.append([{'id': o.id, 'cls': o.cls, 'box': [float(v) for v in o.bbox_xywh],
                         'visible': float(o.visibility), 'target': o.id == tid}
                        for o in f.truth if o.bbox_xywh is not None and o.in_view])
        k += 1
    if not started:
        (folder / 'UNUSABLE').write_text('the target is never visible enough to start tracking\n')
        return False
    b = np.asarray(boxes, dtype=np.float64)
    b[:, :2] += 1.0  # OTB files are 1-based
    np.savetxt(folder / 'groundtruth_rect.txt', b, fmt='%.2f', delimiter=',')
    np.savetxt(folder / 'visibility.txt', np.asarray(vis), fmt='%.3f')
    v = np.asarray(vis)
    in_view = np.isfinite(b).all(axis=1)
    meta = {'seed': seed, 'cls': sc.targets[0].cls, 'rate_hz': rate_hz, 'shot': sc.shot.type,
            'frames': k, 'occluded_frames': int(np.sum(in_view & (v < 0.5))),
            'out_of_view_frames': int(np.sum(~in_view)),
            'distractors': int(sum(d.count for d in sc.distractors if d.cls == sc.targets[0].cls)),
            'objects': objects}
    (folder / 'meta.json').write_text(json.dumps(meta))
    return True


# ----------------------------------------------------------------------------
# Detectors for the manager
