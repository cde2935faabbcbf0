"""Detection on real footage: recall of the annotated targets of OTB-layout sequences, and precision on
exhaustively labelled frames. The simulator's held-out table is ``uavcine.train.detr_eval``; this is the real one.

    python -m uavcine.eval.det_eval --otb /work/shared/data/aerial_tracking --model models/detr_small.onnx \\
        --backend onnxruntime --out docs/det_eval_real.md

Protocol (issue #21):

- **Recall of the annotated target.** Tracking sequences annotate one target per frame, not every object, so
  only the recall of that target can be measured. Every ``--step``-th frame (10: frames 0, 10, 20, ... of the
  sequence, 0-based) whose annotation row is finite is scored; NaN rows (target out of view) are skipped. The
  detector runs on the whole frame (letterboxed by the detector itself) and keeps detections with score
  >= ``--score`` (0.3); a frame counts as found at IoU t when a detection of the target's class overlaps the
  annotated box with IoU >= t (t = 0.5 and 0.3). Boxes are compared in the original image's pixels.
- **The target's class** comes from the sequence's name, written down once in ``SEQUENCE_CLASSES`` (the
  development set) and ``NAME_PATTERNS`` (unseen sequences, by the words their names use); a sequence whose
  target is neither a person nor a vehicle (a gull) is not scored; ``--class-map NAME=CLASS`` overrides.
  A detector class counts for a target class through ``CLASS_ALIASES`` (COCO's truck and bus are vehicles
  for a COCO-trained DETR-R50; our own model has person and car).
- **Precision** where it can be measured: frames whose every person and car was boxed by hand
  (``det_labels/dev_exhaustive.json``, how they were made is in its header; where part of a frame could not
  be labelled with confidence, a ``region`` says which part was, and detections centred outside it are not
  counted). Detections of person/car (aliases mapped) with score >= ``--score`` are matched greedily by score to unmatched boxes of the same
  class at IoU >= 0.5; precision = matched detections / all detections, recall = matched boxes / all boxes.

Offline tool (Python 3.10+).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from .sequences import REPO, OTBError, otb_folders, read_otb

#: The development set's sequences and the class of their annotated target (None: not a detector class).
SEQUENCE_CLASSES = {
    'DTB70_BMX3': 'person',            # a BMX rider (box: rider and bike)
    'DTB70_Gull1': None,               # a gull: not a detector class
    'DTB70_MountainBike6': 'person',   # a mountain-biker
    'DTB70_Surfing06': 'person',       # a surfer
    'OTB_Couple': 'person',            # two walkers, the box on one
    'OTB_Crossing': 'person',          # a pedestrian on a crossing
    'UAV123_10fps_truck2': 'car',      # a truck among vehicles
    'UAV123_10fps_wakeboard4': 'person',  # a wakeboarder
    'UAVDT_S0601': 'car',              # a car in traffic
}

#: Two folds by sequence for masked real supervision (train/det_real.py): a fold's model never trains on the
#: sequences listed here and is judged only on them. Balanced by class and by kind: each fold holds out two
#: aerial person sequences (one small target on water: Surfing06 / wakeboard4), one ground-level OTB person and
#: one vehicle sequence. The two folds together cover every scored development sequence once.
FOLDS = {
    'A': ('DTB70_BMX3', 'DTB70_Surfing06', 'OTB_Crossing', 'UAV123_10fps_truck2'),
    'B': ('DTB70_MountainBike6', 'UAV123_10fps_wakeboard4', 'OTB_Couple', 'UAVDT_S0601'),
}

#: Sequences not in the table: the first pattern found in the lower-cased name wins (no match: not scored).
NAME_PATTERNS = [
    (r'gull|bird|eagle|animal|horse|dog|boat|ship|drone|uav\d*$|building|wire', None),
    (r'car|truck|bus|vehicle|van|suv|taxi|uavdt|^s\d{4}', 'car'),
    (r'person|people|man|woman|girl|boy|walk|run|jog|bike|bmx|cyclist|bicycle|surf|wakeboard|ski|skate|'
     r'crossing|couple|pedestrian|human|basketball|soccer|football|dancer|group', 'person'),
]

#: Detector class names that count as each target class (those the model has are used).
CLASS_ALIASES = {'person': ('person',), 'car': ('car', 'truck', 'bus')}

IOUS = (0.5, 0.3)
LABELS = Path(__file__).resolve().parent / 'det_labels' / 'dev_exhaustive.json'


def target_class(name: str, overrides: dict | None = None):
    """The class of a sequence's annotated target: the override, the table, else the name's words; None = skip."""
    if overrides and name in overrides:
        return overrides[name]
    if name in SEQUENCE_CLASSES:
        return SEQUENCE_CLASSES[name]
    low = name.lower()
    for pat, cls in NAME_PATTERNS:
        if re.search(pat, low):
            return cls
    return None


def canonical(name: str):
    """A detector class name -> the target class it counts as (None: neither person nor car)."""
    for cls, names in CLASS_ALIASES.items():
        if name in names:
            return cls
    return None


def iou_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of N x 4 and M x 4 boxes (x0, y0, x1, y1, continuous pixels)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda z: np.clip(z[:, 2] - z[:, 0], 0, None) * np.clip(z[:, 3] - z[:, 1], 0, None)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def xywh_to_xyxy(b) -> np.ndarray:
    b = np.asarray(b, np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], 1)


@dataclass
class Dets:
    """One frame's detections in the ORIGINAL image's pixels, classes mapped to person/car (others dropped)."""

    boxes_xyxy: np.ndarray
    scores: np.ndarray
    classes: list = field(default_factory=list)


def detr_detect_fn(detector, score: float):
    """``runtime.detector.Detector`` -> a function rgb -> Dets (score >= ``score``, person/car classes only)."""
    def detect(rgb):
        d = detector.detect(rgb, score_threshold=score, max_detections=100)
        cls = [canonical(n) for n in d.names()]
        keep = np.array([c is not None for c in cls], bool)
        return Dets(np.asarray(d.boxes_xyxy, np.float64).reshape(-1, 4)[keep],
                    np.asarray(d.scores, np.float64)[keep], [c for c in cls if c is not None])
    return detect


#: ``--model opencv-hog``: the one pretrained person detector this machine has (see ``hog_detect_fn``).
HOG_MODEL = 'opencv-hog'


def hog_detect_fn(score: float, upscale: float = 2.0):
    """OpenCV's HOG + linear SVM people detector (Dalal and Triggs, CVPR 2005, trained on INRIA pedestrians;
    its weights ship inside the OpenCV wheel: ``cv2.HOGDescriptor_getDefaultPeopleDetector``) -> a function
    rgb -> Dets of class person. It is the peer "a model users could have" that issue #21 asks for: the only
    pretrained person detector installable here (no hub downloads; DETR-R50's release cannot be fetched).

    Written as a wrapper, not by hand: OpenCV does the HOG, the sliding window and the scale pyramid
    (``detectMultiScale``, step 1.05, 8 px stride, its own mean-shift-free grouping). Its window is 64 x 128 px,
    so a person smaller than ~ 48 x 96 px in the image is never found; ``upscale`` enlarges the frame first (2:
    ~ 24 x 48 px people) at 4x the cost. ``score`` thresholds the SVM margin (not a probability; 0 is the
    detector's own default decision)."""
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(rgb):
        gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        if upscale != 1.0:
            gray = cv2.resize(gray, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_LINEAR)
        if gray.shape[0] < 128 or gray.shape[1] < 64:
            # no 64 x 128 window fits (the pyramid only shrinks); OpenCV 5 also crashes (SIGSEGV) on some such sizes
            return Dets(np.zeros((0, 4)), np.zeros(0), [])
        rects, weights = hog.detectMultiScale(gray, hitThreshold=0.0, winStride=(8, 8), padding=(8, 8), scale=1.05)
        rects = np.asarray(rects, np.float64).reshape(-1, 4) / upscale
        w = np.asarray(weights, np.float64).reshape(-1)
        keep = w >= score
        return Dets(xywh_to_xyxy(rects[keep]), w[keep], ['person'] * int(keep.sum()))
    return detect


def scored_frames(boxes: np.ndarray, step: int) -> list:
    """Frames 0, step, 2 step, ... whose annotation is finite (NaN rows: target out of view, skipped)."""
    return [i for i in range(0, len(boxes), step) if np.isfinite(boxes[i]).all()]


def recall_of_targets(detect, seqs, step: int = 10, overrides: dict | None = None, progress: bool = True,
                      input_size=None) -> dict:
    """Per sequence: the frames scored, and for each the best IoU of a detection of the target's class
    (and, given the network's ``input_size`` (w, h), the target's median size there, after the letterbox)."""
    out = {}
    for seq in seqs:
        cls = target_class(seq.name, overrides)
        if cls is None:
            out[seq.name] = {'cls': None, 'frames': [], 'best_iou': []}
            continue
        frames = scored_frames(seq.boxes, step)
        best, sizes = [], []
        for i in tqdm(frames, desc=seq.name, leave=False, disable=not progress):
            rgb = seq.frame(i)
            if input_size is not None:
                s = min(input_size[0] / rgb.shape[1], input_size[1] / rgb.shape[0])
                sizes.append([float(seq.boxes[i][2] * s), float(seq.boxes[i][3] * s)])
            d = detect(rgb)
            sel = [k for k, c in enumerate(d.classes) if c == cls]
            gt = xywh_to_xyxy(seq.boxes[i])
            best.append(float(iou_xyxy(d.boxes_xyxy[sel], gt).max()) if sel else 0.0)
        out[seq.name] = {'cls': cls, 'frames': frames, 'best_iou': best}
        if sizes:
            out[seq.name]['net_wh'] = np.median(np.asarray(sizes), 0).tolist()
    return out


def summarise_recall(per_seq: dict, ious=IOUS) -> dict:
    """Recall per sequence and per class (frames pooled over the class's sequences)."""
    seqs, classes = {}, {}
    for name, r in per_seq.items():
        if r['cls'] is None:
            continue
        b = np.asarray(r['best_iou'], np.float64)
        seqs[name] = {'cls': r['cls'], 'frames': len(b), 'net_wh': r.get('net_wh'), **{'recall@%.1f' % t: float((b >= t).mean()) if len(b)
                                                            else float('nan') for t in ious}}
        classes.setdefault(r['cls'], []).append(b)
    per_class = {}
    for cls, bs in classes.items():
        b = np.concatenate(bs)
        per_class[cls] = {'frames': len(b), 'sequences': len(bs),
                          **{'recall@%.1f' % t: float((b >= t).mean()) if len(b) else float('nan') for t in ious}}
    return {'per_sequence': seqs, 'per_class': per_class}


def load_labels(path: str | Path) -> dict:
    """The exhaustively labelled frames: {'frames': [{'sequence', 'frame' (0-based), 'region', 'boxes':
    [{'cls', 'xywh'}]}]}. Boxes are x, y, w, h in the frame's pixels, continuous from 0 (as read_otb gives the
    annotations); every person and car inside ``region`` (x0, y0, x1, y1; absent: the whole frame) is boxed."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except OSError as e:
        raise OTBError('cannot read the labelled frames %s: %s' % (path, e.strerror)) from None
    except ValueError as e:
        raise OTBError('%s is not JSON: %s' % (path, e)) from None
    for k, f in enumerate(d.get('frames', [])):
        for key in ('sequence', 'frame', 'boxes'):
            if key not in f:
                raise OTBError('%s: frame entry %d has no %r' % (path, k, key))
        for b in f['boxes']:
            if b.get('cls') not in CLASS_ALIASES or len(b.get('xywh', ())) != 4:
                raise OTBError('%s: frame entry %d: a box needs cls (person|car) and xywh' % (path, k))
        if f.get('region') is not None and len(f['region']) != 4:
            raise OTBError('%s: frame entry %d: region must be x0, y0, x1, y1' % (path, k))
    return d


def in_region(det: Dets, region) -> Dets:
    """The detections whose centre lies in ``region`` (x0, y0, x1, y1; None: the whole frame)."""
    if region is None:
        return det
    c = (det.boxes_xyxy[:, :2] + det.boxes_xyxy[:, 2:]) / 2
    keep = (c[:, 0] >= region[0]) & (c[:, 0] < region[2]) & (c[:, 1] >= region[1]) & (c[:, 1] < region[3])
    return Dets(det.boxes_xyxy[keep], det.scores[keep], [x for x, k in zip(det.classes, keep) if k])


def match_frame(det: Dets, boxes: list, thr: float = 0.5) -> tuple:
    """Greedy matching by score (COCO's rule): (matched detections, detections, boxes)."""
    used = np.zeros(len(boxes), bool)
    gt = xywh_to_xyxy([b['xywh'] for b in boxes]) if boxes else np.zeros((0, 4))
    gcls = [b['cls'] for b in boxes]
    tp = 0
    for k in np.argsort(-det.scores, kind='stable'):
        cand = [j for j in range(len(boxes)) if not used[j] and gcls[j] == det.classes[k]]
        if not cand:
            continue
        ious = iou_xyxy(det.boxes_xyxy[k], gt[cand])[0]
        j = int(np.argmax(ious))
        if ious[j] >= thr:
            used[cand[j]] = True
            tp += 1
    return tp, len(det.scores), len(boxes)


def precision_on_labels(detect, labels: dict, roots: dict, progress: bool = True) -> dict:
    """Precision and recall on the exhaustively labelled frames (``roots``: sequence name -> folder)."""
    rows, per_class = [], {c: [0, 0, 0] for c in CLASS_ALIASES}
    for f in tqdm(labels['frames'], desc='labelled frames', leave=False, disable=not progress):
        if f['sequence'] not in roots:
            raise OTBError('labelled frame of %s, but that sequence is not under --otb' % f['sequence'])
        seq = read_otb(roots[f['sequence']])
        if not 0 <= f['frame'] < len(seq):
            raise OTBError('labelled frame %d of %s: the sequence has %d frames' % (f['frame'], f['sequence'], len(seq)))
        d = in_region(detect(seq.frame(f['frame'])), f.get('region'))
        rows.append(match_frame(d, f['boxes']))
        for c in per_class:
            dc = [k for k, x in enumerate(d.classes) if x == c]
            t, n, g = match_frame(Dets(d.boxes_xyxy[dc], d.scores[dc], [c] * len(dc)),
                                  [b for b in f['boxes'] if b['cls'] == c])
            per_class[c] = [per_class[c][0] + t, per_class[c][1] + n, per_class[c][2] + g]
    tp, nd, ng = (int(sum(r[i] for r in rows)) for i in range(3))
    return {'frames': len(rows), 'boxes': ng, 'detections': nd, 'matched': tp,
            'precision': tp / nd if nd else float('nan'), 'recall': tp / ng if ng else float('nan'),
            'per_class': {c: {'boxes': v[2], 'detections': v[1], 'matched': v[0],
                              'precision': v[0] / v[1] if v[1] else float('nan'),
                              'recall': v[0] / v[2] if v[2] else float('nan')} for c, v in per_class.items()}}


def render_labelled(detect, labels: dict, roots: dict, out_png: str | Path, tile_w: int = 426) -> str:
    """The labelled frames in a grid: labels white, the labelled region yellow, detections (person red, car
    cyan) with their score; each frame scaled to ``tile_w`` wide."""
    colors = {'person': (255, 60, 60), 'car': (60, 220, 255)}
    tiles = []
    for f in labels['frames']:
        rgb = read_otb(roots[f['sequence']]).frame(f['frame'])
        vis = rgb.copy()
        r = f.get('region')
        if r is not None:
            cv2.rectangle(vis, (int(r[0]), int(r[1])), (int(r[2]) - 1, int(r[3]) - 1), (255, 230, 0), 2)
        for b in f['boxes']:
            x, y, w, h = b['xywh']
            cv2.rectangle(vis, (int(x), int(y)), (int(round(x + w)), int(round(y + h))), (255, 255, 255), 2)
        d = in_region(detect(rgb), r)
        for (x0, y0, x1, y1), sc, c in zip(d.boxes_xyxy, d.scores, d.classes):
            cv2.rectangle(vis, (int(x0), int(y0)), (int(x1), int(y1)), colors[c], 2)
            cv2.putText(vis, '%.2f' % sc, (int(x0), max(12, int(y0) - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colors[c], 2)
        s = tile_w / vis.shape[1]
        vis = cv2.resize(vis, (tile_w, int(round(vis.shape[0] * s))), interpolation=cv2.INTER_AREA)
        cv2.putText(vis, '%s #%d' % (f['sequence'], f['frame']), (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(vis)
    th = max(t.shape[0] for t in tiles)
    tiles = [np.pad(t, ((0, th - t.shape[0]), (0, 0), (0, 0))) for t in tiles]
    while len(tiles) % 3:
        tiles.append(np.zeros_like(tiles[0]))
    grid = np.concatenate([np.concatenate(tiles[i:i + 3], 1) for i in range(0, len(tiles), 3)], 0)
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_png), grid[:, :, ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return str(out_png)


def _f(x: float) -> str:
    return 'n/a' if x != x else '%.3f' % x


def markdown(summ: dict, prec: dict | None, command: str, model: str, step: int, score: float,
             input_size=(0, 0)) -> list:
    size = input_size if isinstance(input_size, str) else 'input %dx%d' % tuple(input_size)
    lines = ['# Detection on real footage (development set)', '', 'Generated by `%s`.' % command, '',
             'Model `%s` (%s). Every %dth frame with a finite annotation, detections with score >= %.2f; a frame '
             'counts when a detection of the target\'s class overlaps the annotated box with IoU >= 0.5 (and 0.3). '
             'Protocol and class mapping: `src/uavcine/uavcine/eval/det_eval.py`.' % (model, size, step, score), '',
             '| class | sequences | frames | recall @ IoU 0.5 | recall @ IoU 0.3 |', '|---|---|---|---|---|']
    for c, r in sorted(summ['per_class'].items()):
        lines.append('| %s | %d | %d | %s | %s |' % (c, r['sequences'], r['frames'], _f(r['recall@0.5']),
                                                     _f(r['recall@0.3'])))
    lines += ['', '| sequence | class | frames | target at the network input (median w x h px) | recall @ IoU 0.5 '
              '| recall @ IoU 0.3 |', '|---|---|---|---|---|---|']
    for n, r in sorted(summ['per_sequence'].items()):
        wh = '%.0f x %.0f' % tuple(r['net_wh']) if r.get('net_wh') else 'n/a'
        lines.append('| %s | %s | %d | %s | %s | %s |' % (n, r['cls'], r['frames'], wh, _f(r['recall@0.5']),
                                                          _f(r['recall@0.3'])))
    if prec is not None:
        lines += ['', 'Precision on the exhaustively labelled frames (`src/uavcine/uavcine/eval/det_labels/'
                  'dev_exhaustive.json`: every person and car inside each frame\'s labelled region boxed by hand; '
                  'greedy matching by score at IoU >= 0.5):',
                  '', '| class | frames | boxes | detections | matched | precision | recall |',
                  '|---|---|---|---|---|---|---|']
        for c, r in prec['per_class'].items():
            lines.append('| %s | %d | %d | %d | %d | %s | %s |' % (c, prec['frames'], r['boxes'], r['detections'],
                                                                  r['matched'], _f(r['precision']), _f(r['recall'])))
        lines.append('| all | %d | %d | %d | %d | %s | %s |' % (prec['frames'], prec['boxes'], prec['detections'],
                                                               prec['matched'], _f(prec['precision']),
                                                               _f(prec['recall'])))
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog='python -m uavcine.eval.det_eval', description=__doc__.split('\n')[0])
    ap.add_argument('--otb', action='append', default=[], metavar='DIR', required=True,
                    help='real sequences in OTB layout: a sequence folder or a folder of them (several allowed)')
    ap.add_argument('--model', default=str(REPO / 'models' / 'detr_small.onnx'),
                    help=".pt (ours or an official DETR-R50 release), .onnx, or '%s' (OpenCV's pretrained "
                         "HOG people detector, the peer: persons only)" % HOG_MODEL)
    ap.add_argument('--hog-upscale', type=float, default=2.0,
                    help='opencv-hog: enlarge the frame by this factor first (its window is 64 x 128 px)')
    ap.add_argument('--backend', default='onnxruntime', choices=['torch', 'onnxruntime'])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--input-size', type=int, nargs=2, default=None, metavar=('W', 'H'),
                    help="network input (torch backend, standard attention: e.g. an official DETR-R50 at 800 608)")
    ap.add_argument('--step', type=int, default=10, help='score every N-th frame')
    ap.add_argument('--score', type=float, default=0.3, help='detection score threshold')
    ap.add_argument('--labels', default=str(LABELS), help="exhaustively labelled frames ('none': no precision)")
    ap.add_argument('--class-map', action='append', default=[], metavar='NAME=CLASS',
                    help="a sequence's target class (person, car or none), over the table")
    ap.add_argument('--out', default=None, help='markdown table (e.g. docs/det_eval_real.md)')
    ap.add_argument('--json-out', default=None)
    ap.add_argument('--labels-png', default=None, help='also draw the labelled frames with the detections')
    ap.add_argument('--holdout', choices=sorted(FOLDS), default=None,
                    help="score only this fold's held-out sequences (FOLDS; recall and precision), as a model "
                         "trained with detr_train --real-holdout FOLD must be judged")
    a = ap.parse_args(argv)
    if a.step < 1:
        print('error: --step must be >= 1', file=sys.stderr)
        return 2
    overrides = {}
    for kv in a.class_map:
        name, _, cls = kv.partition('=')
        if cls not in ('person', 'car', 'none'):
            print('error: --class-map %r: CLASS must be person, car or none' % kv, file=sys.stderr)
            return 2
        overrides[name] = None if cls == 'none' else cls
    try:
        folders = otb_folders(a.otb)
        if a.holdout:
            folders = [f for f in folders if f.name in FOLDS[a.holdout]]
            if not folders:
                raise OTBError('none of fold %s\'s sequences (%s) is under --otb' % (a.holdout, ', '.join(FOLDS[a.holdout])))
        seqs = [read_otb(f) for f in folders]
        labels = None if a.labels == 'none' else load_labels(a.labels)
    except OTBError as e:
        print('error: %s' % e, file=sys.stderr)
        return 2
    import torch  # lazy: torch takes seconds to import; only this path needs it
    torch.set_num_threads(a.threads)
    cv2.setNumThreads(a.threads)
    if a.model == HOG_MODEL:
        if not a.hog_upscale > 0:
            print('error: --hog-upscale must be > 0', file=sys.stderr)
            return 2
        detect, input_size = hog_detect_fn(a.score, a.hog_upscale), None
    else:
        from ..runtime import RuntimeErrorBase  # lazy: start-up time: importing it loads numpy + backends
        from ..runtime.detector import Detector  # lazy: start-up time: importing it loads torch
        try:
            det = Detector(a.model, a.backend, threads=a.threads, input_size=a.input_size)
        except (OSError, ValueError, RuntimeErrorBase) as e:
            print('error: %s' % e, file=sys.stderr)
            return 2
        if not any(canonical(n) for n in det.class_names):
            print('error: model %s has no person or car class (classes: %s)' % (a.model, ', '.join(det.class_names)),
                  file=sys.stderr)
            return 2
        detect, input_size = detr_detect_fn(det, a.score), det.input_size
    per_seq = recall_of_targets(detect, seqs, a.step, overrides, input_size=input_size)
    summ = summarise_recall(per_seq)
    skipped = [n for n, r in per_seq.items() if r['cls'] is None]
    prec = None
    if labels is not None:
        roots = {f.name: f for f in folders}
        labels = dict(labels, frames=[f for f in labels['frames'] if f['sequence'] in roots])
        try:
            prec = precision_on_labels(detect, labels, roots)
            if a.labels_png:
                print('wrote %s' % render_labelled(detect, labels, roots, a.labels_png))
        except OTBError as e:
            print('error: %s' % e, file=sys.stderr)
            return 2
    for c, r in sorted(summ['per_class'].items()):
        print('%-7s %3d frames  recall@0.5 %.3f  recall@0.3 %.3f' % (c, r['frames'], r['recall@0.5'], r['recall@0.3']))
    if skipped:
        print('not scored (target neither person nor car): %s' % ', '.join(skipped))
    if prec is not None:
        print('precision %s (%d of %d detections), recall %s of %d boxes, on %d labelled frames' % (
            _f(prec['precision']), prec['matched'], prec['detections'], _f(prec['recall']), prec['boxes'],
            prec['frames']))
    command = 'python -m uavcine.eval.det_eval ' + ' '.join(argv if argv is not None else sys.argv[1:])
    if a.out:
        lines = markdown(summ, prec, command.strip(), a.model, a.step, a.score,
                         input_size or 'the frame enlarged %gx' % a.hog_upscale)
        if skipped:
            lines += ['', 'Not scored (target neither person nor car): %s.' % ', '.join(skipped)]
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text('\n'.join(lines) + '\n')
        print('wrote %s' % a.out)
    if a.json_out:
        Path(a.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json_out).write_text(json.dumps({'recall': summ, 'per_sequence': per_seq, 'precision': prec},
                                               indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
