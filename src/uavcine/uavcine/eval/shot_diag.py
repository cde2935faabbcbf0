"""Read one demo shot's bag frame by frame: why its tracking or geo numbers are what they are (issue #14's flyby).

    python -m uavcine.eval.shot_diag timeline runs/demo/flyby_towers/bag --out runs/diag
    python -m uavcine.eval.shot_diag detector runs/demo/flyby_towers/bag --cls tower
    python -m uavcine.eval.shot_diag scale runs/demo/flyby_towers/bag --set "" --set scale_penalty=1.0

``timeline``: per image the truth box of the filmed target (the one the track overlaps most, as ``uavcine eval``
scores it), the track's box, state and quality, the detections when the detector was asked, and the geo estimate's
error against its 95 % ellipse; a table (timeline.txt) and a PNG (IoU and quality, box sizes, box bottom against
the truth's, geo error against the ellipse's sigma). ``detector``: the demo's detector on every other image of the
bag: its recall and box fit of the class by the truth box's height (is a target too near or too far for it?).
``scale``: SiamFC alone (no manager) over the bag's frames, started on the boxes the track was (re)started on, with
``SiamFCConfig`` overrides: does its scale search follow a target that grows?
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..core import siamfc as S
from ..core.box_ops import iou_xywh
from ..nodes import msgs
from ..offline.bag import BagReader
from ..offline.typestore import make_typestore
from .metrics import inside_ellipse
from .run_eval import MIN_VISIBILITY, in_truth_frame, load_run, target_truth

HEIGHT_BINS = [(0, 90), (90, 110), (110, 130), (130, 150), (150, 170), (170, 200), (200, 10000)]


def read_bag(bag: Path, images: bool = False):
    """(RunData, detections per image stamp [(box, score, class)], images per stamp when asked)."""
    run = load_run(bag)
    reader = BagReader(bag, make_typestore())
    dets, frames = {}, {}
    topics = ['/detector/detections'] + (['/camera/image_raw'] if images else [])
    try:
        for topic, mt, _, raw in reader.messages(topics):
            msg = reader.deserialize(raw, mt)
            stamp = msgs.stamp_ns(msg.header.stamp)
            if topic == '/camera/image_raw':
                frames[stamp] = msgs.image_to_numpy(msg)
                continue
            dets[stamp] = msgs.best_hypotheses(msg)
    finally:
        reader.close()
    return run, dets, frames


def timeline_rows(run, dets) -> list:
    geos = {g['stamp']: g for g in run.geos}
    t0 = run.image_stamps[0] if run.image_stamps.size else 0
    rows = []
    for tr in run.tracks:
        s = tr['stamp']
        box = tr['box'] if tr['box'] is not None and tr['state'] in (2, 3) else None
        gt = target_truth(run, s, box)
        iou = float(iou_xywh(box, gt['box'])[0]) if gt is not None and box is not None else np.nan
        g, err, inside, sig = geos.get(s), np.nan, np.nan, np.nan
        if g is not None and gt is not None:
            e = in_truth_frame(g, gt)[:2] - gt['enu'][:2]
            err, inside = float(np.hypot(*e)), float(inside_ellipse(e, g['cov'])[0])
            sig = float(np.sqrt(np.trace(g['cov'])))
        rows.append({'t': (s - t0) * 1e-9, 'state': tr['state'], 'q': tr['quality'], 'box': box, 'gt': gt, 'iou': iou,
                     'dets': dets.get(s), 'geo_err': err, 'inside': inside, 'geo_sigma': sig})
    return rows


def _fmt_box(b) -> str:
    return '-' if b is None else ','.join('%.0f' % v for v in b)


def cmd_timeline(a) -> int:
    import matplotlib  # lazy: only this subcommand plots
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: as above
    run, dets, _ = read_bag(Path(a.bag))
    rows = timeline_rows(run, dets)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ['t_s state quality IoU track_box truth_id truth_box geo_err_m geo_sigma_m inside95 detections']
    for r in rows:
        d = r['dets']
        lines.append('%.1f %d %.2f %.2f %s %s %s %.1f %.1f %s %s' % (
            r['t'], r['state'], r['q'], r['iou'], _fmt_box(r['box']), '-' if r['gt'] is None else r['gt']['id'],
            _fmt_box(None if r['gt'] is None else r['gt']['box']), r['geo_err'], r['geo_sigma'], r['inside'],
            '' if d is None else 'DET ' + ' '.join('[%s %.2f %s]' % (c, sc, _fmt_box(b)) for b, sc, c in d)))
    (out / 'timeline.txt').write_text('\n'.join(lines) + '\n')
    t = np.array([r['t'] for r in rows])
    col = lambda f: np.array([f(r) if r['box'] is not None and r['gt'] is not None else np.nan for r in rows])
    fig, ax = plt.subplots(4, 1, figsize=(12, 12), sharex=True)
    ax[0].plot(t, [r['iou'] for r in rows], label='IoU with the truth')
    ax[0].plot(t, [r['q'] for r in rows], label='quality')
    for r in rows:
        if r['dets'] is not None:
            ax[0].axvline(r['t'], color='r', alpha=0.3)
    ax[0].set_ylabel('IoU / quality (red: detector asked)')
    ax[1].plot(t, col(lambda r: r['box'][3]), 'b', label='track h')
    ax[1].plot(t, col(lambda r: r['gt']['box'][3]), 'k', label='truth h')
    ax[1].plot(t, col(lambda r: r['box'][2]), 'b--', label='track w')
    ax[1].plot(t, col(lambda r: r['gt']['box'][2]), 'k--', label='truth w')
    ax[1].set_ylabel('px')
    ax[2].plot(t, col(lambda r: r['box'][1] + r['box'][3]), 'b', label='track bottom')
    ax[2].plot(t, col(lambda r: r['gt']['box'][1] + r['gt']['box'][3]), 'k', label='truth bottom')
    ax[2].plot(t, col(lambda r: r['box'][1]), 'b:', label='track top')
    ax[2].plot(t, col(lambda r: r['gt']['box'][1]), 'k:', label='truth top')
    ax[2].set_ylabel('image row, px')
    ax[3].plot(t, [r['geo_err'] for r in rows], label='geo error (m)')
    ax[3].plot(t, [r['geo_sigma'] for r in rows], label='ellipse sigma, sqrt(tr cov) (m)')
    ax[3].set_yscale('symlog')
    ax[3].set_xlabel('s')
    for x in ax:
        x.legend(loc='upper right', fontsize=8)
    fig.tight_layout()
    fig.savefig(out / 'timeline.png', dpi=80)
    print('%s: %d images; %s' % (a.bag, len(rows), out / 'timeline.png'))
    return 0


def cmd_detector(a) -> int:
    from ..runtime.detector import Detector  # lazy: start-up time: the runtime loads onnxruntime
    run, _, frames = read_bag(Path(a.bag), images=True)
    det = Detector(a.model, backend='onnxruntime')
    found = []  # (truth h, IoU of the best same-class detection, its top - truth top, bottom - truth bottom, h ratio)
    for k, s in enumerate(sorted(frames)):
        if k % a.every:
            continue
        d = det.detect(frames[s], score_threshold=a.score)
        boxes = [(b[0], b[1], b[2] - b[0], b[3] - b[1]) for b, n in zip(d.boxes_xyxy, d.names()) if n == a.cls]
        for t in run.truth.get(s, ()):
            if t['cls'] != a.cls or t['box'] is None or t['visibility'] < MIN_VISIBILITY:
                continue
            g = t['box']
            best = max(boxes, key=lambda b: float(iou_xywh(b, g)[0]), default=None)
            iou = float(iou_xywh(best, g)[0]) if best is not None else 0.0
            found.append((g[3], iou, np.nan if best is None else best[1] - g[1],
                          np.nan if best is None else best[1] + best[3] - g[1] - g[3],
                          np.nan if best is None else best[3] / g[3]))
    f = np.array(found, float).reshape(-1, 5)
    print('%s boxes by truth height (px): n, recall (IoU >= %.1f), of those: mean IoU, box top - truth top (px), '
          'bottom - truth bottom (px), height ratio' % (a.cls, a.match_iou))
    for lo, hi in HEIGHT_BINS:
        m = (f[:, 0] >= lo) & (f[:, 0] < hi)
        hit = m & (f[:, 1] >= a.match_iou)
        if m.any():
            mean = lambda c: float(np.mean(f[hit, c])) if hit.any() else float('nan')
            print('%4d-%-5s n %4d  recall %.2f  IoU %.2f  top %+6.1f  bottom %+6.1f  h ratio %.2f' % (
                lo, hi if hi < 10000 else '', int(m.sum()), hit.sum() / m.sum(), mean(1), mean(2), mean(3), mean(4)))
    return 0


def restarts(run, dets) -> list:
    """(image index, box): the images on which the track was (re)started on one of that image's detections."""
    stamps = list(run.image_stamps)
    out = []
    for tr in run.tracks:
        if tr['box'] is None or tr['stamp'] not in dets or tr['stamp'] not in stamps:
            continue
        if any(np.allclose(tr['box'], b, atol=0.01) for b, _, _ in dets[tr['stamp']]):
            out.append((stamps.index(tr['stamp']), tr['box']))
    return out


