"""Look at where SiamFC loses a real target: frames with the truth, SiamFC's and CSRT's boxes, and SiamFC's
search crop with its response map, rendered to one PNG per sequence (issue #14's diagnosis).

    python -m uavcine.eval.track_diag --otb /work/shared/data/aerial_tracking/DTB70_Gull1 --frames 1,5,10,20,40 \
        --out runs/diag

Each row of the sheet is one frame: the full frame with the true box (green), SiamFC's (red) and CSRT's (blue),
then SiamFC's unit-scale search crop (what the network saw, the exemplar inset top left) and its 17x17 response
upsampled onto the crop. Options ``--context``, ``--window-influence``, ``--scale-step`` ... override the
tracker's hyper-parameters (``SiamFCConfig``) to see what they change.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from ..core import box_ops
from ..core import siamfc as S
from .sequences import REPO, OTBError, otb_folders, read_otb
from .track_eval import opencv_tracker

GREEN, RED, BLUE = (0, 200, 0), (230, 30, 30), (40, 90, 255)
#: ``SiamFCConfig`` fields the command line can override (--context, --window-influence, ...)
OVERRIDABLE = ('context', 'window_influence', 'scale_step', 'scale_lr', 'scale_penalty')


def _rect(img, box, colour, t=2):
    if box is None or not np.all(np.isfinite(box)):
        return
    x, y, w, h = (int(round(v)) for v in box)
    cv2.rectangle(img, (x, y), (x + w, y + h), colour, t)


def _fit(img, h):
    return cv2.resize(img, (int(round(img.shape[1] * h / img.shape[0])), h), interpolation=cv2.INTER_AREA)


def run(seq, net, cfg, quality, frames_to_show, backend='onnxruntime'):
    """Track the whole sequence with SiamFC and CSRT; keep the panels of ``frames_to_show``. Returns rows, IoUs."""
    t = S.SiamFCTracker(net, cfg, quality, backend=backend, num_threads=1)
    t.init(seq.frame(0), seq.boxes[0])
    z = S.crop_and_resize(seq.frame(0), t.center, t.z_sz, cfg.exemplar_sz, t.avg_color)
    csrt = opencv_tracker('CSRT')
    x, y, w, h = seq.boxes[0]
    csrt.init(cv2.cvtColor(seq.frame(0), cv2.COLOR_RGB2BGR), (int(round(x)), int(round(y)), int(round(w)), int(round(h))))
    rows, ious = [], {'SiamFC': [], 'CSRT': []}
    for i in range(1, len(seq)):
        img = seq.frame(i)
        centre, x_sz = t.center.copy(), t.x_sz  # the search region of this frame (before the update)
        r = t.update(img)
        ok, cb = csrt.update(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        cb = tuple(cb) if ok else None
        truth = seq.boxes[i] if np.all(np.isfinite(seq.boxes[i])) else None
        if truth is not None:
            ious['SiamFC'].append(box_ops.iou(r.box, truth))
            ious['CSRT'].append(box_ops.iou(cb, truth) if cb is not None else 0.0)
        if i not in frames_to_show:
            continue
        full = img.copy()
        _rect(full, truth, GREEN, 3)
        _rect(full, r.box, RED, 2)
        _rect(full, cb, BLUE, 2)
        # the search region on the frame (dashed look: thin white)
        sx, sy = centre - x_sz / 2
        cv2.rectangle(full, (int(sx), int(sy)), (int(sx + x_sz), int(sy + x_sz)), (255, 255, 255), 1)
        cv2.putText(full, '#%d IoU siam %.2f csrt %.2f q %.2f' % (
            i, ious['SiamFC'][-1] if truth is not None else -1, ious['CSRT'][-1] if truth is not None else -1,
            r.quality), (8, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * full.shape[0] / 480, (255, 255, 0), 2)
        crop = S.crop_and_resize(img, centre, x_sz, cfg.instance_sz, t.avg_color)
        resp = cv2.resize(r.response.astype(np.float32), (cfg.instance_sz, cfg.instance_sz),
                          interpolation=cv2.INTER_CUBIC) if r.response is not None else np.zeros(crop.shape[:2])
        # the response cells cover the central (response_sz - 1) * stride + exemplar px of the crop: draw where
        lo, hi = float(resp.min()), float(resp.max())
        heat = cv2.applyColorMap(np.uint8(255 * (resp - lo) / max(hi - lo, 1e-9)), cv2.COLORMAP_JET)[:, :, ::-1]
        over = crop.copy()
        zi = cv2.resize(z, (64, 64))
        over[:64, :64] = zi
        h = 360
        rows.append(np.hstack([_fit(full, h), _fit(over, h), _fit(heat, h)]))
    return rows, ious


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog='python -m uavcine.eval.track_diag', description=__doc__.split('\n')[0])
    ap.add_argument('--otb', action='append', required=True, metavar='DIR')
    ap.add_argument('--frames', default='1,5,10,20,40,80')
    ap.add_argument('--model', default=str(REPO / 'models' / 'siamfc_sim.pt'))
    ap.add_argument('--out', default='runs/diag')
    for name in OVERRIDABLE:
        ap.add_argument('--' + name.replace('_', '-'), type=float, default=None)
    a = ap.parse_args(argv)
    try:
        frames = {int(v) for v in a.frames.split(',') if v.strip()}
        seqs = [read_otb(f) for f in otb_folders(a.otb)]
    except ValueError:
        print('error: --frames must be frame numbers separated by commas, got %r' % a.frames, file=sys.stderr)
        return 2
    except OTBError as e:
        print('error: %s' % e, file=sys.stderr)
        return 2
    try:
        net, cfg, quality = S.load_checkpoint(a.model)
    except ValueError as e:  # a missing or unreadable file, in one line
        print('error: %s' % e, file=sys.stderr)
        return 2
    over = {k: getattr(a, k) for k in OVERRIDABLE if getattr(a, k) is not None}
    cfg = replace(cfg, **over)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for seq in seqs:
        rows, ious = run(seq, net, cfg, quality, frames)
        if rows:
            w = max(r.shape[1] for r in rows)
            sheet = np.vstack([np.pad(r, ((0, 0), (0, w - r.shape[1]), (0, 0))) for r in rows])
            cv2.imwrite(str(out / ('%s.png' % seq.name)), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        print('%-26s %d frames  mean IoU SiamFC %.3f CSRT %.3f -> %s' % (
            seq.name, len(seq), np.mean(ious['SiamFC']), np.mean(ious['CSRT']), out / ('%s.png' % seq.name)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
