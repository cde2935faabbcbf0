"""MAVLink bridge (pymavlink): an ArduPilot vehicle's telemetry in, camera pointing out.

In: HEARTBEAT, GLOBAL_POSITION_INT, ATTITUDE, GPS_RAW_INT, SYSTEM_TIME, TIMESYNC,
GIMBAL_DEVICE_ATTITUDE_STATUS / MOUNT_ORIENTATION / MOUNT_STATUS, DISTANCE_SENSOR,
TERRAIN_REPORT -> /vehicle/fix, /vehicle/imu, /vehicle/gimbal, /vehicle/agl (see
mavlink_telemetry for what comes from where and how time is mapped), and
/diagnostics (link state, heartbeat age, garbage and rejected signatures, what
the pointing did and why it held back).

Out (nodes/mavlink_pointing.py): the camera is pointed at the latest /target/geo GeoTarget with
MAV_CMD_DO_SET_ROI_LOCATION (COMMAND_INT: latitude/longitude as 1e-7 degrees,
altitude relative to home; or COMMAND_LONG, whose float32 parameters round
latitude to about 0.5 m) and/or MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW where the
vehicle runs a gimbal manager (it sent GIMBAL_MANAGER_STATUS/INFORMATION).
A command is sent for a new GeoTarget at most ``roi_rate_hz`` times a second, and
only when: the link is up, the vehicle's position and attitude arrived within
``telemetry_timeout_s``, the GeoTarget is younger than ``target_max_age_s`` and
not flagged stale, it lies within ``max_range_m`` of the vehicle and inside the
``geofence`` polygon, its horizontal sigma is below ``max_target_sigma_m``, and no GPS jump
nor autopilot clock jump (time_boot_ms back or leaping ahead) came within ``plausibility_hold_s``.
Each refusal is counted by reason and shown in /diagnostics. With ``roi_lead_s`` the location
sent leads the target along its velocity, shrunk by that velocity's certainty (core.lead, as the
pointing node leads gimbal angles): an autopilot in ROI mode otherwise lags it by the estimate's age.

The link is read without blocking from a timer (``poll_period_s``), so the node
runs in the offline host (pace it with ``realtime``: the vehicle lives on the
wall clock) and in rclpy alike. The bridge sends a HEARTBEAT each second as an
onboard controller, asks for the streams it needs (SET_MESSAGE_INTERVAL) when
the link comes up, answers and sends TIMESYNC, and reconnects on its own.
Optional MAVLink 2 signing: ``signing_key_file`` (32 raw bytes, 64 hex digits or
a passphrase); unsigned or wrongly signed messages are then dropped and counted.

Python 3.8.
"""
import time
from collections import Counter
from dataclasses import dataclass
from typing import List, Tuple

from . import msgs, vehicle
from ..core.plausibility import PlausibilityConfig, TelemetryPlausibility
from .base import RELIABLE, Node, ParamError, param
from .diagnostics import ERROR as DIAG_ERROR
from .diagnostics import OK as DIAG_OK
from .diagnostics import WARN as DIAG_WARN
from .diagnostics import diagnostic_array, diagnostic_status
from ..core.mavlink_telemetry import MavlinkTelemetry, Output
from .mavlink_common import TelemetryParams, load_mavutil, load_signing_key, parse_url, telemetry_config
from .mavlink_pointing import ENDPOINTS, MavlinkPointing, MavlinkPointingParams, parse_geofence



_LINK = 'the link (address, MAVLink identity, signing) is opened when the node starts'


