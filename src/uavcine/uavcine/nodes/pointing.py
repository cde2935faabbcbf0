"""Camera pointing node: GeoTarget + vehicle pose -> gimbal command that centres the target.

For vehicles and simulators steered by gimbal angles (the embedded simulator, AirSim);
an ArduPilot vehicle gets MAV_CMD_DO_SET_ROI_LOCATION from the MAVLink bridge instead.
Commands only from fresh estimates and fresh telemetry, inside a range limit; otherwise
the gimbal holds where it is.

The drone's own position is the line the geo node fits to the fixes around the estimate's image stamp
(``fix_fit_window_s``), carried to the command time: a raw fix comes late and seldom (the simulator's:
0.1 s latency, 5 Hz) with its white noise, metres at a chase's speed, and in a CHASE or a LATERAL a
stale drone position cancels part of the stale target's lag, so leading the target alone only moves the
error to its other side; and the GeoTarget is that line's position plus the camera's ray, so the GPS
error they share cancels in the aim (a line fitted around the command time would have other noise).
The slew-rate limit is on the camera's turn in the world (core.pointing.slew_in_world).

Leading: with ``lead`` on, the camera aims where the target will be ``lead_s`` after the command time:
the GeoTarget moved over the estimate's age (command time minus its image stamp: detector, tracker, geo
and queueing; docs/lead_eval.md measures it) plus ``lead_s`` (only what follows the command: the
gimbal's own delay, and its hold until the next command). ``lead_source`` 'velocity' (default) moves it
at the GeoTarget's own (Kalman) velocity; 'forecast' along the forecast node's most likely path
(``forecast/path``, nav_msgs/Path in the GeoTarget's local ENU frame). Either displacement is shrunk by
how certain the velocity is (``lead_certainty``: core.lead.certainty, |v|^2 / (|v|^2 + tr(P_v)) with the
GeoTarget's velocity covariance), so a slow target whose velocity is mostly noise is hardly led.
docs/lead_eval.md: the forecast path (SMEMO's mode or a constant velocity fitted over 1.2 s of positions
resampled at 0.4 s, made 2.5 times a second) is older and noisier over the 0.4 s lead than the filter's
velocity, and made the walking person's error worse; the velocity does not.
Python 3.8.
"""
import math
from dataclasses import dataclass

import numpy as np

import pymap3d
from transforms3d.euler import euler2quat, quat2euler

from ..core.geoposition import true_yaw
from ..core.lead import certainty, lead_displacement
from ..core.pointing import PointingConfig, slew_in_world, world_angles
from ..core.telemetry_buffer import TelemetryBuffer
from . import msgs, vehicle
from .base import RELIABLE, Node, param


_TIMER = 'the command timer is created with its period when the node starts'


@dataclass
class PointingParams:
    rate_hz: float = param(10.0, 'Gimbal command rate', min=0.5, max=100.0,
        read_only=_TIMER)
    max_target_age_s: float = param(1.0, 'Ignore GeoTargets older than this (image stamp vs now)', min=0.0)
    max_telemetry_age_s: float = param(0.5, 'Ignore vehicle fix/attitude older than this', min=0.0)
    max_range_m: float = param(300.0, 'Never point at estimates farther than this', min=1.0)
    aim_height_m: float = param(1.0, 'Aim this far above the target ground point', min=0.0)
    max_rate_dps: float = param(60.0, "Slew-rate limit of the camera's direction in the world, per axis (pitch, "
                                "yaw), deg/s: the body's own turns are made up at any rate", min=1.0)
    min_pitch_deg: float = param(-30.0, 'Gimbal pitch limit (up; positive is down)', min=-90.0, max=90.0)
    max_pitch_deg: float = param(90.0, 'Gimbal pitch limit (down)', min=0.0, max=90.0)
    heading_is_magnetic: bool = param(False, 'The IMU yaw is against magnetic north (declination applied)')
    declination_deg: float = param(0.0, 'Magnetic declination, deg east positive', min=-180.0, max=180.0)
    fix_fit_window_s: float = param(1.0, "The drone's position at the command time: a line fitted to its fixes "
                                    "within this of the estimate's image stamp (as geo's fix_fit_window_s: the "
                                    'GPS error cancels), carried to the command time (fewer than 3: extrapolated '
                                    'from the last two; 0: the newest fix as it is), s', min=0.0, max=10.0)
    lead: bool = param(True, 'Aim where the target will be lead_s after the command time (the estimate\'s age made '
                       'up), not at the estimate itself (docs/lead_eval.md measures both)')
    lead_source: str = param('velocity', "With lead: 'velocity' moves the estimate at the GeoTarget's own (Kalman) "
                             "velocity; 'forecast' along the forecast node's most likely path (forecast/path; "
                             'without a fresh one it aims at the estimate). docs/lead_eval.md: the velocity is the '
                             'fresher, less noisy of the two over a lead of tenths of a second',
                             choices=['velocity', 'forecast'])
    lead_certainty: bool = param(True, "With lead: shrink the displacement by how certain the target's velocity is, "
                                 '|v|^2 / (|v|^2 + tr(P_v)) with the GeoTarget velocity covariance (core.lead): a '
                                 'target whose velocity is mostly noise is hardly led')
    lead_s: float = param(0.05, 'With lead: how far past the command time to aim, s: a command holds until the '
                          'next one, so half the command period (0.05 s at 10 Hz) centres the hold; add the '
                          "gimbal's own response time (the simulator's is none)", min=0.0, max=5.0)
    max_forecast_age_s: float = param(1.5, "lead_source 'forecast': lead only with a forecast whose present is at "
                                      'most this old', min=0.0)


