"""Evaluate a DETR detector on a COCO-format split with pycocotools: mAP@0.5 and mAP@[.5:.95] per class.

    python -m uavcine.train.detr_eval --model models/detr_small.pt --ann data/detr/test/annotations/instances.json \\
        [--images DIR] [--backend torch|onnxruntime] [--json-out runs/eval.json] [--examples-png docs/x.png]

Boxes go through the same preprocess -> network -> postprocess path as the
detector node (any backend), are mapped to the original image's pixels and
scored against the annotations. All queries are kept (score threshold 0), as in
DETR's own COCO evaluation. Offline tool (Python 3.10+).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment
from tqdm import tqdm


def load_rgb(path: str) -> np.ndarray:
    import cv2  # lazy: OpenCV: start-up time, only this path draws or reads images
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError('cannot read image %s' % path)
    return np.ascontiguousarray(bgr[:, :, ::-1])


def resolve_image_dir(ann_path: str, images: str | None) -> Path:
    if images:
        return Path(images)
    ann = Path(ann_path)
    for cand in (ann.parent / 'images', ann.parent.parent / 'images', ann.parent):
        if cand.is_dir():
            return cand
    return ann.parent


def coco_eval(gt: dict, results: list, class_names: list) -> dict:
    """pycocotools COCOeval on in-memory ground truth and results -> summary with per-class AP."""
    from pycocotools.coco import COCO  # lazy: pycocotools: only the COCO evaluation needs it
    from pycocotools.cocoeval import COCOeval  # lazy: pycocotools: only the COCO evaluation needs it
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
    out = {'mAP50': 0.0, 'mAP': 0.0, 'per_class': {}}
    if not results:
        for c in gt['categories']:
            out['per_class'][c['name']] = {'AP50': 0.0, 'AP': 0.0}
        return out
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        dt = coco.loadRes(results)
        ev = COCOeval(coco, dt, 'bbox')
        ev.params.maxDets = [1, 10, 100]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    out['summary_text'] = buf.getvalue()
    prec = ev.eval['precision']  # T x R x K x A x M
    out['mAP'] = float(ev.stats[0])
    out['mAP50'] = float(ev.stats[1])
    for k, cat_id in enumerate(ev.params.catIds):
        name = coco.cats[cat_id]['name']
        p_all = prec[:, :, k, 0, -1]
        p50 = prec[0, :, k, 0, -1]
        out['per_class'][name] = {
            'AP50': float(p50[p50 > -1].mean()) if (p50 > -1).any() else float('nan'),
            'AP': float(p_all[p_all > -1].mean()) if (p_all > -1).any() else float('nan'),
            'instances': int(sum(1 for a in gt['annotations'] if a['category_id'] == cat_id)),
        }
    return out


def detections_to_coco(image_id: int, det, name_to_cat: dict) -> list:
    res = []
    for (x0, y0, x1, y1), s, name in zip(det.boxes_xyxy, det.scores, det.names()):
        if name not in name_to_cat:
            continue
        res.append({'image_id': int(image_id), 'category_id': int(name_to_cat[name]),
                    'bbox': [float(x0), float(y0), float(x1 - x0), float(y1 - y0)], 'score': float(s)})
    return res


def evaluate_detector(detector, gt: dict, image_dir: Path, limit: int | None = None, progress: bool = True) -> dict:
    """Run ``detector`` (runtime.detector.Detector) on the split's images and score it."""
    name_to_cat = {c['name']: c['id'] for c in gt['categories']}
    images = gt['images'][:limit] if limit else gt['images']
    results, t_net = [], 0.0
    for im in tqdm(images, desc='eval', disable=not progress, leave=False):
        rgb = load_rgb(image_dir / im['file_name'])
        t0 = time.perf_counter()
        det = detector.detect(rgb, score_threshold=0.0, max_detections=100)
        t_net += time.perf_counter() - t0
        results += detections_to_coco(im['id'], det, name_to_cat)
    if limit:
        ids = {im['id'] for im in images}
        gt = dict(gt, images=images, annotations=[a for a in gt['annotations'] if a['image_id'] in ids])
    out = coco_eval(gt, results, list(name_to_cat))
    out['images'] = len(images)
    out['ms_per_image'] = 1000.0 * t_net / max(1, len(images))
    return out


