"""RL-DiVTS: a diverse set of aesthetically pleasing and representative video thumbnails, selected by a policy
trained with REINFORCE (AI4Media report §3.2; Apostolidis, Balaouras, Mezaris, Patras, ICIP 2023).

The paper's pieces, by their names:

- Aesthetic Estimator -> ``a_t`` in [0, 1]. The paper's FCN trained on AVA cannot be installed here; for aerial
  cinematography we score what a camera operator checks (``cinematic_aesthetics``): the tracked target's framing
  (rule of thirds, size in the frame, headroom, not cut by the border), its visibility (occlusion), sharpness,
  exposure and horizon level (camera roll). Each term is in [0, 1]; ``a_t`` is their weighted geometric mean.
- Importance Estimator -> ``i_t`` in [0, 1]: a bi-directional LSTM over the frame features ``x_t`` (the paper:
  GoogLeNet pool5; here any per-frame feature vector: ``frame_features`` gives a colour-histogram + thumbnail-
  layout vector, the project's networks can supply theirs).
- Frame scores ``s = a o i`` (Hadamard product); Frame Picking with the Categorical Distribution Sampler:
  ``f_1 = N(s)``, ``f_m = N(f_m-1 o (1 - u_p_m-1))`` (N: min-max normalisation, u: rows of the cosine-similarity
  matrix of the features), M frames sampled in sequence, their log-probabilities kept.
- Thumbnail Evaluator, Eq. 1-4: ``R_aes = mean a_p``, ``R_rep = exp(-mean_t min_p ||x_t - x_p||)``,
  ``R_div = 1/M sum_ij ||x_i - x_j||``, ``R = alpha R_aes + beta D R_rep + gamma R_div``.
- Training: episodic REINFORCE, N episodes per video, the episodes' mean reward as baseline.

Baselines with the same reward: ``greedy`` (adds, M times, the frame that raises R most), ``uniform`` (evenly
spaced) and ``random``. Python 3.8; numpy, OpenCV, torch.
"""
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

# ----------------------------------------------------------------------------------------
# Aesthetics from cinematography
# ----------------------------------------------------------------------------------------


@dataclass
class AestheticsConfig:
    w_framing: float = 1.0
    w_size: float = 1.0
    w_visibility: float = 1.0
    w_sharpness: float = 1.0
    w_exposure: float = 1.0
    w_horizon: float = 0.5
    ideal_height: Tuple[float, float] = (0.12, 0.45)  # target height / frame height that reads well
    sharp_ref: float = 150.0                          # Laplacian variance (grey, 0-255) worth a score of 0.5


def cinematic_aesthetics(frame: np.ndarray, box_xywh: Optional[Sequence[float]] = None, visibility: float = 1.0,
                         roll_rad: float = 0.0, cfg: Optional[AestheticsConfig] = None) -> Tuple[float, Dict[str, float]]:
    """a_t in [0, 1] and its terms, for one frame (HxWx3 or HxW uint8) and the target's box (pixels) if known."""
    cfg = cfg or AestheticsConfig()
    g = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    h, w = g.shape
    terms = {}
    lap = float(cv2.Laplacian(g, cv2.CV_32F).var())
    terms['sharpness'] = lap / (lap + cfg.sharp_ref)
    mean = float(g.mean()) / 255.0
    clipped = float(np.mean((g <= 3) | (g >= 252)))
    terms['exposure'] = max(0.0, 1.0 - 2.0 * abs(mean - 0.45)) * (1.0 - min(1.0, 3.0 * clipped))
    terms['horizon'] = math.exp(-(math.degrees(roll_rad) / 5.0) ** 2)
    if box_xywh is None:
        # no target in view: a shot of the drone's subject without the subject frames poorly
        terms.update(framing=0.1, size=0.1, visibility=0.1)
    else:
        x, y, bw, bh = [float(v) for v in box_xywh]
        cx, cy = (x + bw / 2.0) / w, (y + bh / 2.0) / h
        # rule of thirds: distance of the centre to the nearest thirds intersection (0.33 is far)
        d = min(math.hypot(cx - tx, cy - ty) for tx in (1 / 3.0, 2 / 3.0) for ty in (1 / 3.0, 2 / 3.0))
        framing = math.exp(-(d / 0.12) ** 2)
        # headroom: the top of the box not glued to the frame's top; and not cut by any border
        if y < 0.02 * h or x < 0.01 * w or x + bw > 0.99 * w or y + bh > 0.99 * h:
            framing *= 0.5
        terms['framing'] = framing
        fh = bh / h
        lo, hi = cfg.ideal_height
        terms['size'] = 1.0 if lo <= fh <= hi else math.exp(-((math.log(fh / lo) if fh < lo else math.log(fh / hi)) / 0.7) ** 2)
        terms['visibility'] = float(np.clip(visibility, 0.0, 1.0))
    weights = {'framing': cfg.w_framing, 'size': cfg.w_size, 'visibility': cfg.w_visibility,
               'sharpness': cfg.w_sharpness, 'exposure': cfg.w_exposure, 'horizon': cfg.w_horizon}
    tot = sum(weights.values())
    a = math.exp(sum(wt * math.log(max(terms[k], 1e-3)) for k, wt in weights.items()) / tot)
    return a, terms


