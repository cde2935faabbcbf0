"""Pairing telemetry with an image stamp: a buffer of (stamp, value) samples per topic.

The geo node pairs each track with the vehicle's fix, attitude, gimbal and AGL at the
image's stamp through it, and the geopositioning evaluation pairs the simulator's own
streams the same way (``eval/geo_eval.py``): one code for both. No messages, no clock.
Python 3.8.
"""
from collections import deque
from typing import Deque, Optional, Tuple  # noqa: F401  (Deque: a type comment)

import numpy as np


class TelemetryBuffer:
    """The last samples of one telemetry topic: (stamp_ns, value), kept sorted by stamp."""

    def __init__(self, maxlen: int = 400):
        self.items = deque(maxlen=maxlen)  # type: Deque[Tuple[int, object]]

    def add(self, t_ns: int, value) -> None:
        if self.items and t_ns < self.items[-1][0]:  # out of order: keep the deque sorted
            items = sorted(list(self.items) + [(t_ns, value)], key=lambda e: e[0])
            self.items.clear()
            self.items.extend(items)
        else:
            self.items.append((t_ns, value))

    def nearest(self, t_ns: int) -> Optional[Tuple[int, object]]:
        if not self.items:
            return None
        return min(self.items, key=lambda e: abs(e[0] - t_ns))

    def fit(self, t_ns: int, window_ns: int, key=lambda v: v,
            at_ns: Optional[int] = None) -> Optional[Tuple[int, np.ndarray]]:
        """(stamp of the nearest sample, value at t_ns) from a straight line fitted (least squares) to
        the samples within window_ns of t_ns. GPS fixes come late (latency) and seldom (5 Hz), so the
        image's stamp is usually past the newest one; extrapolating from the last two alone would
        double their white noise (2.2x at 0.15 s past 5 Hz fixes), a line through five keeps it ~1x.
        ``at_ns``: the same line (the samples around t_ns) evaluated there instead (camera pointing
        carries the fixes geo fitted at an image's stamp to its command time)."""
        got = self.nearest(t_ns)
        if got is None:
            return None
        at = t_ns if at_ns is None else at_ns
        near = [(t, np.asarray(key(v), dtype=float)) for t, v in self.items if abs(t - t_ns) <= window_ns]
        if len(near) < 3:
            return self.interpolate(at, key)
        ts = np.array([(t - t_ns) * 1e-9 for t, _ in near])
        vs = np.array([v for _, v in near])
        A = np.stack([np.ones_like(ts), ts], axis=1)
        coef, *_ = np.linalg.lstsq(A, vs, rcond=None)
        return got[0], coef[0] + coef[1] * ((at - t_ns) * 1e-9)

    def interpolate(self, t_ns: int, key=lambda v: v, extrapolate: bool = True,
                    angles: bool = False) -> Optional[Tuple[int, np.ndarray]]:
        """(stamp of the nearest sample, value at t_ns): linear between the samples around t_ns, or
        extrapolated from the last two after the newest one (a GPS fix arrives late and seldom: at
        6 m/s, 0.2 s of latency is 1.2 m). Before the oldest sample: the oldest; after the newest
        without ``extrapolate``: the newest. ``angles``: values are angles (rad), interpolated
        across the +-pi wrap. (Attitude at 50 Hz is up to 10 ms from an image: at the 75 deg/s a
        gusty multirotor rolls, that is 0.75 deg, more than the sensor's noise.)"""
        if not self.items:
            return None
        items = self.items
        if len(items) == 1 or t_ns <= items[0][0] or (not extrapolate and t_ns >= items[-1][0]):
            t0, v0 = items[0] if t_ns <= items[0][0] else items[-1]
            return t0, np.asarray(key(v0), dtype=float)
        if t_ns >= items[-1][0]:
            (ta, va), (tb, vb) = items[-2], items[-1]
        else:
            k = next(i for i in range(1, len(items)) if items[i][0] >= t_ns)
            (ta, va), (tb, vb) = items[k - 1], items[k]
        a, b = np.asarray(key(va), dtype=float), np.asarray(key(vb), dtype=float)
        if angles:
            b = a + (b - a + np.pi) % (2.0 * np.pi) - np.pi
        if tb <= ta:
            return tb, b
        w = (t_ns - ta) / float(tb - ta)
        near = ta if abs(t_ns - ta) < abs(t_ns - tb) else tb
        return near, a + w * (b - a)
