"""SiamFC against OpenCV's CSRT per frame at 1280x720, one and two threads, in one run.

Frames: the first ``--frames`` frames of a real 1280x720 drone sequence of the development set
(/work/shared/data/aerial_tracking/DTB70_BMX3, decoded before timing), else a synthetic 1280x720
sequence (said in the output). Both trackers start on the same first box and follow the sequence, so
each update sees a realistic search region.

Timed per update, everything the tracker does with the decoded RGB frame: SiamFC's three search-region
crops (one warpAffine per scale, only the search region is read: no image pyramid), the conversion to
the network's input, the network (one forward of the three scales; it also returns the search features that
the appearance features read), the response upsampling and the quality features; CSRT's update on the BGR
frame (the RGB->BGR conversion excluded).
The trackers run in lockstep (each frame: the three updates back to back, their order rotating) so load
changes on this shared machine hit them alike; the median over all updates is printed with the ratio CSRT / SiamFC (> 1: SiamFC
is faster). A breakdown of SiamFC's update (crop, network, rest) is printed for the onnxruntime backend.

Run: python bench/bench_tracker_720p.py [--threads 1,2] [--frames 30] [--rounds 3]
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from uavcine.core import siamfc as S

REPO = Path(__file__).resolve().parents[1]
SEQ = Path('/work/shared/data/aerial_tracking/DTB70_BMX3')


def load_frames(n):
    if (SEQ / 'groundtruth_rect.txt').is_file():
        from uavcine.eval.sequences import read_otb  # lazy: only when the development set is present
        seq = read_otb(SEQ, n)
        return [seq.frame(i) for i in range(len(seq))], tuple(seq.boxes[0]), 'real: %s' % SEQ.name
    rng = np.random.default_rng(0)
    bg = cv2.GaussianBlur(rng.integers(0, 255, (720, 1280, 3)).astype(np.uint8), (0, 0), 3)
    frames = []
    for i in range(n):
        img = bg.copy()
        x, y = 500 + 4 * i, 300 + 2 * i
        img[y:y + 60, x:x + 80] = (200, 40, 40)
        frames.append(img)
    return frames, (500.0, 300.0, 80.0, 60.0), 'synthetic (development set absent)'


def csrt():
    fn = getattr(cv2, 'TrackerCSRT_create', None) or getattr(getattr(cv2, 'legacy', None), 'TrackerCSRT_create')
    return fn()


def run_siamfc(tracker, frames, box, times, parts=None):
    tracker.init(frames[0], box)
    for f in frames[1:]:
        t0 = time.perf_counter()
        tracker.update(f)
        times.append(time.perf_counter() - t0)
    if parts is not None:  # breakdown on the last frame's state (crop, network, rest)
        f = frames[-1]
        t0 = time.perf_counter()
        crops = np.stack([S.crop_and_resize(f, tracker.center, tracker.x_sz * s, tracker.cfg.instance_sz,
                                            tracker.avg_color) for s in tracker.scale_factors])
        t1 = time.perf_counter()
        tracker.search(crops)
        t2 = time.perf_counter()
        parts['crop'].append(t1 - t0)
        parts['net'].append(t2 - t1)


def lockstep(trk_t, trk_o, frames, box, tt, to, tc):
    """The three trackers follow the sequence frame by frame, each frame's updates back to back (their order rotates),
    so a load change on this shared machine hits all three alike."""
    tr = csrt()
    bgr = [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in frames]
    tr.init(bgr[0], tuple(int(round(v)) for v in box))
    trk_t.init(frames[0], box)
    trk_o.init(frames[0], box)
    steps = [(lambda i: trk_t.update(frames[i]), tt), (lambda i: trk_o.update(frames[i]), to),
             (lambda i: tr.update(bgr[i]), tc)]
    for i in range(1, len(frames)):
        for k in range(3):
            fn, times = steps[(i + k) % 3]
            t0 = time.perf_counter()
            fn(i)
            times.append(time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', default='1,2')
    ap.add_argument('--frames', type=int, default=30)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--model', default=str(REPO / 'models' / 'siamfc_sim.pt'))
    a = ap.parse_args(argv)
    frames, box, what = load_frames(a.frames)
    h, w = frames[0].shape[:2]
    print('frames: %s, %d x %d, %d updates per tracker per round, %d rounds; shared CPU (%d cores visible), '
          'load average %.1f' % (what, w, h, len(frames) - 1, a.rounds, os.cpu_count(), os.getloadavg()[0]))
    net, cfg, q = S.load_checkpoint(a.model)
    print('SiamFC model: %s (width %.2f)' % (Path(a.model).name, cfg.width))
    print('| threads | SiamFC torch ms | SiamFC onnxruntime ms | CSRT ms | CSRT / SiamFC torch | CSRT / SiamFC ort |'
          ' ort crop ms | ort network ms |')
    print('|---|---|---|---|---|---|---|---|')
    for th in [int(v) for v in a.threads.split(',')]:
        torch.set_num_threads(th)
        cv2.setNumThreads(th)
        trk_t = S.SiamFCTracker(net, cfg, q, backend='torch')
        trk_o = S.SiamFCTracker(net, cfg, q, backend='onnxruntime', num_threads=th)
        tt, to, tc = [], [], []
        parts = {'crop': [], 'net': []}
        run_siamfc(trk_o, frames[:4], box, [])  # warm-up
        run_siamfc(trk_t, frames[:4], box, [])
        for _ in range(a.rounds):
            lockstep(trk_t, trk_o, frames, box, tt, to, tc)
            run_siamfc(trk_o, frames[:2], box, [], parts)
        mt, mo, mc = (1000 * statistics.median(v) for v in (tt, to, tc))
        print('| %d | %.1f | %.1f | %.1f | %.2f | %.2f | %.1f | %.1f |' % (
            th, mt, mo, mc, mc / mt, mc / mo, 1000 * statistics.median(parts['crop']),
            1000 * statistics.median(parts['net'])))
    print('load average at the end: %.1f' % os.getloadavg()[0])
    return 0


if __name__ == '__main__':
    sys.exit(main())