@dataclass
class MavlinkBridgeParams(MavlinkPointingParams, TelemetryParams):
    url: str = param('udpin:0.0.0.0:14550', 'MAVLink connection: udpin:HOST:PORT (listen), udpout:HOST:PORT '
                                            '(send to), tcp:HOST:PORT (connect), tcpin:HOST:PORT (listen), '
                                            'serial:DEVICE[:BAUD]',
        read_only=_LINK)
    baud: int = param(921600, 'Serial baud rate when the url gives none', min=1200,
        read_only=_LINK)
    source_system: int = param(1, 'Our MAVLink system id (a companion computer shares the vehicle\'s)', min=1,
                               max=255,
        read_only=_LINK)
    source_component: int = param(191, 'Our MAVLink component id (191 = MAV_COMP_ID_ONBOARD_COMPUTER)', min=1,
                                  max=255,
        read_only=_LINK)
    target_component: int = param(1, 'Component that receives our commands (1 = the autopilot)', min=0, max=255)
    poll_period_s: float = param(0.01, 'Read the link every this many seconds (host time)', min=0.001, max=1.0,
        read_only=ENDPOINTS)
    max_messages_per_poll: int = param(2000, 'Read at most this many messages per poll', min=1)
    heartbeat_timeout_s: float = param(3.0, 'Link is lost after this long without a vehicle HEARTBEAT, s', min=0.1)
    send_heartbeat: bool = param(True, 'Send a HEARTBEAT each second (MAV_TYPE_ONBOARD_CONTROLLER)')
    stream_rate_hz: float = param(10.0, 'Ask for position, attitude and gimbal at this rate on link-up '
                                        '(SET_MESSAGE_INTERVAL); 0 = keep the autopilot\'s SRx_ rates', min=0.0)
    timesync_period_s: float = param(1.0, 'Send a TIMESYNC request this often, s (0 = never)', min=0.0)
    reconnect_period_s: float = param(2.0, 'Retry opening a link that failed (or a TCP link that closed), s',
                                      min=0.1)
    signing_key_file: str = param('', 'MAVLink 2 signing key file (32 bytes, 64 hex digits or a passphrase); '
                                      'empty = no signing',
        read_only=_LINK)
    signing_allow_unsigned: bool = param(False, 'With signing: still accept unsigned messages (not recommended)')
    signing_link_id: int = param(0, 'MAVLink 2 signing link id of this connection', min=0, max=255,
        read_only=_LINK)
    diagnostics_period_s: float = param(1.0, 'Publish /diagnostics this often, s', min=0.05)


