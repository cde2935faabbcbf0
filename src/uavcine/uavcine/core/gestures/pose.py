"""A small 2-D pose network on person crops (seed §3.8, eq. 13: P_i = f_CNN(S_i)).

The paper takes its skeletons from a pose CNN (OpenPose); none can be installed here, so this is a
small one trained in the repository on simulated people (``sim.people``). Input: a square crop
around the tracker's box, resized to ``size`` x ``size`` (RGB, 0-1). Output: one heatmap per
COCO-18 joint at 1/4 of the input resolution; the joint is the heatmap's soft-argmax (integral
regression, Sun et al., "Integral Human Pose Regression", ECCV 2018), trained with an L1 loss on the
coordinates, so it is sub-pixel and differentiable. Confidence per joint: the heatmap's peak
probability mass around the soft-argmax (3x3 cells), which the gesture node compares with its
``min_keypoint_score``.

Network: two stride-2 3x3 convolutions (16, 32 channels) then three dilated 3x3 convolutions
(32 channels, dilation 1, 2, 4: a receptive field over the whole crop) and a 1x1 convolution to
the 18 heatmaps; every convolution but the last is Conv + BatchNorm + ReLU. Only Conv,
BatchNormalization, Relu, Softmax, MatMul-style reductions: ONNX opset 13, TensorRT 8.5 ops.

``crop_transform`` / ``to_image`` map between image pixels and crop pixels.

Python 3.8; torch, numpy.
"""
from dataclasses import dataclass
from typing import Tuple

import numpy as np
import torch
from torch import nn

from .skeleton import COCO18


@dataclass
class PoseConfig:
    size: int = 64            # crop side, px
    width: int = 32           # channels
    joints: int = len(COCO18)
    crop_scale: float = 1.15  # the crop's side is this x the box's longer side


def block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class PoseNet(nn.Module):
    """(B, 3, size, size) crops in 0-1 -> (B, joints, 2) crop pixels and (B, joints) confidences."""

    def __init__(self, cfg: PoseConfig = None):
        super().__init__()
        cfg = cfg or PoseConfig()
        self.cfg = cfg
        w = cfg.width
        self.body = nn.Sequential(block(3, w // 2, 2), block(w // 2, w, 2), block(w, w, 1, 1), block(w, w, 1, 2),
                                  block(w, w, 1, 4))
        self.head = nn.Conv2d(w, cfg.joints, 1)
        n = cfg.size // 4
        centres = (torch.arange(n, dtype=torch.float32) + 0.5) * 4.0   # heatmap cell centres in crop px
        self.register_buffer('xs', centres.repeat(n), persistent=False)           # (n*n,) x of each cell
        self.register_buffer('ys', centres.repeat_interleave(n), persistent=False)

    def heatmaps(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        h = self.heatmaps(x)
        B, J, n, _ = h.shape
        p = torch.softmax(h.reshape(B, J, n * n), -1)
        xy = torch.stack([(p * self.xs).sum(-1), (p * self.ys).sum(-1)], -1)
        # confidence: the probability mass in the 3x3 cells around the arg-max
        pm = nn.functional.max_pool2d(nn.functional.avg_pool2d(p.reshape(B, J, n, n), 3, 1, 1) * 9.0, n)
        return xy, pm.reshape(B, J)


def crop_transform(box_xywh, cfg: PoseConfig) -> np.ndarray:
    """The 2x3 affine matrix from image pixels to crop pixels for a tracker box (x, y, w, h): a square of side
    ``crop_scale`` x the longer side, centred on the box."""
    x, y, w, h = box_xywh
    side = max(w, h) * cfg.crop_scale
    s = cfg.size / max(side, 1e-6)
    cx, cy = x + w / 2, y + h / 2
    return np.array([[s, 0.0, cfg.size / 2 - s * cx], [0.0, s, cfg.size / 2 - s * cy]])


def to_image(points_crop: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Crop pixels (..., 2) -> image pixels with the inverse of ``crop_transform``'s matrix."""
    s = M[0, 0]
    return (np.asarray(points_crop) - M[:, 2]) / s


def from_checkpoint(ckpt: dict) -> PoseNet:
    if ckpt.get('kind') != 'pose':
        raise ValueError('not a pose network checkpoint (kind %r; expected pose)' % ckpt.get('kind'))
    model = PoseNet(PoseConfig(**ckpt['config']))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt['model'].items()})
    return model.eval()
