"""SiamFC tracker speed on the CPU: ours against the reference siamfc-pytorch update, in one run.

Peer: siamfc-pytorch's ``TrackerSiamFC.update`` re-implemented line by line (AlexNetV1
with BatchNorm layers, ``ops.crop_and_resize`` that pads the whole frame with
copyMakeBorder then crops and resizes, the 3 search crops stacked into one backbone
call, the head's cross-correlation x 0.001, three bicubic upsamplings to 272 x 272,
scale penalty, Hann window). A variant with the scales unbatched (three forwards) is
measured too.

Ours: ``uavcine.core.siamfc.SiamFCTracker.update`` (BatchNorm folded into the
convolutions, one warpAffine per crop, scales batched) with the torch and the
ONNX Runtime backends, on the same official-width network, and on the shipped slim
model (models/siamfc_sim.pt) if present.

Printed: median ms per 3-scale update, ratios to the reference, the backbone's FLOPs
per update, and the share of this CPU's FLOP bound (peak fp32 GFLOP/s measured with a
large matmul in the same run). Run: python bench/bench_tracker.py [--threads 2]
"""
import argparse
import os
import statistics
import sys
import time

import cv2
import numpy as np
import torch

from uavcine.core import siamfc as S

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ----------------------------------------------------------------------------
# The reference configuration (siamfc-pytorch siamfc.py / ops.py), re-implemented
# ----------------------------------------------------------------------------


def ref_crop_and_resize(img, center, size, out_size, border_value):
    """ops.crop_and_resize: centre (y, x) 0-indexed; pad the whole image if needed, crop, resize."""
    size = round(size)
    corners = np.concatenate((np.round(center - (size - 1) / 2), np.round(center - (size - 1) / 2) + size))
    corners = np.round(corners).astype(int)
    pads = np.concatenate((-corners[:2], corners[2:] - img.shape[:2]))
    npad = max(0, int(pads.max()))
    if npad > 0:
        img = cv2.copyMakeBorder(img, npad, npad, npad, npad, cv2.BORDER_CONSTANT, value=border_value)
    corners = (corners + npad).astype(int)
    patch = img[corners[0]:corners[2], corners[1]:corners[3]]
    return cv2.resize(patch, (out_size, out_size), interpolation=cv2.INTER_LINEAR)


