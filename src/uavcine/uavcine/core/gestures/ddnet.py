"""DD-Net, the skeleton-only lightweight peer (Yang, Li, Zhao, Wang, "Make Skeleton-based Action
Recognition Model Smaller, Faster and Better", ACM MM Asia 2019), re-implemented from the paper.

Two features of a sequence of J joints in D dimensions, sampled to ``frames`` frames:

- JCD, Joint Collection Distances (eq. 1): per frame, the upper triangle (i < j) of the
  Euclidean distance matrix of the joints, J(J-1)/2 numbers: location-viewpoint invariant.
- Two-scale global motion (eq. 2-3): M_slow = P[t+1] - P[t] over all frames, M_fast =
  P[t+2] - P[t] over every second frame; each flattened to J*D per frame.

Each feature is embedded by 1D convolutions (kernel 1, 3, 1; the slow/JCD paths then max-pool
by 2 so all three meet at frames/2), concatenated on channels, and passed through three blocks
of two kernel-3 convolutions (2F, 4F, 8F filters) with max-pooling between them, a global max
pool and three dense layers (128, 128, classes) with dropout 0.5. Every "conv" is Conv1d + BN +
LeakyReLU(0.2); the JCD embedding starts with spatial dropout 0.1 (Dropout1d: whole channels).
F = ``filters`` (64 in the paper's JHMDB model, 16 in its small variant).

Python 3.8; torch.
"""
from dataclasses import dataclass
from typing import Tuple

import torch
from torch import nn

from .skeleton import UAV_GESTURE_LABELS


@dataclass
class DDNetConfig:
    labels: Tuple[str, ...] = UAV_GESTURE_LABELS
    frames: int = 32
    joints: int = 7
    dims: int = 2
    filters: int = 64


def conv(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm1d(cout), nn.LeakyReLU(0.2))


def embed(cin: int, f: int) -> nn.Sequential:
    return nn.Sequential(conv(cin, 2 * f, 1), conv(2 * f, f, 3), conv(f, f, 1))


def jcd(p: torch.Tensor) -> torch.Tensor:
    """(B, T, J, D) -> (B, T, J(J-1)/2): the upper triangle of each frame's joint distance matrix."""
    J = p.shape[2]
    i, j = torch.triu_indices(J, J, offset=1)
    return (p[:, :, i] - p[:, :, j]).norm(dim=-1)


def pose_motions(p: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(B, T, J, D) -> M_slow (B, T, J*D), M_fast (B, T/2, J*D); the last difference is zero-padded
    to keep the length, as the reference implementation."""
    B, T = p.shape[:2]
    slow = p[:, 1:] - p[:, :-1]
    slow = torch.cat([slow, torch.zeros_like(slow[:, :1])], dim=1)
    fast = p[:, 2::2] - p[:, :-2:2]
    fast = torch.cat([fast, torch.zeros_like(fast[:, :1])], dim=1)
    return slow.reshape(B, T, -1), fast.reshape(B, fast.shape[1], -1)


class DDNet(nn.Module):
    """(B, frames, J, D) skeletons -> (B, classes) logits."""

    def __init__(self, cfg: DDNetConfig = None):
        super().__init__()
        cfg = cfg or DDNetConfig()
        if cfg.frames % 8:
            raise ValueError('DD-Net needs frames divisible by 8, got %d' % cfg.frames)
        self.cfg = cfg
        f, J, D = cfg.filters, cfg.joints, cfg.dims
        self.jcd_drop = nn.Dropout1d(0.1)
        self.jcd_embed = embed(J * (J - 1) // 2, f)
        self.slow_embed = embed(J * D, f)
        self.fast_embed = embed(J * D, f)
        self.pool = nn.MaxPool1d(2)
        self.block1 = nn.Sequential(conv(3 * f, 2 * f, 3), conv(2 * f, 2 * f, 3))
        self.block2 = nn.Sequential(conv(2 * f, 4 * f, 3), conv(4 * f, 4 * f, 3))
        self.block3 = nn.Sequential(conv(4 * f, 8 * f, 3), conv(8 * f, 8 * f, 3))
        self.head = nn.Sequential(nn.Linear(8 * f, 128), nn.BatchNorm1d(128), nn.LeakyReLU(0.2), nn.Dropout(0.5),
                                  nn.Linear(128, 128), nn.BatchNorm1d(128), nn.LeakyReLU(0.2), nn.Dropout(0.5),
                                  nn.Linear(128, len(cfg.labels)))

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        slow, fast = pose_motions(p)
        x_jcd = self.pool(self.jcd_embed(self.jcd_drop(jcd(p).transpose(1, 2))))
        x_slow = self.pool(self.slow_embed(slow.transpose(1, 2)))
        x_fast = self.fast_embed(fast.transpose(1, 2))
        x = torch.cat([x_jcd, x_slow, x_fast], dim=1)            # (B, 3F, T/2)
        x = self.pool(self.block1(x))
        x = self.pool(self.block2(x))
        x = self.block3(x).amax(dim=-1)                            # global max pool
        return self.head(x)
