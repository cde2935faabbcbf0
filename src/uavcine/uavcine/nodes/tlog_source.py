"""Replay a recorded flight log (.tlog telemetry or DataFlash .bin/.log) as the vehicle topics.

A .tlog is what MAVProxy, Mission Planner and QGroundControl record: what came over
the link, each read preceded by its arrival time (8-byte big-endian microseconds
since 1970). core.tlog splits it into records (also when a recorder wrote single
bytes or split packets, where pymavlink's own ``mavlogfile`` loses its way), and
pymavlink's parser decodes them; damaged packets and unknown message ids are
skipped and counted (/diagnostics). The live bridge's conversions
(mavlink_telemetry) give /vehicle/fix, /vehicle/imu, /vehicle/gimbal, /vehicle/agl,
stamped with the autopilot's time_boot_ms mapped onto the recorded arrival times.

The vehicle: the system with an autopilot HEARTBEAT (not a ground station, gimbal
or companion) that sent the most positions and attitudes (``target_system`` and
``target_component`` force one). A log that yields no position nor attitude says
why in one line (which systems and message types it heard).

DataFlash logs (ArduPilot's onboard .bin, or the text .log) are read with
pymavlink's DFReader: POS (else GPS) -> /vehicle/fix, ATT -> /vehicle/imu, POS
RelHomeAlt (else GPS RelAlt) -> /vehicle/agl, MNT -> /vehicle/gimbal; stamps are
DFReader's own times (from the GPS clock where the log has one). Text logs of
ArduCopter 3.0 (GPS records with a time of week but no week number and no TimeMS
anywhere), which pymavlink's clock cannot date, are read with DFReader's own
interpolation between GPS records counted from the log's first GPS record
(``WeeklessGpsClock``); records before it have no time and are skipped, counted.

Time: ``align: log_time`` (default) plays each message at its recorded time; the
node tells the host where that starts (``start_time_ns``), so a run of the log
alone keeps the log's own time and lines up with a video of the same flight.
``align: start`` plays the log from whatever time the host starts at. At the end
of the log the node asks the host to stop (``shutdown_at_end``). A graph file::

    nodes:
      - node: tlog
        params: {path: flight.tlog}

``uavcine run --graph that.yaml --out runs/flight.mcap`` writes the vehicle topics
to a rosbag2. Python 3.8.
"""
import math
import mmap
import os
from collections import Counter
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from ..core.ned_enu import R_from_ned_euler, gimbal_euler_frd, gimbal_in_body, quat_wxyz
from ..core.tlog import split_tlog
from . import msgs, vehicle
from ..core.mavlink_telemetry import (COV_APPROXIMATED, COV_UNKNOWN, RANGE_INFRARED, SERVICE_GPS, STATUS_FIX,
                                      STATUS_NO_FIX, MavlinkTelemetry, Output)
from .base import RELIABLE, Node, ParamError, param
from .diagnostics import OK as DIAG_OK
from .diagnostics import WARN as DIAG_WARN
from .diagnostics import diagnostic_array, diagnostic_status
from .mavlink_common import TelemetryParams, load_mavutil, telemetry_config

TOPICS = vehicle.TELEMETRY


_FILE = 'the log is opened and its replay timer created when the node starts'

DATAFLASH_SUFFIXES = ('.bin', '.log')
POSITION_TYPES = ('GLOBAL_POSITION_INT', 'ATTITUDE')


@dataclass
class TlogSourceParams(TelemetryParams):
    path: str = param('', 'Flight log to replay: a .tlog (telemetry), or an ArduPilot DataFlash .bin/.log',
                      read_only=_FILE)
    target_component: int = param(0, "MAVLink component id of the vehicle's autopilot; 0 = any", min=0, max=255,
                                  read_only=_FILE)
    period_s: float = param(0.01, 'Publish the messages that are due every this many seconds of host time',
                            min=0.001, max=1.0, read_only=_FILE)
    align: str = param('log_time', "'log_time': each message at its recorded time (the host starts at the log's "
                                   "start unless a bag or another source sets it); 'start': the log's first "
                                   "message at the host's start", choices=['log_time', 'start'], read_only=_FILE)
    skip_s: float = param(0.0, 'Skip this many seconds at the beginning of the log', min=0.0)
    shutdown_at_end: bool = param(True, 'Ask the host to stop at the end of the log')
    diagnostics_period_s: float = param(1.0, 'Publish /diagnostics (records read, damaged, unknown ids) this '
                                             'often, s of host time', min=0.05)


