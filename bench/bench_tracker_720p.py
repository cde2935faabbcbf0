"""SiamFC against OpenCV's CSRT per frame at 1280x720, one and two threads, in one run.

Frames: the first ``--frames`` frames of a real 1280x720 drone sequence of the development set
(/work/shared/data/aerial_tracking/DTB70_BMX3, decoded before timing), else a synthetic 1280x720
sequence (said in the output). Both trackers start on the same first box and follow the sequence, so
each update sees a realistic search region.

Timed per update, everything the tracker does with the decoded RGB frame: SiamFC's three search-region
crops (one warpAffine per scale, only the search region is read: no image pyramid), the conversion to
the network's input, the network (one forward of the three scales; it also returns the search features that
the appearance features read), the response upsampling and the quality features; CSRT's update on the BGR
frame (the RGB->BGR conversion excluded). SiamFC rows: torch; onnxruntime float; with ``--search-onnx`` the int8
search graph (train/siamfc_int8.py); on more than one thread also the scales split over the threads
(runtime/split_batch.py) instead of each operator.
The trackers run in lockstep (each frame: every tracker's update back to back, their order rotating) so load
changes on this shared machine hit them alike; the median over all updates is printed with the ratio CSRT / SiamFC
(> 1: SiamFC is faster), and the onnxruntime float update's crop and network times.

Run: python bench/bench_tracker_720p.py [--threads 1,2] [--frames 30] [--rounds 3]
     python bench/bench_tracker_720p.py --model models/siamfc_real.pt --search-onnx models/siamfc_real_int8.onnx
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
from uavcine.runtime.siamfc_onnx import load_search_onnx
from uavcine.runtime.split_batch import SplitBatch

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
        crops = tracker.search_crops(f)
        t1 = time.perf_counter()
        tracker.search(crops)
        t2 = time.perf_counter()
        parts['crop'].append(t1 - t0)
        parts['net'].append(t2 - t1)


def lockstep(trackers, frames, box, times):
    """The SiamFC trackers and CSRT follow the sequence frame by frame, each frame's updates back to back (their
    order rotates), so a load change on this shared machine hits all of them alike. ``times``: one list per SiamFC
    tracker, then CSRT's."""
    tr = csrt()
    bgr = [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in frames]
    tr.init(bgr[0], tuple(int(round(v)) for v in box))
    for t in trackers:
        t.init(frames[0], box)
    steps = [(lambda i, t=t: t.update(frames[i])) for t in trackers] + [lambda i: tr.update(bgr[i])]
    n = len(steps)
    for i in range(1, len(frames)):
        for k in range(n):
            j = (i + k) % n
            t0 = time.perf_counter()
            steps[j](i)
            times[j].append(time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', default='1,2')
    ap.add_argument('--frames', type=int, default=30)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--model', default=str(REPO / 'models' / 'siamfc_sim.pt'))
    ap.add_argument('--search-onnx', default='', help='also time this search graph made from --model (the int8 one: '
                    'python -m uavcine.train.siamfc_int8)')
    a = ap.parse_args(argv)
    frames, box, what = load_frames(a.frames)
    h, w = frames[0].shape[:2]
    print('frames: %s, %d x %d, %d updates per tracker per round, %d rounds; shared CPU (%d cores visible), '
          'load average %.1f' % (what, w, h, len(frames) - 1, a.rounds, os.cpu_count(), os.getloadavg()[0]))
    net, cfg, q = S.load_checkpoint(a.model)
    print('SiamFC model: %s (width %.2f)' % (Path(a.model).name, cfg.width))
    search_int8 = load_search_onnx(a.search_onnx, a.model) if a.search_onnx else None
    print('| threads | tracker | ms per update | CSRT ms (same frames) | CSRT / tracker |')
    print('|---|---|---|---|---|')
    for th in [int(v) for v in a.threads.split(',')]:
        torch.set_num_threads(th)
        cv2.setNumThreads(th)
        variants = [('SiamFC torch', S.SiamFCTracker(net, cfg, q, backend='torch')),
                    ('SiamFC onnxruntime', S.SiamFCTracker(net, cfg, q, backend='onnxruntime', num_threads=th))]
        if search_int8 is not None:
            variants.append(('SiamFC onnxruntime int8', S.SiamFCTracker(net, cfg, q, backend='onnxruntime',
                                                                       num_threads=th, search_onnx=search_int8)))
        if th > 1:  # the scales split over the threads, one-thread sessions (runtime/split_batch.py)
            for name, graph in [('SiamFC onnxruntime', None), ('SiamFC onnxruntime int8', search_int8)]:
                if name.endswith('int8') and graph is None:
                    continue
                trk = S.SiamFCTracker(net, cfg, q, backend='onnxruntime', num_threads=1, search_onnx=graph)
                trk.search_session = SplitBatch(trk.search_session, th, 'x')
                variants.append((name + ', scales split', trk))
        trackers = [t for _, t in variants]
        times = [[] for _ in range(len(trackers) + 1)]
        parts = {'crop': [], 'net': []}
        for t in trackers:  # warm-up
            run_siamfc(t, frames[:4], box, [])
        for _ in range(a.rounds):
            lockstep(trackers, frames, box, times)
            run_siamfc(variants[1][1], frames[:2], box, [], parts)
        ms = [1000 * statistics.median(v) for v in times]
        for (name, _), m in zip(variants, ms):
            print('| %d | %s | %.1f | %.1f | **%.2f** |' % (th, name, m, ms[-1], ms[-1] / m))
        print('| %d | (onnxruntime float: crop %.1f ms, network %.1f ms) | | | |' % (
            th, 1000 * statistics.median(parts['crop']), 1000 * statistics.median(parts['net'])))
    print('load average at the end: %.1f' % os.getloadavg()[0])
    return 0


if __name__ == '__main__':
    sys.exit(main())