def render_examples(detector, gt: dict, image_dir: Path, out_png: str, n: int = 6, score_threshold: float = 0.5,
                    seed: int = 0) -> str:
    """A grid of held-out frames: ground truth (thin white) and detections (class colour, with score)."""
    import cv2  # lazy: OpenCV: start-up time, only this path draws or reads images
    colors = {'person': (255, 80, 80), 'car': (80, 200, 255), 'tower': (255, 230, 60)}
    rng = np.random.default_rng(seed)
    images = [gt['images'][i] for i in sorted(rng.choice(len(gt['images']), min(n, len(gt['images'])), False))]
    tiles = []
    for im in images:
        rgb = load_rgb(image_dir / im['file_name'])
        vis = rgb.copy()
        for a in gt['annotations']:
            if a['image_id'] == im['id']:
                x, y, w, h = a['bbox']
                cv2.rectangle(vis, (int(x), int(y)), (int(round(x + w)), int(round(y + h))), (255, 255, 255), 1)
        det = detector.detect(rgb, score_threshold, 20)
        for (x0, y0, x1, y1), sc, name in zip(det.boxes_xyxy, det.scores, det.names()):
            c = colors.get(name, (0, 255, 0))
            cv2.rectangle(vis, (int(x0) - 2, int(y0) - 2), (int(x1) + 2, int(y1) + 2), c, 2)
            cv2.putText(vis, '%s %.2f' % (name, sc), (int(x0), max(10, int(y0) - 5)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.45, c, 1, cv2.LINE_AA)
        tiles.append(vis)
    while len(tiles) % 3:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i:i + 3], 1) for i in range(0, len(tiles), 3)]
    grid = np.concatenate(rows, 0)
    os.makedirs(os.path.dirname(out_png) or '.', exist_ok=True)
    cv2.imwrite(out_png, cv2.resize(grid, (grid.shape[1] // 2, grid.shape[0] // 2),
                                    interpolation=cv2.INTER_AREA)[:, :, ::-1])
    return out_png


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def set_difference(lt: np.ndarray, bt: np.ndarray, lo: np.ndarray, bo: np.ndarray) -> dict:
    """Max |difference| of two backends' raw outputs (Q x K+1 logits, Q x 4 boxes) compared as sets of queries:
    the queries are paired by an optimal assignment (scipy) before the element-wise comparison. DETR's output is a
    set; the order of the two-stage queries follows top-k, which near-tied scores may order differently per
    backend (with query_content 'encoder' the set itself does not depend on that order).
    Returns {'all': logits and boxes, 'logits', 'probs' (softmax, what the scores are made of), 'boxes'}."""
    a = np.concatenate([lt, bt], 1).astype(np.float64)
    b = np.concatenate([lo, bo], 1).astype(np.float64)
    cost = np.abs(a[:, None, :] - b[None, :, :]).max(-1)
    rows, cols = linear_sum_assignment(cost)
    return {'all': float(cost[rows, cols].max()), 'logits': float(np.abs(lt[rows] - lo[cols]).max()),
            'probs': float(np.abs(_softmax(lt[rows].astype(np.float64)) - _softmax(lo[cols].astype(np.float64))).max()),
            'boxes': float(np.abs(bt[rows] - bo[cols]).max())}


def parity(model_path: str, gt: dict, image_dir: Path, threads: int = 1, tol: float = 1e-3) -> dict:
    """Raw outputs of torch and onnxruntime on every image: per-frame max |difference| of logits and boxes,
    in query order and as sets of queries (``set_difference``; also the class probabilities and boxes alone)."""

    from uavcine.runtime.detector import Detector  # lazy: start-up time: importing it loads torch
    dt, do = Detector(model_path, 'torch'), Detector(model_path, 'onnxruntime', threads=threads)
    ordered, as_set = [], []
    for im in tqdm(gt['images'], desc='parity', leave=False):
        rgb = load_rgb(image_dir / im['file_name'])
        (lt, bt, _), (lo, bo, _) = dt.infer(rgb), do.infer(rgb)
        ordered.append(max(float(np.abs(lt - lo).max()), float(np.abs(bt - bo).max())))
        as_set.append(set_difference(lt, bt, lo, bo))
    w = np.array(ordered)
    res = {'frames': len(w), 'median': float(np.median(w)), 'max': float(w.max()), 'within': int((w <= tol).sum()),
           'tol': tol}
    for key in ('all', 'logits', 'probs', 'boxes'):
        s = np.array([d[key] for d in as_set])
        res['set_' + key] = {'median': float(np.median(s)), 'max': float(s.max()), 'within': int((s <= tol).sum())}
    return res


def format_table(res: dict) -> str:
    lines = ['%-10s %8s %8s %9s' % ('class', 'AP50', 'AP', 'instances')]
    for name, r in res['per_class'].items():
        lines.append('%-10s %8.3f %8.3f %9d' % (name, r['AP50'], r['AP'], r.get('instances', 0)))
    lines.append('%-10s %8.3f %8.3f' % ('all', res['mAP50'], res['mAP']))
    return '\n'.join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog='python -m uavcine.train.detr_eval', description=__doc__.split('\n')[0])
    ap.add_argument('--model', required=True, help='.pt (torch) or .onnx (onnxruntime)')
    ap.add_argument('--ann', required=True, help='COCO annotations JSON of the held-out split')
    ap.add_argument('--images', default=None, help='image directory (default: beside the annotations)')
    ap.add_argument('--backend', default='torch', choices=['torch', 'onnxruntime', 'tensorrt'])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--limit', type=int, default=None, help='only the first N images')
    ap.add_argument('--json-out', default=None)
    ap.add_argument('--examples-png', default=None, help='also draw detections on 6 images of the split')
    ap.add_argument('--parity', action='store_true', help='instead: compare torch and onnxruntime outputs per frame')
    a = ap.parse_args(argv)
    import torch  # lazy: torch takes seconds to import; only this path needs it
    torch.set_num_threads(a.threads)
    from uavcine.runtime import RuntimeErrorBase  # lazy: start-up time: importing it loads numpy + backends
    from uavcine.runtime.detector import Detector  # lazy: start-up time: importing it loads torch
    try:
        with open(a.ann) as f:
            gt = json.load(f)
        det = Detector(a.model, a.backend, threads=a.threads)
    except (OSError, ValueError, RuntimeErrorBase) as exc:
        print('error: %s' % exc, file=sys.stderr)
        return 2
    if a.parity:
        p = parity(a.model, gt, resolve_image_dir(a.ann, a.images), a.threads)
        print('ONNX vs torch on %(frames)d frames, per-frame max |difference| of logits and boxes in query order: '
              'median %(median).1e, max %(max).1e, %(within)d frames within %(tol).0e' % p)
        for key, what in (('all', 'logits and boxes'), ('logits', 'logits'), ('probs', 'class probabilities'),
                          ('boxes', 'boxes')):
            print('  as sets of queries, %s: median %.1e, max %.1e, %d frames within %.0e'
                  % (what, p['set_' + key]['median'], p['set_' + key]['max'], p['set_' + key]['within'], p['tol']))
        return 0
    res = evaluate_detector(det, gt, resolve_image_dir(a.ann, a.images), a.limit)
    print('model %s (%s), %d images of %s' % (a.model, a.backend, res['images'], a.ann))
    print(format_table(res))
    print('network+postprocess %.1f ms/image (%d thread(s))' % (res['ms_per_image'], a.threads))
    if a.examples_png:
        print('wrote %s' % render_examples(det, gt, resolve_image_dir(a.ann, a.images), a.examples_png))
    if a.json_out:
        os.makedirs(os.path.dirname(a.json_out) or '.', exist_ok=True)
        with open(a.json_out, 'w') as f:
            json.dump({k: v for k, v in res.items() if k != 'summary_text'}, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