def is_dataflash(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in DATAFLASH_SUFFIXES


# ---------------------------------------------------------------------------- .tlog reading
class TlogStream:
    """The messages of a .tlog in order: (arrival ns since 1970, pymavlink message); damage counted in ``counts``."""

    def __init__(self, path: str, dialect: str = 'ardupilotmega'):
        self.path = path
        self.mavlink = load_mavutil(dialect).mavlink
        self.counts = Counter()  # type: Counter

    def __iter__(self) -> Iterator[Tuple[int, object]]:
        parser = self.mavlink.MAVLink(None)
        parser.robust_parsing = True
        with open(self.path, 'rb') as f:
            if os.fstat(f.fileno()).st_size == 0:
                return
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            try:
                for t_us, chunk in split_tlog(data):
                    self.counts['records'] += 1
                    try:
                        out = parser.parse_buffer(chunk) or []
                    except Exception:  # pymavlink raises on some damage even when robust (struct, index errors)
                        self.counts['damaged'] += 1
                        parser = self.mavlink.MAVLink(None)
                        parser.robust_parsing = True
                        continue
                    for m in out:
                        if m.get_type() == 'BAD_DATA':
                            reason = str(getattr(m, 'reason', ''))
                            self.counts['unknown_id' if 'unknown MAVLink message ID' in reason else 'damaged'] += 1
                            continue
                        self.counts['messages'] += 1
                        yield t_us * 1000, m
                if parser.buf_len():  # a packet cut short by the end of the log
                    self.counts['damaged'] += 1
            finally:
                data.close()


def survey_tlog(path: str, dialect: str = 'ardupilotmega') -> Dict[str, object]:
    """What a .tlog holds: per (system, component) the message counts and its HEARTBEAT (type, autopilot)."""
    stream = TlogStream(path, dialect)
    by_src = {}  # type: Dict[Tuple[int, int], Counter]
    heartbeats = {}  # type: Dict[Tuple[int, int], Tuple[int, int]]
    first = last = None
    for t, m in stream:
        src = (m.get_srcSystem(), m.get_srcComponent())
        by_src.setdefault(src, Counter())[m.get_type()] += 1
        if m.get_type() == 'HEARTBEAT':
            heartbeats[src] = (int(m.type), int(m.autopilot))
        first = t if first is None else first
        last = t
    return {'by_src': by_src, 'heartbeats': heartbeats, 'first_ns': first, 'last_ns': last,
            'counts': dict(stream.counts)}


def choose_vehicle(survey, mavlink, target_system: int = 0, target_component: int = 0) -> Tuple[Optional[int], str]:
    """(system id, reason): the autopilot that sent the most positions/attitudes; None and why if there is none."""
    tel = MavlinkTelemetry(telemetry_config(TelemetryParams()), mavlink)
    by_src, hbs = survey['by_src'], survey['heartbeats']
    score = Counter()  # type: Counter
    for (s, c), counts in by_src.items():
        if target_component and c != target_component:
            continue
        score[s] += sum(counts.get(k, 0) for k in POSITION_TYPES)
    vehicles = set()
    for (s, c), (mtype, autopilot) in hbs.items():
        fake = type('HB', (), {'type': mtype, 'autopilot': autopilot})
        if tel.is_vehicle_heartbeat(fake) and (not target_component or c == target_component):
            vehicles.add(s)
    if target_system:
        if score.get(target_system, 0):
            return target_system, 'forced by target_system'
        return None, 'system %d sent no GLOBAL_POSITION_INT or ATTITUDE%s' % (
            target_system, (' from component %d' % target_component) if target_component else '')
    ranked = sorted(vehicles, key=lambda s: (-score.get(s, 0), s))
    if ranked and score.get(ranked[0], 0):
        return ranked[0], 'the autopilot with the most positions/attitudes (%d)' % score[ranked[0]]
    return None, 'no autopilot sent GLOBAL_POSITION_INT or ATTITUDE'


def describe_survey(survey) -> str:
    """One line: which systems and message types a log holds."""
    parts = []
    for (s, c), counts in sorted(survey['by_src'].items()):
        hb = survey['heartbeats'].get((s, c))
        who = ' (HEARTBEAT type %d autopilot %d)' % hb if hb else ''
        top = ', '.join('%s %d' % kv for kv in counts.most_common(4))
        parts.append('%d/%d%s: %s' % (s, c, who, top))
    dmg = survey['counts'].get('damaged', 0) + survey['counts'].get('unknown_id', 0)
    return 'heard %s%s' % ('; '.join(parts) if parts else 'no MAVLink message',
                           ', %d damaged/unknown packets' % dmg if dmg else '')


def tlog_time_range(path: str, dialect: str = 'ardupilotmega') -> Tuple[Optional[int], Optional[int]]:
    """(first, last) recorded time of a flight log in ns since 1970 (None, None if it holds no message)."""
    if is_dataflash(path):
        first = last = None
        for t, _m in DataflashStream(path):
            first = t if first is None else first
            last = t
        return first, last
    s = survey_tlog(path, dialect)
    return s['first_ns'], s['last_ns']


# ---------------------------------------------------------------------------- DataFlash reading
def _weekless_text_reader(path: str):
    """pymavlink's text DataFlash reader with WeeklessGpsClock (ArduCopter 3.0 logs: GPS Time, no week).

    Written here because pymavlink 2.4.50's GPS clock computes a date from the GPS week and fails with a
    TypeError when the record has none; the rest (parsing, per-type rate interpolation) is DFReader's.
    """
    from pymavlink import DFReader  # lazy: optional dependency (pymavlink, MAVLink nodes only)

    class WeeklessGpsClock(DFReader.DFReaderClock_gps_interpolated):
        """DFReader's GPS-interpolated clock, dated by GPS time of week (ms) relative to the first GPS record."""

        def __init__(self):
            DFReader.DFReaderClock_gps_interpolated.__init__(self)
            self.tow0 = None  # type: Optional[int]
            self.tow = 0  # the GPS record being dated (ms of week)

        def rewind_event(self):
            DFReader.DFReaderClock_gps_interpolated.rewind_event(self)
            self.tow0 = None
            self.timebase = 0.0

        def gps_message_arrived(self, m):
            tow = getattr(m, 'Time', None)
            if not isinstance(tow, int):
                return
            if self.tow0 is None:  # time zero: what came before has no time (skipped by the stream)
                self.tow0, self.timebase, self.counts_since_gps = tow, 0.0, {}
                return
            self.tow = tow
            DFReader.DFReaderClock_gps_interpolated.gps_message_arrived(self, m)  # dates it by _gpsTimeToTime

        def _gpsTimeToTime(self, week, msec):
            # DFReader asks for a date from (week, ms) it could not find; the time of week we kept is the answer
            return ((self.tow - self.tow0) % WEEK_MS) * 1e-3  # a week rollover keeps counting

    class WeeklessTextReader(DFReader.DFReader_text):
        def init_clock(self):
            self.clock = WeeklessGpsClock()

    return WeeklessTextReader(path)


WEEK_MS = 7 * 86400 * 1000


class DataflashStream:
    """Messages of a DataFlash log through pymavlink's DFReader: (ns since 1970 as DFReader dates it, message)."""

    TYPES = ('GPS', 'POS', 'ATT', 'MNT', 'MOUN')

    def __init__(self, path: str):
        self.path = path
        self.counts = Counter()  # type: Counter
        #: None, or why the stamps are not dates (a log pymavlink's clock cannot date)
        self.clock_note = None  # type: Optional[str]
        mavutil = load_mavutil()
        try:
            self.reader = mavutil.mavlink_connection(path)
        except Exception as exc:  # pymavlink fails on old layouts (no TimeMS) with TypeError etc.
            why = '%s: %s' % (type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else '')
            self.reader = None
            if isinstance(exc, TypeError) and not path.lower().endswith('.bin'):
                try:
                    self.reader = _weekless_text_reader(path)
                    self.clock_note = ('GPS records carry a time of week but no week number (pymavlink cannot '
                                       'date them): stamps count seconds from the first GPS record')
                except Exception as exc2:
                    why += '; nor with a time-of-week clock: %s: %s' % (type(exc2).__name__, exc2)
            if self.reader is None:
                raise ParamError('parameter path: pymavlink cannot read the DataFlash log %s (%s)'
                                 % (path, why.replace('\n', ' '))) from None

    def __iter__(self):
        while True:
            try:
                m = self.reader.recv_match(type=list(self.TYPES))
            except Exception:  # a record cut short (a log truncated mid-write) ends the log
                self.counts['damaged'] += 1
                return
            if m is None:
                return
            if self.clock_note is not None and self.reader.clock.tow0 is None:
                self.counts['before_first_gps'] += 1  # no time yet
                continue
            self.counts['messages'] += 1
            yield int(round(m._timestamp * 1e6)) * 1000, m

    def close(self):
        close = getattr(self.reader, 'close', None)
        if close is not None:
            close()


class DataflashTelemetry:
    """DataFlash messages -> the same Outputs as MavlinkTelemetry (NavSatFix, Imu, QuaternionStamped, Range)."""

    def __init__(self, p: TelemetryParams, use_pos: bool):
        self.p = p
        self.use_pos = use_pos  # POS (the EKF's position) when the log has it, else the receiver's GPS
        self.R_enu_base = None  # type: Optional[np.ndarray]
        self.gps_status = STATUS_FIX
        self.hdop = None  # type: Optional[float]
        self.counts = Counter()  # type: Counter

    def handle(self, m, t_ns: int) -> List[Output]:
        fn = getattr(self, '_on_' + m.get_type().lower(), None)
        return (fn(m, t_ns) or []) if fn is not None else []

    def _fix(self, t_ns, lat, lon, alt_msl, rel_alt) -> List[Output]:
        if not all(math.isfinite(v) for v in (lat, lon, alt_msl)) or (lat == 0 and lon == 0):
            self.counts['position_invalid'] += 1
            return []
        cov, cov_type = np.zeros(9), COV_UNKNOWN
        if self.hdop is not None and 0 < self.hdop < 99:
            sh = self.hdop * self.p.gps_uere_m
            cov, cov_type = np.diag([sh * sh, sh * sh, 4 * sh * sh]).reshape(-1), COV_APPROXIMATED
        out = [Output('fix', t_ns, {'status': {'status': self.gps_status, 'service': SERVICE_GPS},
                                    'latitude': float(lat), 'longitude': float(lon),
                                    'altitude': float(alt_msl) + self.p.geoid_undulation_m,
                                    'position_covariance': cov, 'position_covariance_type': cov_type})]
        if rel_alt is not None and math.isfinite(rel_alt) and self.p.agl_source in ('auto', 'relative_alt'):
            out.append(Output('agl', t_ns, {'radiation_type': RANGE_INFRARED, 'field_of_view': 0.0, 'min_range': 0.0,
                                            'max_range': float(self.p.agl_max_m),
                                            'range': float(min(max(rel_alt, 0.0), self.p.agl_max_m))}))
        return out

    def _on_gps(self, m, t_ns):
        status = int(getattr(m, 'Status', 0) or 0)
        self.gps_status = STATUS_FIX if status >= 3 else STATUS_NO_FIX
        hdop = getattr(m, 'HDop', None)
        self.hdop = float(hdop) if hdop is not None else None
        if self.use_pos or status < 3:
            return []
        return self._fix(t_ns, m.Lat, m.Lng, m.Alt, getattr(m, 'RelAlt', None))

    def _on_pos(self, m, t_ns):
        if not self.use_pos:
            return []
        rel = getattr(m, 'RelHomeAlt', None)
        return self._fix(t_ns, m.Lat, m.Lng, m.Alt, rel)

    def _on_att(self, m, t_ns):
        vals = (m.Roll, m.Pitch, m.Yaw)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals):
            self.counts['attitude_not_finite'] += 1
            return []
        self.R_enu_base = R_from_ned_euler(*(math.radians(v) for v in vals))
        q = quat_wxyz(self.R_enu_base)
        var = math.radians(self.p.attitude_sigma_deg) ** 2
        lin_cov = np.zeros(9)
        lin_cov[0] = -1.0  # REP-145: no linear acceleration
        ang_cov = np.zeros(9)
        ang_cov[0] = -1.0  # ATT has no body rates
        return [Output('imu', t_ns, {
            'orientation': {'w': float(q[0]), 'x': float(q[1]), 'y': float(q[2]), 'z': float(q[3])},
            'orientation_covariance': np.diag([var, var, var]).reshape(-1),
            'angular_velocity_covariance': ang_cov, 'linear_acceleration_covariance': lin_cov})]

    def _on_mnt(self, m, t_ns):
        # ArduPilot 4.x MNT: Roll, Pitch against the horizon, YawBF against the vehicle's nose (deg)
        roll, pitch, yaw = getattr(m, 'Roll', None), getattr(m, 'Pitch', None), getattr(m, 'YawBF', None)
        if yaw is None:
            yaw = getattr(m, 'Yaw', None)
        if self.R_enu_base is None or not all(isinstance(v, (int, float)) and math.isfinite(v)
                                              for v in (roll, pitch, yaw)):
            return []
        R = gimbal_euler_frd(math.radians(roll), math.radians(pitch), math.radians(yaw))
        q = quat_wxyz(gimbal_in_body(self.R_enu_base, R, 'vehicle'))
        return [Output('gimbal', t_ns, {'quaternion': {'w': float(q[0]), 'x': float(q[1]), 'y': float(q[2]),
                                                       'z': float(q[3])}})]

    _on_moun = _on_mnt


