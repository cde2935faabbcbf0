"""MMGR's gesture recogniser f_G (seed §3.8, eq. 15): ĝ = f_G(fusion(P~, H~)).

f_G is "a simple LSTM and two fully-connected layers". Its input, per frame, is the fusion
(concatenation) of the skeleton features P~ (the M = 7 normalised joints, 14 numbers) and,
when the appearance branch is used, the hand-patch features H~. The sequence is a fixed
number of frames sampled evenly over the window (``skeleton.sample_indices``); the LSTM's
last hidden state (or, ``pool``, its outputs' mean or maximum over the window, or both concatenated) goes
through FC -> ReLU -> dropout -> FC to the class logits.

Skeleton features per frame (``window_features``): the 7 joints (optionally centred on each frame's
shoulder midpoint, ``frame_centre``), their full-rate velocities (``velocity``) and DD-Net's joint
distances (``distances``) and the arms' angles and head offset (``angles``); ``mirror_tta`` also classifies the mirrored window. ``GestureEnsemble``
averages the class probabilities of a few such recognisers trained with different seeds (one file, one
forward pass for the node).

Only LSTM, ReduceMean / ReduceMax, Linear and ReLU (with mirror averaging or an ensemble also Gather, Mul,
Softmax, Log): ONNX opset 13 ops that TensorRT 8.5 supports.

Python 3.8; torch.
"""
from dataclasses import dataclass
from typing import Tuple

import numpy as np
import torch
from torch import nn

from .ddnet import DDNet, DDNetConfig
from .skeleton import (ARM_POSE_DIM, M, MIRROR7, UAV_GESTURE_LABELS, frame_centred, joint_proc, local_velocity,
                       mirror_label, sample_indices, skeleton_features)



@dataclass
class MMGRConfig:
    labels: Tuple[str, ...] = UAV_GESTURE_LABELS
    frames: int = 32              # frames sampled evenly over a window (the LSTM's sequence length)
    skeleton_dim: int = 14        # M = 7 joints x (x, y); + 14 with their velocities; + 21 with the distances; + 12 angles
    velocity: bool = False        # per-frame features also hold each joint's full-rate velocity
    distances: bool = False       # ... and the 21 joint-pair distances (DD-Net's JCD)
    angles: bool = False          # ... and the arms' limb directions, elbow angles and head offset (skeleton.arm_pose)
    frame_centre: bool = False    # joints (and velocities) relative to each frame's shoulder midpoint
    mirror_tta: bool = False      # also classify the mirrored window and average (lateral labels swapped back)
    appearance_dim: int = 0       # hand-patch feature size per frame (0: skeleton only, MMGR_D~)
    hidden: int = 128             # LSTM hidden size
    fc: int = 64                  # width of the first fully connected layer
    dropout: float = 0.3
    pool: str = 'last'            # what the FC layers see: the LSTM's 'last' hidden state, or its outputs' 'mean',
    #                               'max' or both ('meanmax', concatenated: FC 2 * hidden -> fc) over time

POOLS = ('last', 'mean', 'max', 'meanmax')


def mirrored_classes(labels) -> np.ndarray:
    """Index of each label's mirror image (move_to_left <-> move_to_right; the others their own)."""
    labels = list(labels)
    return np.array([labels.index(mirror_label(name)) for name in labels])


def mirrored_features(cfg: 'MMGRConfig') -> Tuple[np.ndarray, np.ndarray]:
    """(index, sign) with features(mirror(window)) == features(window)[..., index] * sign for the skeleton
    features of ``window_features``: x negated and the arms swapped (``skeleton.MIRROR7``) for the joints and
    their velocities, the pairs renamed for the distances (the shoulder midpoint mirrors onto itself, so
    ``frame_centre`` commutes with it)."""
    index, sign = [], []
    blocks = 1 + int(cfg.velocity)
    for b in range(blocks):
        for j in range(M):
            for d in range(2):
                index.append(14 * b + 2 * MIRROR7[j] + d)
                sign.append(-1.0 if d == 0 else 1.0)
    if cfg.distances:
        iu, ju = np.triu_indices(M, k=1)
        pair = {(int(a), int(b)): n for n, (a, b) in enumerate(zip(iu, ju))}
        for a, b in zip(iu, ju):
            ma, mb = sorted((MIRROR7[a], MIRROR7[b]))
            index.append(14 * blocks + pair[(ma, mb)])
            sign.append(1.0)
    if cfg.angles:  # arm_pose: the two arms' blocks of 5 swap, x components negated; the head's x negated
        base = 14 * blocks + 21 * int(cfg.distances)
        for arm in (1, 0):
            for i, s in enumerate((-1.0, 1.0, -1.0, 1.0, 1.0)):
                index.append(base + 5 * arm + i)
                sign.append(s)
        index += [base + 10, base + 11]
        sign += [-1.0, 1.0]
    return np.array(index), np.array(sign, np.float32)


