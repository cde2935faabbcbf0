"""Gesture recognition speed on one CPU thread: MMGR's skeleton recogniser against the DD-Net peer, in one run.

Per recognition of one window (5 s of COCO-18 skeletons at 10 fps = 50 frames): the skeleton
processing (joint_proc: M = 7 joints, normalisation, missing keypoints; sampling; velocities) and
the network, for the LSTM + 2 FC (torch and ONNX Runtime) and for DD-Net (torch, the paper's
filters = 64). Printed: median ms per window, and how many times faster than DD-Net each part is; and the
node's own call (``classify_window``: processing + the torch network, twice with mirror averaging).
Per frame, the pose branch: the tracked person's crop (cv2.warpAffine of a 640x480 frame to 64x64) and
the pose network (torch and ONNX Runtime); and the whole branch per frame = crop + fastest pose +
recognition / 5 (one window per 0.5 s at 10 fps), against the issue's >= 10 frames per second.

Run: python bench/bench_gesture.py [--model models/gesture_lstm_none.pt] [--pose models/gesture_pose.pt]
     [--threads 1] [--repeat 200]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

from uavcine.core.gestures import skeleton as K
from uavcine.core.gestures.ddnet import DDNet, DDNetConfig
from uavcine.core.gestures.mmgr import GestureLSTM, MMGRConfig, classify_window, from_checkpoint, window_features


def timed(fn, repeat):
    for _ in range(5):
        fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return 1000 * statistics.median(ts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', default='models/gesture_lstm_none.pt')
    ap.add_argument('--pose', default='models/gesture_pose.pt')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--repeat', type=int, default=200)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    os.environ.setdefault('OMP_NUM_THREADS', str(a.threads))
    if os.path.isfile(a.model):
        lstm = from_checkpoint(torch.load(a.model, weights_only=False))
        src = a.model
    else:
        lstm = GestureLSTM(MMGRConfig(velocity=True, skeleton_dim=28)).eval()
        src = 'untrained (no %s)' % a.model
    ddnet = DDNet(DDNetConfig(frames=lstm.cfg.frames)).eval()
    rng = np.random.default_rng(0)
    window = np.abs(rng.normal(300, 50, (50, 18, 2)))
    times = np.arange(50) / 10.0

    def features():
        p7, _ = K.joint_proc(window)
        idx = K.sample_indices(len(p7), lstm.cfg.frames)
        return p7, window_features(lstm.cfg, p7, times, idx)

    p7, f = features()
    x = torch.from_numpy(f)[None]
    xd = torch.from_numpy(p7[K.sample_indices(len(p7), lstm.cfg.frames)])[None]
    import onnxruntime as ort

    from uavcine.runtime.onnx_export import export_onnx
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, 'g.onnx')
        export_onnx(lstm, [x], path, ['features'], ['logits'])
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(path, so, providers=['CPUExecutionProvider'])
        with torch.no_grad():
            rows = [('skeleton processing (joint_proc, sampling, velocities)', timed(features, a.repeat)),
                    ('LSTM + 2 FC, torch', timed(lambda: lstm(x), a.repeat)),
                    ('LSTM + 2 FC, onnxruntime', timed(lambda: sess.run(None, {'features': x.numpy()}), a.repeat)),
                    ('DD-Net (filters 64), torch  [peer]', timed(lambda: ddnet(xd), a.repeat))]
            node_ms = timed(lambda: classify_window(lstm, window, times), a.repeat)
        import cv2

        from uavcine.core.gestures.pose import PoseNet, crop_transform
        from uavcine.core.gestures.pose import from_checkpoint as pose_from_checkpoint
        pose = pose_from_checkpoint(torch.load(a.pose, weights_only=False)) if os.path.isfile(a.pose) else PoseNet().eval()
        frame = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        M = crop_transform((300.0, 150.0, 40.0, 110.0), pose.cfg)
        crop = lambda: cv2.warpAffine(frame, M, (pose.cfg.size, pose.cfg.size), flags=cv2.INTER_AREA)  # noqa: E731
        xc = torch.from_numpy(np.ascontiguousarray(crop().transpose(2, 0, 1)))[None].float() / 255.0
        ppath = os.path.join(d, 'p.onnx')
        export_onnx(pose, [xc], ppath, ['crop'], ['keypoints', 'confidence'])
        psess = ort.InferenceSession(ppath, so, providers=['CPUExecutionProvider'])
        with torch.no_grad():
            pose_rows = [('person crop (640x480 -> 64x64)', timed(crop, a.repeat)),
                         ('pose network, torch', timed(lambda: pose(xc), a.repeat)),
                         ('pose network, onnxruntime', timed(lambda: psess.run(None, {'crop': xc.numpy()}), a.repeat))]
    peer = rows[-1][1]
    print('gesture recognition, one window of 50 skeletons, %d thread(s), model: %s' % (a.threads, src))
    print('params: LSTM %d, DD-Net %d' % (sum(p.numel() for p in lstm.parameters()),
                                          sum(p.numel() for p in ddnet.parameters())))
    for name, ms in rows:
        print('  %-58s %8.3f ms   %7.1fx faster than DD-Net' % (name, ms, peer / ms))
    print("  %-58s %8.3f ms" % ("the node's call, classify_window (processing + torch, as run)", node_ms))
    whole = rows[0][1] + min(rows[1][1], rows[2][1])
    print('  recognition per window (processing + fastest LSTM): %.3f ms; at one window per 0.5 s and 10 fps this is '
          '%.3f ms per frame' % (whole, whole / 5))
    print('pose branch per frame, %d thread(s), pose network: %s (%d params)'
          % (a.threads, a.pose if os.path.isfile(a.pose) else 'untrained', sum(p.numel() for p in pose.parameters())))
    for name, ms in pose_rows:
        print('  %-58s %8.3f ms' % (name, ms))
    frame_ms = pose_rows[0][1] + min(pose_rows[1][1], pose_rows[2][1]) + whole / 5
    print('  whole branch per frame (crop + fastest pose + recognition / 5): %.3f ms = %.0f frames per second'
          % (frame_ms, 1000 / frame_ms))
    return 0


if __name__ == '__main__':
    sys.exit(main())
