"""Is the vehicle's telemetry plausible enough to point the camera from? A GPS jump and frozen values.

Two checks on the vehicle's own position and attitude, for a bridge that commands the autopilot:

* a GPS jump: the position moved faster than ``max_speed_mps`` between two fixes (by their stamps);
  pointing is refused for ``hold_s`` after it;
* frozen telemetry: position and attitude bit-for-bit unchanged for ``frozen_s`` while messages keep
  coming (a stuck estimator or a replaying link); a live estimator's values always move a little.

Plain Python (pymap3d for the distance); the caller says when things arrived. Python 3.8.
"""
import math
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import pymap3d


@dataclass
class PlausibilityConfig:
    max_speed_mps: float = 60.0   # 0 = no jump check
    hold_s: float = 2.0
    frozen_s: float = 5.0         # 0 = no frozen check
    outage_s: float = 1.0         # a gap longer than this restarts the frozen clock (the values were not streaming)


class TelemetryPlausibility:
    def __init__(self, cfg: PlausibilityConfig):
        self.cfg = cfg
        self.last_fix = None  # type: Optional[Tuple[int, float, float]]  (stamp ns, lat, lon)
        self.jump_until_ns = None  # type: Optional[int]
        self.jumps = 0
        self.last_jump = (0.0, 0.0)  # (m, s) of the last jump, for the warning
        self.values = {}  # type: Dict[str, tuple]
        self.unchanged_since = None  # type: Optional[int]
        self.last_ns = None  # type: Optional[int]

    def on_fix(self, stamp_ns: int, lat: float, lon: float, alt: float, now_ns: int) -> bool:
        """A new position; True if it is a jump."""
        jumped = False
        last, self.last_fix = self.last_fix, (stamp_ns, lat, lon)
        if last is not None and self.cfg.max_speed_mps > 0:
            dt = max((stamp_ns - last[0]) / 1e9, 0.05)  # stamps 0 apart (a burst) count as 50 ms
            e, n, _ = pymap3d.geodetic2enu(lat, lon, 0.0, last[1], last[2], 0.0)
            d = math.hypot(e, n)
            if d / dt > self.cfg.max_speed_mps:
                self.jumps += 1
                self.last_jump = (d, dt)
                self.jump_until_ns = now_ns + int(self.cfg.hold_s * 1e9)
                jumped = True
        self._values('fix', (lat, lon, alt), now_ns)
        return jumped

    def on_attitude(self, quat_wxyz: tuple, now_ns: int) -> None:
        self._values('imu', tuple(quat_wxyz), now_ns)

    def _values(self, kind: str, values: tuple, now_ns: int) -> None:
        if self.last_ns is not None and now_ns - self.last_ns > self.cfg.outage_s * 1e9:
            self.values, self.unchanged_since = {}, None
        self.last_ns = now_ns
        if self.values.get(kind) != values or self.unchanged_since is None:
            self.values[kind] = values
            self.unchanged_since = now_ns

    def refusal(self, now_ns: int) -> str:
        """'gps_jump', 'frozen_telemetry' or '' (plausible)."""
        if self.jump_until_ns is not None and now_ns < self.jump_until_ns:
            return 'gps_jump'
        if self.cfg.frozen_s > 0 and len(self.values) == 2 and self.unchanged_since is not None \
                and now_ns - self.unchanged_since > self.cfg.frozen_s * 1e9:
            return 'frozen_telemetry'
        return ''