def cmd_scale(a) -> int:
    run, dets, frames = read_bag(Path(a.bag), images=True)
    stamps = sorted(frames)
    starts = restarts(run, dets)
    net, cfg0, quality = S.load_checkpoint(a.model)
    for spec in a.set or ['']:
        over = {}
        for kv in (x for x in spec.split(',') if x):
            k, v = kv.split('=')
            over[k] = int(v) if k in ('scale_num', 'response_up') else float(v)
        trk = S.SiamFCTracker(net, replace(cfg0, **over), quality, backend='onnxruntime', num_threads=1)
        ious, parts = [], []
        for j, (i0, box) in enumerate(starts):
            i1 = starts[j + 1][0] if j + 1 < len(starts) else len(stamps)
            trk.init(frames[stamps[i0]], box)
            gt0 = target_truth(run, stamps[i0], box)
            seg, last = [], None
            for i in range(i0 + 1, i1):
                r = trk.update(frames[stamps[i]])
                g = next((t['box'] for t in run.truth.get(stamps[i], ()) if gt0 is not None and t['id'] == gt0['id']
                          and t['box'] is not None and t['visibility'] >= MIN_VISIBILITY), None)
                if g is not None and r.box is not None:
                    seg.append(float(iou_xywh(r.box, g)[0]))
                    last = (r.box[3], g[3])
            ious += seg
            if seg and i1 - i0 >= a.min_frames:
                parts.append('%.1f s: IoU %.2f, h %.0f/%.0f' % (i0 / a.rate, np.mean(seg), last[0], last[1]))
        print('%-45s mean IoU %.3f | %s' % (spec or 'defaults', np.mean(ious) if ious else np.nan, ' | '.join(parts)))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('timeline')
    p.add_argument('bag')
    p.add_argument('--out', default='runs/shot_diag')
    p.set_defaults(func=cmd_timeline)
    p = sub.add_parser('detector')
    p.add_argument('bag')
    p.add_argument('--cls', default='tower')
    p.add_argument('--model', default='models/detr_small.onnx')
    p.add_argument('--score', type=float, default=0.5)
    p.add_argument('--match-iou', type=float, default=0.3)
    p.add_argument('--every', type=int, default=2, help='every Nth image')
    p.set_defaults(func=cmd_detector)
    p = sub.add_parser('scale')
    p.add_argument('bag')
    p.add_argument('--model', default='models/siamfc_sim.pt')
    p.add_argument('--set', action='append', metavar='K=V,K=V', help='SiamFCConfig overrides ("" = defaults)')
    p.add_argument('--rate', type=float, default=10.0, help='image rate of the bag (for the printed times)')
    p.add_argument('--min-frames', type=int, default=30, help='print segments at least this long')
    p.set_defaults(func=cmd_scale)
    a = ap.parse_args(argv)
    return a.func(a)


if __name__ == '__main__':
    sys.exit(main())
