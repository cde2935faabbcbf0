"""The tracking-quality score of the SiamFC tracker (``core/siamfc.py``): statistics of the response map and the
track, and the logistic head that maps them to a predicted IoU.

Not part of the SiamFC paper (Bertinetto et al., 2016), so a module of its own: the response statistics are APCE
(Wang et al., CVPR 2017) and the PSR of correlation-filter trackers (Bolme et al., MOSSE, CVPR 2010), the rest are
the appearance and consistency features of issue #14 (which ones the shipped heads use and why:
``QUALITY_FEATURES`` below and models/MODEL_CARD_siamfc_real.md). ``core/siamfc.py`` re-exports every name, so
``siamfc.QualityHead`` and friends keep working. Python 3.8.
"""
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np


def apce(r: np.ndarray) -> float:
    """Average peak-to-correlation energy: |Fmax - Fmin|^2 / mean((F - Fmin)^2)."""
    lo, hi = float(r.min()), float(r.max())
    den = float(np.mean((r - lo) ** 2))
    return (hi - lo) ** 2 / den if den > 1e-12 else 0.0


def psr(r: np.ndarray, exclude: int = 2) -> float:
    """Peak-to-sidelobe ratio: (peak - mean(sidelobe)) / std(sidelobe), sidelobe = all but (2e+1)^2 around the peak."""
    i, j = np.unravel_index(int(np.argmax(r)), r.shape)
    mask = np.ones(r.shape, dtype=bool)
    mask[max(0, i - exclude):i + exclude + 1, max(0, j - exclude):j + exclude + 1] = False
    side = r[mask]
    sd = float(side.std())
    return (float(r.max()) - float(side.mean())) / sd if sd > 1e-12 else 0.0


def second_peak(r: np.ndarray, exclude: int = 2) -> float:
    """The highest response outside the (2e+1)^2 cells around the peak (the strongest distractor), as ``psr``'s
    sidelobe; the peak itself when the map has no sidelobe."""
    i, j = np.unravel_index(int(np.argmax(r)), r.shape)
    mask = np.ones(r.shape, dtype=bool)
    mask[max(0, i - exclude):i + exclude + 1, max(0, j - exclude):j + exclude + 1] = False
    return float(r[mask].max()) if mask.any() else float(r.max())


def peak_spread(r: np.ndarray, level: float = 0.5) -> float:
    """Width of the response's main mode in cells: sqrt of the number of cells above ``level`` of the way from the
    map's minimum to its peak (a broad plateau localises the box poorly)."""
    lo, hi = float(r.min()), float(r.max())
    if hi - lo < 1e-12:
        return float(math.sqrt(r.size))
    return float(math.sqrt(np.count_nonzero(r >= lo + level * (hi - lo))))


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, v))))


#: Features of the quality head (issue #14, round five). Each means the same on real and simulated video (a head
#: fitted on the simulator alone ranks the real IoUs as well as one fitted on both: MODEL_CARD_siamfc_real.md):
#: the width of the response's main mode in cells (``peak_spread``: a broad plateau localises the box poorly, and
#: a lost track answers with one); the PSR relative to the first frame's (``psr_ratio``); the appearance drift of the
#: recent template from the first one (``template_drift`` = 1 - cosine of their backbone features: the target has
#: turned, deformed or been replaced); the box's size relative to the first box's (``scale_change``, |log|); the
#: share of the box inside the image (``inside``: a box sliding off the frame edge follows background); and the
#: track's age (``age`` = log(1 + frames since the tracker was (re)started): a template drifts, so an old track is
#: less likely on its target at the same response; the manager's detector restarts it). No absolute peak: its scale
#: differs between scenes and domains. Chosen on the real development set by the leave-one-sequence-out Spearman of
#: ``eval/quality_diag.py`` (MODEL_CARD_siamfc_real.md).
QUALITY_FEATURES = ('peak_spread', 'psr_ratio', 'template_drift', 'scale_change', 'inside', 'age')

