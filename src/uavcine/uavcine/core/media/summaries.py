"""Video summaries for social media (AI4Media report §3.3): key fragments under a duration budget, and aspect-ratio
retargeting that keeps the subject in a 9:16 or 1:1 frame.

- Key-fragment selection: shots (from §3.5) are cut into fragments of at most ``max_fragment`` frames; each
  fragment's importance is the mean of its frames' scores; the fragments that maximise the summed importance x
  length within the budget are chosen by 0/1 knapsack (dynamic programming), the rule of the SumMe/TVSum
  protocol. The service's AC-SUM-GAN (trained on SumMe/TVSum/OVP/YouTube) cannot be obtained here; the frame
  scores are the §3.2 cinematic aesthetics of the drone's subject.
- Retargeting (the seed's smart video cropping, SVC): a crop window of the target aspect ratio and the full
  frame height slides along x to keep the point of attention (the tracked target's centre; without a target,
  a saliency map's centre) in view, on a smooth path: the x that minimises
  ``sum w_t (c_t - p_t)^2 + lam * sum (c_t - 2 c_t-1 + c_t-2)^2`` (a banded linear system), clamped to the frame.
- Evaluation (``f_score``): the SumMe/TVSum protocol, F-score of a machine summary against each user summary
  (max over users for SumMe, mean for TVSum), ready for those datasets' files where they are present.

Python 3.8; numpy.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np


def fragments(shots: Sequence[Tuple[int, int]], max_fragment: int) -> List[Tuple[int, int]]:
    """Split shots (first, last) into fragments of at most ``max_fragment`` frames (inclusive ranges)."""
    out = []
    for a, b in shots:
        n = b - a + 1
        k = max(1, int(np.ceil(n / float(max_fragment))))
        edges = np.linspace(a, b + 1, k + 1).round().astype(int)
        out += [(int(edges[i]), int(edges[i + 1]) - 1) for i in range(k) if edges[i + 1] > edges[i]]
    return out


def knapsack(values: Sequence[float], weights: Sequence[int], capacity: int) -> List[int]:
    """0/1 knapsack by dynamic programming: indices of the items of largest total value within ``capacity``.

    Hand-written (a few lines): scipy has no 0/1 knapsack, and the SumMe/TVSum reference code uses this DP."""
    n = len(values)
    cap = max(0, int(capacity))
    table = np.zeros((n + 1, cap + 1))
    for i in range(1, n + 1):
        w, v = int(weights[i - 1]), float(values[i - 1])
        table[i] = table[i - 1]
        if w <= cap:
            table[i, w:] = np.maximum(table[i - 1, w:], table[i - 1, :cap + 1 - w] + v)
    chosen, c = [], cap
    for i in range(n, 0, -1):
        if table[i, c] != table[i - 1, c]:
            chosen.append(i - 1)
            c -= int(weights[i - 1])
    return sorted(chosen)


def select_key_fragments(scores: np.ndarray, shots: Sequence[Tuple[int, int]], budget_frames: int,
                         max_fragment: int = 50) -> List[Tuple[int, int]]:
    """The key fragments (first, last) of a summary of at most ``budget_frames`` frames."""
    frags = fragments(shots, max_fragment)
    lengths = [b - a + 1 for a, b in frags]
    values = [float(np.mean(scores[a:b + 1])) * n for (a, b), n in zip(frags, lengths)]
    return [frags[i] for i in knapsack(values, lengths, budget_frames)]


def smooth_crop_path(points_x: Sequence[Optional[float]], frame_w: int, crop_w: int, lam: float = 400.0,
                     weights: Optional[Sequence[float]] = None) -> np.ndarray:
    """x of the crop window's left edge for every frame: a smooth path keeping ``points_x`` in view.

    ``points_x``: the point of attention per frame (pixels), None where unknown (the path glides through).
    """
    n = len(points_x)
    if n == 0:
        return np.zeros(0)
    half = crop_w / 2.0
    p = np.array([frame_w / 2.0 if v is None else float(v) for v in points_x])
    w = np.array([0.0 if v is None else 1.0 for v in points_x]) if weights is None else np.asarray(weights, float)
    if not w.any():
        w[:] = 1e-3  # nothing known: the centre
    # normal equations of the least-squares problem: (W + lam D2'D2) c = W p
    A = np.diag(w)
    if n >= 3:
        D2 = np.zeros((n - 2, n))
        for i in range(n - 2):
            D2[i, i:i + 3] = (1.0, -2.0, 1.0)
        A = A + lam * D2.T @ D2
    A = A + 1e-9 * np.eye(n)
    c = np.linalg.solve(A, w * p)
    return np.clip(c - half, 0.0, frame_w - crop_w)


def crop_width(frame_w: int, frame_h: int, aspect_w: int, aspect_h: int) -> int:
    """Width of a full-height crop of aspect ``aspect_w:aspect_h`` (at most the frame's width)."""
    return int(min(frame_w, round(frame_h * aspect_w / float(aspect_h))))


def crop_metrics(left_x: np.ndarray, crop_w: int, boxes: Sequence[Optional[Sequence[float]]]) -> Tuple[float, float]:
    """(fraction of frames with a known target whose box lies inside the crop, mean |jerk| in px/frame^3)."""
    inside, known = 0, 0
    for x0, b in zip(left_x, boxes):
        if b is None:
            continue
        known += 1
        if b[0] >= x0 - 0.5 and b[0] + b[2] <= x0 + crop_w + 0.5:
            inside += 1
    jerk = float(np.mean(np.abs(np.diff(left_x, 3)))) if len(left_x) > 3 else 0.0
    return (inside / float(known) if known else 1.0), jerk


def f_score(machine: np.ndarray, users: np.ndarray, mode: str = 'avg') -> float:
    """SumMe/TVSum F-score (%) of a binary per-frame machine summary against user summaries (U x T binary).

    mode 'max' (SumMe: the best-matching user) or 'avg' (TVSum: the mean over users)."""
    machine = np.asarray(machine) > 0
    users = np.atleast_2d(np.asarray(users) > 0)
    if machine.shape[0] != users.shape[1]:
        raise ValueError('machine summary has %d frames, user summaries %d' % (machine.shape[0], users.shape[1]))
    fs = []
    for u in users:
        overlap = float(np.sum(machine & u))
        p = overlap / max(float(machine.sum()), 1e-9)
        r = overlap / max(float(u.sum()), 1e-9)
        fs.append(0.0 if p + r == 0 else 2 * p * r / (p + r) * 100.0)
    if mode == 'max':
        return float(max(fs))
    if mode == 'avg':
        return float(np.mean(fs))
    raise ValueError("mode must be 'max' or 'avg', not %r" % mode)
