"""Tracking evaluation on real sequences (OTB-layout folders) and the simulator suite: OTB one-pass success AUC,
precision at 20 px, normalised precision, fps, and the quality score's Spearman correlation with the IoU.

Real sequences (``--otb DIR``, several allowed; a sequence folder or a folder of them; NaN rows = target out
of view) are scored per sequence and as the mean over sequences, for SiamFC, SiamFC + hold, CSRT, KCF and MIL
(the manager + detector row needs a detector, which real folders do not have); the simulator suite (``--suite``)
as before. Both go into one markdown file, so one command reproduces docs/track_eval.md.

Trackers, all started on the first frame's true box (OTB one-pass evaluation):

- ``SiamFC``: the paper's tracker alone (our implementation, the shipped model;
  no gating: every frame's response moves the box);
- ``SiamFC + hold``: the same with quality gating (weak frames hold the box), no detector;
- ``SiamFC + manager + detector``: the seed's loop (``core.detect_track.DetectTrackLoop``):
  the manager asks the detector for detections when the track is weak, lost or
  its time window is over, and restarts the tracker on them. The detector is the
  project's DETR when its trained model is given (``--detector detr``), else a
  *simulated detector* made from the ground truth with noise, misses and false
  positives (``--detector simulated``), labelled as such in every output;
- OpenCV's CSRT, KCF and MIL (opencv-contrib for CSRT and KCF).

Frames whose target is out of view are left out of the scores (no truth to overlap);
a frame with no output box counts as IoU 0 (eval.metrics). The quality score is
checked by its Spearman correlation with the IoU of the reported box.

Writes docs/track_eval.md's tables and success plots (the first command makes the simulator calibration frames):
    python -m uavcine.train.siamfc_train collect sim:calib --max-frames 150 --out runs/q_sim_calib.npz
    python -m uavcine.eval.track_eval --otb /work/shared/data/aerial_tracking --max-frames 80 --loso-calib \
        --calib-extra runs/q_sim_calib.npz --suite smoke --threads 1 --out docs/track_eval.md \
        --plot docs/track_success.png --plot-real docs/track_success_real.png
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from scipy.stats import spearmanr
from tqdm import tqdm

from ..core import box_ops
from ..core import manager as M
from ..core import siamfc as S
from ..core.detect_track import DetectTrackLoop
from ..runtime.siamfc_onnx import load_search_onnx
from ..train import siamfc_train
from . import metrics
from .track_plots import plot, plot_real
from .track_tables import attributes, real_table, sim_table
from .sequences import RATE_HZ, REPO, SPLITS, OTBError, otb_folders, read_otb, sim_sequences

# ----------------------------------------------------------------------------


class SimulatedDetector:
    """A stand-in detector made from the simulator's truth: NOT the project's detector.

    Every object of the scene whose box is at least ``min_visible`` visible is detected
    with probability ``1 - miss``, its box jittered by ``jitter`` of its size, a score in
    [0.55, 0.99]; a false positive of the target's class appears with probability ``fp``.
    """

    name = 'simulated detector (truth + noise)'

    def __init__(self, seed: int = 0, miss: float = 0.15, jitter: float = 0.08, fp: float = 0.05,
                 min_visible: float = 0.5):
        self.rng = np.random.default_rng(seed)
        self.miss, self.jitter, self.fp, self.min_visible = miss, jitter, fp, min_visible

    def __call__(self, objects: list, image_wh, cls: str) -> list:
        dets = []
        for o in objects:
            if o['visible'] < self.min_visible or self.rng.random() < self.miss:
                continue
            x, y, w, h = o['box']
            j = self.rng.normal(0, self.jitter, 4) * np.array([w, h, w, h])
            box = (x + j[0], y + j[1], max(2.0, w + j[2]), max(2.0, h + j[3]))
            dets.append(M.Detection(box, float(self.rng.uniform(0.55, 0.99)), o['cls']))
        if self.rng.random() < self.fp:
            W, H = image_wh
            w, h = self.rng.uniform(10, 60, 2)
            dets.append(M.Detection((self.rng.uniform(0, W - w), self.rng.uniform(0, H - h), w, h),
                                    float(self.rng.uniform(0.5, 0.8)), cls))
        return dets


# ----------------------------------------------------------------------------
# Runners: each returns per-frame boxes (NaN = none), qualities and seconds per frame
# ----------------------------------------------------------------------------


@dataclass
class RunResult:
    boxes: np.ndarray
    quality: np.ndarray
    seconds: list = field(default_factory=list)
    states: list = field(default_factory=list)
    detector_calls: int = 0
    decode: list = field(default_factory=list)   # seconds to read and decode each frame (fps with decode)
    stats: list = field(default_factory=list)    # SiamFC: the quality features of each frame (calibration)


def _read(seq, i, res: RunResult):
    t0 = time.perf_counter()
    img = seq.frame(i)
    res.decode.append(time.perf_counter() - t0)
    return img


def run_siamfc(seq, net, cfg, quality, hold: bool, mcfg: M.ManagerConfig | None = None, backend: str = 'torch',
               threads: int = 1, search_onnx: bytes | None = None) -> RunResult:
    """SiamFC alone; with ``hold`` it keeps its previous box on the frames the manager would judge weak."""
    t = S.SiamFCTracker(net, cfg, quality, backend=backend, num_threads=threads, search_onnx=search_onnx)
    # the manager judges each frame (its weak count decides the hold); no detector here, so it never gives up
    judge = M.Manager(replace(mcfg or M.ManagerConfig(), max_lost_s=float('inf')))
    n = len(seq)
    boxes, q = np.full((n, 4), np.nan), np.full(n, np.nan)
    res = RunResult(boxes, q)
    t.init(seq.frame(0), seq.boxes[0])
    judge.on_detections(0.0, [M.Detection(tuple(seq.boxes[0]), 1.0)])
    boxes[0], q[0] = seq.boxes[0], 1.0
    for i in range(1, n):
        img = _read(seq, i, res)
        t0 = time.perf_counter()
        r = t.update(img)
        box = t.hold() if hold and r.box is not None and judge.holds(r.quality) else r.box
        judge.on_tracker(float(i), box, r.quality, failed=r.box is None)
        res.seconds.append(time.perf_counter() - t0)
        res.stats.append(r.stats)
        if box is not None:
            boxes[i], q[i] = box, r.quality
    return res


def run_loop(seq, net, cfg, quality, detector, mcfg: M.ManagerConfig, backend: str = 'torch',
             threads: int = 1, search_onnx: bytes | None = None) -> RunResult:
    trk = S.SiamFCTracker(net, cfg, quality, backend=backend, num_threads=threads, search_onnx=search_onnx)
    loop = DetectTrackLoop(trk, M.Manager(mcfg))
    n = len(seq)
    boxes, q = np.full((n, 4), np.nan), np.full(n, np.nan)
    res = RunResult(boxes, q)
    cls = seq.meta.get('cls', '')
    dt_ns = int(1e9 / seq.meta.get('rate_hz', RATE_HZ))
    for i in range(n):
        img = _read(seq, i, res) if i else seq.frame(i)
        ns = (i + 1) * dt_ns
        t0 = time.perf_counter()
        out = loop.on_image(ns, img)
        if i == 0:  # one-pass evaluation: the first frame's detection is the true box
            out = loop.on_detections(ns, [M.Detection(tuple(seq.boxes[0]), 1.0, cls)]) or out
        elif out.request_detections:
            res.detector_calls += 1
            dets = detector(seq, i, img)
            out = loop.on_detections(ns, dets) or out
        if i:
            res.seconds.append(time.perf_counter() - t0)
        if out.box is not None:
            boxes[i], q[i] = out.box, out.quality
        res.states.append(out.state)
    return res


def opencv_tracker(name: str):
    make = {'CSRT': 'TrackerCSRT_create', 'KCF': 'TrackerKCF_create', 'MIL': 'TrackerMIL_create'}[name]
    fn = getattr(cv2, make, None) or getattr(getattr(cv2, 'legacy', None), make, None)
    if fn is None:
        raise SystemExit('error: cv2.%s is missing: install opencv-contrib-python-headless (same version) '
                         'in place of opencv-python-headless' % make)
    return fn()


def run_opencv(seq, name: str) -> RunResult:
    n = len(seq)
    boxes = np.full((n, 4), np.nan)
    res = RunResult(boxes, np.full(n, np.nan))
    tr = opencv_tracker(name)
    bgr = cv2.cvtColor(seq.frame(0), cv2.COLOR_RGB2BGR)
    x, y, w, h = seq.boxes[0]
    tr.init(bgr, (int(round(x)), int(round(y)), max(1, int(round(w))), max(1, int(round(h)))))
    boxes[0] = seq.boxes[0]
    for i in range(1, n):
        bgr = cv2.cvtColor(_read(seq, i, res), cv2.COLOR_RGB2BGR)
        t0 = time.perf_counter()
        ok, b = tr.update(bgr)
        res.seconds.append(time.perf_counter() - t0)
        if ok:
            boxes[i] = b
    return res


# ----------------------------------------------------------------------------
# Scores
# ----------------------------------------------------------------------------


def in_view(seq) -> np.ndarray:
    """Frames with a true box (in view, occluded or not), the first (init) frame excluded."""
    m = np.isfinite(seq.boxes).all(axis=1)
    m[0] = False
    return m


def frame_scores(seq, boxes):
    """IoU and centre error on the frames whose target is in view (the init frame is not scored)."""
    m = in_view(seq)
    return box_ops.iou_xywh(boxes[m], seq.boxes[m]), box_ops.centre_error(boxes[m], seq.boxes[m])


def spearman(a, b) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    return float(spearmanr(a[ok], b[ok]).statistic) if ok.sum() >= 3 else float('nan')


TRACKERS = ('SiamFC', 'SiamFC + hold', 'SiamFC + manager + detector', 'CSRT', 'KCF', 'MIL')


def evaluate(seqs, model: str, detector: str, trackers=TRACKERS, mcfg: M.ManagerConfig | None = None,
             progress: bool = True, detr_model: str = '', backend: str = 'torch', threads: int = 1,
             keep_stats: bool = False, heads: dict | None = None, search_onnx: bytes | None = None) -> dict:
    """Run ``trackers`` over ``seqs``; ``heads`` (sequence name -> QualityHead) replaces the model's quality head
    on those sequences (the leave-one-sequence-out heads of ``loso_calibrate``); ``search_onnx``: SiamFC's search
    graph (onnxruntime), e.g. the int8 one of train/siamfc_int8.py."""
    net, cfg, quality0 = S.load_checkpoint(model)
    # acquire='score': the setting the model card's numbers were measured with (the node's default is 'centre')
    mcfg = mcfg or M.ManagerConfig(acquire='score')
    detr = None
    if detector == 'simulated':
        det_name = SimulatedDetector.name
    else:
        from ..runtime.detector import Detector  # lazy: start-up time: importing it loads torch
        detr = Detector(detr_model)
        det_name = 'project DETR detector (%s)' % Path(detr_model).name
    per = {k: {'ious': [], 'errs': [], 'nerrs': [], 'seconds': [], 'decode': [], 'seq': [], 'q': [], 'qiou': [],
               'sec_seq': [], 'dec_seq': [], 'stats': [], 'boxes': [], 'calls': 0, 'frames': 0}
           for k in trackers}
    kw = dict(backend=backend, threads=threads, search_onnx=search_onnx)
    for si, seq in enumerate(tqdm(seqs, desc='sequences', unit='seq', disable=not progress)):
        sim_det = SimulatedDetector(seed=si)
        quality = (heads or {}).get(seq.name, quality0)

        def det_fn(seq_, i, img):
            if detr is not None:
                d = detr.detect(img, score_threshold=mcfg.min_score)
                return [M.Detection((float(x0), float(y0), float(x1 - x0), float(y1 - y0)), float(sc), name)
                        for (x0, y0, x1, y1), sc, name in zip(d.boxes_xyxy, d.scores, d.names())]
            objs = seq_.meta.get('objects', [])
            frame_objs = objs[i] if i < len(objs) else []
            return sim_det(frame_objs, (img.shape[1], img.shape[0]), seq_.meta.get('cls', ''))

        for k in trackers:
            if k == 'SiamFC':
                r = run_siamfc(seq, net, cfg, quality, hold=False, mcfg=mcfg, **kw)
            elif k == 'SiamFC + hold':
                r = run_siamfc(seq, net, cfg, quality, hold=True, mcfg=mcfg, **kw)
            elif k == 'SiamFC + manager + detector':
                r = run_loop(seq, net, cfg, quality, det_fn, mcfg, **kw)
            else:
                r = run_opencv(seq, k)
            ious, errs = frame_scores(seq, r.boxes)
            iv = in_view(seq)
            d = per[k]
            d['ious'].append(ious)
            d['errs'].append(errs)
            d['nerrs'].append(metrics.normalized_centre_error(r.boxes[iv], seq.boxes[iv]))
            d['seconds'] += r.seconds
            d['decode'] += r.decode
            d['boxes'].append(r.boxes)
            d['sec_seq'].append(float(np.mean(r.seconds)) if r.seconds else float('nan'))
            d['dec_seq'].append(float(np.mean(r.decode)) if r.decode else float('nan'))
            if k == 'SiamFC' and keep_stats:  # the ungated run's features and IoU: quality calibration data
                d['stats'].append([r.stats[i - 1] if i else {} for i in range(len(seq))])
            d['calls'] += r.detector_calls
            d['frames'] += len(seq) - 1
            d['seq'].append(seq.name)
            if k.startswith('SiamFC'):
                d['q'].append(r.quality[in_view(seq)])
                d['qiou'].append(ious)
    return {'per': per, 'detector': det_name, 'model': str(model), 'manager': asdict(mcfg), 'backend': backend,
            'threads': threads}


def summarise(res: dict, seqs) -> list:
    rows = []
    occ = [i for i, s in enumerate(seqs) if {'OCC', 'OV'} & set(attributes(s))]
    for k, d in res['per'].items():
        all_i = np.concatenate(d['ious']) if d['ious'] else np.zeros(0)
        all_e = np.concatenate(d['errs']) if d['errs'] else np.zeros(0)
        occ_i = np.concatenate([d['ious'][i] for i in occ]) if occ else np.zeros(0)
        occ_e = np.concatenate([d['errs'][i] for i in occ]) if occ else np.zeros(0)
        row = {'tracker': k, 'auc': metrics.success_auc(all_i), 'prec20': metrics.precision_at(all_e),
               'auc_occ': metrics.success_auc(occ_i), 'prec20_occ': metrics.precision_at(occ_e),
               'fps': 1.0 / np.mean(d['seconds']) if d['seconds'] else float('nan'),
               'curve': metrics.success_curve(all_i).tolist(), 'curve_occ': metrics.success_curve(occ_i).tolist()}
        if d['q']:
            row['spearman'] = spearman(np.concatenate(d['q']), np.concatenate(d['qiou']))
        if d['calls']:
            row['detector_share'] = d['calls'] / max(1, d['frames'])
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------
# Real sequences (OTB-layout folders): per sequence and mean over sequences
# ----------------------------------------------------------------------------

REAL_TRACKERS = ('SiamFC', 'SiamFC + hold', 'CSRT', 'KCF', 'MIL')  # no detector loop: real folders have no detector truth


def loso_calibrate(seqs, res: dict, extra: tuple | None = None, kind: str = 'iou') -> dict:
    """Leave-one-sequence-out quality heads from the ungated SiamFC run in ``res`` (``evaluate(..., ['SiamFC'],
    keep_stats=True)``): each sequence's head is fitted (``siamfc_train.loso_heads``, target ``kind``: the IoU, or 'on'
    = IoU >= 0.2) on the other sequences' frames plus ``extra`` (features, IoU) of simulator sequences. The ungated
    row's quality is re-scored with them, so its Spearman is held out too. Returns name -> QualityHead."""
    d = res['per']['SiamFC']
    data = {}
    for seq, stats, boxes in zip(seqs, d['stats'], d['boxes']):
        f = np.array([[st[k] for k in S.QUALITY_FEATURES] for st in stats[1:]]).reshape(-1, len(S.QUALITY_FEATURES))
        y = np.zeros(len(seq) - 1)
        ok = np.isfinite(seq.boxes[1:]).all(axis=1) & np.isfinite(boxes[1:]).all(axis=1)
        y[ok] = box_ops.iou_xywh(boxes[1:][ok], seq.boxes[1:][ok])
        data[seq.name] = (f, y)
    heads = {k: S.QualityHead(c) for k, c in siamfc_train.loso_heads(data, extra, kind).items()}
    for j, seq in enumerate(seqs):
        q = np.r_[1.0, [heads[seq.name](st) for st in d['stats'][j][1:]]]
        d['q'][j] = q[in_view(seq)]
    return heads