class MavlinkBridgeNode(MavlinkPointing, Node):
    NAME = 'mavlink'
    Params = MavlinkBridgeParams

    TOPICS = vehicle.TELEMETRY

    def setup(self):
        p = self.p
        self.device, self.kind, self.baud = parse_url(p.url, p.baud)
        self.configure()
        self.key = load_signing_key(p.signing_key_file) if p.signing_key_file else None
        self.mavutil = load_mavutil(p.dialect)
        self.mav = self.mavutil.mavlink
        self.tel = MavlinkTelemetry(telemetry_config(p), self.mav)
        self.stats = Counter()
        self.skipped = Counter()
        self.pubs = vehicle.telemetry_publishers(self)
        self.pub_diag = self.create_publisher('diagnostic_msgs/msg/DiagnosticArray', 'diagnostics', RELIABLE)
        if p.point_camera:
            self.create_subscription('uavcine_interfaces/msg/GeoTarget', 'target/geo', self.on_geo, RELIABLE)
        self.create_timer(p.poll_period_s, self.poll)
        self.conn = None
        self.open_error = ''
        self.next_open_ns = None  # type: Optional[int]
        self.link_up = False
        self.ever_up = False
        self.next = {'heartbeat': 0, 'timesync': 0, 'diag': 0, 'point': 0}
        self.pending_timesync = {}  # ts1 we sent -> True
        self.target = None  # latest GeoTarget
        self.target_new = False
        self.last_command = None  # (host ns, lat, lon, alt_rel) of the last ROI sent
        self.roi_released = False  # MAV_CMD_DO_SET_ROI_NONE sent since the last pointing command
        self.acks = Counter()  # (command, result) -> count
        self.gimbal_manager_refused = False
        self.configured_gimbal_manager = False
        self._eof = False
        self._pace = None  # (host ns, wall s) of the first poll, to warn when host time runs ahead of the link
        self.plausible = TelemetryPlausibility(self.plausibility_config())
        self.pitchyaw_at_release = 0  # pitchyaw_sent when the mount was last handed back
        self.clock_jump_until = 0  # host ns: no pointing before it (the autopilot's clock jumped)
        self._open(self.now_ns())

    def configure(self):
        self.geofence = parse_geofence(self.p.geofence)  # ValueError: one clear line; a change is refused
        if hasattr(self, 'tel'):
            self.tel.cfg = telemetry_config(self.p)
        if getattr(self, 'plausible', None) is not None:  # live changes of the plausibility limits take effect
            self.plausible.cfg = self.plausibility_config()

    def plausibility_config(self) -> PlausibilityConfig:
        p = self.p
        return PlausibilityConfig(p.max_vehicle_speed_mps, p.plausibility_hold_s, p.frozen_telemetry_s,
                                  p.telemetry_timeout_s)

    # ------------------------------------------------------------------ the link
    def _open(self, now: int) -> None:
        p = self.p
        try:
            conn = self.mavutil.mavlink_connection(self.device, baud=self.baud, source_system=p.source_system,
                                                   source_component=p.source_component, dialect=p.dialect,
                                                   autoreconnect=False, retries=0, robust_parsing=True)
        except ImportError as exc:  # pymavlink's serial links import pyserial lazily
            raise ParamError('parameter url: %s needs %s (pip install pyserial)' % (p.url, exc.name)) from exc
        except (OSError, ValueError) as exc:
            self.conn = None
            self.next_open_ns = now + int(p.reconnect_period_s * 1e9)
            msg = 'cannot open %s: %s' % (p.url, exc)
            if msg != self.open_error:
                self.error(msg + ' (retrying every %.1f s)' % p.reconnect_period_s)
            self.open_error = msg
            self.stats['open_failures'] += 1
            return
        if self.kind == 'tcp':  # pymavlink prints and gives up on EOF without autoreconnect: reconnect ourselves
            conn.handle_eof = conn.handle_disconnect = self._on_eof
        if self.key is not None:
            conn.setup_signing(self.key, sign_outgoing=True, allow_unsigned_callback=self._allow_unsigned,
                               link_id=p.signing_link_id)
        self.conn = conn
        self._eof = False
        self.open_error = ''
        self.info('opened %s%s' % (p.url, ' (signed)' if self.key is not None else ''))
        self.next['heartbeat'] = now  # udpout: the vehicle learns our address from our first packet

    def _on_eof(self):
        self._eof = True

    def _allow_unsigned(self, mav, msg_id: int) -> bool:
        # SiK radios inject unsigned RADIO_STATUS; everything else needs a valid signature
        return self.p.signing_allow_unsigned or msg_id == self.mav.MAVLINK_MSG_ID_RADIO_STATUS

    def _close_conn(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except (OSError, AttributeError):
                pass
        self.conn = None

    def close(self):
        self._close_conn()

    # ------------------------------------------------------------------ the timer
    def poll(self):
        now = self.now_ns()
        self._check_pace(now)
        if self.conn is None:
            if self.next_open_ns is not None and now >= self.next_open_ns:
                self._open(now)
        if self.conn is not None:
            self._read(now)
            if self._eof:
                self.warn('%s closed by the vehicle side; reconnecting every %.1f s'
                          % (self.p.url, self.p.reconnect_period_s))
                self._close_conn()
                self.next_open_ns = now + int(self.p.reconnect_period_s * 1e9)
        self._check_link(now)
        if self.conn is not None:
            self._periodic_sends(now)
        if self.p.point_camera and now >= self.next['point']:
            if self._point(now):
                self.next['point'] = now + int(1e9 / self.p.roi_rate_hz)
        if self.p.point_camera and self.p.release_roi_after_s > 0:
            self._release(now)
        if now >= self.next['diag']:
            self.next['diag'] = now + int(self.p.diagnostics_period_s * 1e9)
            self.publish_diagnostics(now)

    def _check_pace(self, now: int) -> None:
        """The vehicle lives on the wall clock: say so once if host time runs much faster (offline, no realtime)."""
        if self._pace is None:
            self._pace = (now, time.monotonic())
        elif self._pace[1] is not None and now - self._pace[0] > 3e9:
            wall = time.monotonic() - self._pace[1]
            if (now - self._pace[0]) / 1e9 > 3.0 * max(wall, 1e-3):
                self.warn('host time runs %.0fx faster than the wall clock the vehicle lives on: heartbeats will '
                          'look late and telemetry stale (offline: run with --realtime)'
                          % ((now - self._pace[0]) / 1e9 / max(wall, 1e-3)))
            self._pace = (self._pace[0], None)  # checked once

    def _read(self, now: int) -> None:
        for _ in range(self.p.max_messages_per_poll):
            try:
                m = self.conn.recv_msg()
            except Exception as exc:  # a broken link or a parser corner case must never stop the node
                self.stats['read_errors'] += 1
                self.warn_throttled('read_error', 'error reading %s: %s: %s' % (self.p.url, type(exc).__name__, exc))
                return
            if m is None:
                return
            self._on_message(m, now)

    def _on_message(self, m, now: int) -> None:
        mtype = m.get_type()
        if mtype == 'BAD_DATA':
            reason = str(getattr(m, 'reason', ''))
            if 'signature' in reason.lower():
                self.stats['rejected_signature'] += 1
                self.warn_throttled('bad_signature', 'dropping MAVLink messages with a missing or wrong signature')
            else:
                self.stats['bad_data'] += 1
                self.warn_throttled('bad_data', 'garbage on %s: %s' % (self.p.url, reason))
            return
        if (m.get_srcSystem(), m.get_srcComponent()) == (self.p.source_system, self.p.source_component):
            return  # our own packets echoed by a router
        self.stats['messages'] += 1
        jumps = self.tel.clock_jumps
        try:
            outputs = self.tel.handle(m, now)
        except (ValueError, TypeError, AttributeError, ArithmeticError) as exc:
            self.stats['bad_fields'] += 1
            self.warn_throttled('bad_fields', 'dropping %s: %s' % (mtype, exc))
            return
        if self.tel.clock_jumps > jumps:  # the autopilot's clock went back (a reboot) or leapt: stamps re-map
            self.stats['clock_jumps'] += self.tel.clock_jumps - jumps
            self.clock_jump_until = now + int(self.p.plausibility_hold_s * 1e9)
            self.warn_throttled('clock_jump', 'autopilot clock jump: no pointing for %gs' % self.p.plausibility_hold_s)
        for o in outputs:
            self._check_plausible(o, now)
            self._publish(o)
        if mtype == 'TIMESYNC' and m.get_srcSystem() == self.tel.sysid:
            self._on_timesync(m, now)
        elif mtype == 'COMMAND_ACK' and m.get_srcSystem() == self.tel.sysid:
            self.acks[(int(m.command), int(m.result))] += 1
            if m.command == self.mav.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW and m.result in (
                    self.mav.MAV_RESULT_UNSUPPORTED, self.mav.MAV_RESULT_DENIED):
                if not self.gimbal_manager_refused:
                    self.warn('the vehicle refused MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW (result %d): using ROI only'
                              % m.result)
                self.gimbal_manager_refused = True
            elif m.result not in (self.mav.MAV_RESULT_ACCEPTED, self.mav.MAV_RESULT_IN_PROGRESS):
                self.warn_throttled('nack_%d' % m.command, 'the vehicle answered command %d with result %d'
                                    % (m.command, m.result))

    def _check_plausible(self, o: Output, now: int) -> None:
        """Feed the vehicle's own position and attitude to the plausibility checks (pointing_refusal reads them)."""
        f = o.fields
        if o.kind == 'fix':
            if self.plausible.on_fix(o.stamp_ns, f['latitude'], f['longitude'], f['altitude'], now):
                self.stats['gps_jumps'] += 1
                self.warn_throttled('gps_jump', 'the vehicle position jumped %.0f m in %.2f s: no pointing for %.1f s'
                                    % (self.plausible.last_jump + (self.p.plausibility_hold_s,)))
        elif o.kind == 'imu':
            self.plausible.on_attitude(tuple(f['orientation'][k] for k in 'wxyz'), now)

    def _publish(self, o: Output) -> None:
        topic = vehicle.TELEMETRY[o.kind]
        fields = dict(o.fields)
        fields['header'] = msgs.header(self, o.stamp_ns, topic.frame_id)
        self.pubs[o.kind].publish(self.new(topic.msg_type, **fields))
        self.stats['published_' + o.kind] += 1

    def _on_timesync(self, m, now: int) -> None:
        if m.tc1 == 0:  # a request from the vehicle: answer with our clock
            self.conn.mav.timesync_send(now, m.ts1)
            return
        if self.pending_timesync.pop(int(m.ts1), None) is not None:
            if self.tel.on_timesync_answer(int(m.ts1), int(m.tc1), now):
                self.stats['timesync_used'] += 1

    def _check_link(self, now: int) -> None:
        hb = self.tel.heartbeat_ns
        alive = hb is not None and now - hb <= self.p.heartbeat_timeout_s * 1e9
        if alive and not self.link_up:
            self.link_up = True
            hbm = self.tel.heartbeat
            self.info('link up: system %d component %d, autopilot %d, type %d'
                      % (hbm.get_srcSystem(), hbm.get_srcComponent(), hbm.autopilot, hbm.type))
            self._request_streams()  # after a reboot or reconnect too: the autopilot forgets them
            self.ever_up = True
            self.configured_gimbal_manager = False
            self.publish_diagnostics(now)
        elif not alive and self.link_up:
            self.link_up = False
            self.stats['link_losses'] += 1
            self.warn('link lost: no HEARTBEAT from system %s for %.1f s'
                      % (self.tel.sysid, self.p.heartbeat_timeout_s))
            self.publish_diagnostics(now)

    def _periodic_sends(self, now: int) -> None:
        p, mav = self.p, self.conn.mav
        try:
            if p.send_heartbeat and now >= self.next['heartbeat']:
                self.next['heartbeat'] = now + 1_000_000_000
                mav.heartbeat_send(self.mav.MAV_TYPE_ONBOARD_CONTROLLER, self.mav.MAV_AUTOPILOT_INVALID, 0, 0,
                                   self.mav.MAV_STATE_ACTIVE)
            if p.timesync_period_s > 0 and self.link_up and now >= self.next['timesync']:
                self.next['timesync'] = now + int(p.timesync_period_s * 1e9)
                if len(self.pending_timesync) > 20:
                    self.pending_timesync.clear()
                self.pending_timesync[now] = True
                mav.timesync_send(0, now)
            self._request_gimbal_manager(now)
        except OSError as exc:
            self.stats['write_errors'] += 1
            self.warn_throttled('write_error', 'cannot send on %s: %s' % (p.url, exc))

    def _request_gimbal_manager(self, now: int) -> None:
        """Ask for GIMBAL_MANAGER_STATUS/INFORMATION every 2 s until one comes (gimbal_manager/both modes).

        ArduPilot sends them only on change or on request, and answers a request only once its mount has
        started (about 4 s after boot in SITL): without asking, and asking again, a vehicle with a gimbal
        manager looked like one without ("pointing with ROI", issue 19).
        """
        if self.p.pointing_command == 'roi' or not self.link_up or self.tel.gimbal_manager_seen:
            return
        if now < self.next.get('gimbal_manager_request', 0):
            return
        self.next['gimbal_manager_request'] = now + 2_000_000_000
        mav = self.mav
        for msg_id in (mav.MAVLINK_MSG_ID_GIMBAL_MANAGER_INFORMATION, mav.MAVLINK_MSG_ID_GIMBAL_MANAGER_STATUS):
            self._send_command_long(mav.MAV_CMD_REQUEST_MESSAGE, [msg_id, 0, 0, 0, 0, 0, 0])
        self.stats['gimbal_manager_requests'] += 1

    def _send_command_long(self, command: int, params: List[float]) -> None:
        self.conn.mav.command_long_send(self.tel.sysid, self.p.target_component, command, 0, *params)

    def _request_streams(self) -> None:
        rate = self.p.stream_rate_hz
        if rate <= 0 or self.conn is None:
            return
        mav = self.mav
        wanted = [(mav.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, rate), (mav.MAVLINK_MSG_ID_ATTITUDE, rate),
                  (mav.MAVLINK_MSG_ID_GPS_RAW_INT, min(rate, 5.0)), (mav.MAVLINK_MSG_ID_SYSTEM_TIME, 1.0),
                  (mav.MAVLINK_MSG_ID_GIMBAL_DEVICE_ATTITUDE_STATUS, rate)]
        try:
            for msg_id, hz in wanted:
                self._send_command_long(mav.MAV_CMD_SET_MESSAGE_INTERVAL,
                                        [msg_id, int(1e6 / hz), 0, 0, 0, 0, 0])
            self.stats['stream_requests'] += 1
            self.next['gimbal_manager_request'] = 0  # ask again now (see _request_gimbal_manager)
            # the mount's type (a servo mount reports body angles) and default mode (what a release returns to)
            for name in (b'MNT1_TYPE', b'MNT1_DEFLT_MODE'):
                self.conn.mav.param_request_read_send(self.tel.sysid, self.p.target_component, name, -1)
        except OSError as exc:
            self.warn_throttled('write_error', 'cannot send on %s: %s' % (self.p.url, exc))

    # ------------------------------------------------------------------ diagnostics
    def diagnostic_state(self, now: int) -> Tuple[int, str]:
        if self.conn is None:
            return DIAG_ERROR, self.open_error or 'link closed'
        hb = self.tel.heartbeat_ns
        if hb is None:
            return DIAG_WARN, 'waiting for a vehicle HEARTBEAT on %s' % self.p.url
        if not self.link_up:
            return DIAG_ERROR, 'link lost: no HEARTBEAT for %.1f s' % ((now - hb) / 1e9)
        pos_ns = self.tel.position_ns
        if pos_ns is None or now - pos_ns > self.p.telemetry_timeout_s * 1e9:
            return DIAG_WARN, 'link up, position telemetry stale'
        return DIAG_OK, 'link up'

    def publish_diagnostics(self, now: int) -> None:
        if getattr(self, 'last_diagnostic_ns', None) == now:
            return  # one /diagnostics per stamp (link-up and the periodic one fell on the same tick)
        self.last_diagnostic_ns = now
        level, text = self.diagnostic_state(now)
        tel = self.tel
        hb = tel.heartbeat_ns
        values = [
            ('url', self.p.url),
            ('link_up', str(self.link_up)),
            ('vehicle_system', str(tel.sysid if tel.sysid is not None else '')),
            ('heartbeat_age_s', '%.2f' % ((now - hb) / 1e9) if hb is not None else ''),
            ('messages', str(self.stats['messages'])),
            ('bad_data', str(self.stats['bad_data'])),
            ('rejected_signature', str(self.stats['rejected_signature'])),
            ('read_errors', str(self.stats['read_errors'])),
            ('link_losses', str(self.stats['link_losses'])),
            ('clock_jumps', str(self.stats['clock_jumps'])),
            ('signing', 'on' if self.key is not None else 'off'),
            ('time_sync', tel.time_source),
            ('agl_source', tel.agl_used),
            ('gimbal_manager', str(tel.gimbal_manager_seen and not self.gimbal_manager_refused)),
            ('roi_sent', str(self.stats['roi_sent'])),
            ('roi_led', str(self.stats['roi_led'])),
            ('roi_released', str(self.stats['roi_released'])),
            ('pitchyaw_sent', str(self.stats['pitchyaw_sent'])),
        ]
        values += [('pointing_refused_' + k, str(v)) for k, v in sorted(self.skipped.items())]
        self.pub_diag.publish(diagnostic_array(self, now, [diagnostic_status(
            self, level, '%s: MAVLink link' % self.name, text, self.p.url, values)]))
        self.last_diagnostic = (level, text, dict(values))