class PointingNode(Node):
    NAME = 'pointing'
    Params = PointingParams

    def setup(self):
        self.configure()
        self.pub = self.create_publisher('geometry_msgs/msg/QuaternionStamped', 'gimbal/command', RELIABLE)
        self.create_subscription('uavcine_interfaces/msg/GeoTarget', 'target/geo', self.on_geo, RELIABLE)
        vehicle.FIX.subscribe(self, self.on_fix)
        vehicle.IMU.subscribe(self, self.on_imu)
        vehicle.GIMBAL.subscribe(self, self.on_gimbal)
        self.create_subscription('nav_msgs/msg/Path', 'forecast/path', self.on_forecast, RELIABLE)
        self.forecast = None  # (stamps s, east, north) of the target's most likely future
        self.fixes = TelemetryBuffer(maxlen=100)
        self.forecast_ns = None
        self.led = 0  # commands whose aim was led
        self.create_timer(1.0 / self.p.rate_hz, self.on_timer)
        self.geo = self.fix = self.rpy = None
        self.velocity, self.velocity_cov = (0.0, 0.0), ()  # the GeoTarget's (east, north) m/s and its covariance
        self.geo_ns = self.fix_ns = self.imu_ns = None
        self.angles = None  # last commanded (pitch, yaw) relative to the body
        self.world = None   # and the camera's (pitch, yaw) in the world it meant
        self.last_ns = None
        self.commands = 0

    def configure(self):
        self.cfg = PointingConfig(self.p.max_rate_dps, self.p.min_pitch_deg, self.p.max_pitch_deg)

    def on_geo(self, msg):
        lat, lon = float(msg.geodetic.latitude), float(msg.geodetic.longitude)
        if not (math.isfinite(lat) and math.isfinite(lon)):
            self.warn_throttled('geo_nan', 'dropping a GeoTarget without a position')
            return
        self.geo = (lat, lon, float(msg.geodetic.altitude))
        self.geo_ns = msgs.stamp_ns(msg.header.stamp)
        self.velocity = (float(msg.velocity_enu.x), float(msg.velocity_enu.y))
        self.velocity_cov = tuple(float(c) for c in msg.velocity_covariance_enu_xy)

    def on_fix(self, msg):
        vals = (float(msg.latitude), float(msg.longitude), float(msg.altitude))
        if not all(math.isfinite(v) for v in vals) or int(msg.status.status) < 0:
            self.warn_throttled('fix', 'no valid vehicle fix: gimbal holds')
            return
        self.fix, self.fix_ns = vals, msgs.stamp_ns(msg.header.stamp)
        self.fixes.add(self.fix_ns, vals)

    def on_imu(self, msg):
        q = msgs.unit_quaternion(msg.orientation)
        if q is None:
            self.warn_throttled('imu', 'dropping an attitude that is not a unit quaternion')
            return
        roll, pitch, yaw = quat2euler(q, 'sxyz')
        yaw = true_yaw(yaw, self.p.declination_deg, self.p.heading_is_magnetic)
        self.rpy, self.imu_ns = (roll, pitch, yaw), msgs.stamp_ns(msg.header.stamp)

    def on_forecast(self, msg):
        try:
            t = np.array([msgs.stamp_ns(p.header.stamp) for p in msg.poses], dtype=np.int64)
            e = np.array([float(p.pose.position.x) for p in msg.poses])
            n = np.array([float(p.pose.position.y) for p in msg.poses])
        except (AttributeError, TypeError, ValueError):
            t = np.zeros(0)
        if len(t) < 2 or not (np.all(np.isfinite(e)) and np.all(np.isfinite(n))) or np.any(np.diff(t) <= 0):
            self.warn_throttled('forecast', 'dropping a forecast path that is not a finite, time-ordered path')
            return
        self.forecast = ((t - t[0]) / 1e9, e, n)
        self.forecast_ns = int(t[0])

    def lead_offset(self, now_ns: int):
        """The aim point's (east, north) displacement from the estimate's stamp to lead_s after ``now_ns``, or
        None (leading off; a GeoTarget without a velocity; lead_source 'forecast' without a fresh forecast that
        reaches that far). Shrunk (lead_certainty) by core.lead.certainty of the displacement's own velocity
        under the GeoTarget's velocity covariance."""
        if not self.p.lead or self.geo_ns is None:
            return None
        ahead_s = (now_ns - self.geo_ns) / 1e9 + self.p.lead_s
        if self.p.lead_source == 'velocity':
            if self.velocity == (0.0, 0.0):   # an unfiltered GeoTarget: no velocity known
                return None
            d = lead_displacement(self.velocity, self.velocity_cov, ahead_s, shrink=self.p.lead_certainty)
            return float(d[0]), float(d[1])
        if self.forecast is None or abs(self.geo_ns - self.forecast_ns) / 1e9 > self.p.max_forecast_age_s:
            return None
        t, e, n = self.forecast
        t0 = (self.geo_ns - self.forecast_ns) / 1e9
        t1 = t0 + ahead_s
        if t0 < 0 or t1 <= t0 or t1 > t[-1]:
            return None
        d = np.array([np.interp(t1, t, e) - np.interp(t0, t, e), np.interp(t1, t, n) - np.interp(t0, t, n)])
        k = certainty(d / ahead_s, self.velocity_cov) if self.p.lead_certainty else 1.0
        return float(k * d[0]), float(k * d[1])

    def vehicle_at(self, now_ns: int):
        """(lat, lon, alt) of the drone at ``now_ns``: the line fitted to the fixes within fix_fit_window_s of the
        estimate's stamp (those geo fitted for it), carried to ``now_ns``."""
        if self.p.fix_fit_window_s <= 0:
            return self.fix
        got = self.fixes.fit(self.geo_ns, int(self.p.fix_fit_window_s * 1e9), at_ns=now_ns)
        return self.fix if got is None else tuple(float(v) for v in got[1])

    def on_gimbal(self, msg):
        if self.angles is None:  # start slewing from where the gimbal really is
            _, pitch, yaw = quat2euler(msgs.quaternion_wxyz(msg.quaternion), 'sxyz')
            self.angles = (pitch, yaw)

    def on_timer(self):
        now = self.now_ns()
        dt = 0.0 if self.last_ns is None else (now - self.last_ns) / 1e9
        self.last_ns = now
        if self.geo is None or self.fix is None or self.rpy is None:
            return
        if (now - self.geo_ns) / 1e9 > self.p.max_target_age_s:
            return  # stale estimate: hold
        if max(now - self.fix_ns, now - self.imu_ns) / 1e9 > self.p.max_telemetry_age_s:
            self.warn_throttled('stale', 'vehicle telemetry is stale: gimbal holds')
            return
        e, n, u = pymap3d.geodetic2enu(self.geo[0], self.geo[1], self.geo[2] + self.p.aim_height_m,
                                       *self.vehicle_at(now))
        lead = self.lead_offset(now)
        if lead is not None:   # small offsets: ENU axes at the target and at the drone agree to ~range/6371 km
            e, n = e + lead[0], n + lead[1]
            self.led += 1
        if math.hypot(e, n) > self.p.max_range_m:
            self.warn_throttled('range', 'target estimate %.0f m away, beyond max_range_m: gimbal holds'
                                % math.hypot(e, n))
            return
        if self.world is None and self.angles is not None:
            self.world = world_angles(self.angles, self.rpy)
        self.angles, self.world = slew_in_world(self.world, (e, n, u), self.rpy, dt, self.cfg)
        q = euler2quat(0.0, self.angles[0], self.angles[1], 'sxyz')
        self.pub.publish(self.new('geometry_msgs/msg/QuaternionStamped', header=msgs.header(self, now, 'base_link'),
                                  quaternion=msgs.quaternion_fields(q)))
        self.commands += 1
