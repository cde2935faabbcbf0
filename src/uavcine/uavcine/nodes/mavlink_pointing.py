"""The MAVLink bridge's pointing: the latest GeoTarget -> MAV_CMD_DO_SET_ROI_LOCATION and/or
MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW, the checks that refuse it, the ROI's release and its lead.

``MavlinkPointing`` is a part of ``nodes.mavlink_bridge.MavlinkBridgeNode`` (split out of it, no behaviour of its
own): its methods use the bridge's link (``conn``, ``mav``, ``tel``), counters (``stats``, ``skipped``, ``acks``),
plausibility checks and the parameters of ``MavlinkPointingParams`` (which the bridge's parameters include).

Leading the ROI: an autopilot in ROI mode points the camera at the location as sent, so it lags the target by
the estimate's age (detector, tracker, geo) and then by its hold until the next ROI. With ``roi_lead_s`` > 0 the
location is moved along the GeoTarget's (Kalman) velocity over the estimate's age + ``roi_lead_s``, shrunk by how
certain that velocity is (``core.lead``, the rule the pointing node leads gimbal angles by), and converted back
to latitude/longitude with pymap3d. The refusals (range, geofence) look at the estimate itself, as before.

Python 3.8.
"""
import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np
import pymap3d

from ..core.geofence import inside_polygon, parse_polygon
from ..core.lead import lead_displacement
from . import msgs
from .base import ParamError, param

GEO_FLAG_STALE = 2  # uavcine_interfaces/GeoTarget.FLAG_STALE
ENDPOINTS = 'the poll timer and the GeoTarget subscription are created when the node starts'


@dataclass
class MavlinkPointingParams:
    point_camera: bool = param(True, 'Point the camera at /target/geo',
        read_only=ENDPOINTS)
    pointing_command: str = param('roi', "'roi' = MAV_CMD_DO_SET_ROI_LOCATION (the autopilot keeps the camera on "
                                         "the point; ArduCopter in Auto/Guided also turns the nose to it), "
                                         "'gimbal_manager' = MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW (vehicle heading "
                                         "untouched; falls back to roi without a gimbal manager), 'both'",
                                  choices=['roi', 'gimbal_manager', 'both'])
    roi_command: str = param('command_int', 'Send the ROI as COMMAND_INT (exact lat/lon, frame given) or '
                                            'COMMAND_LONG (float32 lat/lon)', choices=['command_int', 'command_long'])
    roi_rate_hz: float = param(2.0, 'At most this many pointing commands per second', min=0.01, max=50.0)
    target_max_age_s: float = param(1.0, 'Only GeoTargets younger than this (stamp vs host time) are used, s',
                                    min=0.0)
    telemetry_timeout_s: float = param(1.0, 'No command unless position and attitude arrived within this, s',
                                       min=0.0)
    max_range_m: float = param(300.0, 'No command for targets farther than this from the vehicle (horizontal), m',
                               min=1.0)
    geofence: str = param('', "Polygon the target must lie in: 'lat,lon;lat,lon;lat,lon;...' (deg, >= 3 "
                              "vertices); empty = none")
    max_target_sigma_m: float = param(30.0, 'No command when the GeoTarget horizontal sigma (sqrt of the largest '
                                            'covariance eigenvalue) exceeds this, m; 0 = no check', min=0.0)
    reject_flagged_stale: bool = param(True, 'No command for GeoTargets flagged FLAG_STALE')
    gimbal_device_id: int = param(0, 'Gimbal device id in the commands (0 = all/primary)', min=0, max=255)
    max_vehicle_speed_mps: float = param(60.0, 'A position that moved faster than this since the last one is a GPS '
                                               'jump: no pointing command for plausibility_hold_s, m/s; 0 = no '
                                               'check', min=0.0)
    frozen_telemetry_s: float = param(5.0, 'Position and attitude bit-for-bit unchanged for this long while their '
                                           'stamps advance = frozen telemetry: no pointing command, s; 0 = no '
                                           'check', min=0.0)
    plausibility_hold_s: float = param(2.0, 'After a GPS or autopilot clock jump refuse pointing this long, s', min=0.0)
    release_roi_after_s: float = param(3.0, 'After this long without a pointing command (target lost, stale or '
                                            'refused), send MAV_CMD_DO_SET_ROI_NONE once so the autopilot stops '
                                            'looking at the last position, s; 0 = never', min=0.0)
    roi_lead_s: float = param(0.25, "Lead the ROI: move it at the GeoTarget's velocity, shrunk by how certain that "
                              'velocity is (core.lead, as the pointing node), to where the target will be this long '
                              'after the command is sent, the estimate\'s age (send time - image stamp) made up as '
                              'well; the autopilot holds an ROI until the next one, 1/roi_rate_hz later, so half '
                              "that period (0.25 s at 2 Hz) centres the hold; add the mount's own response time. "
                              "0 = no lead: the GeoTarget's position as it is", min=0.0, max=5.0)
    roi_lead_certainty: bool = param(True, 'With roi_lead_s: shrink the lead by |v|^2 / (|v|^2 + tr(P_v)) (the '
                                     'GeoTarget velocity covariance; core.lead.certainty)')