#: Round three's features (the heads of models calibrated before round five; their files name them in ``meta``).
ROUND3_FEATURES = ('peak_med_ratio', 'psr_min_recent', 'apce_ratio_recent', 'app_init', 'app_recent',
                   'scale_change', 'jump', 'inside', 'age')

#: Every statistic ``SiamFCTracker.update`` puts in a result's ``stats`` (a head may use any of them); ``APPZ_STATS``
#: only when the tracker runs the exemplar branch on the new box (``exemplar_pass``, or a head that uses them).
TRACK_STATS = ('peak', 'peak_logit', 'peak_prob', 'peak_ratio', 'peak_run_ratio', 'peak_med_ratio', 'apce',
               'apce_ratio', 'apce_run_ratio', 'apce_ratio_recent', 'psr', 'psr_ratio', 'psr_run_ratio',
               'psr_min_recent', 'app_init', 'app_recent', 'app_slow', 'template_drift', 'scale_jump',
               'scale_change', 'jump', 'inside', 'age', 'second_ratio', 'peak_margin', 'peak_spread', 'size_px',
               'aspect', 'scale_rate', 'jump_rel')
APPZ_STATS = ('appz_init', 'appz_recent')


def _prior() -> List[float]:
    # uncalibrated: quality falls with a broad response and with the template's drift, rises with the PSR
    return [2.0, -0.2, 1.0, -3.0, 0.0, 0.0, 0.0]


@dataclass
class QualityHead:
    """q = sigmoid(b + sum_i w_i f_i) over the tracker statistics ``keys`` (default ``QUALITY_FEATURES``).

    ``coef`` = [b, w_1 .. w_n]; calibrated (train/siamfc_train.py ``calibrate --target iou``) by fitting q to the
    box's IoU with the truth (logistic regression on a soft target) on real and simulated sequences: the quality is
    the predicted IoU. The default is an uncalibrated prior: quality falls with the width of the response's main
    mode and with the drift of the recent template from the first, and rises with the PSR relative to the first
    frame's. A model file names its head's keys, so files calibrated on other features keep loading.
    """

    coef: List[float] = field(default_factory=_prior)
    keys: Tuple[str, ...] = QUALITY_FEATURES

    def features(self, stats: Dict[str, float]) -> np.ndarray:
        return np.array([stats[k] for k in self.keys], dtype=np.float64)

    def __call__(self, stats: Dict[str, float]) -> float:
        c = np.asarray(self.coef, dtype=np.float64)
        if c.shape != (len(self.keys) + 1,):
            raise ValueError('QualityHead needs %d coefficients, got %d' % (len(self.keys) + 1, c.size))
        return _sigmoid(float(c[0] + c[1:] @ self.features(stats)))

    @property
    def needs_exemplar_pass(self) -> bool:
        return any(k in APPZ_STATS for k in self.keys)