class GestureLSTM(nn.Module):
    """f_G: LSTM + 2 FC over per-frame fused features (B, T, skeleton_dim + appearance_dim) -> (B, classes).

    With ``cfg.mirror_tta`` (skeleton features only) it also classifies the mirrored window (a fixed
    permutation and sign of the features) and returns the log of the two windows' averaged probabilities,
    lateral labels swapped back: the same decision for a signal and its left-handed version, in one graph
    (ONNX: Gather, Mul, Softmax, Add, Log)."""

    def __init__(self, cfg: MMGRConfig = None):
        super().__init__()
        cfg = cfg or MMGRConfig()
        self.cfg = cfg
        if cfg.pool not in POOLS:
            raise ValueError('unknown pool %r (choose from %s)' % (cfg.pool, ', '.join(POOLS)))
        self.lstm = nn.LSTM(cfg.skeleton_dim + cfg.appearance_dim, cfg.hidden, batch_first=True)
        self.fc1 = nn.Linear(cfg.hidden * (2 if cfg.pool == 'meanmax' else 1), cfg.fc)
        self.drop = nn.Dropout(cfg.dropout)
        self.fc2 = nn.Linear(cfg.fc, len(cfg.labels))
        if cfg.mirror_tta:
            if cfg.appearance_dim:
                raise ValueError('mirror_tta needs skeleton features only (appearance_dim 0)')
            index, sign = mirrored_features(cfg)
            if len(index) != cfg.skeleton_dim:
                raise ValueError('skeleton_dim %d does not match the features (%d)' % (cfg.skeleton_dim, len(index)))
            # fixed, not learnt, not in the state dict: checkpoints stay the same with or without it
            self.register_buffer('mirror_index', torch.from_numpy(index), persistent=False)
            self.register_buffer('mirror_sign', torch.from_numpy(sign), persistent=False)
            self.register_buffer('mirror_classes', torch.from_numpy(mirrored_classes(cfg.labels)), persistent=False)

    def pooled(self, out: torch.Tensor) -> torch.Tensor:
        """The LSTM's outputs (B, T, hidden) -> what the FC layers see (B, hidden or 2 * hidden)."""
        pool = self.cfg.pool
        if pool == 'mean':
            return out.mean(dim=1)
        if pool == 'max':
            return out.amax(dim=1)  # amax, not max: no indices (ONNX ReduceMax alone, no ArgMax)
        if pool == 'meanmax':
            return torch.cat([out.mean(dim=1), out.amax(dim=1)], dim=-1)
        return out[:, -1]

    def f_g(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        h = self.pooled(out)
        return self.fc2(self.drop(torch.relu(self.fc1(h))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.cfg.mirror_tta:
            return self.f_g(x)
        p = torch.softmax(self.f_g(x), -1)
        pm = torch.softmax(self.f_g(x[..., self.mirror_index] * self.mirror_sign), -1)[..., self.mirror_classes]
        return torch.log((0.5 * (p + pm)).clamp_min(1e-12))


def skeleton_dim(velocity: bool, distances: bool, angles: bool = False) -> int:
    """Per-frame skeleton feature size for these options."""
    return 14 + 14 * bool(velocity) + 21 * bool(distances) + ARM_POSE_DIM * bool(angles)


class GestureEnsemble(nn.Module):
    """A few f_G of the same configuration (trained with different seeds): forward gives the log of their
    averaged class probabilities, so a softmax of it is the ensemble's probabilities."""

    def __init__(self, cfg: MMGRConfig = None, members: int = 3):
        super().__init__()
        self.cfg = cfg or MMGRConfig()
        self.members = nn.ModuleList(GestureLSTM(self.cfg) for _ in range(members))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.stack([torch.softmax(m(x), -1) for m in self.members]).mean(0)
        return torch.log(p.clamp_min(1e-12))


def fusion(skeleton: torch.Tensor, appearance: torch.Tensor = None) -> torch.Tensor:
    """fusion(P~, H~) of eq. 15: per-frame concatenation (B, T, 14) ++ (B, T, A)."""
    return skeleton if appearance is None else torch.cat([skeleton, appearance], dim=-1)


def from_checkpoint(ckpt: dict):
    """A recogniser from a loaded checkpoint dict ({'kind': 'lstm' | 'lstm_ensemble' | 'ddnet', 'config': {...},
    'model': state_dict[, 'members': n]}); float16 weights are loaded into float32. The DD-Net peer loads too,
    so the node can run either."""
    kinds = {'lstm': (GestureLSTM, MMGRConfig), 'ddnet': (DDNet, DDNetConfig),
             'lstm_ensemble': (GestureEnsemble, MMGRConfig)}
    if ckpt.get('kind') not in kinds:
        raise ValueError('not a gesture recogniser checkpoint (kind %r; expected %s)'
                         % (ckpt.get('kind'), ' or '.join(sorted(kinds))))
    cls, cfg_cls = kinds[ckpt['kind']]
    cfg = dict(ckpt['config'])
    cfg['labels'] = tuple(cfg['labels'])
    model = cls(cfg_cls(**cfg), int(ckpt['members'])) if ckpt['kind'] == 'lstm_ensemble' else cls(cfg_cls(**cfg))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt['model'].items()})
    return model.eval()


def window_features(cfg: MMGRConfig, p7, times_s, idx):
    """Normalised (T, 7, 2) joints of a window at full rate, their times (s), the sampled frames -> (frames, D)."""
    if cfg.frame_centre:
        p7 = frame_centred(p7)
    return skeleton_features(p7[idx], local_velocity(p7, times_s, idx) if cfg.velocity else None,
                             cfg.distances, cfg.angles)


def window_probs(model, p7, times_s, idx) -> np.ndarray:
    """Normalised full-rate (T, 7, 2) joints of a window, their times (s) and the sampled frames -> class
    probabilities (numpy)."""
    x = p7[idx] if isinstance(model, DDNet) else window_features(model.cfg, p7, times_s, idx)
    with torch.no_grad():
        return torch.softmax(model(torch.from_numpy(np.ascontiguousarray(x))[None]), -1)[0].numpy()


def classify_window(model, points18, times_s=None, rng=None):
    """One window of COCO-18 skeletons (T, 18, 2) pixels (zeros: missing) and their times (s; default 25 fps)
    -> class probabilities (numpy)."""
    p7, _ = joint_proc(points18)
    times_s = np.arange(len(p7)) / 25.0 if times_s is None else np.asarray(times_s, np.float64)
    return window_probs(model, p7, times_s, sample_indices(len(p7), model.cfg.frames, rng=rng))