def parse_geofence(text: str) -> Optional[List[Tuple[float, float]]]:
    try:
        return parse_polygon(text)
    except ValueError as exc:
        raise ParamError('parameter geofence: %s' % exc) from None


def led_roi(target, now_ns: int, lead_s: float, certain: bool = True) -> Tuple[float, float, bool]:
    """(lat, lon, led) of the ROI for a GeoTarget at host time ``now_ns``: its position, led (lead_s > 0) along its
    velocity over its age + lead_s (core.lead.lead_displacement, shrunk by the velocity's certainty with
    ``certain``). eval/lead_eval emulates the bridge's ROI with it."""
    lat, lon = float(target.geodetic.latitude), float(target.geodetic.longitude)
    if lead_s <= 0:
        return lat, lon, False
    ahead_s = (now_ns - msgs.stamp_ns(target.header.stamp)) / 1e9 + lead_s
    d = lead_displacement((float(target.velocity_enu.x), float(target.velocity_enu.y)),
                          tuple(float(c) for c in target.velocity_covariance_enu_xy), ahead_s, shrink=certain)
    if not np.any(d):
        return lat, lon, False
    # the GeoTarget's velocity is in its local ENU frame: its axes at the target agree with that frame's to
    # ~range / 6371 km, nothing at a lead of metres
    led_lat, led_lon, _ = pymap3d.enu2geodetic(float(d[0]), float(d[1]), 0.0, lat, lon,
                                               float(target.geodetic.altitude))
    return float(led_lat), float(led_lon), True