def response_stats(raw: np.ndarray, ref: Dict[str, float], scale_jump: float, jump: float = 0.0,
                   run: Optional[Dict[str, float]] = None, app_init: float = 1.0,
                   app_recent: float = 1.0, inside: float = 1.0, frames: int = 0,
                   peak_median: Optional[float] = None, scale_change: float = 0.0) -> Dict[str, float]:
    """Features of the chosen scale's raw (17x17, logit) response, relative to the first frame's ``ref`` and to the
    running reference ``run`` (``RUNNING_LR`` average of the frames tracked since).

    ``scale_jump``: 1 if a non-unit scale won; ``jump``: the box centre's move in units of the target size;
    ``app_init``, ``app_recent``: cosine of the new box's features with the first and the recent template;
    ``inside``: share of the box's area inside the image; ``frames``: updates since the tracker was (re)started;
    ``peak_median``: the running median of this track's response peaks (logits; None: this frame's);
    ``scale_change``: |log| of the box's size relative to the first box's.
    """
    peak = float(raw.max())
    p = _sigmoid(peak)
    a, s = apce(raw), psr(raw)
    run = ref if run is None else run
    med = peak if peak_median is None else float(peak_median)
    return {
        'peak': peak,
        'peak_logit': max(-10.0, min(10.0, peak)),
        'peak_prob': p,
        'peak_ratio': min(p / max(ref.get('peak_prob', p), 1e-6), 2.0),
        'peak_run_ratio': min(p / max(run.get('peak_prob', p), 1e-6), 2.0),
        'peak_med_ratio': min(p / max(_sigmoid(med), 1e-6), 2.0),
        'apce': a,
        'apce_ratio': min(a / max(ref.get('apce', a), 1e-6), 3.0),
        'apce_run_ratio': min(a / max(run.get('apce', a), 1e-6), 3.0),
        'psr': s,
        'psr_ratio': min(s / max(ref.get('psr', s), 1e-6), 3.0),
        'psr_run_ratio': min(s / max(run.get('psr', s), 1e-6), 3.0),
        'app_init': app_init,
        'app_recent': app_recent,
        'scale_jump': scale_jump,
        'scale_change': min(abs(scale_change), 3.0),
        'jump': min(jump, 3.0),
        'inside': inside,
        'age': math.log1p(max(0, frames)),
    }


def shape_stats(raw: np.ndarray, size: float, aspect: float, size_before: float, jump: float,
                jump_avg: float) -> Dict[str, float]:
    """Candidate features of the response's shape and the box's consistency (issue #14, round five diagnosis):
    the strongest distractor relative to the peak (``second_ratio``, probabilities; ``peak_margin``, logits), the
    main mode's width in cells (``peak_spread``), the box's size in pixels (``size_px``, log) and aspect
    (``aspect``, |log w/h|), its size change over the last RECENT_FRAMES frames (``scale_rate``, |log|) and its
    move relative to the track's running move (``jump_rel``)."""
    peak = float(raw.max())
    sec = second_peak(raw)
    return {
        'second_ratio': _sigmoid(sec) / max(_sigmoid(peak), 1e-6),
        'peak_margin': min(max(peak - sec, 0.0), 10.0),
        'peak_spread': peak_spread(raw),
        'size_px': math.log(max(size, 1.0)),
        'aspect': abs(math.log(max(aspect, 1e-3))),
        'scale_rate': min(abs(math.log(max(size, 1e-6) / max(size_before, 1e-6))), 3.0),
        'jump_rel': min(jump / max(jump_avg, 0.02), 10.0),
    }


def inside_share(box: Sequence[float], width: int, height: int) -> float:
    """Share of the (x, y, w, h) box's area inside the width x height image."""
    x, y, w, h = (float(v) for v in box)
    ix = max(0.0, min(x + w, width) - max(x, 0.0))
    iy = max(0.0, min(y + h, height) - max(y, 0.0))
    return ix * iy / max(w * h, 1e-9)


#: Learning rate of the running reference (response statistics and the recent template): ~10 frames of memory.
RUNNING_LR = 0.1


#: Peaks kept for the running median of the response peak (``peak_med_ratio``): the last ~10 s at 10 Hz.
PEAK_HISTORY = 100
#: Frames of the recent-consistency features: ``psr_min_recent`` is the weakest PSR of the last RECENT_FRAMES (a
#: track that has just been weak is not yet trusted again); ``apce_ratio_recent`` averages ``apce_ratio`` at rate
#: 1 / SLOW_FRAMES. Bounded memories, not the whole track: after an occlusion the features recover with the track.
RECENT_FRAMES = 10
SLOW_FRAMES = 30


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return max(0.0, float(a @ b) / (float(np.linalg.norm(a) * np.linalg.norm(b)) + 1e-12))


def feature_window(feats: np.ndarray, row: int, col: int, size: int) -> np.ndarray:
    """The exemplar-sized window (C, size, size) of search features (C, H, W) whose correlation with the exemplar
    gave response cell (row, col): the features of the box that cell stands for, computed once for the search."""
    return feats[:, row:row + size, col:col + size]
