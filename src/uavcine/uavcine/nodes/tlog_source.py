"""Replay a recorded MAVLink telemetry log (.tlog) as the vehicle topics, so flights can be re-run offline.

A .tlog is what MAVProxy, Mission Planner and QGroundControl record: each packet
preceded by its arrival time (8-byte big-endian microseconds since 1970). This
source node reads it lazily with pymavlink and, from a timer, publishes what the
live MAVLink bridge would have published when each packet arrived: /vehicle/fix,
/vehicle/imu, /vehicle/gimbal, /vehicle/agl (same conversions, mavlink_telemetry).
Stamps are the autopilot's time_boot_ms mapped onto host time with the recorded
arrival times (the receipt envelope of core.timesync).

``align: start`` plays the log's first packet at the host's start (any run);
``align: log_time`` plays each packet at its recorded wall time, for runs whose
clock starts at the log (``OfflineHost(start_ns=tlog_time_range(path)[0])``) or at
a camera bag of the same flight. At the end of the log the node asks the host to
stop (``shutdown_at_end``). A graph file::

    nodes:
      - node: tlog
        params: {path: flight.tlog}

``uavcine run --graph that.yaml --out runs/flight.mcap`` then writes the vehicle
topics to a rosbag2. Python 3.8.
"""
import os
from dataclasses import dataclass
from typing import Optional, Tuple

from . import msgs, vehicle
from .base import Node, ParamError, param
from ..core.mavlink_telemetry import MavlinkTelemetry
from .mavlink_common import TelemetryParams, load_mavutil, telemetry_config

TOPICS = vehicle.TELEMETRY


_FILE = 'the log is opened and its replay timer created when the node starts'


@dataclass
class TlogSourceParams(TelemetryParams):
    path: str = param('', 'Telemetry log to replay (.tlog: 8-byte big-endian microseconds before each packet)',
        read_only=_FILE)
    period_s: float = param(0.01, 'Publish the packets that are due every this many seconds of host time',
                            min=0.001, max=1.0,
        read_only=_FILE)
    align: str = param('start', "'start': the log's first packet plays at the host's start; 'log_time': at "
                                "its recorded time (start the host there)", choices=['start', 'log_time'])
    skip_s: float = param(0.0, 'Skip this many seconds at the beginning of the log', min=0.0)
    shutdown_at_end: bool = param(True, 'Ask the host to stop at the end of the log')


def _open_log(path: str, dialect: str):
    mavutil = load_mavutil(dialect)
    return mavutil, mavutil.mavlogfile(path, robust_parsing=True, notimestamps=False)


def _log_ns(msg) -> int:
    return int(round(msg._timestamp * 1e6)) * 1000  # recorded with microsecond resolution


def tlog_time_range(path: str, dialect: str = 'ardupilotmega') -> Tuple[Optional[int], Optional[int]]:
    """(first, last) recorded arrival time of a .tlog in ns since 1970 (None, None if it holds no packet)."""
    _, log = _open_log(path, dialect)
    first = last = None
    try:
        while True:
            m = log.recv_msg()
            if m is None:
                break
            if m.get_type() == 'BAD_DATA':
                continue
            t = _log_ns(m)
            first = t if first is None else first
            last = t
    finally:
        log.close()
    return first, last


class TlogSourceNode(Node):
    NAME = 'tlog'
    Params = TlogSourceParams

    def setup(self):
        p = self.p
        if not p.path:
            raise ParamError('parameter path: give the .tlog file to replay')
        if not os.path.isfile(p.path):
            raise ParamError('parameter path: no such file: %s' % p.path)
        self.mavutil, self.log = _open_log(p.path, p.dialect)
        self.tel = MavlinkTelemetry(telemetry_config(p), self.mavutil.mavlink)
        self.pubs = vehicle.telemetry_publishers(self)
        self.counts = {'packets': 0, 'bad_data': 0, 'published': 0}
        self.first_log_ns = None  # type: Optional[int]
        self.anchor_ns = None  # type: Optional[int]  host time of first_log_ns
        self.pending = None
        self.done = False
        self.create_timer(p.period_s, self.tick)

    def _next_packet(self):
        while True:
            try:
                m = self.log.recv_msg()
            except Exception as exc:  # a damaged log ends the replay, it does not crash the run
                self.warn('cannot read further in %s: %s: %s' % (self.p.path, type(exc).__name__, exc))
                return None
            if m is None:
                return None
            if m.get_type() == 'BAD_DATA':
                self.counts['bad_data'] += 1
                self.warn_throttled('bad_data', 'skipping damaged bytes in %s' % self.p.path)
                continue
            t = _log_ns(m)
            if self.first_log_ns is None:
                self.first_log_ns = t
            if t < self.first_log_ns + self.p.skip_s * 1e9:
                continue
            return m

    def _host_time(self, log_ns: int) -> int:
        if self.p.align == 'log_time':
            return log_ns
        return self.anchor_ns + (log_ns - self.first_log_ns) - int(self.p.skip_s * 1e9)

    def configure(self):
        """The telemetry conversion's settings from the parameters (a change at run time applies at once)."""
        if hasattr(self, 'tel'):
            self.tel.cfg = telemetry_config(self.p)

    def tick(self):
        if self.done:
            return
        now = self.now_ns()
        if self.pending is None:
            self.pending = self._next_packet()
            if self.pending is None:
                return self._end()
        if self.anchor_ns is None:
            self.anchor_ns = now
            if self.p.align == 'log_time' and now - _log_ns(self.pending) > 1e9:
                self.warn('the host clock is %.1f s past the start of %s: the log plays at once up to now '
                          '(start the host at tlog_time_range(path)[0])' % ((now - _log_ns(self.pending)) / 1e9,
                                                                             self.p.path))
        while self.pending is not None:
            t = self._host_time(_log_ns(self.pending))
            if t > now:
                return
            self.counts['packets'] += 1
            try:
                outputs = self.tel.handle(self.pending, t)
            except (ValueError, TypeError, AttributeError, ArithmeticError) as exc:
                self.warn_throttled('bad_fields', 'dropping %s: %s' % (self.pending.get_type(), exc))
                outputs = []
            for o in outputs:
                topic = vehicle.TELEMETRY[o.kind]
                fields = dict(o.fields)
                fields['header'] = msgs.header(self, o.stamp_ns, topic.frame_id)
                self.pubs[o.kind].publish(self.new(topic.msg_type, **fields))
                self.counts['published'] += 1
            self.pending = self._next_packet()
        self._end()

    def _end(self):
        self.done = True
        self.info('end of %s: %d packets, %d messages published, %d damaged records skipped'
                  % (self.p.path, self.counts['packets'], self.counts['published'], self.counts['bad_data']))
        if self.p.shutdown_at_end:
            self.request_shutdown('end of %s' % self.p.path)

    def close(self):
        if getattr(self, 'log', None) is not None:
            self.log.close()
            self.log = None
