"""Multi-shot videos from the embedded simulator with exact shot-boundary truth, and their scoring.

Each shot is a random aerial scene (``sim.scenario.random_scenario``: a target, distractors, terrain, one
of the shot types) filmed for 1-3 s. Shots are joined by the transitions the §3.5 method must find, and
decorated with what it must not mistake for a boundary:

- transitions: hard cuts; dissolves of 2-4 blended frames (a K-frame dissolve has K-1 blended frames, so the
  new shot's first clean frame is K frames after the old shot's last); fades through black (fade-out,
  a few black frames, fade-in);
- inside shots: camera flashes (1-2 frames of gain 1.6-2.6 with clipping), exposure jumps (a gain step that
  stays), fast drone motion (a pan of 3-8 % of the frame width per frame, i.e. up to two widths a second, made by moving a crop window over
  a larger rendered frame), sensor noise.

Shots are rendered small (``render_size``) and resized to each benchmark resolution (720p, 1080p: the
central 16:9 band; 2K = 2048x1536: the 4:3 frame), so one render serves all three and generation stays fast.
The truth is exact by construction: ``Transition(last, first, kind)`` frame indices.

Scoring (``score``): the usual protocol of shot-boundary benchmarks (as in TransNetV2's evaluation): a
detected transition [last, first] matches a true one when the two intervals, each widened by ``tolerance``
frames, overlap; one-to-one matching; precision, recall, F1.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..sim import Simulator
from ..sim.scenario import random_scenario

RESOLUTIONS = {'720p': (1280, 720), '1080p': (1920, 1080), '2K': (2048, 1536)}


@dataclass
class Transition:
    last: int     # last frame of the old shot
    first: int    # first frame of the new shot
    kind: str     # cut | dissolve | fade


@dataclass
class ShotVideoConfig:
    n_shots: int = 14
    shot_s: Tuple[float, float] = (1.0, 2.6)
    fps: float = 25.0
    render_size: Tuple[int, int] = (384, 288)   # 4:3; 16:9 outputs use its central band
    p_cut: float = 0.45
    p_dissolve: float = 0.35                    # the rest are fades
    p_flash: float = 0.35                       # per shot
    p_exposure_jump: float = 0.3
    p_fast_pan: float = 0.3
    noise_sigma: float = 1.5
    seed: int = 0


@dataclass
class ShotVideo:
    frames: List[np.ndarray]            # render-size RGB frames (resize with ``at_resolution``)
    truth: List[Transition]
    fps: float
    events: Dict[str, List[int]] = field(default_factory=dict)  # flash / exposure_jump frames, fast_pan shots

    def at_resolution(self, size: Tuple[int, int]) -> Iterator[np.ndarray]:
        """Frames resized to ``size`` (w, h); a 16:9 size takes the central 16:9 band of the 4:3 render."""
        w, h = size
        for f in self.frames:
            fh, fw = f.shape[:2]
            if abs(w / h - fw / fh) > 0.01:
                band = int(round(fw * h / w))
                y0 = (fh - band) // 2
                f = f[y0:y0 + band]
            yield cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR)

    def truth_dict(self) -> dict:
        return {'fps': self.fps, 'n_frames': len(self.frames), 'transitions': [asdict(t) for t in self.truth],
                'events': self.events}


def _render_shot(seed: int, n: int, cfg: ShotVideoConfig, rng: np.random.Generator) -> Tuple[List[np.ndarray], bool]:
    pan = rng.random() < cfg.p_fast_pan
    # no FLYOVER: a gimbal locked on a target passing under the drone flips 180 degrees in a few frames, which
    # is a real discontinuity inside one shot (the truth would call it no boundary, any detector sees one)
    sc = random_scenario(seed, duration_s=n / cfg.fps + 1.0, camera_rate_hz=cfg.fps, terrain='flat',
                         extent_m=200.0, texture_res_m=0.5, shots=('ORBIT', 'FLYBY', 'CHASE', 'LATERAL'))
    w, h = cfg.render_size
    scale = 1.6 if pan else 1.0
    sc.camera.width, sc.camera.height = int(w * scale) // 2 * 2, int(h * scale) // 2 * 2
    sim = Simulator(sc, seed=seed)
    frames = [f.rgb for f in sim.frames(0, n)]
    if pan:  # fast drone motion: a crop window sweeping the larger frame (3-8 % of the width per frame)
        W, H = sc.camera.width, sc.camera.height
        speed = rng.uniform(0.03, 0.08) * w
        ang = rng.uniform(0, 2 * math.pi)
        out = []
        for k, f in enumerate(frames):
            # bounce inside the frame: a triangle wave along each axis
            x = (W - w) * _tri(0.5 + k * speed * math.cos(ang) / max(W - w, 1))
            y = (H - h) * _tri(0.5 + k * speed * math.sin(ang) / max(H - h, 1))
            out.append(np.ascontiguousarray(f[int(y):int(y) + h, int(x):int(x) + w]))
        frames = out
    return frames, pan


def _tri(u: float) -> float:
    u = u % 2.0
    return u if u <= 1.0 else 2.0 - u


def _gain(f: np.ndarray, g: float) -> np.ndarray:
    return np.clip(f.astype(np.float32) * g, 0, 255).astype(np.uint8)


def make_shot_video(cfg: Optional[ShotVideoConfig] = None, progress=None) -> ShotVideo:
    """A simulated multi-shot video with exact truth (deterministic in ``cfg.seed``)."""
    cfg = cfg or ShotVideoConfig()
    rng = np.random.default_rng(cfg.seed)
    frames = []  # type: List[np.ndarray]
    truth = []  # type: List[Transition]
    events = {'flash': [], 'exposure_jump': [], 'fast_pan_shots': []}  # type: Dict[str, List[int]]
    kinds = []
    for i in range(cfg.n_shots - 1):
        u = rng.random()
        kinds.append('cut' if u < cfg.p_cut else 'dissolve' if u < cfg.p_cut + cfg.p_dissolve else 'fade')
    prev_tail = None  # type: Optional[List[np.ndarray]]
    for i in range(cfg.n_shots):
        n = int(round(rng.uniform(*cfg.shot_s) * cfg.fps))
        shot, pan = _render_shot(cfg.seed * 1000 + i, n + 4, cfg, rng)
        if pan:
            events['fast_pan_shots'].append(i)
        # exposure jump: from a frame on, a lasting gain step
        jump_at = []
        if rng.random() < cfg.p_exposure_jump and n > 12:
            k = int(rng.integers(5, n - 5))
            g = float(rng.choice([rng.uniform(0.55, 0.8), rng.uniform(1.25, 1.6)]))
            shot = shot[:k] + [_gain(f, g) for f in shot[k:]]
            jump_at.append(k)
        flash_at = []
        if rng.random() < cfg.p_flash and n > 10:
            k = int(rng.integers(4, n - 5))
            for j in range(int(rng.integers(1, 3))):
                shot[k + j] = _gain(shot[k + j], float(rng.uniform(1.6, 2.6)))
                flash_at.append(k + j)
        kind = kinds[i - 1] if i > 0 else None
        if kind is None:
            start = len(frames)
            frames.extend(shot[:n])
        elif kind == 'cut':
            truth.append(Transition(len(frames) - 1, len(frames), 'cut'))
            start = len(frames)
            frames.extend(shot[:n])
        elif kind == 'dissolve':
            K = int(rng.integers(2, 5))
            last = len(frames) - 1
            a = frames[last]
            for j in range(1, K):  # K-1 blended frames between the old shot's last and the new shot's first
                w = j / float(K)
                frames.append(cv2.addWeighted(a, 1.0 - w, shot[0], w, 0.0))
            truth.append(Transition(last, len(frames), 'dissolve'))
            start = len(frames)
            frames.extend(shot[:n])
        else:  # fade out, black, fade in
            n_out, n_black, n_in = int(rng.integers(4, 9)), int(rng.integers(0, 4)), int(rng.integers(4, 9))
            last = len(frames) - 1
            a = frames[last]
            for j in range(1, n_out + 1):
                frames.append(_gain(a, 1.0 - j / float(n_out)))
            frames.extend(np.zeros_like(a) for _ in range(n_black))
            for j in range(n_in):
                frames.append(_gain(shot[0], j / float(n_in)))
            truth.append(Transition(last, len(frames), 'fade'))
            start = len(frames)
            frames.extend(shot[:n])
        events['flash'].extend(start + k for k in flash_at if k < n)
        events['exposure_jump'].extend(start + k for k in jump_at)
        if progress is not None:
            progress(i)
    if cfg.noise_sigma > 0:
        nrng = np.random.default_rng(cfg.seed + 7)
        frames = [np.clip(f.astype(np.int16) + nrng.normal(0, cfg.noise_sigma, f.shape).astype(np.int16),
                          0, 255).astype(np.uint8) for f in frames]
    return ShotVideo(frames=frames, truth=truth, fps=cfg.fps, events=events)


# ----------------------------------------------------------------------------------------
# Scoring
# ----------------------------------------------------------------------------------------

@dataclass
class SBDScore:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / float(self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / float(self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, o: 'SBDScore') -> 'SBDScore':
        return SBDScore(self.tp + o.tp, self.fp + o.fp, self.fn + o.fn)


def score(pred: Sequence[Tuple[int, int]], truth: Sequence[Tuple[int, int]], tolerance: int = 2) -> SBDScore:
    """Match predicted transitions (last, first) to true ones: widened intervals overlap, one-to-one, greedy by
    distance of the interval centres."""
    pairs = []
    for i, (pl, pf) in enumerate(pred):
        for j, (tl, tf) in enumerate(truth):
            if pl - tolerance <= tf and tl <= pf + tolerance:
                pairs.append((abs((pl + pf) - (tl + tf)), i, j))
    pairs.sort()
    used_p, used_t = set(), set()
    for _, i, j in pairs:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
    tp = len(used_p)
    return SBDScore(tp, len(pred) - tp, len(truth) - tp)


def recall_by_kind(pred: Sequence[Tuple[int, int]], truth: Sequence[Transition], tolerance: int = 2) -> Dict[str, Tuple[int, int]]:
    """kind -> (found, total)."""
    out = {}  # type: Dict[str, Tuple[int, int]]
    for kind in sorted({t.kind for t in truth}):
        sub = [(t.last, t.first) for t in truth if t.kind == kind]
        s = score(pred, sub, tolerance)
        out[kind] = (s.tp, len(sub))
    return out
