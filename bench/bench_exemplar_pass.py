"""The cost of the exemplar-branch appearance features (``appz_*``: one more forward of a 127 px crop per frame).

Two onnxruntime SiamFC trackers, one with ``exemplar_pass`` and one without, follow the first ``--frames`` frames of
a 1280x720 development sequence (bench_tracker_720p's frames) in lockstep on one thread (each frame the two updates
back to back, their order alternating, so load changes on this shared machine hit both alike); prints the median
update time of each and the difference. Issue #14, round five: the features were measured equal to the free
search-feature window's (``app_*``), so the shipped head does not use them.

Run: python bench/bench_exemplar_pass.py [--frames 40] [--rounds 3] [--model models/siamfc_real.pt]
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import torch

from uavcine.core import siamfc as S

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tracker_720p import load_frames  # noqa: E402  (the same frames as the speed benchmark)

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--frames', type=int, default=40)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--model', default=str(REPO / 'models' / 'siamfc_real.pt'))
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    frames, box, what = load_frames(a.frames)
    net, cfg, q = S.load_checkpoint(a.model)
    plain = S.SiamFCTracker(net, cfg, q, backend='onnxruntime', num_threads=1)
    extra = S.SiamFCTracker(net, cfg, q, backend='onnxruntime', num_threads=1)
    extra.exemplar_pass = True
    times = {'plain': [], 'extra': []}
    for _ in range(a.rounds):
        plain.init(frames[0], box)
        extra.init(frames[0], box)
        for i in range(1, len(frames)):
            order = [('plain', plain), ('extra', extra)][::1 if i % 2 else -1]
            for name, trk in order:
                t0 = time.perf_counter()
                trk.update(frames[i])
                times[name].append(time.perf_counter() - t0)
    mp, me = (1000 * statistics.median(times[k]) for k in ('plain', 'extra'))
    print('frames: %s, %d x %d, 1 thread, onnxruntime, %d updates each' % (
        what, frames[0].shape[1], frames[0].shape[0], len(times['plain'])))
    print('update without the exemplar pass %.1f ms, with it %.1f ms: +%.1f ms (+%.0f %%)' % (
        mp, me, me - mp, 100 * (me - mp) / mp))
    return 0


if __name__ == '__main__':
    sys.exit(main())
