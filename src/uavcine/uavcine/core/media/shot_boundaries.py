"""Shot boundaries, sampling structure and dynamic keyframes in one pass (AI4Media report §3.5; H. Fassold,
"Faster than real-time detection of shot boundaries, sampling structure and dynamic keyframes in video",
ICISPC 2024).

Every decision rests on three measures between two images I and J (the paper's names):

- ``AMM(I, J)``: average magnitude of the motion field from I to J, computed by OpenCV's Dense Inverse
  Search optical flow (``cv2.DISOpticalFlow``); here in percent of the image width, so that it does not
  depend on the resolution.
- ``SWR(I, J)``: dissimilarity of I and J warped onto I by that motion field (motion-compensated), as
  ``1 - NCC``: the normalised cross-correlation ignores gain and offset, so flicker, flashes and exposure
  jumps do not look like a new shot. NCC is taken only where the warp samples inside J (what entered the view
  is new content, not a new shot).
- ``ACT(I, J) = sqrt(AMM * SWR)``: the *activity* (geometric mean). AMM is floored at ``amm_floor`` so that
  two different still images (a cut between static shots, where DIS finds little coherent motion) still
  show activity.

Computation is sparse and selective (``ActivityCache``): frames are reduced once to a small grey image
(about ``analysis_width`` pixels wide, by an integer factor), ``ACT(I_t, I_t+1)`` is computed for every frame
with the fast DIS preset (the *fast check*), other pairs only on demand, each at most once.

Shot detector (``ShotBoundaryDetector``), for each frame t (the last frame of a possible old shot):

1. fast check: ``ACT(I_t, I_t+1)`` is above ``fast_min`` and ``fast_ratio`` times the shot's recent activity
   (the median of the last ``background_window`` consecutive activities) -> a cut or short dissolve may start;
2. deep check, K = 1..``max_dissolve`` (K = 1: a hard cut; K > 1: a K-frame dissolve whose first frame of the
   new shot is t+K), every measure with the accurate DIS preset (``deep_preset``): the paper's test,
   ``ACT(I_t, I_t+K)`` ``deep_ratio`` times larger than ``ACT(I_t, I_t-j)`` inside the old shot (j = 1 and
   j = K: activity grows with the gap), and the motion-compensated change is real: ``SWR(I_t, I_t+K)`` above
   ``swr_min`` and ``swr_ratio`` times the SWR inside both shots at gaps 1 and K. For K > 1 the consecutive
   flows are chained across the K frames (fast motion stays explained frame by frame, a dissolve's blends break
   the chain), and the direct flow is kept where it explains the pair better (a flash breaks the chain, not the
   direct warp). The smallest valid K wins.

Fades through black are outside the paper's detector (NCC is blind to a gain ramp by design): frames darker than
``dark_mean`` with a grey-level spread below ``dark_std`` carry no content, and a run of them between two content
frames is one transition (the fade-out / fade-in pair). This is our addition.

Dynamic keyframes: within a shot the consecutive content changes are summed; when the sum reaches 1 the
current frame is a keyframe and the sum restarts (the first frame of each shot is a keyframe too). The paper
sums ACT; ACT's geometric mean is near zero for a pan that the warp compensates well (SWR ~ 0), although the
view has moved on, so we sum its two factors instead: AMM / ``keyframe_motion`` + SWR / ``keyframe_swr``.

Sampling structure (``sampling_structure``): per frame, v0 = ACT(I_t^u, I_t^l), v1 = ACT(I_t^u, I_t+1^l),
v2 = ACT(I_t^l, I_t+1^u) on the upper/lower fields: progressive content has v0 ~ 0 and v1 ~ v2; interlaced has
v0 > 0 and v1 != v2 (top field first when v2 < v1). 3:2 pulldown (a 5-frame pattern) is not classified here.

Frames are numpy HxW or HxWx3 uint8 (RGB or BGR: only grey levels are used). The detector is online: it takes
one frame at a time and decides with a delay of ``2 max_dissolve + 1`` frames. Python 3.8; numpy and OpenCV.
"""
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np