# ---------------------------------------------------------------------------- the node
class TlogSourceNode(Node):
    NAME = 'tlog'
    Params = TlogSourceParams

    def setup(self):
        p = self.p
        if not p.path:
            raise ParamError('parameter path: give the flight log to replay (.tlog, .bin or .log)')
        if not os.path.isfile(p.path):
            raise ParamError('parameter path: no such file: %s' % p.path)
        self.pubs = vehicle.telemetry_publishers(self)
        self.pub_diag = self.create_publisher('diagnostic_msgs/msg/DiagnosticArray', 'diagnostics', RELIABLE)
        self.counts = Counter({'packets': 0, 'published': 0})  # type: Counter
        self.kind = 'dataflash' if is_dataflash(p.path) else 'tlog'
        self.why_empty = None  # type: Optional[str]
        if self.kind == 'dataflash':
            types = Counter(m.get_type() for _t, m in DataflashStream(p.path))
            self.stream = DataflashStream(p.path)  # after the survey: DFReader instances of one file share state
            self.tel = DataflashTelemetry(p, use_pos=types.get('POS', 0) > 0)
            self.vehicle = 'DataFlash log'
            if self.stream.clock_note:
                self.vehicle += ' (%s)' % self.stream.clock_note
                self.info('%s: %s' % (p.path, self.stream.clock_note))
            if not (types.get('POS') or types.get('GPS') or types.get('ATT')):
                self.why_empty = '%s has no GPS, POS or ATT record' % p.path
        else:
            self.stream = TlogStream(p.path, p.dialect)
            survey = survey_tlog(p.path, p.dialect)
            sysid, why = choose_vehicle(survey, self.stream.mavlink, p.target_system, p.target_component)
            self.tel = MavlinkTelemetry(telemetry_config(p), self.stream.mavlink)
            self.tel.sysid = sysid
            self.vehicle = 'system %s (%s)' % (sysid, why) if sysid else why
            if sysid is None:
                self.why_empty = '%s gives no position or attitude: %s; %s' % (p.path, why, describe_survey(survey))
            else:
                self.info('%s: vehicle is %s' % (p.path, self.vehicle))
        self.iter = iter(self.stream)
        self.first_log_ns = None  # type: Optional[int]
        self.anchor_ns = None  # type: Optional[int]  host time of first_log_ns
        self.pending = None  # type: Optional[Tuple[int, object]]
        self.done = False
        self.last_diag_ns = None  # type: Optional[int]
        if self.why_empty:
            self.warn(self.why_empty)
        #: where the host should start its clock when nothing else sets it (the log's own time)
        self.start_time_ns = None  # type: Optional[int]
        if p.align == 'log_time' and not self.why_empty:
            self.pending = self._next_message()
            if self.pending is not None:
                self.start_time_ns = self.pending[0]
        self.create_timer(p.period_s, self.tick)

    def _next_message(self):
        while True:
            try:
                item = next(self.iter, None)
            except Exception as exc:  # a damaged log ends the replay, it does not crash the run
                self.warn('cannot read further in %s: %s: %s' % (self.p.path, type(exc).__name__, exc))
                return None
            if item is None:
                return None
            t, m = item
            if self.first_log_ns is None:
                self.first_log_ns = t
            if t < self.first_log_ns + int(self.p.skip_s * 1e9):  # ints: ns since 1970 overflow a float
                continue
            if self.p.target_component and self.kind == 'tlog' and m.get_srcComponent() != self.p.target_component \
                    and m.get_srcSystem() == self.tel.sysid:
                continue
            return item

    def _host_time(self, log_ns: int) -> int:
        if self.p.align == 'log_time':
            return log_ns
        return self.anchor_ns + (log_ns - self.first_log_ns) - int(self.p.skip_s * 1e9)

    def configure(self):
        """The telemetry conversion's settings from the parameters (a change at run time applies at once)."""
        if isinstance(getattr(self, 'tel', None), DataflashTelemetry):
            self.tel.p = self.p
        elif hasattr(self, 'tel'):
            self.tel.cfg = telemetry_config(self.p)

    def tick(self):
        if self.done:
            return
        now = self.now_ns()
        if self.why_empty:
            return self._end()
        if self.pending is None:
            self.pending = self._next_message()
            if self.pending is None:
                return self._end()
        if self.anchor_ns is None:
            self.anchor_ns = now
            if self.p.align == 'log_time' and now - self.pending[0] > 1e9:
                self.warn('the host clock is %.1f s past the start of %s: the log plays at once up to now '
                          '(align: start plays it from the host start)' % ((now - self.pending[0]) / 1e9, self.p.path))
        while self.pending is not None:
            t = self._host_time(self.pending[0])
            if t > now:
                break
            m = self.pending[1]
            self.counts['packets'] += 1
            try:
                outputs = self.tel.handle(m, t)
            except (ValueError, TypeError, AttributeError, ArithmeticError, IndexError) as exc:
                self.counts['dropped'] += 1
                self.warn_throttled('bad_fields', 'dropping %s: %s' % (m.get_type(), exc))
                outputs = []
            for o in outputs:
                topic = vehicle.TELEMETRY[o.kind]
                fields = dict(o.fields)
                fields['header'] = msgs.header(self, o.stamp_ns, topic.frame_id)
                self.pubs[o.kind].publish(self.new(topic.msg_type, **fields))
                self.counts['published'] += 1
                self.counts[o.kind] += 1
            self.pending = self._next_message()
        if self.last_diag_ns is None or now - self.last_diag_ns >= self.p.diagnostics_period_s * 1e9:
            self.publish_diagnostics(now)
        if self.pending is None:
            self._end()

    def publish_diagnostics(self, now: int):
        self.last_diag_ns = now
        c = self.stream.counts
        level = DIAG_WARN if (self.why_empty or c.get('damaged') or c.get('unknown_id')) else DIAG_OK
        text = self.why_empty or ('replaying %s' % self.vehicle)
        values = [('log', self.p.path), ('kind', self.kind), ('records', c.get('records', 0)),
                  ('messages', c.get('messages', 0)), ('damaged', c.get('damaged', 0)),
                  ('unknown_id', c.get('unknown_id', 0)), ('used', self.counts['packets']),
                  ('published', self.counts['published'])]
        if self.kind == 'dataflash' and self.stream.clock_note:
            values.append(('before_first_gps', c.get('before_first_gps', 0)))  # no time yet: skipped
        self.pub_diag.publish(diagnostic_array(self, now, [diagnostic_status(
            self, level, '%s: flight log' % self.name, text[:400], os.path.basename(self.p.path), values)]))

    def _end(self):
        self.done = True
        c = self.stream.counts
        if self.last_diag_ns != self.now_ns():  # one /diagnostics per stamp
            self.publish_diagnostics(self.now_ns())
        self.info('end of %s: %d messages used, %d published, %d damaged and %d unknown packets skipped'
                  % (self.p.path, self.counts['packets'], self.counts['published'], c.get('damaged', 0),
                     c.get('unknown_id', 0)))
        if self.p.shutdown_at_end:
            self.request_shutdown('end of %s' % self.p.path)

    def close(self):
        it, self.iter = getattr(self, 'iter', None), None
        if it is not None and hasattr(it, 'close'):
            it.close()
        if self.kind == 'dataflash':
            self.stream.close()
