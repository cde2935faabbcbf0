"""Map a remote clock (autopilot boot time, simulator clock) onto the host's clock.

Two estimators of ``offset = host_time - remote_time``:

* round trip (MAVLink TIMESYNC, as in MAVROS/PX4): the host sends its time ts1,
  the autopilot answers with its own time tc1; when the answer comes back at
  host time t2, tc1 happened near (ts1 + t2) / 2, so offset = (ts1 + t2)/2 - tc1,
  with an error below half the round trip. Smoothed by an exponential average;
  answers with a long round trip are ignored.
* one-way receipts: each message stamped with remote time r that arrives at
  host time t gives t - r = offset + latency >= offset. The lower envelope of
  these samples estimates the offset (latency's minimum taken as zero); the
  envelope rises slowly (``drift_ppm``) so clock drift between the two crystals
  is followed.

The round-trip estimate is used once it exists ('auto'). A remote clock that
jumps backwards (autopilot reboot: ``resets``) or forwards (from one message to
the next it advanced ``jump_ns`` more than the host's: ``forward_jumps``) resets both. Mapped stamps never lie in the
host's future. Pure arithmetic on integers (ns); no clock is read here.
Python 3.8.
"""
from dataclasses import dataclass
from typing import Optional


@dataclass
class TimeSyncConfig:
    mode: str = 'auto'               # 'auto' | 'timesync' | 'receipt'
    max_rtt_ns: int = 200_000_000    # ignore TIMESYNC answers slower than this
    alpha: float = 0.2               # exponential smoothing of round-trip samples
    jump_ns: int = 500_000_000       # a round-trip sample this far from the estimate restarts it
    drift_ppm: float = 100.0         # how fast the receipt envelope may rise (relative clock drift)
    reboot_ns: int = 1_000_000_000   # remote time going back by more than this = remote restarted


class TimeMapper:
    """remote ns -> host ns; feed it with ``on_timesync`` / ``on_receipt``, ask ``to_host``."""

    def __init__(self, cfg: Optional[TimeSyncConfig] = None):
        self.cfg = cfg or TimeSyncConfig()
        if self.cfg.mode not in ('auto', 'timesync', 'receipt'):
            raise ValueError('time sync mode must be auto, timesync or receipt, not %r' % self.cfg.mode)
        self.reset()
        self.resets = 0
        self.forward_jumps = 0

    @property
    def jumps(self) -> int:
        """Clock jumps seen: backwards (a reboot) and forwards."""
        return self.resets + self.forward_jumps

    def reset(self) -> None:
        self.rt_offset = None  # type: Optional[float]
        self.rx_offset = None  # type: Optional[int]
        self.rx_last_host = None  # type: Optional[int]
        self.rx_last_remote = None  # type: Optional[int]
        self.last_remote = None  # type: Optional[int]
        self.rtt_ns = None  # type: Optional[int]
        self.timesync_samples = 0

    def _check_reboot(self, remote_ns: int) -> None:
        if self.last_remote is not None and remote_ns < self.last_remote - self.cfg.reboot_ns:
            self.reset()
            self.resets += 1
        self.last_remote = remote_ns if self.last_remote is None else max(self.last_remote, remote_ns)

    def on_receipt(self, remote_ns: int, host_ns: int) -> None:
        """A message stamped ``remote_ns`` by the remote clock was received at ``host_ns``."""
        remote_ns, host_ns = int(remote_ns), int(host_ns)
        self._check_reboot(remote_ns)
        sample = host_ns - remote_ns
        if self.rx_last_host is not None and \
                remote_ns - self.rx_last_remote > host_ns - self.rx_last_host + self.cfg.jump_ns:
            # the remote clock advanced jump_ns more than ours since its last message: it leapt ahead. Measured
            # message to message, not against the envelope, so a host that falls behind (an overloaded offline
            # host paced to the wall clock) or a burst read after a stall is not taken for a jump.
            self.reset()
            self.forward_jumps += 1
            self.last_remote = remote_ns
        self.rx_last_remote = remote_ns
        if self.rx_offset is None:
            self.rx_offset = sample
        else:
            rise = int((host_ns - self.rx_last_host) * self.cfg.drift_ppm * 1e-6) if host_ns > self.rx_last_host else 0
            self.rx_offset = min(self.rx_offset + rise, sample)
        self.rx_last_host = host_ns

    def on_timesync(self, ts1_host_ns: int, tc1_remote_ns: int, host_ns: int) -> bool:
        """A TIMESYNC answer: our request sent at ``ts1_host_ns``, stamped ``tc1_remote_ns`` by the remote,
        back at ``host_ns``. Returns whether it was used."""
        rtt = int(host_ns) - int(ts1_host_ns)
        if rtt < 0 or rtt > self.cfg.max_rtt_ns:
            return False
        self._check_reboot(int(tc1_remote_ns))
        sample = (int(ts1_host_ns) + int(host_ns)) / 2.0 - int(tc1_remote_ns)
        if self.rt_offset is None or abs(sample - self.rt_offset) > self.cfg.jump_ns:
            self.rt_offset = sample
        else:
            self.rt_offset += self.cfg.alpha * (sample - self.rt_offset)
        self.rtt_ns = rtt
        self.timesync_samples += 1
        return True

    @property
    def source(self) -> str:
        """Which estimate ``to_host`` uses now: 'timesync', 'receipt' or 'none'."""
        if self.cfg.mode in ('auto', 'timesync') and self.rt_offset is not None:
            return 'timesync'
        if self.cfg.mode in ('auto', 'receipt') and self.rx_offset is not None:
            return 'receipt'
        return 'none'

    @property
    def offset_ns(self) -> Optional[int]:
        src = self.source
        if src == 'timesync':
            return int(round(self.rt_offset))
        if src == 'receipt':
            return self.rx_offset
        return None

    def to_host(self, remote_ns: int, host_now_ns: int) -> int:
        """Host time of a remote stamp; ``host_now_ns`` when no estimate exists. Never later than now."""
        off = self.offset_ns
        if off is None:
            return int(host_now_ns)
        return min(int(remote_ns) + off, int(host_now_ns))
