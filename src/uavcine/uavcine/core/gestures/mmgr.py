"""MMGR's gesture recogniser f_G (seed §3.8, eq. 15): ĝ = f_G(fusion(P~, H~)).

f_G is "a simple LSTM and two fully-connected layers". Its input, per frame, is the fusion
(concatenation) of the skeleton features P~ (the M = 7 normalised joints, 14 numbers) and,
when the appearance branch is used, the hand-patch features H~. The sequence is a fixed
number of frames sampled evenly over the window (``skeleton.sample_indices``); the LSTM's
last hidden state (or its mean over the window, ``pool``) goes through FC -> ReLU -> dropout
-> FC to the class logits.

Only LSTM, Linear and ReLU: ONNX opset 13 ``LSTM`` and ``Gemm``, which TensorRT 8.5 supports.

Python 3.8; torch.
"""
from dataclasses import dataclass
from typing import Tuple

import numpy as np
import torch
from torch import nn

from .skeleton import joint_proc, local_velocity, sample_indices, skeleton_features

#: UAV-GESTURE's 13 gestures, in the dataset's (alphabetical) order.
UAV_GESTURE_LABELS = ('all_clear', 'have_command', 'hover', 'land', 'landing_direction', 'move_ahead',
                      'move_downward', 'move_to_left', 'move_to_right', 'move_upward', 'not_clear',
                      'slow_down', 'wave_off')


@dataclass
class MMGRConfig:
    labels: Tuple[str, ...] = UAV_GESTURE_LABELS
    frames: int = 32              # frames sampled evenly over a window (the LSTM's sequence length)
    skeleton_dim: int = 14        # M = 7 joints x (x, y); 28 with their velocities
    velocity: bool = False        # per-frame features also hold each joint's full-rate velocity
    appearance_dim: int = 0       # hand-patch feature size per frame (0: skeleton only, MMGR_D~)
    hidden: int = 128             # LSTM hidden size
    fc: int = 64                  # width of the first fully connected layer
    dropout: float = 0.3
    pool: str = 'last'            # what the FC layers see: the LSTM's 'last' hidden state or the 'mean' over time


class GestureLSTM(nn.Module):
    """f_G: LSTM + 2 FC over per-frame fused features (B, T, skeleton_dim + appearance_dim) -> (B, classes)."""

    def __init__(self, cfg: MMGRConfig = None):
        super().__init__()
        cfg = cfg or MMGRConfig()
        self.cfg = cfg
        self.lstm = nn.LSTM(cfg.skeleton_dim + cfg.appearance_dim, cfg.hidden, batch_first=True)
        self.fc1 = nn.Linear(cfg.hidden, cfg.fc)
        self.drop = nn.Dropout(cfg.dropout)
        self.fc2 = nn.Linear(cfg.fc, len(cfg.labels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        h = out.mean(dim=1) if self.cfg.pool == 'mean' else out[:, -1]
        return self.fc2(self.drop(torch.relu(self.fc1(h))))


def fusion(skeleton: torch.Tensor, appearance: torch.Tensor = None) -> torch.Tensor:
    """fusion(P~, H~) of eq. 15: per-frame concatenation (B, T, 14) ++ (B, T, A)."""
    return skeleton if appearance is None else torch.cat([skeleton, appearance], dim=-1)


def from_checkpoint(ckpt: dict) -> GestureLSTM:
    """A recogniser from a loaded checkpoint dict ({'kind': 'lstm', 'config': {...}, 'model': state_dict})."""
    if ckpt.get('kind') != 'lstm':
        raise ValueError('not a GestureLSTM checkpoint (kind %r)' % ckpt.get('kind'))
    cfg = dict(ckpt['config'])
    cfg['labels'] = tuple(cfg['labels'])
    model = GestureLSTM(MMGRConfig(**cfg))
    model.load_state_dict(ckpt['model'])
    return model.eval()


def window_features(cfg: MMGRConfig, p7, times_s, idx):
    """Normalised (T, 7, 2) joints of a window at full rate, their times (s), the sampled frames -> (frames, D)."""
    return skeleton_features(p7[idx], local_velocity(p7, times_s, idx) if cfg.velocity else None)


def classify_window(model: GestureLSTM, points18, times_s=None, rng=None):
    """One window of COCO-18 skeletons (T, 18, 2) pixels (zeros: missing) and their times (s; default 25 fps)
    -> class probabilities (numpy)."""
    p7, _ = joint_proc(points18)
    times_s = np.arange(len(p7)) / 25.0 if times_s is None else np.asarray(times_s, np.float64)
    x = window_features(model.cfg, p7, times_s, sample_indices(len(p7), model.cfg.frames, rng=rng))
    with torch.no_grad():
        logits = model(torch.from_numpy(np.ascontiguousarray(x))[None])
    return torch.softmax(logits, -1)[0].numpy()