@dataclass
class ShotDetectorConfig:
    analysis_width: int = 256        # px: frames are reduced to about this width (grey, integer factor)
    flow_preset: str = 'ultrafast'   # DIS preset of the fast check (every frame): ultrafast | fast | medium
    deep_preset: str = 'medium'      # DIS preset of the deep check's SWR (rare, may be slower and more accurate)
    amm_floor: float = 0.5           # % of width: AMM floor in ACT (still shots still show activity)
    max_dissolve: int = 4            # K = 1..max_dissolve frames (K = 1: hard cut)
    background_window: int = 12      # consecutive activities whose median is the shot's activity level
    fast_ratio: float = 1.3          # fast check: ACT(t, t+1) > fast_ratio x background ...
    fast_min: float = 0.12           # ... and > fast_min
    deep_ratio: float = 2.0          # deep check: ACT(t, t+K) > deep_ratio x the activity inside the shots ...
    deep_min: float = 0.45           # ... and > deep_min
    swr_min: float = 0.15            # deep check: SWR(t, t+K) above this ...
    swr_ratio: float = 2.0           # ... and this many times the SWR inside the shots on either side
    min_shot_len: int = 5            # frames: no second boundary this soon after one
    dark_mean: float = 24.0          # grey level (0-255) below which a frame is black (fades through black) ...
    dark_std: float = 8.0            # ... when its grey-level std is also below this (no content to compare)
    keyframe_motion: float = 30.0    # % of the width: accumulated motion (AMM) worth a new keyframe ...
    keyframe_swr: float = 1.0        # ... or accumulated warp residual (SWR); the two add up
    border: float = 0.06             # fraction of each side of the other frame that warps may not sample (NCC)
    min_overlap: float = 0.2         # below this fraction of pixels warped from inside the other frame, SWR = 1


@dataclass
class Boundary:
    """A transition: the old shot's last frame and the new shot's first frame (frame indices)."""

    last: int
    first: int
    kind: str           # cut | dissolve | fade
    score: float = 0.0  # ACT(I_last, I_first) (0 for fades)


@dataclass
class ShotAnalysis:
    boundaries: List[Boundary] = field(default_factory=list)
    keyframes: List[int] = field(default_factory=list)
    n_frames: int = 0
    activity: List[float] = field(default_factory=list)  # ACT(I_t, I_t+1) for every t (0 where not computed)

    def shots(self) -> List[Tuple[int, int]]:
        """(first, last) frame of each shot; transition frames (dissolve blends, black) belong to no shot."""
        out, start = [], 0
        for b in self.boundaries:
            if b.last >= start:
                out.append((start, b.last))
            start = b.first
        if self.n_frames > start:
            out.append((start, self.n_frames - 1))
        return out


