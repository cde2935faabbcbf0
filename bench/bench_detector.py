"""DETR detector latency on the CPU at 640x480: torch vs ONNX Runtime, and standard vs whitened attention.

One frame = the detector node's whole path: letterbox + normalise, the network, postprocessing
to boxes in the original image's pixels (``uavcine.runtime.detector.Detector.detect``).

Measured in one run, same thread count:
1. the shipped model (models/detr_small.pt and its .onnx; exported to a temporary .onnx if absent)
   with the torch and the onnxruntime backends -> median ms per frame and the ratio;
2. the same small configuration with 'standard' and with 'whitened' encoder attention (random
   weights: latency only) on both backends -> the ratio whitened / standard, and the encoder alone.

Run: python bench/bench_detector.py [--threads 1] [--frames 30] [--model models/detr_small.pt]
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


def frame(seed=0):
    """A 640x480 simulator frame if the held-out split exists, else a smooth random image."""
    import cv2
    d = os.path.join(REPO, 'data', 'detr', 'test', 'images')
    if os.path.isdir(d):
        files = sorted(os.listdir(d))
        if files:
            bgr = cv2.imread(os.path.join(d, files[seed % len(files)]))
            if bgr is not None and bgr.shape[:2] == (480, 640):
                return np.ascontiguousarray(bgr[:, :, ::-1])
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (9, 9), 3)


def time_detect(det, img, frames):
    for _ in range(3):
        det.detect(img, 0.5, 20)
    ts = []
    for _ in range(frames):
        t0 = time.perf_counter()
        det.detect(img, 0.5, 20)
        ts.append(time.perf_counter() - t0)
    return 1000 * statistics.median(ts)


def time_encoder(model, img_shape, frames):
    x = torch.randn(1, model.cfg.hidden_dim, *model.cfg.feature_size)
    pos = model.backbone[1](x)
    with torch.no_grad():
        for _ in range(3):
            model.transformer.encode(x, pos)
        ts = []
        for _ in range(frames):
            t0 = time.perf_counter()
            model.transformer.encode(x, pos)
            ts.append(time.perf_counter() - t0)
    return 1000 * statistics.median(ts)


def pair(pt, onnx_path, threads, frames, img):
    dt = Detector(pt, 'torch')
    do = Detector(onnx_path, 'onnxruntime', threads=threads)
    return time_detect(dt, img, frames), time_detect(do, img, frames), dt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--frames', type=int, default=30)
    ap.add_argument('--model', default=os.path.join(REPO, 'models', 'detr_small.pt'))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    img = frame()
    tmp = tempfile.mkdtemp(prefix='bench_detr_')
    print('CPU threads: %d, frames: %d, image 640x480 (%s)' % (a.threads, a.frames, os.cpu_count()))

    if os.path.isfile(a.model):
        pt = a.model
        onnx_path = os.path.splitext(pt)[0] + '.onnx'
        if not os.path.isfile(onnx_path):
            onnx_path = os.path.join(tmp, 'shipped.onnx')
            export_detr_onnx(Detector(pt, 'torch').model, onnx_path)
        t_torch, t_ort, dt = pair(pt, onnx_path, a.threads, a.frames, img)
        c = dt.config
        print('\n1) shipped model %s (input %dx%d, %s attention, %d queries)'
              % (os.path.relpath(pt, REPO), c['input_width'], c['input_height'], c['encoder_attention'],
                 c['num_queries']))
        print('   torch        %7.2f ms/frame' % t_torch)
        print('   onnxruntime  %7.2f ms/frame' % t_ort)
        print('   ratio torch / onnxruntime = %.2f' % (t_torch / t_ort))
        base = DETRConfig.from_dict(c)
    else:
        print('\n1) %s not found: skipped (train and export it first)' % a.model)
        from uavcine.core.detr import detr_small_config
        base = detr_small_config(['person', 'car', 'tower'])

    print('\n2) encoder attention (random weights, same configuration otherwise)')
    res = {}
    for att in ('standard', 'whitened'):
        torch.manual_seed(0)
        model = DETR(DETRConfig.from_dict(dict(base.to_dict(), encoder_attention=att))).eval()
        pt = os.path.join(tmp, att + '.pt')
        save_detr_checkpoint(pt, model)
        export_detr_onnx(Detector(pt, 'torch').model, os.path.join(tmp, att + '.onnx'))
        t_torch, t_ort, dt = pair(pt, os.path.join(tmp, att + '.onnx'), a.threads, a.frames, img)
        t_enc = time_encoder(dt.model, img.shape, a.frames)
        res[att] = (t_torch, t_ort, t_enc)
        print('   %-9s torch %7.2f ms/frame, onnxruntime %7.2f ms/frame, encoder alone (torch) %6.2f ms'
              % (att, t_torch, t_ort, t_enc))
    s, w = res['standard'], res['whitened']
    print('   ratio whitened / standard: torch %.2f, onnxruntime %.2f, encoder alone %.2f'
          % (w[0] / s[0], w[1] / s[1], w[2] / s[2]))
    return 0


if __name__ == '__main__':
    sys.exit(main())
