"""Geo node: the tracked box + telemetry -> where the target stands on the Earth (core.geoposition).

Subscribes /target/track (uavcine_interfaces/Track), /vehicle/fix (NavSatFix),
/vehicle/imu (Imu: orientation of base_link in ENU), /vehicle/gimbal
(QuaternionStamped: gimbal FLU relative to base_link), /vehicle/agl (Range) and
/camera/camera_info. Each track is paired with the telemetry sample of each kind
nearest its stamp; a sample farther than ``staleness_s`` from it means no
estimate (reason 'stale_<topic>'). Publishes /target/geo (GeoTarget),
/target/fix (NavSatFix, ENU covariance in m^2) and /target/point_enu
(PointStamped in the local ENU frame ``frame_id``), and at every track's stamp
whose telemetry pairs /camera/pose_enu (PoseStamped: camera_optical in that
frame, the camera every ray starts from: core.geoposition camera_pose), the
camera pose the shot previews (view_synthesis) need in the target's frame.

The local ENU frame is anchored at (origin_lat, origin_lon, origin_alt), or at
the first valid fix when ``origin_from_first_fix`` is true. A terrain file is an
.npz heightmap in that ENU frame (see core.terrain), so it needs a fixed origin.

Python 3.8.
"""
import dataclasses
import math
from collections import Counter
from dataclasses import dataclass
from typing import Optional  # noqa: F401  (type comments)

import numpy as np
from transforms3d.euler import quat2euler
from transforms3d.quaternions import mat2quat

from uavcine.core.camera import PinholeCamera
from uavcine.core.geoposition import (FLAG_FILTERED, FLAG_OUTLIER, SOURCES, Box, GeoConfig, GeoEstimate, Geopositioner,
                                      LocalFrame, Telemetry)
from uavcine.core.kalman import CHI2_2DOF_999, KalmanConfig
from uavcine.core.manager import OCCLUDED, TRACKING
from uavcine.core.target_filter import TargetFilter
from uavcine.core.telemetry_buffer import TelemetryBuffer
from uavcine.core.terrain import FlatGround, HeightMap

from . import msgs, vehicle
from .base import RELIABLE, Node, ParamError, param

NAVSAT_COVARIANCE_KNOWN = 3
_FRAME = 'the local ENU frame is fixed once anchored (buffered fixes, the filter and a terrain file are in it)'
_TOPICS = 'it decides which topics the node subscribes to when it starts'