class MavlinkPointing:
    """The MAVLink bridge's pointing methods (see the module's docstring)."""

    def on_geo(self, msg):
        lat, lon, alt = float(msg.geodetic.latitude), float(msg.geodetic.longitude), float(msg.geodetic.altitude)
        if not all(math.isfinite(v) for v in (lat, lon, alt)) or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            self.warn_throttled('bad_geo', 'dropping a GeoTarget without a valid position')
            self.skipped['invalid_target'] += 1
            return
        self.target = msg
        self.target_new = True

    def pointing_refusal(self, now: int) -> str:
        """Why no command may be sent now ('' = go)."""
        p, tel, tgt = self.p, self.tel, self.target
        if self.conn is None or not self.link_up:
            return 'link_down'
        if tel.position is None or tel.R_enu_base is None:
            return 'no_telemetry'
        if max(now - tel.position_ns, now - tel.attitude_ns) > p.telemetry_timeout_s * 1e9:
            return 'stale_telemetry'
        if tel.position['status'] < 0:
            return 'no_gps_fix'
        implausible = self.plausible.refusal(now) or ('clock_jump' if now < self.clock_jump_until else '')
        if implausible:
            return implausible
        age = now - msgs.stamp_ns(tgt.header.stamp)
        if age > p.target_max_age_s * 1e9:
            return 'stale_target'
        if age < -p.target_max_age_s * 1e9:
            return 'target_from_the_future'
        if p.reject_flagged_stale and int(tgt.flags) & GEO_FLAG_STALE:
            return 'target_flagged_stale'
        lat, lon = float(tgt.geodetic.latitude), float(tgt.geodetic.longitude)
        pos = tel.position
        e, n, _ = pymap3d.geodetic2enu(lat, lon, pos['alt'], pos['lat'], pos['lon'], pos['alt'])
        if math.hypot(e, n) > p.max_range_m:
            return 'out_of_range'
        if self.geofence is not None and not inside_polygon(lat, lon, self.geofence):
            return 'outside_geofence'
        if p.max_target_sigma_m > 0:
            cov = np.asarray(tgt.covariance_enu_xy, dtype=float).reshape(-1)
            if cov.size == 4 and np.all(np.isfinite(cov)):
                sigma = math.sqrt(max(0.0, float(np.linalg.eigvalsh(cov.reshape(2, 2)).max())))
                if sigma > p.max_target_sigma_m:
                    return 'uncertain_target'
        return ''

    def roi_location(self, now: int) -> Tuple[float, float]:
        """(lat, lon) of the ROI for the latest GeoTarget at host time ``now`` (``led_roi``)."""
        lat, lon, led = led_roi(self.target, now, self.p.roi_lead_s, self.p.roi_lead_certainty)
        if led:
            self.stats['roi_led'] += 1
        return lat, lon

    def _point(self, now: int) -> bool:
        """Send a pointing command for a new GeoTarget if allowed; True if one was sent."""
        if self.target is None or not self.target_new:
            return False
        self.target_new = False
        why = self.pointing_refusal(now)
        if why:
            self.skipped[why] += 1
            self.warn_throttled('refuse_' + why, 'not pointing the camera: %s' % why.replace('_', ' '))
            return False
        tgt, pos, p, mav = self.target, self.tel.position, self.p, self.mav
        lat, lon = self.roi_location(now)
        # ROI altitude relative to home: the vehicle's height above home plus the target's height below the
        # vehicle (both ellipsoid heights from the same fix, so the geoid cancels)
        alt_rel = pos['relative_alt'] + float(tgt.geodetic.altitude) - pos['alt']
        use_gm = p.pointing_command in ('gimbal_manager', 'both') and self.tel.gimbal_manager_seen \
            and not self.gimbal_manager_refused
        use_roi = p.pointing_command in ('roi', 'both') or not use_gm
        if p.pointing_command != 'roi' and not use_gm:
            self.warn_throttled('no_gimbal_manager', 'the vehicle has no gimbal manager: pointing with ROI')
        try:
            if use_roi:
                if p.roi_command == 'command_int':
                    self.conn.mav.command_int_send(self.tel.sysid, p.target_component,
                                                   mav.MAV_FRAME_GLOBAL_RELATIVE_ALT, mav.MAV_CMD_DO_SET_ROI_LOCATION,
                                                   0, 0, float(p.gimbal_device_id), 0, 0, 0,
                                                   int(round(lat * 1e7)), int(round(lon * 1e7)), float(alt_rel))
                else:
                    self._send_command_long(mav.MAV_CMD_DO_SET_ROI_LOCATION,
                                            [float(p.gimbal_device_id), 0, 0, 0, lat, lon, float(alt_rel)])
                self.stats['roi_sent'] += 1
            if use_gm:
                if not self.configured_gimbal_manager:  # ask for primary control (PX4 needs it; harmless elsewhere)
                    self._send_command_long(mav.MAV_CMD_DO_GIMBAL_MANAGER_CONFIGURE,
                                            [p.source_system, p.source_component, -1, -1, 0, 0,
                                             float(p.gimbal_device_id)])
                    self.configured_gimbal_manager = True
                az, el, _ = pymap3d.geodetic2aer(lat, lon, float(tgt.geodetic.altitude), pos['lat'], pos['lon'],
                                                 pos['alt'])
                yaw = (az + 180.0) % 360.0 - 180.0  # deg from north, clockwise
                flags = mav.GIMBAL_MANAGER_FLAGS_YAW_LOCK | mav.GIMBAL_MANAGER_FLAGS_YAW_IN_EARTH_FRAME
                self._send_command_long(mav.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW,
                                        [float(el), float(yaw), float('nan'), float('nan'), float(flags), 0,
                                         float(p.gimbal_device_id)])
                self.stats['pitchyaw_sent'] += 1
        except OSError as exc:
            self.stats['write_errors'] += 1
            self.warn_throttled('write_error', 'cannot send on %s: %s' % (p.url, exc))
            return False
        self.last_command = (now, lat, lon, alt_rel)
        self.roi_released = False
        return True

    def _release(self, now: int) -> None:
        """Hand the camera back (MAV_CMD_DO_SET_ROI_NONE) once no pointing command went out for
        release_roi_after_s: otherwise the autopilot keeps staring at where the target was last seen."""
        if self.last_command is None or self.roi_released or self.conn is None or not self.link_up:
            return
        quiet_s = (now - self.last_command[0]) / 1e9
        if quiet_s <= self.p.release_roi_after_s:
            return
        try:
            self._send_command_long(self.mav.MAV_CMD_DO_SET_ROI_NONE,
                                    [float(self.p.gimbal_device_id), 0, 0, 0, 0, 0, 0])
            if self.stats['pitchyaw_sent'] > self.pitchyaw_at_release:
                # ROI_NONE does not end gimbal-manager pointing: ArduPilot kept the mount where the last
                # PITCHYAW put it (SITL, issue 19); its default mode (MNT1_DEFLT_MODE, RC targeting if unknown)
                # hands it back
                mode = self.tel.mount_params.get('MNT1_DEFLT_MODE', self.mav.MAV_MOUNT_MODE_RC_TARGETING)
                self._send_command_long(self.mav.MAV_CMD_DO_MOUNT_CONFIGURE, [float(mode), 0, 0, 0, 0, 0, 0])
                self.pitchyaw_at_release = self.stats['pitchyaw_sent']
                self.stats['mount_mode_restored'] += 1
        except OSError as exc:
            self.stats['write_errors'] += 1
            self.warn_throttled('write_error', 'cannot send on %s: %s' % (self.p.url, exc))
            return
        self.roi_released = True
        self.stats['roi_released'] += 1
        self.warn('no pointing command for %.1f s (target lost, stale or refused): released the camera '
                  '(MAV_CMD_DO_SET_ROI_NONE)' % quiet_s)
