"""Batch-1 latency of the detector and the SiamFC search network on CUDA (fp32 and fp16) beside the CPU, in one run.

The same measurement as ``python -m uavcine.train.gpu_run --latency-only`` (``gpu_latency.bench_latency``):
the DETR network alone on a device tensor and a 640x480 frame's whole path (letterbox + normalise on the host,
copy, network, copy back, postprocessing), and SiamFC's per-frame network (3 search crops of 255x255 against
the exemplar kernel). Each row is measured on CUDA and on this machine's CPU (torch, ``--threads``) in the same
run, so the printed ratios compare like with like. Without a CUDA device it says so and measures the CPU only.

Run: python bench/bench_gpu.py [--frames 50] [--threads 1]
"""
import argparse
import os
import sys

import numpy as np
import torch

from uavcine.train import gpu_data
from uavcine.train.gpu_latency import bench_latency
from uavcine.runtime.detector import load_detr_checkpoint

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--frames', type=int, default=50)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--model', default=os.path.join(REPO, 'models', 'detr_small.pt'))
    ap.add_argument('--siamfc', default=os.path.join(REPO, 'models', 'siamfc_sim.pt'))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    r = gpu_data.render_scene((10000, 2.0, 5.0, 4))  # a held-out test scene's first frame
    frame = gpu_data.decode(gpu_data.pack_split(*gpu_data.assemble([r])), 0)
    models = {'detr_small': load_detr_checkpoint(a.model)}
    devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    if len(devices) == 1:
        print('no CUDA device here: CPU only (the GPU columns need a machine with one)')
    res = {d: bench_latency(models, frame, a.siamfc, torch.device(d), a.frames) for d in devices}
    print('\nbatch 1, 640x480 frame, median of %d; CPU: torch, %d thread(s); fp16 = autocast float16' % (
        a.frames, a.threads))
    print('%-34s %12s %12s %10s' % ('', 'CPU ms', 'CUDA ms', 'CPU/CUDA'))
    rows = []
    for key in res['cpu']['detector']:
        for what in ('network_ms', 'frame_to_detections_ms'):
            rows.append(('%s %s' % (key, what[:-3].replace('_', ' ')), 'detector', key, what))
    for key in res['cpu']['siamfc']:
        rows.append(('%s search network' % key, 'siamfc', key, 'network_ms'))
    for label, part, key, what in rows:
        c = res['cpu'][part].get(key, {}).get(what, np.nan)
        g = res['cuda'][part].get(key, {}).get(what, np.nan) if 'cuda' in res else np.nan
        print('%-34s %12.2f %12s %10s' % (label, c, '%.2f' % g if g == g else '-', '%.1f' % (c / g) if g == g else '-'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