_PRESETS = {'ultrafast': cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, 'fast': cv2.DISOPTICAL_FLOW_PRESET_FAST,
            'medium': cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def reduce_frame(frame: np.ndarray, width: int) -> np.ndarray:
    """A frame -> the small grey image every measure works on: area-averaged (noise is averaged away) by an
    integer factor, the one that brings the width nearest to ``width`` (OpenCV's INTER_AREA has a fast path for
    integer factors: 1920 -> 240 costs a third of 1920 -> 256)."""
    h, w = frame.shape[:2]
    f = max(1, int(round(w / float(width))))
    if f > 1:
        if h % f or w % f:  # leave out the few edge pixels that do not fill a whole f x f cell
            frame = frame[:h - h % f, :w - w % f]
        frame = cv2.resize(frame, (w // f, h // f), interpolation=cv2.INTER_AREA)
    if frame.ndim == 3:  # grey on the small image: cheaper than the other way round
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return np.ascontiguousarray(frame)


class Measures:
    """AMM, SWR and ACT between two small grey images (DIS flow, warp, NCC)."""

    def __init__(self, cfg: ShotDetectorConfig, preset: Optional[str] = None):
        self.cfg = cfg
        preset = preset or cfg.flow_preset
        if preset not in _PRESETS:
            raise ValueError('flow preset must be one of %s, not %r' % (', '.join(_PRESETS), preset))
        self.dis = cv2.DISOpticalFlow_create(_PRESETS[preset])
        self._grid = None  # type: Optional[Tuple[np.ndarray, np.ndarray]]

    def _mesh(self, shape):
        if self._grid is None or self._grid[0].shape != shape:
            ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
            self._grid = (xs, ys)
        return self._grid

    def flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Dense motion field from ``a`` to ``b``: a(x) ~ b(x + flow(x))."""
        return self.dis.calc(a, b, None)

    def amm_swr(self, a: np.ndarray, b: np.ndarray, flow: Optional[np.ndarray] = None) -> Tuple[float, float]:
        """(AMM in % of the width, SWR = 1 - NCC of ``a`` and ``b`` warped onto ``a``)."""
        if flow is None:
            flow = self.flow(a, b)
        xs, ys = self._mesh(a.shape)
        mx, my = xs + flow[..., 0], ys + flow[..., 1]
        warped = cv2.remap(b, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        amm = float(np.mean(np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2))) * 100.0 / a.shape[1]
        # compare only where the motion points inside ``b``: what entered the view is new, not a new shot
        h, w = a.shape
        m = self.cfg.border
        valid = (mx >= m * w) & (mx <= (1 - m) * w - 1) & (my >= m * h) & (my <= (1 - m) * h - 1)
        if valid.mean() < self.cfg.min_overlap:
            return amm, 1.0
        return amm, 1.0 - ncc(a[valid], warped[valid])

    def compose(self, flows: Sequence[np.ndarray]) -> np.ndarray:
        """The motion field of a chain of frames from the fields of its consecutive pairs:
        f(x) = f0(x) + f1(x + f0(x)) + ... (each next field sampled where the previous one points)."""
        total = flows[0].copy()
        xs, ys = self._mesh(total.shape[:2])
        for f in flows[1:]:
            total += cv2.remap(f, xs + total[..., 0], ys + total[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return total

    def act(self, a: np.ndarray, b: np.ndarray) -> float:
        return activity(self.amm_swr(a, b), self.cfg.amm_floor)


def activity(amm_swr: Tuple[float, float], amm_floor: float) -> float:
    """ACT: the geometric mean of AMM (floored) and SWR."""
    return math.sqrt(max(amm_swr[0], amm_floor) * max(amm_swr[1], 0.0))


def ncc(a: np.ndarray, b: np.ndarray, border: float = 0.0) -> float:
    """Normalised cross-correlation of two images (zero-mean, unit-variance), inside a border margin; 1-D
    inputs are taken as they are (pixels already selected)."""
    if a.ndim >= 2 and border > 0:
        h, w = a.shape[:2]
        by, bx = int(h * border), int(w * border)
        a, b = a[by:h - by, bx:w - bx], b[by:h - by, bx:w - bx]
    x = a.astype(np.float32).ravel()
    y = b.astype(np.float32).ravel()
    x = x - x.mean()
    y = y - y.mean()
    xx, yy = float(np.dot(x, x)), float(np.dot(y, y))
    den = math.sqrt(xx * yy)
    if den < 1e-6:
        return 1.0 if xx < 1e-6 and yy < 1e-6 else 0.0
    return float(np.dot(x, y)) / den


class ActivityCache:
    """ACT(I_i, I_j) on demand, each pair computed once; frames kept only while a decision may need them."""

    def __init__(self, cfg: ShotDetectorConfig):
        self.cfg = cfg
        self.measures = Measures(cfg)
        self.deep_measures = Measures(cfg, cfg.deep_preset)
        self.deep_cache = {}  # type: Dict[Tuple[int, int], Tuple[float, float]]
        self.deep_flows = {}  # type: Dict[Tuple[int, int], np.ndarray]  # consecutive frames, either direction
        self.frames = OrderedDict()  # type: Dict[int, np.ndarray]
        self.dark = {}  # type: Dict[int, bool]
        self.cache = {}  # type: Dict[Tuple[int, int], Tuple[float, float]]
        self.computed = 0

    def add(self, index: int, small: np.ndarray) -> None:
        self.frames[index] = small
        self.dark[index] = float(small.mean()) < self.cfg.dark_mean and float(small.std()) < self.cfg.dark_std

    def forget_before(self, index: int) -> None:
        for k in [k for k in self.frames if k < index]:
            del self.frames[k]
            self.dark.pop(k, None)
        for cache in (self.cache, self.deep_cache, self.deep_flows):
            for k in [k for k in cache if k[0] < index and k[1] < index]:
                del cache[k]

    def pair(self, i: int, j: int) -> Tuple[float, float]:
        """(AMM, SWR) of frames i and j (the earlier one is the reference)."""
        key = (i, j) if i <= j else (j, i)
        v = self.cache.get(key)
        if v is None:
            v = self.measures.amm_swr(self.frames[key[0]], self.frames[key[1]])
            self.cache[key] = v
            self.computed += 1
        return v

    def act(self, i: int, j: int) -> float:
        return activity(self.pair(i, j), self.cfg.amm_floor)

    def deep_pair(self, i: int, j: int) -> Tuple[float, float]:
        """(AMM, SWR) of frames i (the reference) and j with the deep check's accurate flow, chained through the
        frames between them: fast motion that one flow over several frames could not follow stays explained
        frame by frame, while a dissolve's blended frames break the chain."""
        v = self.deep_cache.get((i, j))
        if v is None:
            step = 1 if j > i else -1
            flows = [self._deep_flow(k, k + step) for k in range(i, j, step)]
            v = self.deep_measures.amm_swr(self.frames[i], self.frames[j], flows[0] if len(flows) == 1 else
                                           self.deep_measures.compose(flows))
            if len(flows) > 1:
                # and the direct flow: a flash frame inside the chain breaks the chain, not the direct warp;
                # the pair is as similar as the better of the two explains it
                direct = self.deep_measures.amm_swr(self.frames[i], self.frames[j])
                self.computed += 1
                if direct[1] < v[1]:
                    v = direct
            self.deep_cache[(i, j)] = v
        return v

    def _deep_flow(self, i: int, j: int) -> np.ndarray:
        f = self.deep_flows.get((i, j))
        if f is None:
            f = self.deep_measures.flow(self.frames[i], self.frames[j])
            self.deep_flows[(i, j)] = f
            self.computed += 1
        return f

    def deep_act(self, i: int, j: int) -> float:
        return activity(self.deep_pair(i, j), self.cfg.amm_floor)

    def deep_swr(self, i: int, j: int) -> float:
        return self.deep_pair(i, j)[1]


class ShotBoundaryDetector:
    """Online shot boundaries and dynamic keyframes: ``push`` frames, then ``finish``; read ``result``."""

    def __init__(self, cfg: Optional[ShotDetectorConfig] = None):
        self.cfg = cfg or ShotDetectorConfig()
        if self.cfg.max_dissolve < 1:
            raise ValueError('max_dissolve must be >= 1')
        self.c = ActivityCache(self.cfg)
        self.result = ShotAnalysis()
        self.n = 0               # frames pushed
        self.t = 0               # next frame to decide on (as the possible last frame of a shot)
        self.shot_start = 0
        self.blocked_until = 0   # no boundary decided at t < blocked_until
        self.background = []     # type: List[float]
        self.acc = 0.0           # keyframe accumulator
        self.dark_run = None     # type: Optional[int]  # first dark frame of the current run
        self._need_keyframe = True

    # --- input -------------------------------------------------------------------------
    def push(self, frame: np.ndarray) -> List[Boundary]:
        """Add the next frame; returns the boundaries decided by it (delay: 2 max_dissolve + 1 frames)."""
        self.c.add(self.n, reduce_frame(frame, self.cfg.analysis_width))
        self.n += 1
        out = []
        while self.t + 2 * self.cfg.max_dissolve + 1 < self.n:
            b = self._decide(self.t)
            if b is not None:
                out.append(b)
        self.c.forget_before(self.t - self.cfg.max_dissolve - 1)
        return out

    def finish(self) -> List[Boundary]:
        """No more frames: decide the remaining ones (with what lookahead is left)."""
        out = []
        while self.t < self.n:
            b = self._decide(self.t)
            if b is not None:
                out.append(b)
        self.result.n_frames = self.n
        return out

    # --- decisions ---------------------------------------------------------------------
    def _level(self) -> float:
        return float(np.median(self.background)) if self.background else 0.0

    def _decide(self, t: int) -> Optional[Boundary]:
        """Decide at frame t; advances self.t. Returns a boundary whose old shot ends at t (or a fade)."""
        cfg, c = self.cfg, self.c
        if self._need_keyframe and not c.dark[t]:
            self.result.keyframes.append(t)
            self._need_keyframe = False
            self.acc = 0.0
        if t + 1 >= self.n:  # the last frame
            self.t = t + 1
            self.result.activity.append(0.0)
            return None
        # fades through black: a run of content-free frames between two content frames
        if c.dark[t + 1]:
            if self.dark_run is None and not c.dark[t]:
                self.dark_run = t  # t: last content frame before the run
            self.t = t + 1
            self.result.activity.append(0.0)
            return None
        if c.dark[t]:
            self.t = t + 1
            self.result.activity.append(0.0)
            # a video that starts dark: its first content frame starts a shot, it is no boundary
            b = Boundary(self.dark_run, t + 1, 'fade', 0.0) if self.dark_run is not None else None
            self.dark_run = None
            return self._start_shot(b, t + 1)
        a = c.act(t, t + 1)
        self.result.activity.append(a)
        level = self._level()
        if t >= self.blocked_until and a > cfg.fast_min and a > cfg.fast_ratio * level:
            b = self._deep_check(t)
            if b is not None:
                # the frames t+1 .. first-1 (dissolve blends) are decided with the boundary
                for k in range(t + 1, b.first):
                    self.result.activity.append(c.act(k, k + 1) if k + 1 < self.n else 0.0)
                self.t = b.first
                return self._start_shot(b, b.first)
        # inside a shot: activity level and keyframes
        self.background.append(a)
        if len(self.background) > cfg.background_window:
            self.background.pop(0)
        amm, swr = c.pair(t, t + 1)
        self.acc += amm / cfg.keyframe_motion + max(swr, 0.0) / cfg.keyframe_swr
        if self.acc >= 1.0:
            self.result.keyframes.append(t + 1)
            self.acc = 0.0
        self.t = t + 1
        return None

    def _deep_check(self, t: int) -> Optional[Boundary]:
        """The K-frame dissolve hypotheses at t, K = 1..max_dissolve, with the deep check's accurate flow."""
        cfg, c = self.cfg, self.c
        for k in range(1, cfg.max_dissolve + 1):
            if t + k >= self.n or c.dark[t + k]:
                break
            across = c.deep_act(t, t + k)
            if across < cfg.deep_min:
                continue
            # the paper's test: ACT(I_t, I_t-j) inside the old shot is much smaller than ACT(I_t, I_t+K); j = 1
            # and j = K (activity grows with the frame gap, so the same gap is compared too)
            js = [j for j in sorted({1, k}) if t - j >= self.shot_start and t - j in c.frames and not c.dark[t - j]]
            before = max([c.deep_act(t, t - j) for j in js]) if js else 0.0
            if not across > cfg.deep_ratio * max(before, 1e-6):
                continue
            # and the motion-compensated content change is real: SWR across is large and larger than inside both
            # shots, at a gap of 1 and of K frames (fast motion the flow cannot follow over K frames raises SWR
            # across, but inside the shots as well)
            swr = c.deep_swr(t, t + k)
            if swr <= cfg.swr_min:
                continue
            inside = [c.deep_swr(t, t - j) for j in js]
            for g in sorted({1, k}):
                if t + k + g < self.n and not any(c.dark[t + k + i] for i in range(1, g + 1)):
                    inside.append(c.deep_swr(t + k, t + k + g))
            if swr > cfg.swr_ratio * max(inside + [1e-6]):
                return Boundary(t, t + k, 'cut' if k == 1 else 'dissolve', across)
        return None

    def _start_shot(self, b: Optional[Boundary], first: int) -> Optional[Boundary]:
        if b is not None:
            self.result.boundaries.append(b)
            # a fade-in goes on after its last black frame: dim frames defeat the flow, so wait longer
            self.blocked_until = first + self.cfg.min_shot_len * (2 if b.kind == 'fade' else 1) - 1
        self.shot_start = first
        self.background = []
        self._need_keyframe = True
        return b


def detect_shots(frames, cfg: Optional[ShotDetectorConfig] = None, progress=None) -> ShotAnalysis:
    """Run the detector over an iterable of frames; ``progress(i)`` is called after each frame if given."""
    det = ShotBoundaryDetector(cfg)
    for i, f in enumerate(frames):
        det.push(f)
        if progress is not None:
            progress(i)
    det.finish()
    return det.result


# ----------------------------------------------------------------------------------------
# Sampling structure
# ----------------------------------------------------------------------------------------

def field_measures(frame_t: np.ndarray, frame_t1: np.ndarray, measures: Measures, width: int) -> Tuple[float, float, float]:
    """(v0, v1, v2) = ACT(I_t^u, I_t^l), ACT(I_t^u, I_t+1^l), ACT(I_t^l, I_t+1^u) on the two fields."""
    def fields(f):
        g = f if f.ndim == 2 else cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)
        # each field is half height: reduce it to the analysis width keeping the field's own aspect ratio
        return reduce_frame(g[0::2], width), reduce_frame(g[1::2], width)
    ut, lt = fields(frame_t)
    u1, l1 = fields(frame_t1)
    return measures.act(ut, lt), measures.act(ut, l1), measures.act(lt, u1)


def sampling_structure(frames: Sequence[np.ndarray], cfg: Optional[ShotDetectorConfig] = None,
                       ratio: float = 1.4, still: float = 0.05) -> Tuple[str, Dict[str, float]]:
    """'progressive' | 'interlaced_tff' | 'interlaced_bff' | 'unknown' (too little motion) for frames of one shot.

    Uses the median over the frames of v0, v1, v2: motion between fields of one frame (v0 well above the
    smaller of v1 and v2 would be impossible for progressive content, where the fields are one instant) and
    the asymmetry of v1 and v2 give the order of the fields.
    """
    cfg = cfg or ShotDetectorConfig()
    m = Measures(cfg)
    # fields need the vertical detail that area averaging would remove: measure at twice the analysis width
    v = np.array([field_measures(frames[i], frames[i + 1], m, cfg.analysis_width * 2) for i in range(len(frames) - 1)])
    if len(v) == 0:
        return 'unknown', {}
    v0, v1, v2 = (float(np.median(v[:, i])) for i in range(3))
    stats = {'v0': v0, 'v1': v1, 'v2': v2}
    hi, lo = max(v1, v2), min(v1, v2)
    if hi < still:
        return 'unknown', stats
    if hi > ratio * lo and v0 > 0.5 * lo:
        return ('interlaced_tff' if v2 < v1 else 'interlaced_bff'), stats
    return 'progressive', stats