def summarise_real(res: dict) -> dict:
    """Per-sequence scores of every tracker and their mean over sequences (each sequence weighs the same).

    Spearman(quality, IoU): per sequence, and pooled over all scored frames of all sequences (the mean row)."""
    out = {}
    for k, d in res['per'].items():
        rows = []
        for j, name in enumerate(d['seq']):
            sec, dec = d['sec_seq'][j], d['dec_seq'][j]
            row = {'seq': name, 'auc': metrics.success_auc(d['ious'][j]), 'prec20': metrics.precision_at(d['errs'][j]),
                   'nprec': metrics.normalized_precision(d['nerrs'][j]),
                   'fps': 1.0 / sec, 'fps_decode': 1.0 / (sec + dec), 'frames': int(len(d['ious'][j]))}
            if d['q']:
                row['spearman'] = spearman(d['q'][j], d['qiou'][j])
            rows.append(row)
        mean = {key: float(np.nanmean([r[key] for r in rows])) for key in ('auc', 'prec20', 'nprec')}
        mean['fps'] = 1.0 / float(np.mean(d['seconds'])) if d['seconds'] else float('nan')
        mean['fps_decode'] = 1.0 / (float(np.mean(d['seconds'])) + float(np.mean(d['decode']))) if d['seconds'] else \
            float('nan')
        mean['curve'] = np.nanmean([metrics.success_curve(i) for i in d['ious']], axis=0).tolist()
        if d['q']:
            mean['spearman'] = spearman(np.concatenate(d['q']), np.concatenate(d['qiou']))
        out[k] = {'per_seq': rows, 'mean': mean}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog='python -m uavcine.eval.track_eval', description=__doc__.split('\n')[0])
    ap.add_argument('--suite', default='test',
                    help="split of the simulator suite (%s), or 'none' for real sequences only" % ', '.join(SPLITS))
    ap.add_argument('--otb', action='append', default=[], metavar='DIR',
                    help='real sequences in OTB layout: a sequence folder or a folder of them (several allowed)')
    ap.add_argument('--max-frames', type=int, default=0, help='score only the first N frames of each real sequence')
    ap.add_argument('--model', default=str(REPO / 'models' / 'siamfc_sim.pt'))
    ap.add_argument('--detector', default='simulated', choices=['simulated', 'detr'])
    ap.add_argument('--detr-model', default=str(REPO / 'models' / 'detr_small.pt'))
    ap.add_argument('--trackers', default=','.join(TRACKERS))
    ap.add_argument('--out', default='docs/track_eval.md')
    ap.add_argument('--plot', default='docs/track_success.png')
    ap.add_argument('--plot-real', default='docs/track_success_real.png')
    ap.add_argument('--json', default='runs/track_eval.json')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--max-hold-frames', type=int, default=M.ManagerConfig.max_hold_frames,
                    help="the manager's hold budget (weak frames in a row the box is held)")
    ap.add_argument('--loso-calib', action='store_true',
                    help='real sequences: gate each one with a quality head fitted on the others (leave one out; '
                         'needs the SiamFC tracker), not with the model\'s head')
    ap.add_argument('--calib-extra', default='', metavar='NPZ',
                    help='with --loso-calib: also fit on these features (siamfc_train collect), comma-separated')
    ap.add_argument('--quality-target', default='iou', choices=['iou', 'on'], help='--loso-calib: what heads predict')
    ap.add_argument('--quality-threshold', type=float, default=M.ManagerConfig.quality_threshold,
                    help="the manager's weak threshold (quality below it is a weak frame)")
    ap.add_argument('--init-shift', default='0,0', metavar='DX,DY', help='real sequences: start on the first true '
                    'box shifted by this many px (OTB spatial robustness: how much a score moves by chance)')
    ap.add_argument('--confirm-quality', type=float, default=M.ManagerConfig.confirm_quality,
                    help="the manager's confirm_quality (the manager + detector row): a tracking frame below it asks "
                         'the detector and a confirming detection restarts the tracker on its box (0 = off)')
    ap.add_argument('--confirm-interval', type=float, default=M.ManagerConfig.confirm_interval_s,
                    help="the manager's confirm_interval_s: seconds between two detector checks of a decayed track")
    ap.add_argument('--confirm-scale', type=float, default=M.ManagerConfig.confirm_scale,
                    help="the manager's confirm_scale: a decayed track is restarted on a confirming detection only "
                         'when the sizes differ by more than this factor')
    ap.add_argument('--hold-quality', type=float, default=M.ManagerConfig.hold_quality,
                    help="the manager's hold threshold (a weak frame holds the box only below it)")
    ap.add_argument('--backend', default='onnxruntime', choices=['torch', 'onnxruntime'],
                    help='SiamFC inference backend (same graph; onnxruntime is ~2x faster on this CPU)')
    ap.add_argument('--search-onnx', default='', metavar='ONNX', help="SiamFC's search graph for onnxruntime, made "
                    'from --model (e.g. the int8 one of uavcine.train.siamfc_int8)')
    a = ap.parse_args(argv)
    import torch  # lazy: torch takes seconds to import; only this path needs it
    torch.set_num_threads(a.threads)
    cv2.setNumThreads(a.threads)
    if not Path(a.model).is_file():
        print('error: model not found: %s' % a.model, file=sys.stderr)
        return 2
    trackers = [t.strip() for t in a.trackers.split(',') if t.strip()]
    unknown = sorted(set(trackers) - set(TRACKERS))
    if unknown:
        print('error: unknown tracker %s (known: %s)' % (', '.join(unknown), ', '.join(TRACKERS)), file=sys.stderr)
        return 2
    if a.suite == 'none' and not a.otb:
        print("error: nothing to evaluate: --suite none and no --otb", file=sys.stderr)
        return 2
    try:
        real = [read_otb(f, a.max_frames) for f in otb_folders(a.otb)]
        dx, dy = (float(v) for v in a.init_shift.split(','))
    except ValueError:
        print('error: --init-shift must be two numbers DX,DY (pixels), got %r' % a.init_shift, file=sys.stderr)
        return 2
    except OTBError as e:
        print('error: %s' % e, file=sys.stderr)
        return 2
    for seq in real:  # OTB's spatial robustness: start every tracker on a shifted box (frame 0 is never scored)
        seq.boxes[0, :2] += (dx, dy)
    try:
        search_onnx = load_search_onnx(a.search_onnx, a.model) if a.search_onnx else None
        if search_onnx is not None and a.backend != 'onnxruntime':
            raise ValueError('--search-onnx needs --backend onnxruntime')
    except ValueError as e:
        print('error: %s' % e, file=sys.stderr)
        return 2
    if a.detector == 'detr' and not Path(a.detr_model).is_file():
        print('error: DETR model not found: %s' % a.detr_model, file=sys.stderr)
        return 2
    cmd = 'python -m uavcine.eval.track_eval ' + ' '.join(argv if argv is not None else sys.argv[1:])
    lines = ['# Tracking evaluation: real sequences and the simulator suite', '', 'Generated by `%s`.' % cmd.strip(),
             '', 'OTB one-pass evaluation: every tracker starts on the first frame\'s true box; success AUC is the mean',
             'of the success curve over IoU thresholds 0..1 (21 steps), precision is the share of frames with centre',
             'error <= 20 px; frames with the target out of view are not scored, frames without a box score 0.', '']
    out_json = {}
    # acquire='score': the setting the model card's numbers were measured with (the node's default is 'centre')
    mcfg = M.ManagerConfig(acquire='score', max_hold_frames=a.max_hold_frames, quality_threshold=a.quality_threshold,
                           hold_quality=a.hold_quality, confirm_quality=a.confirm_quality,
                           confirm_interval_s=a.confirm_interval, confirm_scale=a.confirm_scale)
    for f in (f for f in a.calib_extra.split(',') if f and not Path(f).is_file()):
        print('error: no such file: %s (make it with uavcine.train.siamfc_train collect)' % f, file=sys.stderr)
        return 2
    if a.loso_calib and 'SiamFC' not in trackers:
        print('error: --loso-calib needs the SiamFC tracker (its ungated run is the calibration data)', file=sys.stderr)
        return 2
    if real:
        rtrackers = [t for t in trackers if t in REAL_TRACKERS]
        try:
            kw = dict(mcfg=mcfg, backend=a.backend, threads=a.threads, search_onnx=search_onnx)
            if a.loso_calib:  # the ungated run first: its features give each sequence a head fitted without it
                res = evaluate(real, a.model, 'simulated', ['SiamFC'], keep_stats=True, **kw)
                extra = siamfc_train.load_quality_data(a.calib_extra.split(','))[:2] if a.calib_extra else None
                heads = loso_calibrate(real, res, extra, a.quality_target)
                rest = evaluate(real, a.model, 'simulated', [t for t in rtrackers if t != 'SiamFC'], heads=heads, **kw)
                res['per'] = {t: (res['per'] if t == 'SiamFC' else rest['per'])[t] for t in rtrackers}
            else:
                res = evaluate(real, a.model, 'simulated', rtrackers, keep_stats=True, **kw)
        except OTBError as e:
            print('error: %s' % e, file=sys.stderr)
            return 2
        summ = summarise_real(res)
        res['calib_extra'] = a.calib_extra
        res['init_shift'] = a.init_shift
        lines += real_table(summ, real, res, a.max_frames, a.loso_calib) + ['']
        plot_real(summ, Path(a.plot_real))
        out_json['real'] = summ
        if 'SiamFC' in res['per']:  # calibration data for train/siamfc_train.py calibrate-loso
            d = res['per']['SiamFC']
            out_json['real_calib'] = [{'seq': n, 'stats': st, 'iou': list(map(float, io))}
                                      for n, st, io in zip(d['seq'], d['stats'], d['ious'])]
        for k, v in summ.items():
            m = v['mean']
            print('real  %-16s AUC %.3f prec20 %.3f nprec %.3f | %.1f fps (%.1f with decode)%s' % (
                k, m['auc'], m['prec20'], m['nprec'], m['fps'], m['fps_decode'],
                ' | spearman %.3f' % m['spearman'] if 'spearman' in m else ''))
    if a.suite != 'none':
        seqs = sim_sequences(a.suite)
        res = evaluate(seqs, a.model, a.detector, trackers, mcfg=mcfg, detr_model=a.detr_model, backend=a.backend,
                       threads=a.threads, search_onnx=search_onnx)
        rows = summarise(res, seqs)
        lines += sim_table(rows, res, seqs)
        plot(rows, Path(a.plot), res['detector'])
        out_json['sim'] = rows
        for r in rows:
            print('sim   %-36s AUC %.3f prec20 %.3f | occl AUC %.3f prec20 %.3f | %.1f fps%s' % (
                r['tracker'], r['auc'], r['prec20'], r['auc_occ'], r['prec20_occ'], r['fps'],
                ' | spearman %.3f' % r['spearman'] if 'spearman' in r else ''))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text('\n'.join(lines) + '\n')
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(out_json, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
