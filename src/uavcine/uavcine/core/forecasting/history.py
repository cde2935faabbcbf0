"""Per-agent position histories for a forecaster: checks on the way in, resampling to the model's rate.

A forecaster takes each agent's last ``n`` positions at its own step ``dt`` (SMEMO: 8 at 0.4 s) ending at
one common present. Agents are seen at whatever rate their source has (GeoTarget at the image rate,
simulator truth at each image), so each history is kept as timestamped samples and resampled by linear
interpolation (numpy.interp) at ``present - (n-1-i) dt``. Bad input gives a reason, never an exception:
NaN positions, time going backwards, an agent that has vanished (no sample near the present), a history
shorter than ``(n-1) dt``. Plain numpy; no messages, files or threads. Python 3.8.
"""
import math
from collections import deque
from typing import Deque, Dict, Optional, Tuple

import numpy as np


class AgentHistory:
    """Timestamped 2-D positions of one agent (seconds, metres in a local ENU frame)."""

    def __init__(self, class_id: str, keep_s: float = 10.0):
        self.class_id = class_id
        self.keep_s = keep_s
        self.samples = deque()  # type: Deque[Tuple[float, float, float]]

    def add(self, t_s: float, x: float, y: float) -> Optional[str]:
        """Append a sample; return why it was refused (None when accepted)."""
        if not all(math.isfinite(v) for v in (t_s, x, y)):
            return 'non-finite position or stamp'
        if self.samples and t_s <= self.samples[-1][0]:
            if t_s == self.samples[-1][0]:
                return 'repeated stamp'
            return 'time went backwards (%.3f s < %.3f s)' % (t_s, self.samples[-1][0])
        self.samples.append((t_s, x, y))
        while self.samples and self.samples[0][0] < t_s - self.keep_s:
            self.samples.popleft()
        return None

    def last_t(self) -> Optional[float]:
        return self.samples[-1][0] if self.samples else None

    def resample(self, present_s: float, n: int, dt: float, max_gap_s: float) -> Tuple[Optional[np.ndarray], str]:
        """(n, 2) positions at present - (n-1-i) dt, or (None, reason)."""
        if not self.samples:
            return None, 'no samples'
        t = np.array([s[0] for s in self.samples])
        if present_s - t[-1] > max_gap_s:
            return None, 'vanished: last seen %.2f s before the present' % (present_s - t[-1])
        start = present_s - (n - 1) * dt
        if t[0] > start + 1e-6:
            return None, 'history too short: %.2f s of the %.2f s needed' % (max(t[-1] - t[0], 0.0), (n - 1) * dt)
        gaps = np.diff(t)
        inside = (t[1:] >= start) & (t[:-1] <= present_s)
        if gaps.size and np.any(gaps[inside] > max_gap_s):
            return None, 'gap of %.2f s in the history' % float(gaps[inside].max())
        times = start + dt * np.arange(n)
        xy = np.array([[s[1], s[2]] for s in self.samples])
        out = np.stack([np.interp(times, t, xy[:, 0]), np.interp(times, t, xy[:, 1])], axis=1)
        if present_s > t[-1] and len(t) >= 2:   # a little past the last sample: extrapolate at its velocity
            v = (xy[-1] - xy[-2]) / max(t[-1] - t[-2], 1e-6)
            late = times > t[-1]
            out[late] = xy[-1] + np.outer(times[late] - t[-1], v)
        return out, 'ok'


class Histories:
    """All agents' histories, by id, and the scene at one present."""

    def __init__(self, keep_s: float = 10.0):
        self.keep_s = keep_s
        self.agents = {}  # type: Dict[str, AgentHistory]

    def add(self, agent_id: str, class_id: str, t_s: float, x: float, y: float) -> Optional[str]:
        h = self.agents.get(agent_id)
        if h is None:
            h = self.agents[agent_id] = AgentHistory(class_id, self.keep_s)
        h.class_id = class_id
        return h.add(t_s, x, y)

    def reset(self, agent_id: str) -> None:
        self.agents.pop(agent_id, None)

    def forget_older_than(self, t_s: float) -> None:
        """Drop agents whose last sample is older than ``t_s`` (they left long ago)."""
        for k in [k for k, h in self.agents.items() if h.last_t() is not None and h.last_t() < t_s]:
            del self.agents[k]
