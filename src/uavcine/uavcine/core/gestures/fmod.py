"""MMGR's appearance branch (seed §3.8): hand-patch features H~ = f_FMoD(hand patches), and the MMGR_CNN ablation.

FMoD, the Frame Moments Descriptor, "operates by iteratively dissecting an input frame into segments
and calculating statistical properties for each compartment"; LMoD is its local variant, and MMGR uses a
neural implementation of it with *no learnable parameters*. Our reading: at level l = 0 .. levels-1 the
patch is cut into 2^l x 2^l equal segments (the local, LMoD part: the finer levels describe
neighbourhoods, not the whole frame), and every segment gives, per colour channel, its first three
moments: the mean, the standard deviation and the skewness. The moments are computed with average
pooling (the mean, then the mean of the centred squares and cubes per segment), so the layer is a fixed
network of AveragePool, Resize, Mul, Sub, Div and Sqrt (TensorRT-friendly) with nothing to train. Scaling so that the LSTM sees numbers near
[-1, 1]: mean as is (pixels in 0-1), 2 x standard deviation, skewness / 3 clipped to [-1, 1].
With 3 levels and RGB: (1 + 4 + 16) segments x 3 channels x 3 moments = 189 numbers per patch.

``HandPatchCNN`` is the paper's MMGR_CNN ablation: a small learnable CNN in FMoD's place (two stride-2
3x3 convolutions, global average pooling, a linear layer).

Both take patches (..., 3, P, P) in 0-1 and return (..., features).

Python 3.8; torch.
"""
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F


class FMoD(nn.Module):
    """The parameter-free moments descriptor (see the module doc)."""

    def __init__(self, levels: int = 3, channels: int = 3):
        super().__init__()
        self.levels = levels
        self.channels = channels
        self.dim = sum(4 ** l for l in range(levels)) * channels * 3

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        lead = patches.shape[:-3]
        x = patches.reshape((-1,) + tuple(patches.shape[-3:]))
        P = x.shape[-1]
        feats = []
        for l in range(self.levels):
            cells = 2 ** l
            k = P // cells
            m1 = F.avg_pool2d(x, k)
            d = x - F.interpolate(m1, scale_factor=k, mode='nearest')   # central moments: no float32 cancellation
            var = F.avg_pool2d(d * d, k)
            std = torch.sqrt(var + 1e-8)
            third = F.avg_pool2d(d * d * d, k)                             # E[(x - mu)^3]
            skew = (third / (std * std * std + 1e-4)).clamp(-3.0, 3.0) / 3.0
            feats += [m1.flatten(1), 2.0 * std.flatten(1), skew.flatten(1)]
        return torch.cat(feats, 1).reshape(tuple(lead) + (self.dim,))


class HandPatchCNN(nn.Module):
    """MMGR_CNN's learnable extractor: (..., 3, P, P) -> (..., dim)."""

    def __init__(self, dim: int = 32, width: Sequence[int] = (8, 16)):
        super().__init__()
        self.dim = dim
        self.net = nn.Sequential(nn.Conv2d(3, width[0], 3, 2, 1), nn.ReLU(inplace=True),
                                 nn.Conv2d(width[0], width[1], 3, 2, 1), nn.ReLU(inplace=True),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width[1], dim))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        lead = patches.shape[:-3]
        y = self.net(patches.reshape((-1,) + tuple(patches.shape[-3:])))
        return y.reshape(tuple(lead) + (self.dim,))


class MMGR(nn.Module):
    """f_G(fusion(P~, H~)) of eq. 15 with the appearance extractor inside: skeleton features (B, T, S) and hand
    patches (B, T, hands, 3, P, P) in 0-1 -> class logits. ``extractor``: FMoD() (MMGR) or HandPatchCNN()
    (MMGR_CNN); ``recogniser``: a GestureLSTM whose appearance_dim is hands x extractor.dim."""

    def __init__(self, extractor: nn.Module, recogniser: nn.Module):
        super().__init__()
        self.extractor = extractor
        self.recogniser = recogniser

    def forward(self, skeleton: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        h = self.extractor(patches).flatten(2)        # (B, T, hands * dim)
        return self.recogniser(torch.cat([skeleton, h], -1))
