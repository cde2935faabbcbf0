"""Skeleton processing of MMGR (seed §3.8, eq. 14: P~_i = joint_proc(P_i)).

Input skeletons are OpenPose COCO-18 keypoints in pixels, shape (T, 18, 2); OpenPose writes
(0, 0) for a joint it did not find, and we also accept NaN as missing. ``joint_proc`` keeps
the M = 7 upper-body joints of the paper (head, shoulders, elbows, wrists; the nose stands
for the head), fills missing joints by linear interpolation in time (nearest valid frame at
the ends; a joint never seen sits at the body centre), and normalises the sequence so it is
invariant to where the person stands in the image and how large they appear:

    p~ = (p - c) / s,   c = median shoulder midpoint over the sequence,
                        s = median shoulder width over the sequence

(fallbacks when the shoulders are not both seen: the median of the seen joints for c, and
twice the median head-to-shoulder distance, then the spread of the seen joints, for s).
Image y stays downwards.

Mirroring (left-handed versions, augmentation) negates x and swaps the left and right joints;
gestures whose meaning is a side (``MIRROR_LABELS``) change label with it.

Python 3.8, numpy only.
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

#: UAV-GESTURE's 13 gestures, in the dataset's (alphabetical) order.
UAV_GESTURE_LABELS = ('all_clear', 'have_command', 'hover', 'land', 'landing_direction', 'move_ahead',
                      'move_downward', 'move_to_left', 'move_to_right', 'move_upward', 'not_clear',
                      'slow_down', 'wave_off')
#: OpenPose COCO-18 joint names, in order.
COCO18 = ('nose', 'neck', 'r_shoulder', 'r_elbow', 'r_wrist', 'l_shoulder', 'l_elbow', 'l_wrist',
          'r_hip', 'r_knee', 'r_ankle', 'l_hip', 'l_knee', 'l_ankle', 'r_eye', 'l_eye', 'r_ear', 'l_ear')
#: The M = 7 joints of the paper, as indices into COCO-18: head (nose), right arm, left arm.
UPPER7 = (0, 2, 3, 4, 5, 6, 7)
UPPER7_NAMES = tuple(COCO18[i] for i in UPPER7)
M = len(UPPER7)
#: Indices into UPPER7.
HEAD, R_SHOULDER, R_ELBOW, R_WRIST, L_SHOULDER, L_ELBOW, L_WRIST = range(7)
#: UPPER7 order after a left-right mirror.
MIRROR7 = (HEAD, L_SHOULDER, L_ELBOW, L_WRIST, R_SHOULDER, R_ELBOW, R_WRIST)
#: COCO-18 order after a left-right mirror.
MIRROR18 = (0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 15, 14, 17, 16)
#: UAV-GESTURE gestures whose meaning is a side: a mirrored 'move_to_left' signals 'move_to_right'.
MIRROR_LABELS = {'move_to_left': 'move_to_right', 'move_to_right': 'move_to_left'}


def valid_mask(points: np.ndarray) -> np.ndarray:
    """(..., 2) keypoints -> (...) bool: seen (not OpenPose's (0, 0), not NaN)."""
    p = np.asarray(points, dtype=np.float64)
    return np.isfinite(p).all(-1) & ~(p == 0.0).all(-1)


def select_upper7(points18: np.ndarray) -> np.ndarray:
    """(T, 18, 2) COCO-18 -> (T, 7, 2) the paper's joints."""
    p = np.asarray(points18, dtype=np.float64)
    if p.ndim != 3 or p.shape[1] != 18 or p.shape[2] != 2:
        raise ValueError('expected (T, 18, 2) COCO-18 keypoints, got shape %s' % (p.shape,))
    return p[:, UPPER7, :]


def fill_missing(points: np.ndarray, valid: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Linear interpolation in time of each joint's missing frames (nearest at the ends).

    Returns (filled (T, J, 2), seen (J,) bool: the joint was seen at least once). A joint never
    seen is left NaN for ``normalise`` to place at the centre.
    """
    p = np.array(points, dtype=np.float64)
    T, J = p.shape[:2]
    t = np.arange(T)
    seen = valid.any(0)
    for j in range(J):
        v = valid[:, j]
        if v.all():
            continue
        if not v.any():
            p[:, j] = np.nan
            continue
        for d in range(2):
            p[:, j, d] = np.interp(t, t[v], p[v, j, d])  # np.interp holds the end values outside
    return p, seen


def centre_and_scale(points7: np.ndarray, valid7: np.ndarray) -> Tuple[np.ndarray, float]:
    """The per-sequence centre c (2,) and scale s of the normalisation (see the module doc)."""
    both = valid7[:, R_SHOULDER] & valid7[:, L_SHOULDER]
    if both.any():
        rs, ls = points7[both, R_SHOULDER], points7[both, L_SHOULDER]
        c = np.median(0.5 * (rs + ls), axis=0)
        s = float(np.median(np.linalg.norm(rs - ls, axis=-1)))
        head = both & valid7[:, HEAD]
        if head.any():  # a person seen side-on has narrow shoulders: the head distance bounds the scale
            hd = np.linalg.norm(points7[head, HEAD] - 0.5 * (points7[head, R_SHOULDER] + points7[head, L_SHOULDER]), axis=-1)
            s = max(s, float(np.median(hd)))
    elif valid7.any():
        pts = points7[valid7]
        c = np.median(pts, axis=0)
        s = 0.0
    else:
        return np.zeros(2), 1.0
    if s <= 1e-6:
        pts = points7[valid7]
        s = float(np.sqrt(((pts - c) ** 2).sum(-1).mean())) if len(pts) else 1.0
    return c, max(s, 1e-6)


def joint_proc(points18: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Eq. 14 over a sequence: (T, 18, 2) pixels -> (T, 7, 2) normalised joints and (T, 7) seen mask."""
    p7 = select_upper7(points18)
    return normalise(p7, valid_mask(p7))


def normalise(points7: np.ndarray, valid7: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(T, 7, 2) pixels with a (T, 7) seen mask -> normalised, missing joints filled; and the mask."""
    c, s = centre_and_scale(points7, valid7)
    filled, seen = fill_missing(points7, valid7)
    out = (filled - c) / s
    out[:, ~seen] = 0.0
    return out.astype(np.float32), valid7


def mirror(points7: np.ndarray) -> np.ndarray:
    """Left-right mirror of normalised (…, 7, 2) joints: x -> -x and the arms swapped."""
    p = np.array(points7)[..., MIRROR7, :]
    p[..., 0] = -p[..., 0]
    return p


def mirror_label(label: str) -> str:
    return MIRROR_LABELS.get(label, label)


def sample_indices(length: int, frames: int, start: int = 0, stop: Optional[int] = None,
                   rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """``frames`` indices spread evenly over [start, stop): the centre of each of ``frames`` equal
    segments, or (with ``rng``) a random frame in each (TSN-style sampling). Works when
    stop - start < frames (indices repeat)."""
    stop = length if stop is None else stop
    if not 0 <= start < stop <= length:
        raise ValueError('bad window [%d, %d) of a %d-frame sequence' % (start, stop, length))
    edges = np.linspace(start, stop, frames + 1)
    if rng is None:
        idx = 0.5 * (edges[:-1] + edges[1:])
    else:
        idx = edges[:-1] + rng.random(frames) * (edges[1:] - edges[:-1])
    return np.clip(np.floor(idx).astype(np.int64), start, stop - 1)


def local_velocity(points7: np.ndarray, times_s: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Central-difference velocity (normalised units per second) of the full-rate sequence at frames ``idx``.

    Sampling a few frames over a long window aliases fast repeated motions (a wave, a
    slow-down pat); the velocity taken at full rate around each sampled frame keeps them.
    """
    T = len(points7)
    lo, hi = np.clip(idx - 1, 0, T - 1), np.clip(idx + 1, 0, T - 1)
    dt = np.asarray(times_s, np.float64)[hi] - np.asarray(times_s, np.float64)[lo]
    dt = np.where(dt > 0, dt, 1.0)
    return ((points7[hi] - points7[lo]) / dt[:, None, None]).astype(np.float32)


def frame_centred(points7: np.ndarray) -> np.ndarray:
    """(T, 7, 2) normalised joints -> the same with each frame's shoulder midpoint moved to the origin.

    The per-sequence normalisation leaves the whole body's drift in the image (a hovering drone
    sways, the person steps); centring every frame keeps only the arms' motion about the body.
    """
    p = np.asarray(points7, dtype=np.float32)
    return p - 0.5 * (p[:, R_SHOULDER:R_SHOULDER + 1] + p[:, L_SHOULDER:L_SHOULDER + 1])


def joint_distances(points7: np.ndarray) -> np.ndarray:
    """(T, 7, 2) -> (T, 21): DD-Net's Joint Collection Distances (its eq. 1), the distance of every joint
    pair in each frame (translation and rotation invariant)."""
    p = np.asarray(points7, dtype=np.float32)
    i, j = np.triu_indices(M, k=1)
    return np.linalg.norm(p[:, i] - p[:, j], axis=-1).astype(np.float32)


#: Size of ``arm_pose``'s per-frame features: per arm (right, left) the upper arm's and the forearm's unit
#: vectors and the cosine of the elbow angle (5 each), then the head's offset from the shoulder midpoint (2).
ARM_POSE_DIM = 12


def arm_pose(points7: np.ndarray) -> np.ndarray:
    """(T, 7, 2) normalised joints -> (T, 12): how each arm is held, independent of its length and of where the
    body is, and where the head points, frame by frame.

    Per arm (right, then left): the upper arm's direction (unit vector shoulder -> elbow), the forearm's
    (elbow -> wrist), and the cosine of the elbow's inner angle; then the head (nose) relative to that frame's
    shoulder midpoint, in that frame's shoulder widths (at least 0.25 of the sequence's), a proxy for the head
    turning toward the signalling hand. All are functions of the paper's 7 joints (issue #16's feature aimed at
    all_clear vs not_clear: the same raised right arm, told apart by the thumb, which COCO-18 has no joint for;
    the elbow's bend, the forearm's tilt at the top of the motion and the head's turn are what the joints
    keep of it). A limb of zero length gives a zero vector."""
    p = np.asarray(points7, dtype=np.float32)

    def unit(v):
        n = np.linalg.norm(v, axis=-1, keepdims=True)
        return np.where(n > 1e-6, v / np.maximum(n, 1e-6), 0.0)

    parts = []
    for sh, el, wr in ((R_SHOULDER, R_ELBOW, R_WRIST), (L_SHOULDER, L_ELBOW, L_WRIST)):
        upper, fore = unit(p[:, el] - p[:, sh]), unit(p[:, wr] - p[:, el])
        parts += [upper, fore, -(upper * fore).sum(-1, keepdims=True)]   # cos of the inner angle at the elbow
    mid = 0.5 * (p[:, R_SHOULDER] + p[:, L_SHOULDER])
    width = np.maximum(np.linalg.norm(p[:, R_SHOULDER] - p[:, L_SHOULDER], axis=-1, keepdims=True), 0.25)
    parts.append((p[:, HEAD] - mid) / width)
    return np.concatenate(parts, axis=1).astype(np.float32)


def skeleton_features(points7: np.ndarray, velocity: Optional[np.ndarray] = None,
                      distances: bool = False, angles: bool = False) -> np.ndarray:
    """(T, 7, 2) normalised joints [, their (T, 7, 2) velocities] [, their pairwise distances] [, ``arm_pose``]
    -> (T, 14 [+ 14] [+ 21] [+ 12]) per-frame features."""
    p = np.asarray(points7, dtype=np.float32)
    parts = [p.reshape(len(p), -1)]
    if velocity is not None:
        parts.append(np.asarray(velocity, np.float32).reshape(len(p), -1))
    if distances:
        parts.append(joint_distances(p))
    if angles:
        parts.append(arm_pose(p))
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def label_maps(labels: Sequence[str]) -> Tuple[Dict[str, int], Dict[int, str]]:
    to_i = {name: i for i, name in enumerate(labels)}
    return to_i, {i: name for name, i in to_i.items()}