def frame_features(frame: np.ndarray, bins: int = 8, grid: int = 4) -> np.ndarray:
    """A small appearance vector: HSV colour histogram (hue x saturation) + a grid x grid grey layout, unit norm.
    A stand-in for the paper's GoogLeNet pool5 features (no ImageNet weights can be installed here)."""
    rgb = frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    small = cv2.resize(rgb, (64, 48), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [bins, bins], [0, 180, 0, 256]).ravel()
    hist = hist / max(hist.sum(), 1.0)
    lay = cv2.resize(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (grid, grid), interpolation=cv2.INTER_AREA).ravel() / 255.0
    v = np.concatenate([np.sqrt(hist), 0.5 * (lay - lay.mean())]).astype(np.float32)
    return v / max(float(np.linalg.norm(v)), 1e-6)


def with_time(x: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """Frame features with the frame's place in the video appended (``weight * t / (T - 1)``).

    Our addition: within one continuous aerial shot the appearance features barely change, and Eq. 2-3 on them
    alone would call two neighbouring frames as diverse as two distant ones; the time coordinate makes
    representativeness and diversity also mean covering the shot's duration."""
    t = np.linspace(0.0, 1.0, len(x), dtype=np.float32)[:, None] * weight
    return np.concatenate([x, t], axis=1)


# ----------------------------------------------------------------------------------------
# Rewards (Eq. 1-4)
# ----------------------------------------------------------------------------------------


@dataclass
class RewardConfig:
    alpha: float = 1.0   # aesthetics
    beta: float = 1.0    # representativeness
    gamma: float = 1.0   # diversity
    D: float = 1.0       # projects R_rep onto the other rewards' scale (set per video by ``calibrate_D``)


def reward_terms(picks: Sequence[int], a: np.ndarray, x: np.ndarray) -> Tuple[float, float, float]:
    """(R_aes, R_rep, R_div) of the picked frames (Eq. 1-3)."""
    p = list(picks)
    r_aes = float(np.mean(a[p]))
    dist = np.linalg.norm(x[:, None, :] - x[None, p, :], axis=2)  # T x M
    r_rep = math.exp(-float(np.mean(dist.min(axis=1))))
    xp = x[p]
    pair = np.linalg.norm(xp[:, None, :] - xp[None, :, :], axis=2)
    r_div = float(pair.sum()) / len(p) / max(len(p) - 1, 1)  # Eq. 3 (1/M sum_ij), per other frame: in [0, 2]
    return r_aes, r_rep, r_div


def reward(picks: Sequence[int], a: np.ndarray, x: np.ndarray, cfg: RewardConfig) -> float:
    r_aes, r_rep, r_div = reward_terms(picks, a, x)
    return cfg.alpha * r_aes + cfg.beta * cfg.D * r_rep + cfg.gamma * r_div


# ----------------------------------------------------------------------------------------
# Baselines
# ----------------------------------------------------------------------------------------


def select_greedy(a: np.ndarray, x: np.ndarray, m: int, cfg: RewardConfig) -> List[int]:
    picks = []  # type: List[int]
    for _ in range(min(m, len(a))):
        best, best_r = -1, -1e9
        for t in range(len(a)):
            if t in picks:
                continue
            r = reward(picks + [t], a, x, cfg)
            if r > best_r:
                best, best_r = t, r
        picks.append(best)
    return picks


def select_uniform(n: int, m: int) -> List[int]:
    return [int(round((k + 0.5) * n / m - 0.5)) for k in range(min(m, n))]


def select_random(n: int, m: int, rng: np.random.Generator) -> List[int]:
    return sorted(rng.choice(n, size=min(m, n), replace=False).tolist())


# ----------------------------------------------------------------------------------------
# RL-DiVTS policy
# ----------------------------------------------------------------------------------------


def _torch():
    import torch  # only the policy needs torch
    return torch


def make_importance_estimator(feature_dim: int, hidden: int = 64):
    """Bi-LSTM over frame features -> importance i_t in [0, 1] (the paper's Importance Estimator)."""
    torch = _torch()
    nn = torch.nn

    class ImportanceEstimator(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(feature_dim, hidden, batch_first=True, bidirectional=True)
            self.out = nn.Linear(2 * hidden, 1)

        def forward(self, x):  # x: (T, D) -> (T,)
            h, _ = self.lstm(x[None])
            return torch.sigmoid(self.out(h))[0, :, 0]

    return ImportanceEstimator()


def _minmax(v, eps=1e-6):
    return (v - v.min()) / (v.max() - v.min() + eps)


def pick_frames(s, u, m: int, generator=None, sample: bool = True):
    """Categorical Distribution Sampler: M picks, each demoting frames similar to the last pick.

    ``s``: (T,) fused scores, ``u``: (T, T) cosine similarities (torch tensors). Returns (picks, sum of log p).
    """
    torch = _torch()
    f = _minmax(s)
    picks, logp = [], s.new_zeros(())
    taken = []  # type: List[int]
    for _ in range(min(m, s.shape[0])):
        keep = torch.ones_like(s)
        if taken:
            keep[taken] = 0.0  # a frame is picked once
        w = (f + 1e-8) * keep
        probs = w / w.sum()
        if sample:
            p = int(torch.multinomial(probs, 1, generator=generator))
        else:
            p = int(torch.argmax(probs))
        logp = logp + torch.log(probs[p] + 1e-12)
        picks.append(p)
        taken.append(p)
        f = _minmax(f * (1.0 - u[p].clamp(min=0.0)))
    return picks, logp


@dataclass
class RLDiVTSConfig:
    m: int = 3                 # thumbnails per video
    episodes: int = 8          # N episodes per video per step
    epochs: int = 30
    lr: float = 1e-3
    hidden: int = 64
    seed: int = 0


class RLDiVTS:
    """The trainable selector: importance estimator + frame picking, trained by REINFORCE on the rewards."""

    def __init__(self, feature_dim: int, cfg: Optional[RLDiVTSConfig] = None, reward_cfg: Optional[RewardConfig] = None):
        torch = _torch()
        self.cfg = cfg or RLDiVTSConfig()
        self.reward_cfg = reward_cfg or RewardConfig()
        torch.manual_seed(self.cfg.seed)
        self.net = make_importance_estimator(feature_dim, self.cfg.hidden)
        self.gen = torch.Generator().manual_seed(self.cfg.seed)

    def _inputs(self, a, x):
        torch = _torch()
        xt = torch.as_tensor(x, dtype=torch.float32)
        xn = xt / xt.norm(dim=1, keepdim=True).clamp(min=1e-6)
        return torch.as_tensor(a, dtype=torch.float32), xt, xn @ xn.T

    def train(self, videos: Sequence[Tuple[np.ndarray, np.ndarray]], progress=None) -> List[float]:
        """videos: [(a (T,), x (T, D))]; returns the mean reward per epoch."""
        torch = _torch()
        opt = torch.optim.Adam(self.net.parameters(), lr=self.cfg.lr)
        history = []
        for ep in range(self.cfg.epochs):
            total = 0.0
            for a, x in videos:
                at, xt, u = self._inputs(a, x)
                s = at * self.net(xt)
                rewards, logps = [], []
                for _ in range(self.cfg.episodes):
                    picks, lp = pick_frames(s, u, self.cfg.m, self.gen)
                    rewards.append(reward(picks, a, x, self.reward_cfg))
                    logps.append(lp)
                r = torch.tensor(rewards)
                loss = -((r - r.mean()) * torch.stack(logps)).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(r.mean())
            history.append(total / max(len(videos), 1))
            if progress is not None:
                progress(ep, history[-1])
        return history

    def select(self, a: np.ndarray, x: np.ndarray) -> List[int]:
        """Inference: the most probable frame at each step of the sampler."""
        torch = _torch()
        with torch.no_grad():
            at, xt, u = self._inputs(a, x)
            picks, _ = pick_frames(at * self.net(xt), u, self.cfg.m, sample=False)
        return picks

    def state_dict(self):
        return self.net.state_dict()

    def load_state_dict(self, sd):
        self.net.load_state_dict(sd)


def calibrate_D(a: np.ndarray, x: np.ndarray, m: int, rng: np.random.Generator, n: int = 32) -> float:
    """D of Eq. 4: scales R_rep so that its spread over random selections matches R_aes's (the paper leaves D's
    value to the implementation)."""
    rep, aes = [], []
    for _ in range(n):
        p = select_random(len(a), m, rng)
        ra, rr, _ = reward_terms(p, a, x)
        rep.append(rr)
        aes.append(ra)
    return float(np.std(aes) / max(np.std(rep), 1e-6))