@dataclass
class GeoParams:
    frame_id: str = param('map', 'Frame id of the local ENU frame of the outputs')
    origin_from_first_fix: bool = param(True, 'Anchor the local ENU frame at the first valid vehicle fix '
                                              '(else at origin_lat/lon/alt)', read_only=_FRAME)
    origin_lat: float = param(0.0, 'Latitude of the local ENU origin, deg (WGS84)', min=-90.0, max=90.0, read_only=_FRAME)
    origin_lon: float = param(0.0, 'Longitude of the local ENU origin, deg (WGS84)', min=-180.0, max=180.0, read_only=_FRAME)
    origin_alt: float = param(0.0, 'Ellipsoid height of the local ENU origin, m', read_only=_FRAME)
    camera_source: str = param('camera_info', 'Intrinsics from /camera/camera_info, or from width/height/DFOV',
                               choices=['camera_info', 'dfov'], read_only=_TOPICS)
    image_width: int = param(640, 'Image width, px (camera_source dfov, or before CameraInfo arrives)', min=1)
    image_height: int = param(480, 'Image height, px', min=1)
    dfov_deg: float = param(92.0, 'Diagonal field of view, deg', min=1.0, max=179.0)
    mount_rpy_deg: list = param([0.0, 0.0, 0.0], 'Camera head rotation relative to the gimbal frame '
                                                 '(FLU roll, pitch down, yaw), deg')
    gimbal_source: str = param('topic', "Gimbal angles from /vehicle/gimbal, or fixed_gimbal_rpy_deg for a "
                                        "fixed mount", choices=['topic', 'fixed'], read_only=_TOPICS)
    fixed_gimbal_rpy_deg: list = param([0.0, 15.0, 0.0], 'Gimbal FLU angles relative to base_link when '
                                                         'gimbal_source is fixed, deg (pitch positive down)')
    altitude_source: str = param('agl', "Camera height: 'agl' = ground under the drone + /vehicle/agl (the "
                                        "seed), 'gps' = fix altitude", choices=['agl', 'gps'], read_only=_TOPICS)
    flat_ground_alt_m: float = param(0.0, 'Ellipsoid height of the flat ground when altitude_source is gps '
                                          'and there is no terrain file, m')
    terrain_file: str = param('', 'Heightmap .npz (x0, y0, resolution, heights) in the local ENU frame; '
                                  'empty = flat earth', read_only=_FRAME)
    max_range_m: float = param(1000.0, 'Ground hits farther than this along the ray are refused, m', min=1.0)
    staleness_s: float = param(0.2, 'Attitude, gimbal or AGL farther than this from the track stamp is stale '
                                    '(no estimate), s', min=0.0)
    fix_staleness_s: float = param(0.5, 'A vehicle fix farther than this from the track stamp is stale (fixes '
                                        'arrive late: the position is carried to the stamp by fix_fit_window_s), s',
                                   min=0.0)
    fix_fit_window_s: float = param(1.0, 'Vehicle position at the image stamp: a line fitted to the fixes within '
                                         'this of it (fewer than 3: interpolated between the nearest two), s',
                                    min=0.0)
    heading_is_magnetic: bool = param(False, 'The IMU yaw is against magnetic north (declination applied)')
    declination_deg: float = param(0.0, 'Magnetic declination, deg east positive', min=-180.0, max=180.0)
    sigma_gps_h_m: float = param(1.5, 'GPS horizontal sigma per axis, m (when the fix has no covariance)',
                                 min=0.0)
    sigma_gps_v_m: float = param(3.0, 'GPS vertical sigma, m (altitude_source gps)', min=0.0)
    gps_sigma_from_fix: bool = param(True, "Use the fix's own covariance when it gives one")
    sigma_agl_m: float = param(0.3, 'AGL sensor sigma, m', min=0.0)
    sigma_attitude_deg: float = param(0.5, 'Attitude sigma per angle, deg', min=0.0)
    sigma_gimbal_deg: float = param(0.5, 'Gimbal angle sigma per angle, deg', min=0.0)
    sigma_pixel: float = param(2.0, 'Box edge sigma, px', min=0.0)
    sigma_axis_frac: float = param(0.05, "Where the object's vertical axis is in its box: sigma as a share of the "
                                         'box width (cross-arms, perspective, a detector\'s box)', min=0.0)
    border_margin_px: float = param(1.0, 'A box edge this close to the image border counts as truncated, px')
    class_names: list = param(['person', 'car', 'tower'], 'Classes with a height prior (truncated boxes)')
    class_heights_m: list = param([1.75, 1.5, 30.0], 'Height prior of each class in class_names, m')
    class_height_sigmas_m: list = param([0.1, 0.15, 3.0], 'Sigma of each class height prior, m')
    class_depths_m: list = param([0.3, 1.5, 3.8], "Per class: from the object's nearest ground point (its box's "
                                                  'bottom) to its centre along the view, m')
    class_depth_sigmas_m: list = param([0.1, 0.6, 0.4], 'Sigma of each class depth prior, m')
    box_fit_sigma: float = param(1.0, "How far the box's edges may be off the target, from the tracker's quality q "
                                      '(its predicted IoU): sigma of each edge = this x the box side x (1 - q) / '
                                      "(1 + q), one edge's shift that gives IoU q (source box_fit; 0 = off)", min=0.0)
    vertical_axis: bool = param(True, "Take the foot on the image of the object's vertical axis (nadir vanishing "
                                      "point), not straight below the box centre")
    accept_occluded: bool = param(False, 'Also geoposition boxes the tracker only predicts (state OCCLUDED)')
    kalman: bool = param(True, 'Filter the estimates with a constant-velocity Kalman filter')
    accel_sigma: float = param(0.5, 'Kalman process noise: white acceleration, m/s^2 (classes not in class_names)',
                               min=0.0)
    class_accel_sigmas: list = param([0.5, 1.0, 0.5], 'Kalman process noise of each class in class_names, '
                                                      "m/s^2: a person's walk, a car's braking and cornering "
                                                      '(velocity NEES nearest 2 on the calibration scenes, '
                                                      'docs/kalman_consistency.md)')
    gate_chi2: float = param(CHI2_2DOF_999, 'Kalman gate on the squared Mahalanobis distance (0 = off)', min=0.0)
    max_consecutive_outliers: int = param(5, 'Restart the filter after this many gated measurements in a row',
                                          min=1)
    max_gap_s: float = param(10.0, 'Restart the filter after this long without an update, s', min=0.0)
    correlated_sources: list = param(['gps', 'attitude', 'box_shape', 'class_height', 'class_depth', 'box_fit'],
                                     'Noise sources that drift slowly or repeat every frame (biases): kept out of '
                                     "the filter's averaging, added to its covariance (of: %s)" % ', '.join(SOURCES))
    publish_camera_pose: bool = param(True, 'Publish /camera/pose_enu (the camera in the local ENU frame) at each '
                                            "track's stamp whose telemetry pairs")
    correlated_fractions: list = param([0.5, 0.5, 1.0, 1.0, 1.0, 1.0],
                                       "Share of each correlated source's variance that drifts (the rest is white "
                                       'and averaged); one value for all or one per source ([0.0]: treat every '
                                       'source as white). Default: the simulator\'s sensors (GPS 1.0 m white + 1.0 m '
                                       'drift, IMU 0.3 + 0.3 deg: half of each drifts; docs/kalman_consistency.md); '
                                       "set a real receiver's from its noise")