class ReferenceTracker:
    """TrackerSiamFC.init/update with the default config (out_scale 0.001, 3 scales, response_up 16)."""

    def __init__(self, net, batched=True):
        self.net = net.eval()
        self.cfg = S.SiamFCConfig()
        self.batched = batched

    @torch.no_grad()
    def init(self, img, box):
        c = self.cfg
        box = np.array([box[1] - 1 + (box[3] - 1) / 2, box[0] - 1 + (box[2] - 1) / 2, box[3], box[2]], np.float32)
        self.center, self.target_sz = box[:2], box[2:]
        self.upscale_sz = c.response_up * c.response_sz
        self.hann_window = np.outer(np.hanning(self.upscale_sz), np.hanning(self.upscale_sz))
        self.hann_window /= self.hann_window.sum()
        self.scale_factors = c.scale_step ** np.linspace(-(c.scale_num // 2), c.scale_num // 2, c.scale_num)
        context = c.context * np.sum(self.target_sz)
        self.z_sz = np.sqrt(np.prod(self.target_sz + context))
        self.x_sz = self.z_sz * c.instance_sz / c.exemplar_sz
        self.avg_color = np.mean(img, axis=(0, 1))
        z = ref_crop_and_resize(img, self.center, self.z_sz, c.exemplar_sz, self.avg_color)
        z = torch.from_numpy(z).permute(2, 0, 1).unsqueeze(0).float()
        self.kernel = self.net.backbone(z)

    def head(self, x):
        return S.xcorr(self.kernel, x) * self.cfg.out_scale

    @torch.no_grad()
    def update(self, img):
        c = self.cfg
        x = [ref_crop_and_resize(img, self.center, self.x_sz * f, c.instance_sz, self.avg_color)
             for f in self.scale_factors]
        x = np.stack(x, axis=0)
        x = torch.from_numpy(x).permute(0, 3, 1, 2).float()
        if self.batched:
            responses = self.head(self.net.backbone(x))
        else:
            responses = torch.cat([self.head(self.net.backbone(x[i:i + 1])) for i in range(len(x))])
        responses = responses.squeeze(1).cpu().numpy()
        responses = np.stack([cv2.resize(u, (self.upscale_sz, self.upscale_sz), interpolation=cv2.INTER_CUBIC)
                              for u in responses])
        responses[:c.scale_num // 2] *= c.scale_penalty
        responses[c.scale_num // 2 + 1:] *= c.scale_penalty
        scale_id = np.argmax(np.amax(responses, axis=(1, 2)))
        response = responses[scale_id]
        response -= response.min()
        response /= response.sum() + 1e-16
        response = (1 - c.window_influence) * response + c.window_influence * self.hann_window
        loc = np.unravel_index(response.argmax(), response.shape)
        disp_in_response = np.array(loc) - (self.upscale_sz - 1) / 2
        disp_in_instance = disp_in_response * c.total_stride / c.response_up
        disp_in_image = disp_in_instance * self.x_sz * self.scale_factors[scale_id] / c.instance_sz
        self.center += disp_in_image
        scale = (1 - c.scale_lr) * 1.0 + c.scale_lr * self.scale_factors[scale_id]
        self.target_sz *= scale
        self.z_sz *= scale
        self.x_sz *= scale
        return np.array([self.center[1] + 1 - (self.target_sz[1] - 1) / 2,
                         self.center[0] + 1 - (self.target_sz[0] - 1) / 2, self.target_sz[1], self.target_sz[0]])


# ----------------------------------------------------------------------------
# Measurements
# ----------------------------------------------------------------------------


def backbone_flops(backbone, side):
    """FLOPs (2 x multiply-adds) of the convolutions for one side x side input."""
    total = [0]

    def hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total[0] += 2 * out.numel() * k

    hs = [m.register_forward_hook(hook) for m in backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        backbone(torch.zeros(1, 3, side, side))
    for h in hs:
        h.remove()
    return total[0]


def peak_gflops(threads, n=2048, reps=6):
    """fp32 matmul throughput: the practical FLOP bound of this CPU with ``threads`` threads."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        dt = time.perf_counter() - t0
        best = max(best, 2 * n ** 3 / dt / 1e9)
    return best


def frames(n, seed=0):
    rng = np.random.default_rng(seed)
    bg = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3)).astype(np.uint8), (0, 0), 2)
    out = []
    for i in range(n):
        img = bg.copy()
        x, y = 280 + 2 * i, 220 + i
        img[y:y + 40, x:x + 60] = (200, 40, 40)
        img[y + 10:y + 30, x + 10:x + 50] = (40, 200, 40)
        out.append(img)
    return out, (280, 220, 60, 40)


def time_updates(tracker, imgs, box):
    tracker.init(imgs[0], box)
    ts = []
    for img in imgs[1:]:
        t0 = time.perf_counter()
        tracker.update(img)
        ts.append(time.perf_counter() - t0)
    return ts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--updates', type=int, default=8, help='updates per round and tracker')
    ap.add_argument('--rounds', type=int, default=3, help='rounds, trackers interleaved (shared CPU)')
    ap.add_argument('--model', default=os.path.join(REPO, 'models', 'siamfc_sim.pt'))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    cv2.setNumThreads(a.threads)
    torch.manual_seed(0)

    net = S.SiamFCNet(1.0)
    S.init_weights(net)
    for m in net.modules():  # non-trivial BatchNorm statistics, as a trained checkpoint has
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 2.0)
    net.eval()
    trackers = {
        'reference siamfc-pytorch (scales stacked)': ReferenceTracker(net, batched=True),
        'reference, scales unbatched': ReferenceTracker(net, batched=False),
        'ours torch': S.SiamFCTracker(net, S.SiamFCConfig()),
        'ours onnxruntime': S.SiamFCTracker(net, S.SiamFCConfig(), backend='onnxruntime', num_threads=a.threads),
    }
    flops = {k: 3 * backbone_flops(net.backbone, 255) for k in trackers}
    if os.path.isfile(a.model):
        snet, scfg, sq = S.load_checkpoint(a.model)
        trackers['ours slim (width %.2f) torch' % scfg.width] = S.SiamFCTracker(snet, scfg, sq)
        trackers['ours slim (width %.2f) onnxruntime' % scfg.width] = S.SiamFCTracker(
            snet, scfg, sq, backend='onnxruntime', num_threads=a.threads)
        for k in list(trackers)[-2:]:
            flops[k] = 3 * backbone_flops(snet.backbone, 255)

    imgs, box = frames(a.updates + 1)
    times = {k: [] for k in trackers}
    for k, t in trackers.items():  # warm-up
        time_updates(t, imgs[:3], box)
    peak = 0.0
    for _ in range(a.rounds):  # interleaved, and the peak taken as the best matmul between rounds (shared CPU)
        for k, t in trackers.items():
            times[k] += time_updates(t, imgs, box)
        peak = max(peak, peak_gflops(a.threads))

    ref_ms = statistics.median(times['reference siamfc-pytorch (scales stacked)']) * 1e3
    print('SiamFC 3-scale update, 640x480 frame, %d CPU threads (%s), median of %d updates'
          % (a.threads, torch.__version__, a.updates * a.rounds))
    print('peak fp32 matmul: %.1f GFLOP/s' % peak)
    print('%-44s %9s %9s %8s %9s %8s' % ('tracker', 'ms', 'x ref', 'GFLOP', 'GFLOP/s', 'of peak'))
    for k in trackers:
        ms = statistics.median(times[k]) * 1e3
        gf = flops[k] / 1e9
        print('%-44s %9.1f %9.2f %8.2f %9.1f %7.1f%%' % (k, ms, ref_ms / ms, gf, gf / (ms / 1e3),
                                                          100 * gf / (ms / 1e3) / peak))
    print('x ref = reference ms / tracker ms (higher is faster)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
