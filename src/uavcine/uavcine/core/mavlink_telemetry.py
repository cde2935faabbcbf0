"""MAVLink telemetry -> uavcine's vehicle topics, shared by the live bridge and the .tlog replay.

``MavlinkTelemetry.handle(msg, host_ns)`` takes one pymavlink message and returns
what to publish as ``Output(kind, stamp_ns, fields)`` with kind one of 'fix',
'imu', 'gimbal', 'agl' (the fields of NavSatFix, Imu, QuaternionStamped and
Range without their header). No sockets, no files, no clock: the caller says
when a message arrived.

What comes from where:

* /vehicle/fix (NavSatFix) from GLOBAL_POSITION_INT (the autopilot's fused
  position). Altitude is above the WGS84 ellipsoid as NavSatFix wants: MAVLink's
  altitude is above mean sea level, so the geoid height (GPS_RAW_INT alt_ellipsoid
  - alt when the receiver gives it, else the ``geoid_undulation_m`` parameter) is
  added. Fix status from GPS_RAW_INT fix_type. Covariance: from GPS_RAW_INT h_acc
  /v_acc when the receiver reports them (DIAGONAL_KNOWN), else from HDOP/VDOP
  (eph/epv) times a user-equivalent range error ``gps_uere_m`` (APPROXIMATED),
  else UNKNOWN.
* /vehicle/imu (Imu) from ATTITUDE: orientation of base_link (FLU) in ENU, body
  rates in FLU (core.ned_enu); no linear acceleration (covariance[0] = -1).
* /vehicle/gimbal (QuaternionStamped, gimbal FLU relative to base_link) from
  GIMBAL_DEVICE_ATTITUDE_STATUS (gimbal protocol v2), else MOUNT_ORIENTATION, else
  MOUNT_STATUS (ArduPilot before 4.3: pitch/roll against the horizon, yaw against
  the vehicle). Once a better source has been heard the older ones are ignored.
* /vehicle/agl (Range, height above ground, tilt-corrected) by ``agl_source``:
  'rangefinder' = a downward DISTANCE_SENSOR (orientation PITCH_270);
  'terrain' = GLOBAL_POSITION_INT altitude minus TERRAIN_REPORT terrain_height
  (the autopilot's terrain database); 'relative_alt' = GLOBAL_POSITION_INT
  relative_alt, the height above HOME, which equals the height above ground only
  where the ground is as high as the take-off point (the seed's flat field);
  'auto' = the rangefinder while it gives valid readings, else terrain while
  reports are fresh, else relative_alt.

Stamps: time_boot_ms of each message mapped onto host time with core.timesync
(one mapper per sending component: a gimbal has its own boot clock); the
autopilot's mapper also learns from TIMESYNC round trips (the bridge sends them).

Only the vehicle's system is listened to: ``target_system``, or the first
autopilot heartbeat heard (not a GCS, gimbal, camera or companion).

The nodes that use it (``nodes/mavlink_bridge.py``, ``nodes/tlog_source.py``) declare its
settings as parameters (``nodes/mavlink_common.py``) and build ``TelemetryConfig`` from them.

Python 3.8.
"""
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, List, NamedTuple, Optional

import numpy as np
from transforms3d.quaternions import quat2mat

from .ned_enu import (R_from_ned_euler, flu_from_frd, gimbal_euler_frd, gimbal_in_body, quat_wxyz)
from .timesync import TimeMapper, TimeSyncConfig

# sensor_msgs constants (NavSatStatus, NavSatFix, Range)
STATUS_NO_FIX, STATUS_FIX, STATUS_SBAS_FIX, STATUS_GBAS_FIX = -1, 0, 1, 2
SERVICE_GPS = 1
COV_UNKNOWN, COV_APPROXIMATED, COV_DIAGONAL_KNOWN = 0, 1, 2
RANGE_ULTRASOUND, RANGE_INFRARED = 0, 1