class GeoNode(Node):
    NAME = 'geo'
    Params = GeoParams

    def setup(self):
        p = self.p
        self._camera_from_info = False
        self._flat_ground_h = None  # type: Optional[float]  # altitude_source gps: ENU height of the flat ground
        self.terrain = None  # type: Optional[HeightMap]
        if p.terrain_file:
            if p.origin_from_first_fix:
                raise ParamError('terrain_file is in a fixed ENU frame: set origin_from_first_fix false '
                                 'and origin_lat/lon/alt')
            try:
                with np.load(p.terrain_file) as data:
                    self.terrain = HeightMap.from_mapping(data)
            except (OSError, ValueError, KeyError) as exc:
                raise ParamError('terrain_file %s: %s' % (p.terrain_file, exc)) from exc
        self.frame = None if p.origin_from_first_fix else LocalFrame(p.origin_lat, p.origin_lon, p.origin_alt)
        self.geo = None  # type: Optional[Geopositioner]
        self.camera = None  # type: Optional[PinholeCamera]
        self.filter = None  # type: Optional[TargetFilter]
        self.track_id = None  # type: Optional[int]
        self.fixes, self.imus, self.gimbals, self.agls = (TelemetryBuffer(), TelemetryBuffer(), TelemetryBuffer(),
                                                          TelemetryBuffer())
        self.rejected = Counter()  # reason -> count (for tests and reports)
        self.last_estimate = None  # type: Optional[GeoEstimate]
        self.configure()
        self._subscribe()

    def configure(self):
        """Core configurations from the parameters (setup, and every change at run time)."""
        p = self.p
        if len({len(p.class_names), len(p.class_heights_m), len(p.class_height_sigmas_m), len(p.class_depths_m),
                len(p.class_depth_sigmas_m), len(p.class_accel_sigmas)}) != 1:
            raise ParamError('class_names, class_heights_m, class_height_sigmas_m, class_depths_m, '
                             'class_depth_sigmas_m and class_accel_sigmas must have the same length')
        if any(not a >= 0.0 for a in p.class_accel_sigmas):
            raise ParamError('class_accel_sigmas must be >= 0')
        unknown = sorted(set(p.correlated_sources) - set(SOURCES))
        if unknown:
            raise ParamError('correlated_sources: unknown %s (known: %s)' % (', '.join(unknown), ', '.join(SOURCES)))
        fr = list(p.correlated_fractions)
        if len(fr) == 1:
            fr = fr * len(p.correlated_sources)
        if len(fr) != len(p.correlated_sources) or any(not 0.0 <= f <= 1.0 for f in fr):
            raise ParamError('correlated_fractions: one value in [0, 1], or one per correlated source')
        self.correlated = dict(zip(p.correlated_sources, fr))
        if len(p.mount_rpy_deg) != 3 or len(p.fixed_gimbal_rpy_deg) != 3:
            raise ParamError('mount_rpy_deg and fixed_gimbal_rpy_deg need 3 angles (roll, pitch, yaw)')
        self.cfg = GeoConfig(
            sigma_gps_h_m=p.sigma_gps_h_m, sigma_gps_v_m=p.sigma_gps_v_m, sigma_agl_m=p.sigma_agl_m,
            sigma_attitude_deg=p.sigma_attitude_deg, sigma_gimbal_deg=p.sigma_gimbal_deg, sigma_pixel=p.sigma_pixel,
            altitude_source=p.altitude_source, max_range_m=p.max_range_m,
            heading_is_magnetic=p.heading_is_magnetic, declination_deg=p.declination_deg,
            mount_rpy_deg=tuple(p.mount_rpy_deg), border_margin_px=p.border_margin_px,
            sigma_axis_frac=p.sigma_axis_frac,
            class_heights={n: (h, s) for n, h, s in zip(p.class_names, p.class_heights_m, p.class_height_sigmas_m)},
            class_depths={n: (d, s) for n, d, s in zip(p.class_names, p.class_depths_m, p.class_depth_sigmas_m)},
            vertical_axis=p.vertical_axis, box_fit_sigma=p.box_fit_sigma)
        self.kcfg = KalmanConfig(accel_sigma=p.accel_sigma, gate_chi2=p.gate_chi2,
                                 max_consecutive_outliers=p.max_consecutive_outliers, max_gap_s=p.max_gap_s)
        self.class_accel = dict(zip(p.class_names, p.class_accel_sigmas))
        self.filter = None  # a changed filter config or correlation model starts a new filter
        if p.camera_source == 'dfov':
            self._set_camera(PinholeCamera.from_dfov(p.image_width, p.image_height, p.dfov_deg))
        elif self.camera is not None and getattr(self, '_camera_from_info', False):
            self._set_camera(self.camera)  # the CameraInfo camera with the new config
        else:
            self.camera = self.geo = None  # image_width/height/dfov_deg: used until CameraInfo arrives

    def _subscribe(self):
        p = self.p
        self.pub_geo = self.create_publisher('uavcine_interfaces/msg/GeoTarget', 'target/geo', RELIABLE)
        self.pub_fix = self.create_publisher('sensor_msgs/msg/NavSatFix', 'target/fix', RELIABLE)
        self.pub_point = self.create_publisher('geometry_msgs/msg/PointStamped', 'target/point_enu', RELIABLE)
        self.pub_camera = self.create_publisher('geometry_msgs/msg/PoseStamped', 'camera/pose_enu', RELIABLE)
        self.create_subscription('uavcine_interfaces/msg/Track', 'target/track', self.on_track, RELIABLE)
        vehicle.FIX.subscribe(self, self.on_fix)
        vehicle.IMU.subscribe(self, self.on_imu)
        if p.gimbal_source == 'topic':
            vehicle.GIMBAL.subscribe(self, self.on_gimbal)
        if p.altitude_source == 'agl':
            vehicle.AGL.subscribe(self, self.on_agl)
        if p.camera_source == 'camera_info':
            vehicle.CAMERA_INFO.subscribe(self, self.on_camera_info)

    # ------------------------------------------------------------------ telemetry in
    def _set_camera(self, cam: PinholeCamera) -> None:
        self.camera = cam
        ground = self.terrain
        if ground is None and self._flat_ground_h is not None:
            ground = FlatGround(self._flat_ground_h)
        self.geo = Geopositioner(cam, dataclasses.replace(self.cfg), ground)

    def on_camera_info(self, msg):
        try:
            cam = PinholeCamera.from_camera_info(msg)
        except (ValueError, TypeError, AttributeError) as exc:
            self.warn_throttled('bad_camera_info', 'dropping CameraInfo: %s' % exc)
            return
        if self.camera is None or not _same_camera(cam, self.camera):
            self._set_camera(cam)
            self._camera_from_info = True

    def on_fix(self, msg):
        lat, lon, alt = float(msg.latitude), float(msg.longitude), float(msg.altitude)
        if int(msg.status.status) < 0 or not all(math.isfinite(v) for v in (lat, lon, alt)):
            self.warn_throttled('bad_fix', 'dropping vehicle fix without a valid position')
            return
        if self.frame is None:
            self.frame = LocalFrame(lat, lon, alt)
            self.info('local ENU origin at the first fix: %.7f, %.7f, %.2f m' % (lat, lon, alt))
        cov = np.asarray(msg.position_covariance, dtype=float).reshape(-1)
        sigma_h = None
        if self.p.gps_sigma_from_fix and int(msg.position_covariance_type) > 0 and cov.size == 9 \
                and np.all(np.isfinite(cov)) and cov[0] > 0 and cov[4] > 0:
            sigma_h = math.sqrt(0.5 * (cov[0] + cov[4]))
        self.fixes.add(msgs.stamp_ns(msg.header.stamp), (self.frame.to_enu(lat, lon, alt), sigma_h))

    def on_imu(self, msg):
        q = msgs.quaternion_wxyz(msg.orientation)
        cov0 = float(np.asarray(msg.orientation_covariance, dtype=float).reshape(-1)[0])
        if cov0 == -1.0 or not np.all(np.isfinite(q)) or np.linalg.norm(q) < 1e-6:
            self.warn_throttled('bad_imu', 'dropping IMU message without an orientation')
            return
        roll, pitch, yaw = quat2euler(q / np.linalg.norm(q), 'sxyz')
        self.imus.add(msgs.stamp_ns(msg.header.stamp), np.array([roll, pitch, yaw]))

    def on_gimbal(self, msg):
        q = msgs.quaternion_wxyz(msg.quaternion)
        if not np.all(np.isfinite(q)) or np.linalg.norm(q) < 1e-6:
            self.warn_throttled('bad_gimbal', 'dropping gimbal message without a valid quaternion')
            return
        self.gimbals.add(msgs.stamp_ns(msg.header.stamp), np.array(quat2euler(q / np.linalg.norm(q), 'sxyz')))

    def on_agl(self, msg):
        r = float(msg.range)
        lo, hi = float(msg.min_range), float(msg.max_range)
        if not math.isfinite(r) or r <= 0 or (hi > lo and not lo <= r <= hi):
            self.warn_throttled('bad_agl', 'dropping AGL reading %r outside [%r, %r]' % (r, lo, hi))
            return
        self.agls.add(msgs.stamp_ns(msg.header.stamp), r)

    # ------------------------------------------------------------------ the estimate
    def _reject(self, reason: str) -> None:
        self.rejected[reason] += 1
        self.warn_throttled('reject_' + reason, 'no geoposition: %s' % reason)

    def _paired(self, buf: TelemetryBuffer, t_ns: int, name: str, angles: bool = False):
        """The value at t_ns (interpolated between the samples around it), or (None, reason)."""
        got = buf.interpolate(t_ns, extrapolate=False, angles=angles) if angles else buf.nearest(t_ns)
        if got is None:
            return None, 'no_' + name
        if abs(got[0] - t_ns) > self.p.staleness_s * 1e9:
            return None, 'stale_' + name
        return got[1], ''

    def telemetry_at(self, t_ns: int):
        """(Telemetry, gps sigma or None, '') paired with a stamp, or (None, None, reason)."""
        got = self.fixes.fit(t_ns, int(self.p.fix_fit_window_s * 1e9), key=lambda v: v[0])
        if got is None:
            return None, None, 'no_fix'
        if abs(got[0] - t_ns) > self.p.fix_staleness_s * 1e9:
            return None, None, 'stale_fix'
        enu = got[1]
        sigma_h = self.fixes.nearest(t_ns)[1][1]
        rpy, why = self._paired(self.imus, t_ns, 'imu', angles=True)
        if rpy is None:
            return None, None, why
        if self.p.gimbal_source == 'topic':
            grpy, why = self._paired(self.gimbals, t_ns, 'gimbal', angles=True)
            if grpy is None:
                return None, None, why
        else:
            grpy = np.radians(self.p.fixed_gimbal_rpy_deg)
        agl = None
        if self.p.altitude_source == 'agl':
            agl, why = self._paired(self.agls, t_ns, 'agl')
            if agl is None:
                return None, None, why
        return Telemetry(enu, rpy, grpy, agl), sigma_h, ''

    def publish_camera_pose(self, t_ns: int) -> None:
        """/camera/pose_enu at t_ns when the telemetry pairs (as for an estimate) and the camera is known."""
        tel, _, _ = self.telemetry_at(t_ns)
        pose = self.geo.camera_pose(tel) if tel is not None and self.geo is not None else None
        if pose is None:
            return
        c, R = pose
        self.pub_camera.publish(self.new(
            'geometry_msgs/msg/PoseStamped', header=msgs.header(self, t_ns, self.p.frame_id),
            pose={'position': {'x': float(c[0]), 'y': float(c[1]), 'z': float(c[2])},
                  'orientation': msgs.quaternion_fields(mat2quat(R))}))

    def on_track(self, msg):
        t_ns = msgs.stamp_ns(msg.header.stamp)
        if self.p.publish_camera_pose:
            self.publish_camera_pose(t_ns)
        state = int(msg.state)
        if state != TRACKING and not (self.p.accept_occluded and state == OCCLUDED):
            return  # no box to geoposition (detecting, lost) or only a prediction
        if self.camera is None:
            if self.p.camera_source == 'camera_info':
                self.warn_throttled('no_camera_info', 'no CameraInfo yet: using %dx%d at %.1f deg DFOV'
                                    % (self.p.image_width, self.p.image_height, self.p.dfov_deg))
            self._set_camera(PinholeCamera.from_dfov(self.p.image_width, self.p.image_height, self.p.dfov_deg))
        try:
            x, y, w, h = msgs.bbox_xywh(msg.bbox)
        except (AttributeError, TypeError, ValueError):
            self._reject('invalid_box')
            return
        tel, sigma_h, why = self.telemetry_at(t_ns)
        if tel is None:
            self._reject(why)
            return
        # this frame's inputs: flat ground at flat_ground_alt_m (ellipsoid) in this ENU frame, and the fix's own
        # sigma in a per-frame copy of the config (the node's own stays as its parameters made it)
        if self.p.altitude_source == 'gps' and self.terrain is None:
            ground_h = self.p.flat_ground_alt_m - self.frame.alt0  # (not ``h``: that is the box's height)
            if ground_h != self._flat_ground_h:  # the plane is the Geopositioner's ground: a new height, a new one
                self._flat_ground_h = ground_h
                self._set_camera(self.camera)
        self.geo.cfg = dataclasses.replace(self.cfg, sigma_gps_h_m=sigma_h if sigma_h is not None
                                           else self.p.sigma_gps_h_m)
        est = self.geo.estimate(Box(x, y, w, h, str(msg.class_id), float(msg.quality)), tel)
        self.last_estimate = est
        if not est.ok:
            self._reject(est.reason)
            return
        track_id = int(msg.track_id)
        if self.track_id != track_id:
            self.track_id = track_id
            self.filter = None
        self.publish(msg, t_ns, est)

    def accel_sigma_of(self, class_id: str) -> float:
        """The Kalman process noise of a class: its class_accel_sigmas entry, else accel_sigma."""
        return float(self.class_accel.get(class_id, self.p.accel_sigma))

    def publish(self, track, t_ns: int, est: GeoEstimate) -> None:
        flags = est.flags
        pos, cov = est.point_enu, est.cov_enu
        vel, cov_v = np.zeros(3), np.zeros((2, 2))
        rng, rng_s, brg, brg_s = est.range_m, est.range_sigma_m, est.bearing_rad, est.bearing_sigma_rad
        if self.p.kalman:
            if self.filter is None:
                kcfg = dataclasses.replace(self.kcfg, accel_sigma=self.accel_sigma_of(str(track.class_id)))
                self.filter = TargetFilter(kcfg, self.correlated, self.geo.terrain_height)
                self.t0_ns = t_ns
            f = self.filter.update((t_ns - self.t0_ns) * 1e-9, est)
            flags |= FLAG_FILTERED | (0 if f.accepted or f.skipped else FLAG_OUTLIER)
            pos, cov, vel, cov_v = f.position_enu, f.cov_enu, f.velocity_enu, f.cov_velocity_xy
            rng, rng_s, brg, brg_s = f.range_m, f.range_sigma_m, f.bearing_rad, f.bearing_sigma_rad
        lat, lon, alt = self.frame.to_geodetic(pos)
        hdr = msgs.header(self, t_ns, self.p.frame_id)
        fix = {'header': {'stamp': msgs.stamp_fields(t_ns), 'frame_id': self.p.frame_id},
               'status': {'status': 0, 'service': 0}, 'latitude': lat, 'longitude': lon, 'altitude': alt,
               'position_covariance': cov.reshape(-1).astype(np.float64),
               'position_covariance_type': NAVSAT_COVARIANCE_KNOWN}
        self.pub_geo.publish(self.new(
            'uavcine_interfaces/msg/GeoTarget', header=hdr, track_id=int(track.track_id),
            class_id=str(track.class_id), geodetic=fix,
            position_enu={'x': float(pos[0]), 'y': float(pos[1]), 'z': float(pos[2])},
            velocity_enu={'x': float(vel[0]), 'y': float(vel[1]), 'z': float(vel[2])},
            covariance_enu_xy=cov[:2, :2].reshape(-1).astype(np.float64),
            velocity_covariance_enu_xy=np.asarray(cov_v, dtype=np.float64).reshape(-1),
            range_m=float(rng), range_sigma_m=float(rng_s), bearing_rad=float(brg), bearing_sigma_rad=float(brg_s),
            flags=int(flags)))
        self.pub_fix.publish(self.new('sensor_msgs/msg/NavSatFix', **fix))
        self.pub_point.publish(self.new('geometry_msgs/msg/PointStamped', header=hdr,
                                        point={'x': float(pos[0]), 'y': float(pos[1]), 'z': float(pos[2])}))


def _same_camera(a: PinholeCamera, b: PinholeCamera) -> bool:
    return (a.width, a.height) == (b.width, b.height) and np.allclose(
        [a.fx, a.fy, a.cx, a.cy], [b.fx, b.fy, b.cx, b.cy]) and np.allclose(a.dist, b.dist)
