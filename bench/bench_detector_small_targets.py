"""What a finer feature map or a larger input costs (issue #21, small targets): detector latency on this CPU.

Persons are ~3 px wide at the shipped 384x288 input, below one stride-16 cell. The two remedies, measured
against the shipped configuration, each on the detector node's whole path for a 640x480 frame (letterbox +
normalise, the network, postprocessing; ``Detector.detect``), torch and ONNX Runtime, one thread:

- ``stride 8``: the small backbone's last two stages at 1/8 (``small_stride=8``; same weights' shapes),
  384x288 input -> 48x36 = 1728 tokens instead of 24x18 = 432;
- ``512x384`` and ``640x480`` inputs at stride 16 (32x24 = 768 and 40x30 = 1200 tokens).

On a shared machine the wall clock of a frame depends on the other jobs; the CPU time this process spends on
it (``time.process_time``, all its threads) does much less, so the ratios are taken from the CPU time, and the
wall-clock medians are printed beside them.

Every row is the shipped configuration (whitened encoder attention, its matrix built for the row's grid) with
random weights (latency does not depend on the values); the shipped model itself is timed beside them. Rows
are timed in turns (round robin, ``--rounds``) so that the load of a shared machine falls on all of them alike;
the median per row is printed with its ratio to the shipped configuration and the 1.5x budget of the issue.

Run: python bench/bench_detector_small_targets.py [--threads 1] [--frames 10] [--rounds 3]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

from uavcine.core.detr import DETR, DETRConfig
from uavcine.runtime.detector import Detector, export_detr_onnx, save_detr_checkpoint

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_detector import frame  # noqa: E402  (the same 640x480 frame as the detector bench)

VARIANTS = [  # name, config overrides
    ('shipped config (384x288, stride 16)', {}),
    ('stride 8 (384x288)', {'small_stride': 8}),
    ('512x384, stride 16', {'input_width': 512, 'input_height': 384}),
    ('640x480, stride 16', {'input_width': 640, 'input_height': 480}),
]
BUDGET = 1.5


def build(base: DETRConfig, overrides: dict, tmp: str, name: str, threads: int):
    torch.manual_seed(0)
    model = DETR(DETRConfig.from_dict(dict(base.to_dict(), **overrides))).eval()
    pt = os.path.join(tmp, name + '.pt')
    save_detr_checkpoint(pt, model)
    export_detr_onnx(Detector(pt, 'torch').model, os.path.join(tmp, name + '.onnx'))
    return Detector(pt, 'torch'), Detector(os.path.join(tmp, name + '.onnx'), 'onnxruntime', threads=threads)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--frames', type=int, default=10, help='frames per row per round')
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--model', default=os.path.join(REPO, 'models', 'detr_small.pt'))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    img = frame()
    tmp = tempfile.mkdtemp(prefix='bench_small_')
    shipped = Detector(a.model, 'torch')
    base = DETRConfig.from_dict(shipped.config)
    rows = {'shipped model (torch / onnxruntime)': (shipped, Detector(a.model, 'onnxruntime', threads=a.threads))}
    for k, (name, ov) in enumerate(VARIANTS):
        rows[name] = build(base, ov, tmp, 'v%d' % k, a.threads)
        c = rows[name][0].config
        print('built %-38s input %dx%d, tokens %d' % (name, c['input_width'], c['input_height'],
                                                     int(np.prod(DETRConfig.from_dict(c).feature_size))))
    times = {n: ([], []) for n in rows}
    cpu = {n: ([], []) for n in rows}
    for dets in rows.values():  # warm-up
        for d in dets:
            for _ in range(2):
                d.detect(img, 0.5, 20)
    for _ in range(a.rounds):
        for n, dets in rows.items():
            for d, ts, cs in zip(dets, times[n], cpu[n]):
                for _ in range(a.frames):
                    t0, c0 = time.perf_counter(), time.process_time()
                    d.detect(img, 0.5, 20)
                    ts.append(time.perf_counter() - t0)
                    cs.append(time.process_time() - c0)
    med = {n: tuple(1000 * statistics.median(ts) for ts in times[n]) for n in rows}
    cmed = {n: tuple(1000 * statistics.median(ts) for ts in cpu[n]) for n in rows}
    ref = cmed[VARIANTS[0][0]]
    print('\nCPU threads %d, 640x480 frame, median of %d frames per row (%d rounds), load average %s'
          % (a.threads, a.frames * a.rounds, a.rounds, ' '.join('%.1f' % v for v in os.getloadavg())))
    print('%-38s %11s %11s %9s %9s %11s %11s' % ('', 'torch CPU ms', 'ORT CPU ms', 'torch x', 'ORT x',
                                                 'torch wall', 'ORT wall'))
    for n in rows:
        t, o = cmed[n]
        flag = '' if n in (list(rows)[0], VARIANTS[0][0]) else ('  within %.1fx' % BUDGET if o / ref[1] <= BUDGET else
                                                                 '  OVER the %.1fx budget' % BUDGET)
        print('%-38s %11.1f %11.1f %9.2f %9.2f %11.1f %11.1f%s' % (n, t, o, t / ref[0], o / ref[1], med[n][0],
                                                                 med[n][1], flag))
    return 0


if __name__ == '__main__':
    sys.exit(main())