@dataclass
class TelemetryConfig:
    """How telemetry is turned into vehicle topics (the nodes' parameters of the same names)."""

    target_system: int = 0
    gps_uere_m: float = 4.0
    geoid_undulation_m: float = 0.0
    attitude_sigma_deg: float = 1.0
    agl_source: str = 'auto'
    agl_max_m: float = 1000.0
    rangefinder_timeout_s: float = 0.5
    terrain_timeout_s: float = 5.0
    time_sync: str = 'auto'
    mount_angles: str = 'auto'  # 'as_flagged' | 'body' | 'auto' (body for an ArduPilot servo mount, MNT1_TYPE=1)


class Output(NamedTuple):
    kind: str       # 'fix' | 'imu' | 'gimbal' | 'agl'
    stamp_ns: int
    fields: Dict[str, Any]


#: Gimbal sources in order of preference.
GIMBAL_RANK = {'MOUNT_STATUS': 1, 'MOUNT_ORIENTATION': 2, 'GIMBAL_DEVICE_ATTITUDE_STATUS': 3}


class MavlinkTelemetry:
    """State of one vehicle's telemetry stream; turns messages into Outputs."""

    def __init__(self, cfg: TelemetryConfig, mavlink_module):
        self.cfg = cfg  # read where used: a node replaces it when its parameters change
        self.mav = mavlink_module
        self.sysid = cfg.target_system or None  # type: Optional[int]
        self.mappers = {}  # type: Dict[int, TimeMapper]
        self.tcfg = TimeSyncConfig(mode=cfg.time_sync)
        self.counts = Counter()  # type: Counter
        self.heartbeat = None  # last vehicle HEARTBEAT message
        self.heartbeat_ns = None  # type: Optional[int]
        self.gps = None  # last GPS_RAW_INT
        self.position = None  # type: Optional[Dict[str, float]]
        self.position_ns = None  # type: Optional[int]
        self.R_enu_base = None  # type: Optional[np.ndarray]
        self.attitude_ns = None  # type: Optional[int]
        self.gimbal_rank = 0
        self.mount_type = None  # type: Optional[int]  ArduPilot MNT1_TYPE (PARAM_VALUE), 1 = servo
        self.mount_params = {}  # type: Dict[str, int]  MNT1_TYPE, MNT1_DEFLT_MODE as the autopilot said
        self.gimbal_manager_seen = False
        self.rangefinder_ns = None  # type: Optional[int]
        self.terrain = None  # type: Optional[Tuple[int, float]]  (host ns, terrain height AMSL)
        self.agl_used = ''
        self.autopilot_utc_us = None  # type: Optional[int]
        self.autopilot_compid = None  # type: Optional[int]

    # ------------------------------------------------------------------ time
    def mapper(self, compid: int) -> TimeMapper:
        m = self.mappers.get(compid)
        if m is None:
            m = self.mappers[compid] = TimeMapper(self.tcfg)
        return m

    def stamp(self, msg, host_ns: int) -> int:
        """Host time of a message with time_boot_ms (the arrival time otherwise)."""
        boot_ms = getattr(msg, 'time_boot_ms', None)
        if boot_ms is None:
            return host_ns
        m = self.mapper(msg.get_srcComponent())
        m.on_receipt(int(boot_ms) * 1_000_000, host_ns)
        return m.to_host(int(boot_ms) * 1_000_000, host_ns)

    @property
    def clock_jumps(self) -> int:
        """Jumps of the senders' clocks seen so far (back: a reboot; or leaping ahead), see TimeMapper."""
        return sum(m.jumps for m in self.mappers.values())

    def on_timesync_answer(self, ts1_host_ns: int, tc1_remote_ns: int, host_ns: int) -> bool:
        comp = self.autopilot_compid if self.autopilot_compid is not None else 1
        return self.mapper(comp).on_timesync(ts1_host_ns, tc1_remote_ns, host_ns)

    @property
    def time_source(self) -> str:
        comp = self.autopilot_compid if self.autopilot_compid is not None else 1
        return self.mappers[comp].source if comp in self.mappers else 'none'

    # ------------------------------------------------------------------ dispatch
    def is_vehicle_heartbeat(self, msg) -> bool:
        mav = self.mav
        return (msg.autopilot != mav.MAV_AUTOPILOT_INVALID
                and msg.type not in (mav.MAV_TYPE_GCS, mav.MAV_TYPE_ONBOARD_CONTROLLER, mav.MAV_TYPE_GIMBAL,
                                     mav.MAV_TYPE_CAMERA, mav.MAV_TYPE_ADSB))

    def handle(self, msg, host_ns: int) -> List[Output]:
        """One received message -> what to publish (possibly nothing)."""
        mtype = msg.get_type()
        if mtype == 'HEARTBEAT' and self.is_vehicle_heartbeat(msg):
            if self.sysid is None:
                self.sysid = msg.get_srcSystem()
            if msg.get_srcSystem() == self.sysid:
                self.heartbeat, self.heartbeat_ns = msg, host_ns
                self.autopilot_compid = msg.get_srcComponent()
        if self.sysid is None or msg.get_srcSystem() != self.sysid:
            self.counts['ignored_other_system'] += 1
            return []
        self.counts[mtype] += 1
        fn = getattr(self, '_on_' + mtype.lower(), None)
        if fn is None:
            return []
        return fn(msg, host_ns) or []

    # ------------------------------------------------------------------ messages
    def _on_system_time(self, msg, host_ns):
        self.stamp(msg, host_ns)  # feeds the mapper (and detects autopilot reboots)
        if msg.time_unix_usec:
            self.autopilot_utc_us = int(msg.time_unix_usec)

    def _on_gps_raw_int(self, msg, host_ns):
        self.gps = msg

    def _on_gimbal_manager_status(self, msg, host_ns):
        self.gimbal_manager_seen = True

    _on_gimbal_manager_information = _on_gimbal_manager_status

    def _on_terrain_report(self, msg, host_ns):
        if msg.spacing > 0 and math.isfinite(msg.terrain_height):
            self.terrain = (host_ns, float(msg.terrain_height))

    def _undulation(self) -> float:
        g = self.gps
        if g is not None and getattr(g, 'alt_ellipsoid', 0):
            return (g.alt_ellipsoid - g.alt) / 1000.0
        return self.cfg.geoid_undulation_m

    def _fix_status_and_cov(self):
        g = self.gps
        if g is None:  # no receiver report (some logs): trust the autopilot's solution, covariance unknown
            return STATUS_FIX, np.zeros(9), COV_UNKNOWN
        ft = int(g.fix_type)
        mav = self.mav
        if ft < mav.GPS_FIX_TYPE_2D_FIX:
            status = STATUS_NO_FIX
        elif ft == mav.GPS_FIX_TYPE_DGPS:
            status = STATUS_SBAS_FIX
        elif ft in (mav.GPS_FIX_TYPE_RTK_FLOAT, mav.GPS_FIX_TYPE_RTK_FIXED):
            status = STATUS_GBAS_FIX
        else:
            status = STATUS_FIX
        h_acc, v_acc = getattr(g, 'h_acc', 0), getattr(g, 'v_acc', 0)
        if h_acc and h_acc > 0:
            sh = h_acc / 1000.0
            sv = v_acc / 1000.0 if v_acc and v_acc > 0 else 2.0 * sh
            return status, np.diag([sh * sh, sh * sh, sv * sv]).reshape(-1), COV_DIAGONAL_KNOWN
        if 0 < g.eph < 65535:
            sh = g.eph / 100.0 * self.cfg.gps_uere_m
            sv = g.epv / 100.0 * self.cfg.gps_uere_m if 0 < g.epv < 65535 else 2.0 * sh
            return status, np.diag([sh * sh, sh * sh, sv * sv]).reshape(-1), COV_APPROXIMATED
        return status, np.zeros(9), COV_UNKNOWN

    def _on_global_position_int(self, msg, host_ns):
        if msg.lat == 0 and msg.lon == 0:
            self.counts['position_without_fix'] += 1
            return []
        t = self.stamp(msg, host_ns)
        status, cov, cov_type = self._fix_status_and_cov()
        lat, lon = msg.lat * 1e-7, msg.lon * 1e-7
        alt_msl = msg.alt / 1000.0
        alt = alt_msl + self._undulation()
        self.position = {'lat': lat, 'lon': lon, 'alt': alt, 'alt_msl': alt_msl,
                         'relative_alt': msg.relative_alt / 1000.0, 'status': status}
        self.position_ns = host_ns
        out = [Output('fix', t, {'status': {'status': status, 'service': SERVICE_GPS}, 'latitude': lat,
                                 'longitude': lon, 'altitude': alt, 'position_covariance': cov,
                                 'position_covariance_type': cov_type})]
        agl = self._agl_from_position(alt_msl, msg.relative_alt / 1000.0, host_ns)
        if agl is not None:
            out.append(Output('agl', t, self._range_fields(agl, 0.0, self.cfg.agl_max_m, RANGE_INFRARED, 0.0)))
        return out

    def _agl_from_position(self, alt_msl: float, relative_alt: float, host_ns: int) -> Optional[float]:
        src = self.cfg.agl_source
        if src == 'rangefinder':
            return None
        if src == 'auto' and self.rangefinder_ns is not None and \
                host_ns - self.rangefinder_ns <= self.cfg.rangefinder_timeout_s * 1e9:
            return None  # the rangefinder publishes its own readings
        fresh_terrain = self.terrain is not None and host_ns - self.terrain[0] <= self.cfg.terrain_timeout_s * 1e9
        if src in ('terrain', 'auto') and fresh_terrain:
            self.agl_used = 'terrain'
            return alt_msl - self.terrain[1]
        if src == 'terrain':
            self.counts['agl_no_terrain'] += 1
            return None
        self.agl_used = 'relative_alt'
        return relative_alt

    def _range_fields(self, r: float, lo: float, hi: float, radiation: int, fov: float) -> Dict[str, Any]:
        # REP-117: a reading outside [min_range, max_range] is not a distance; the autopilot's height above
        # home dips below 0 on the ground (-0.006 m in SITL): report the limit it lies beyond
        return {'radiation_type': radiation, 'field_of_view': float(fov), 'min_range': float(lo),
                'max_range': float(hi), 'range': float(min(max(r, lo), hi))}

    def _on_distance_sensor(self, msg, host_ns):
        if self.cfg.agl_source not in ('rangefinder', 'auto'):
            return []
        if msg.orientation != self.mav.MAV_SENSOR_ROTATION_PITCH_270:
            return []
        d, lo, hi = msg.current_distance / 100.0, msg.min_distance / 100.0, msg.max_distance / 100.0
        if not (d > 0 and lo <= d <= hi):
            self.counts['rangefinder_out_of_range'] += 1
            return []
        t = self.stamp(msg, host_ns)
        if self.R_enu_base is not None:  # the beam follows the body; the height is its vertical component
            d *= max(0.0, -float((self.R_enu_base @ np.array([0.0, 0.0, -1.0]))[2]))
        self.rangefinder_ns = host_ns
        self.agl_used = 'rangefinder'
        radiation = RANGE_ULTRASOUND if msg.type == self.mav.MAV_DISTANCE_SENSOR_ULTRASOUND else RANGE_INFRARED
        fov = float(getattr(msg, 'vertical_fov', 0.0) or 0.0)  # rad (MAVLink 2 extension)
        return [Output('agl', t, self._range_fields(d, lo, hi, radiation, fov))]

    def _on_attitude(self, msg, host_ns):
        vals = (msg.roll, msg.pitch, msg.yaw)
        if not all(math.isfinite(v) for v in vals):
            self.counts['attitude_not_finite'] += 1
            return []
        t = self.stamp(msg, host_ns)
        self.R_enu_base = R_from_ned_euler(*vals)
        self.attitude_ns = host_ns
        q = quat_wxyz(self.R_enu_base)
        var = math.radians(self.cfg.attitude_sigma_deg) ** 2
        w = flu_from_frd([msg.rollspeed, msg.pitchspeed, msg.yawspeed])
        lin_cov = np.zeros(9)
        lin_cov[0] = -1.0  # REP-145: no linear acceleration in this message
        return [Output('imu', t, {
            'orientation': {'w': float(q[0]), 'x': float(q[1]), 'y': float(q[2]), 'z': float(q[3])},
            'orientation_covariance': np.diag([var, var, var]).reshape(-1),
            'angular_velocity': {'x': float(w[0]), 'y': float(w[1]), 'z': float(w[2])},
            'linear_acceleration_covariance': lin_cov})]

    def _gimbal_output(self, mtype: str, t: int, R_ref_frd: np.ndarray, yaw_frame: str) -> List[Output]:
        rank = GIMBAL_RANK[mtype]
        if rank < self.gimbal_rank:
            return []
        self.gimbal_rank = rank
        if self.R_enu_base is None:
            self.counts['gimbal_before_attitude'] += 1
            return []
        q = quat_wxyz(gimbal_in_body(self.R_enu_base, R_ref_frd, yaw_frame))
        return [Output('gimbal', t, {'quaternion': {'w': float(q[0]), 'x': float(q[1]), 'y': float(q[2]),
                                                    'z': float(q[3])}})]

    def _on_gimbal_device_attitude_status(self, msg, host_ns):
        q = np.asarray(msg.q, dtype=float)
        if q.shape != (4,) or not np.all(np.isfinite(q)) or np.linalg.norm(q) < 1e-6:
            self.counts['gimbal_invalid'] += 1
            return []
        mav, f = self.mav, int(msg.flags)
        if f & mav.GIMBAL_DEVICE_FLAGS_YAW_IN_EARTH_FRAME:
            frame = 'earth'
        elif f & mav.GIMBAL_DEVICE_FLAGS_YAW_IN_VEHICLE_FRAME:
            frame = 'vehicle'
        else:  # older gimbals: yaw lock means yaw against north
            frame = 'earth' if f & mav.GIMBAL_DEVICE_FLAGS_YAW_LOCK else 'vehicle'
        if self.cfg.mount_angles == 'body' or (self.cfg.mount_angles == 'auto' and self.mount_type == 1):
            frame = 'body'  # a servo mount: angles against the body, whatever the flags say (issue 19, SITL)
        t = self.stamp(msg, host_ns)
        return self._gimbal_output('GIMBAL_DEVICE_ATTITUDE_STATUS', t, quat2mat(q / np.linalg.norm(q)), frame)

    def _on_param_value(self, msg, host_ns):
        name = msg.param_id.decode('ascii', 'replace') if isinstance(msg.param_id, bytes) else str(msg.param_id)
        name = name.rstrip('\x00')
        if name in ('MNT1_TYPE', 'MNT1_DEFLT_MODE') and math.isfinite(msg.param_value):
            self.mount_params[name] = int(msg.param_value)
            self.mount_type = self.mount_params.get('MNT1_TYPE')

    def _on_mount_orientation(self, msg, host_ns):
        vals = (msg.roll, msg.pitch, msg.yaw)
        if not all(math.isfinite(v) for v in vals):
            return []
        t = self.stamp(msg, host_ns)
        R = gimbal_euler_frd(*(math.radians(v) for v in vals))
        return self._gimbal_output('MOUNT_ORIENTATION', t, R, 'vehicle')

    def _on_mount_status(self, msg, host_ns):
        # pointing_a = pitch, pointing_b = roll, pointing_c = yaw (centidegrees; ArduPilot: yaw body-frame)
        R = gimbal_euler_frd(math.radians(msg.pointing_b / 100.0), math.radians(msg.pointing_a / 100.0),
                             math.radians(msg.pointing_c / 100.0))
        return self._gimbal_output('MOUNT_STATUS', host_ns, R, 'vehicle')
