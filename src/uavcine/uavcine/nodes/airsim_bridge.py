"""AirSim bridge (Cosys-AirSim's ``cosysairsim`` client, or Microsoft's ``airsim`` where a user has it).

The seed flies its novel-view work in AirSim on Unreal Engine. This node turns an
AirSim multirotor into what uavcine's other nodes read, and flies the seed's
shot types through AirSim's API:

* /camera/image_raw (rgb8) and /camera/camera_info from ``simGetImages`` (uncompressed
  Scene) of ``camera_name``. AirSim's ``FOV_Degrees`` is the HORIZONTAL field of view
  (fx = W/2 / tan(FOV/2), square pixels, principal point at the centre); the
  seed's 92 deg diagonal at 640x480 is FOV_Degrees = 79.278 (sim/airsim/settings.json).
* /vehicle/fix (NavSatFix), /vehicle/imu (orientation of base_link in ENU),
  /vehicle/gimbal (camera head relative to base_link, from the image's own camera
  pose) and /vehicle/agl (Range), all stamped with the image's time, so every
  image has telemetry of the same instant. Geodetic positions come from AirSim's
  home geopoint and the NED positions through pymap3d (WGS84).
* /truth/target/fix (NavSatFix): ground truth of ``target_object`` from
  ``simGetObjectPose``, for evaluation.
* /diagnostics: connection state.
* Gimbal control: /gimbal/command (QuaternionStamped, gimbal FLU relative to
  base_link, what the pointing node publishes) -> ``simSetCameraPose``.
* Shots: ``shot`` = orbit | flyby | flyover around ``shot_target_object`` (or
  ``shot_center_enu``): take off, ``moveToPositionAsync`` to the start,
  ``moveOnPathAsync`` along the shot, then hover (and end an offline run).
  Geometry in the vocabulary of the embedded simulator (uavcine.sim.shots): ENU
  angles, ORBIT radius/start angle/direction, FLYBY heading/side/distance.

Frames: AirSim's world is NED (x north, y east, z down) with its origin at the
PlayerStart; vehicle poses are relative to where the vehicle started
(``vehicle_start_ned``, the vehicle's X, Y, Z in settings.json), object poses are
in the world frame. Height above ground: ``agl_source`` 'ground_plane' (the flat
ground at world z = ``ground_z_ned``) or 'distance_sensor' (a downward AirSim
distance sensor, tilt-corrected).

Time: AirSim stamps images with its own clock; the stamps are mapped onto host
time (core.timesync, receipt envelope). ``lockstep`` pauses the simulation and
advances it by exactly one timer period per tick (simContinueForTime), so an
offline run is paced by the host and images are evenly spaced.

If the server does not answer at start, setup fails with one line after
``connect_attempts``; if it goes away later, the node keeps trying to reconnect
and reports it on /diagnostics (and ends an offline run after ``max_lost_s``).
Python 3.8.
"""
import math
import time
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np
import pymap3d
from transforms3d.quaternions import mat2quat, quat2mat

from ..core.camera import PinholeCamera, rot_flu
from ..core.ned_enu import D_FRD_FLU, R_enu_flu_from_ned_frd, quat_wxyz
from ..core.timesync import TimeMapper, TimeSyncConfig
from . import msgs, vehicle
from .base import RELIABLE, Node, ParamError, param
from .diagnostics import ERROR, OK, diagnostic_array, diagnostic_status

SHOTS = ['none', 'orbit', 'flyby', 'flyover']


class AirSimUnreachable(ParamError):
    """No AirSim server answers at the configured host/port (one line for the user)."""


def import_airsim():
    """cosysairsim (maintained) or Microsoft's airsim (if a user has it installed)."""
    try:
        import cosysairsim as airsim  # lazy: optional dependency (the AirSim client)
    except ImportError:
        try:
            import airsim  # lazy: optional dependency (the AirSim client)
        except ImportError:
            raise ParamError('the AirSim bridge needs the cosysairsim package (pip install cosysairsim)') from None
    return airsim


_CONNECT = 'the AirSim connection, vehicle and camera are set up when the node starts'
_SHOT = 'the shot and the vehicle frame are planned when the node starts'


@dataclass
class AirSimBridgeParams:
    host: str = param('127.0.0.1', 'Address of the AirSim RPC server (the machine running Unreal)',
        read_only=_CONNECT)
    port: int = param(41451, 'AirSim RPC port (ApiServerPort in settings.json)', min=1, max=65535,
        read_only=_CONNECT)
    rpc_timeout_s: float = param(10.0, 'Timeout of one RPC call, s (the client checks it once a second)', min=1.0)
    connect_attempts: int = param(3, 'Connection attempts at start before giving up with an error', min=1,
        read_only=_CONNECT)
    connect_retry_s: float = param(1.0, 'Wait between connection attempts, s', min=0.0)
    max_lost_s: float = param(0.0, 'End the run after the server is gone this long, s (0 = keep retrying)',
                              min=0.0)
    vehicle_name: str = param('', "AirSim vehicle name ('' = the first/default vehicle)",
        read_only=_CONNECT)
    camera_name: str = param('cinecam', 'AirSim camera name (settings.json Cameras key, or 0..4 / front_center)',
        read_only=_CONNECT)
    rate_hz: float = param(10.0, 'Images and telemetry per second (host time)', min=0.1, max=120.0,
        read_only=_CONNECT)
    image_channel_order: str = param('bgr', "Channel order of AirSim's uncompressed Scene images (AirSim sends "
                                            "BGR); published as rgb8", choices=['bgr', 'rgb'])
    publish_images: bool = param(True, 'Publish /camera/image_raw and /camera/camera_info')
    frame_id: str = param('camera_optical', 'Frame id of the images and CameraInfo')
    lockstep: bool = param(False, 'Pause AirSim and advance it one timer period per tick (deterministic pacing)',
        read_only=_CONNECT)
    vehicle_start_ned: list = param([0.0, 0.0, 0.0], "The vehicle's start in the world frame (settings.json "
                                                     "X, Y, Z), m: vehicle poses are relative to it",
        read_only=_SHOT)
    agl_source: str = param('ground_plane', "'ground_plane': flat ground at world z = ground_z_ned; "
                                            "'distance_sensor': a downward AirSim distance sensor",
                            choices=['ground_plane', 'distance_sensor'])
    ground_z_ned: float = param(0.0, 'World NED z of the flat ground (0 = the PlayerStart height), m')
    distance_sensor_name: str = param('agl', 'AirSim distance sensor for agl_source distance_sensor',
        read_only=_CONNECT)
    fix_sigma_m: float = param(0.0, 'Horizontal sigma written into /vehicle/fix (AirSim poses are truth); 0 = '
                                    'covariance unknown', min=0.0)
    target_object: str = param('', "Unreal object whose pose is published as /truth/target/fix ('' = none)")
    gimbal_control: bool = param(True, 'Apply /gimbal/command to the camera with simSetCameraPose',
        read_only=_CONNECT)
    camera_position_frd: list = param([0.3, 0.0, 0.1], "Camera position relative to the vehicle (FRD, m) kept "
                                                       "by simSetCameraPose: the camera's X, Y, Z in settings.json",
        read_only=_CONNECT)
    initial_gimbal_pitch_deg: float = param(15.0, 'Camera pitch below the body set at start (seed: 15 deg)',
                                            min=-90.0, max=90.0,
        read_only=_CONNECT)
    set_initial_gimbal: bool = param(True, 'Set initial_gimbal_pitch_deg at start (false: keep settings.json)',
        read_only=_CONNECT)
    shot: str = param('none', 'Fly a shot through the API: orbit, flyby, flyover (none = leave the vehicle alone)',
                      choices=SHOTS,
        read_only=_SHOT)
    shot_target_object: str = param('', 'Unreal object the shot is built around (else shot_center_enu)',
        read_only=_SHOT)
    shot_center_enu: list = param([0.0, 0.0], 'Ground point the shot is built around, world ENU (x east, y north), m',
        read_only=_SHOT)
    shot_distance_m: float = param(30.0, 'ORBIT radius / FLYBY closest distance, m', min=0.0,
        read_only=_SHOT)
    shot_altitude_m: float = param(30.0, 'Flight height above the ground, m', min=1.0,
        read_only=_SHOT)
    shot_speed_mps: float = param(6.0, 'Speed along the shot, m/s', min=0.1)
    shot_length_m: float = param(120.0, 'FLYBY/FLYOVER path length, m (centred on the closest approach)', min=1.0,
        read_only=_SHOT)
    shot_heading_deg: float = param(0.0, 'FLYBY/FLYOVER direction of travel, ENU deg (0 = east, CCW)',
        read_only=_SHOT)
    shot_side: str = param('right', 'FLYBY: the target on this side of the path', choices=['left', 'right'],
        read_only=_SHOT)
    shot_start_angle_deg: float = param(0.0, 'ORBIT: ENU bearing of the drone seen from the centre at the start',
        read_only=_SHOT)
    shot_direction: str = param('ccw', 'ORBIT direction', choices=['ccw', 'cw'],
        read_only=_SHOT)
    shot_turns: float = param(1.0, 'ORBIT: number of turns', min=0.05,
        read_only=_SHOT)
    shot_step_m: float = param(5.0, 'Spacing of the path points sent to moveOnPathAsync, m', min=0.5,
        read_only=_SHOT)
    shutdown_after_shot: bool = param(True, 'Ask the host to stop when the shot is done')
    shot_on_command: bool = param(False, 'Start the shot only on a START /shot/command (uavcine_interfaces/'
                                  'ShotCommand, e.g. a gesture); HOLD and END hover wherever the drone is',
                                  read_only=_SHOT)


def shot_path_enu(kind: str, center_xy: Sequence[float], ground_z: float, p) -> np.ndarray:
    """Waypoints (N, 3) of a shot in world ENU, from the shot_* parameters ``p``."""
    cx, cy = float(center_xy[0]), float(center_xy[1])
    z = ground_z + p.shot_altitude_m
    if kind == 'orbit':
        r = max(p.shot_distance_m, 1.0)
        arc = 2 * math.pi * p.shot_turns
        n = max(8, int(math.ceil(arc * r / p.shot_step_m)))
        sign = 1.0 if p.shot_direction == 'ccw' else -1.0
        a = math.radians(p.shot_start_angle_deg) + sign * np.linspace(0.0, arc, n + 1)
        return np.stack([cx + r * np.cos(a), cy + r * np.sin(a), np.full(a.shape, z)], axis=1)
    if kind in ('flyby', 'flyover'):
        h = math.radians(p.shot_heading_deg)
        u = np.array([math.cos(h), math.sin(h)])
        left = np.array([-u[1], u[0]])
        d = p.shot_distance_m if kind == 'flyby' else 0.0
        side = 1.0 if p.shot_side == 'right' else -1.0  # target on the right = path on the target's left
        n = max(2, int(math.ceil(p.shot_length_m / p.shot_step_m)) + 1)
        s = np.linspace(-p.shot_length_m / 2, p.shot_length_m / 2, n)
        xy = np.array([cx, cy]) + side * d * left + s[:, None] * u
        return np.column_stack([xy, np.full(n, z)])
    raise ValueError('unknown shot %r' % kind)


def ned_to_enu(v) -> np.ndarray:
    return np.array([float(v[1]), float(v[0]), -float(v[2])])


def enu_to_ned(v) -> np.ndarray:
    return np.array([float(v[1]), float(v[0]), -float(v[2])])


class AirSimBridgeNode(Node):
    NAME = 'airsim'
    Params = AirSimBridgeParams

    def setup(self):
        p = self.p
        if len(p.vehicle_start_ned) != 3 or len(p.camera_position_frd) != 3 or len(p.shot_center_enu) != 2:
            raise ParamError('vehicle_start_ned and camera_position_frd need 3 values, shot_center_enu 2')
        self.airsim = import_airsim()
        self.client = None
        self.stats = {'images': 0, 'rpc_errors': 0, 'reconnects': 0, 'gimbal_commands': 0, 'dropped_images': 0}
        self.mapper = TimeMapper(TimeSyncConfig(mode='receipt'))
        self.start_ned = np.asarray(p.vehicle_start_ned, dtype=float)
        self.cam = None  # type: Optional[PinholeCamera]
        self.last_error = ''
        self.lost_since = None  # type: Optional[int]
        self.next_connect_ns = 0
        self._connect_at_start()
        self.pubs = vehicle.camera_source_publishers(self)  # by kind: image, camera_info, fix, imu, gimbal, agl
        self.pub_truth = self.create_publisher('sensor_msgs/msg/NavSatFix', 'truth/target/fix', RELIABLE)
        self.pub_diag = self.create_publisher('diagnostic_msgs/msg/DiagnosticArray', 'diagnostics', RELIABLE)
        if p.gimbal_control:
            self.create_subscription('geometry_msgs/msg/QuaternionStamped', 'gimbal/command', self.on_gimbal_command,
                                     RELIABLE)
        self.shot_state = 'idle' if p.shot != 'none' else 'off'
        if p.shot != 'none':
            self.create_subscription('uavcine_interfaces/msg/ShotCommand', 'shot/command', self.on_shot_command,
                                     RELIABLE)
            if p.shot_on_command:
                self.shot_state = 'waiting'
        self.shot_path_ned = None  # type: Optional[np.ndarray]
        self.shot_t0 = None  # type: Optional[int]
        self.next_diag_ns = 0
        self.create_timer(1.0 / p.rate_hz, self.tick)

    # ------------------------------------------------------------------ connection
    def _connect(self) -> None:
        """Open a client, check the server answers, read what does not change. Raises on failure."""
        p, airsim = self.p, self.airsim
        client = airsim.MultirotorClient(ip=p.host, port=p.port, timeout_value=p.rpc_timeout_s)
        if not client.ping():
            raise RuntimeError('ping returned false')
        home = client.getHomeGeoPoint(vehicle_name=p.vehicle_name)
        lat, lon, alt = float(home.latitude), float(home.longitude), float(home.altitude)
        if not all(math.isfinite(v) for v in (lat, lon, alt)):
            raise RuntimeError('AirSim has no home geopoint for vehicle %r' % p.vehicle_name)
        # home = the vehicle's start; the world origin is vehicle_start_ned away from it
        o = pymap3d.ned2geodetic(-self.start_ned[0], -self.start_ned[1], -self.start_ned[2], lat, lon, alt)
        self.origin = tuple(float(v) for v in o)
        info = client.simGetCameraInfo(p.camera_name, vehicle_name=p.vehicle_name)
        self.hfov_deg = float(info.fov)
        if not 0.0 < self.hfov_deg < 180.0:
            raise RuntimeError('camera %r has no field of view (%r): is it in settings.json?'
                               % (p.camera_name, info.fov))
        self.client = client
        if p.lockstep:
            client.simPause(True)
        if p.set_initial_gimbal:
            self._set_camera_rotation(rot_flu(0.0, math.radians(p.initial_gimbal_pitch_deg), 0.0))

    def _connect_at_start(self) -> None:
        p = self.p
        why = ''
        for attempt in range(p.connect_attempts):
            try:
                self._connect()
                self.info('connected to AirSim at %s:%d (camera %r, horizontal FOV %.3f deg)'
                          % (p.host, p.port, p.camera_name, self.hfov_deg))
                return
            except Exception as exc:  # msgpackrpc raises its own errors; all mean "not reachable/usable"
                why = _why(exc)
                if attempt + 1 < p.connect_attempts:
                    time.sleep(p.connect_retry_s)  # wall-clock wait for a server, not simulated time
        raise AirSimUnreachable('parameter host/port: no usable AirSim server at %s:%d after %d attempts (%s); '
                                'start Unreal with the AirSim plugin (settings: sim/airsim/settings.json) or fix '
                                'host/port' % (p.host, p.port, p.connect_attempts, why))

    def _lost(self, exc: Exception, now: int) -> None:
        self.stats['rpc_errors'] += 1
        self.last_error = _why(exc)
        if self.client is not None:
            self.warn('lost the AirSim server at %s:%d: %s; reconnecting every %.1f s'
                      % (self.p.host, self.p.port, self.last_error, max(self.p.connect_retry_s, 0.5)))
            self._close_client()
        if self.lost_since is None:
            self.lost_since = now
        self.next_connect_ns = now + int(max(self.p.connect_retry_s, 0.5) * 1e9)

    def _close_client(self):
        c, self.client = self.client, None
        try:
            c.client.close()
        except Exception:  # closing a dead transport may fail in its own ways
            pass

    def close(self):
        if self.client is not None:
            try:
                if self.p.lockstep:
                    self.client.simPause(False)
            except Exception:
                pass
            self._close_client()

    # ------------------------------------------------------------------ gimbal
    def _set_camera_rotation(self, R_base_gimbal_flu: np.ndarray) -> None:
        airsim = self.airsim
        q = mat2quat(D_FRD_FLU @ R_base_gimbal_flu @ D_FRD_FLU)  # AirSim camera poses are FRD, relative to the body
        pos = [float(v) for v in self.p.camera_position_frd]
        pose = airsim.Pose(airsim.Vector3r(*pos), airsim.Quaternionr(float(q[1]), float(q[2]), float(q[3]),
                                                                     float(q[0])))
        self.client.simSetCameraPose(self.p.camera_name, pose, vehicle_name=self.p.vehicle_name)

    def on_gimbal_command(self, msg):
        q = msgs.quaternion_wxyz(msg.quaternion)
        if not np.all(np.isfinite(q)) or np.linalg.norm(q) < 1e-6:
            self.warn_throttled('bad_gimbal_command', 'dropping a gimbal command without a valid quaternion')
            return
        if self.client is None:
            return
        try:
            self._set_camera_rotation(quat2mat(q / np.linalg.norm(q)))
            self.stats['gimbal_commands'] += 1
        except Exception as exc:
            self._lost(exc, self.now_ns())

    # ------------------------------------------------------------------ the timer
    def tick(self):
        now = self.now_ns()
        if self.client is None:
            if now >= self.next_connect_ns:
                try:
                    self._connect()
                    self.stats['reconnects'] += 1
                    self.lost_since = None
                    self.info('reconnected to AirSim at %s:%d' % (self.p.host, self.p.port))
                except Exception as exc:
                    self._lost(exc, now)
            if self.client is None:
                self._diagnostics(now)
                if self.p.max_lost_s > 0 and now - self.lost_since >= self.p.max_lost_s * 1e9:
                    self.request_shutdown('AirSim server at %s:%d gone for %.0f s'
                                          % (self.p.host, self.p.port, self.p.max_lost_s))
                return
        try:
            self._step(now)
        except Exception as exc:
            self._lost(exc, now)
        self._diagnostics(now)

    def _advance(self) -> None:
        """Lockstep: run the paused simulation for one period and wait (wall clock, bounded) until it pauses."""
        self.client.simContinueForTime(1.0 / self.p.rate_hz)
        deadline = time.monotonic() + self.p.rpc_timeout_s
        while not self.client.simIsPause():
            if time.monotonic() > deadline:
                raise RuntimeError('AirSim did not pause again after simContinueForTime')
            time.sleep(0.002)

    def _step(self, now: int) -> None:
        p, airsim, c = self.p, self.airsim, self.client
        if p.lockstep:
            self._advance()
        resp = None
        if p.publish_images:
            got = c.simGetImages([airsim.ImageRequest(p.camera_name, airsim.ImageType.Scene, False, False)],
                                 vehicle_name=p.vehicle_name)
            resp = got[0] if got else None
        pose = c.simGetVehiclePose(vehicle_name=p.vehicle_name)
        sim_ns = int(resp.time_stamp) if resp is not None and int(resp.time_stamp) > 0 else None
        if sim_ns is not None:
            self.mapper.on_receipt(sim_ns, now)
            stamp = self.mapper.to_host(sim_ns, now)
        else:
            stamp = now
        R_base = self._publish_vehicle(pose, stamp)
        if resp is not None:
            self._publish_image(resp, stamp, R_base)
        if p.agl_source == 'distance_sensor':
            d = c.getDistanceSensorData(distance_sensor_name=p.distance_sensor_name, vehicle_name=p.vehicle_name)
            self._publish_agl_sensor(d, stamp, R_base)
        if p.target_object:
            obj = c.simGetObjectPose(p.target_object)  # world NED (cosysairsim's default; airsim's only form)
            if _pose_ok(obj):
                self._publish_fix(self.pub_truth, _vec(obj.position), stamp, 'map', 0.0)
            else:
                self.warn_throttled('no_target', 'AirSim has no object %r (simGetObjectPose gave NaN)'
                                    % p.target_object)
        if self.shot_state not in ('off', 'done'):
            self._fly(now, pose)

    # ------------------------------------------------------------------ publishing
    def _publish_fix(self, pub, p_world_ned: np.ndarray, stamp: int, frame_id: str, sigma: float) -> None:
        lat, lon, alt = pymap3d.ned2geodetic(p_world_ned[0], p_world_ned[1], p_world_ned[2], *self.origin)
        cov = np.diag([sigma ** 2, sigma ** 2, (2 * sigma) ** 2]).reshape(-1) if sigma > 0 else np.zeros(9)
        pub.publish(self.new('sensor_msgs/msg/NavSatFix', header=msgs.header(self, stamp, frame_id),
                             status={'status': 0, 'service': 1}, latitude=float(lat), longitude=float(lon),
                             altitude=float(alt), position_covariance=cov,
                             position_covariance_type=2 if sigma > 0 else 0))

    def _publish_vehicle(self, pose, stamp: int) -> Optional[np.ndarray]:
        if not _pose_ok(pose):
            self.warn_throttled('nan_pose', 'AirSim returned no pose for vehicle %r' % self.p.vehicle_name)
            return None
        self.pos_world_ned = _vec(pose.position) + self.start_ned
        R_base = R_enu_flu_from_ned_frd(quat2mat(_quat(pose.orientation)))
        self.R_base = R_base
        self._publish_fix(self.pubs['fix'], self.pos_world_ned, stamp, 'base_link', self.p.fix_sigma_m)
        q = quat_wxyz(R_base)
        no_data = np.zeros(9)
        no_data[0] = -1.0  # REP-145: this Imu carries orientation only
        self.pubs['imu'].publish(self.new('sensor_msgs/msg/Imu', header=msgs.header(self, stamp, 'base_link'),
                                      orientation=msgs.quaternion_fields(q), angular_velocity_covariance=no_data,
                                      linear_acceleration_covariance=no_data.copy()))
        if self.p.agl_source == 'ground_plane':
            agl = self.p.ground_z_ned - self.pos_world_ned[2]
            self.pubs['agl'].publish(self.new('sensor_msgs/msg/Range', header=msgs.header(self, stamp, 'base_link'),
                                          radiation_type=1, field_of_view=0.0, min_range=0.0, max_range=10000.0,
                                          range=float(agl)))
        return R_base

    def _publish_agl_sensor(self, d, stamp: int, R_base) -> None:
        dist, lo, hi = float(d.distance), float(d.min_distance), float(d.max_distance)
        if not (math.isfinite(dist) and lo <= dist <= hi and dist > 0):
            self.warn_throttled('agl_range', 'distance sensor reading %r outside [%r, %r]' % (dist, lo, hi))
            return
        if R_base is not None:
            dist *= max(0.0, -float((R_base @ np.array([0.0, 0.0, -1.0]))[2]))
        self.pubs['agl'].publish(self.new('sensor_msgs/msg/Range', header=msgs.header(self, stamp, 'base_link'),
                                      radiation_type=1, field_of_view=0.0, min_range=lo, max_range=hi,
                                      range=float(dist)))

    def _publish_image(self, resp, stamp: int, R_base) -> None:
        h, w = int(resp.height), int(resp.width)
        data = resp.image_data_uint8
        buf = np.frombuffer(bytes(data) if not isinstance(data, (bytes, bytearray)) else data, dtype=np.uint8)
        if h <= 0 or w <= 0 or buf.size not in (h * w * 3, h * w * 4):
            self.stats['dropped_images'] += 1
            self.warn_throttled('bad_image', 'dropping an AirSim image of %dx%d with %d bytes (camera %r%s)'
                                % (w, h, buf.size, self.p.camera_name,
                                   ': %s' % resp.message if getattr(resp, 'message', '') else ''))
            return
        img = buf.reshape(h, w, buf.size // (h * w))[:, :, :3]
        if self.p.image_channel_order == 'bgr':
            img = img[:, :, ::-1]
        img = np.ascontiguousarray(img)
        if self.cam is None or (self.cam.width, self.cam.height) != (w, h):
            f = (w / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)  # FOV_Degrees is horizontal
            self.cam = PinholeCamera(w, h, f, f, w / 2.0, h / 2.0)
        self.pubs['image'].publish(msgs.numpy_to_image(self, img, stamp, self.p.frame_id))
        self.pubs['camera_info'].publish(self.new('sensor_msgs/msg/CameraInfo',
                                                  header=msgs.header(self, stamp, self.p.frame_id),
                                                  **self.cam.camera_info_fields()))
        self.stats['images'] += 1
        q_cam = _quat(resp.camera_orientation)
        if R_base is not None and np.all(np.isfinite(q_cam)) and np.linalg.norm(q_cam) > 1e-6:
            R_world_cam = R_enu_flu_from_ned_frd(quat2mat(q_cam / np.linalg.norm(q_cam)))
            g = quat_wxyz(R_base.T @ R_world_cam)
            self.pubs['gimbal'].publish(self.new('geometry_msgs/msg/QuaternionStamped',
                                             header=msgs.header(self, stamp, 'base_link'),
                                             quaternion=msgs.quaternion_fields(g)))

    def _diagnostics(self, now: int) -> None:
        if now < self.next_diag_ns:
            return
        self.next_diag_ns = now + 1_000_000_000
        up = self.client is not None
        text = 'connected' if up else 'AirSim server unreachable: %s' % self.last_error
        values = [('host', '%s:%d' % (self.p.host, self.p.port)), ('connected', str(up)),
                  ('shot', self.shot_state)] + [(k, str(v)) for k, v in sorted(self.stats.items())]
        self.pub_diag.publish(diagnostic_array(self, now, [diagnostic_status(
            self, OK if up else ERROR, '%s: AirSim link' % self.name, text, '%s:%d' % (self.p.host, self.p.port),
            values)]))
        self.last_diagnostic = (OK if up else ERROR, text, dict(values))

    # ------------------------------------------------------------------ shots
    def _shot_center_enu(self) -> Optional[Tuple[float, float]]:
        p = self.p
        if p.shot_target_object:
            obj = self.client.simGetObjectPose(p.shot_target_object)
            if not _pose_ok(obj):
                return None
            e = ned_to_enu(_vec(obj.position))
            return float(e[0]), float(e[1])
        return float(p.shot_center_enu[0]), float(p.shot_center_enu[1])

    def _fly(self, now: int, pose) -> None:
        p, airsim, c = self.p, self.airsim, self.client
        v = p.vehicle_name
        pos = getattr(self, 'pos_world_ned', None)
        elapsed = (now - self.shot_t0) / 1e9 if self.shot_t0 is not None else 0.0
        if self.shot_state == 'idle':
            center = self._shot_center_enu()
            if center is None:
                self.error('no %s shot: AirSim has no object %r (shot_target_object)' % (p.shot, p.shot_target_object))
                self._shot_state('done', now)
                return
            path = shot_path_enu(p.shot, center, -p.ground_z_ned, p)
            self.shot_path_ned = np.array([enu_to_ned(q) for q in path]) - self.start_ned  # vehicle frame
            c.enableApiControl(True, vehicle_name=v)
            c.armDisarm(True, vehicle_name=v)
            c.takeoffAsync(vehicle_name=v)
            self._shot_state('takeoff', now)
            return
        rel = pos - self.start_ned if pos is not None else None
        if self.shot_state == 'takeoff':
            if (rel is not None and rel[2] < -1.0) or elapsed > 10.0:
                x, y, z = (float(a) for a in self.shot_path_ned[0])
                c.moveToPositionAsync(x, y, z, p.shot_speed_mps, vehicle_name=v)
                self._shot_state('approach', now)
        elif self.shot_state == 'approach':
            if rel is not None and np.linalg.norm(rel - self.shot_path_ned[0]) < 2.0:
                path = [airsim.Vector3r(*(float(a) for a in q)) for q in self.shot_path_ned[1:]]
                c.moveOnPathAsync(path, p.shot_speed_mps, drivetrain=airsim.DrivetrainType.ForwardOnly,
                                  yaw_mode=airsim.YawMode(False, 0.0), lookahead=-1, adaptive_lookahead=1,
                                  vehicle_name=v)
                self._shot_state('shot', now)
            elif elapsed > 300.0:
                self.warn('could not reach the start of the shot in 300 s: giving up')
                self._shot_state('done', now)
        elif self.shot_state == 'shot':
            if rel is not None and np.linalg.norm(rel - self.shot_path_ned[-1]) < 3.0 and elapsed > 1.0:
                c.hoverAsync(vehicle_name=v)
                self._shot_state('done', now)
                self.info('%s done' % p.shot)
                if p.shutdown_after_shot:
                    self.request_shutdown('%s shot done' % p.shot)

    def on_shot_command(self, msg):
        """START flies the configured shot (once, from 'waiting'); HOLD/END hover; LATERAL_* is not a path here."""
        name = str(msg.command_name)
        now = self.now_ns()
        if name == 'START' and self.shot_state == 'waiting':
            self.info('START from %s: flying the %s shot' % (msg.source, self.p.shot))
            self.shot_state = 'idle'
        elif name in ('HOLD', 'END') and self.shot_state in ('takeoff', 'approach', 'shot') and self.client is not None:
            self.client.hoverAsync(vehicle_name=self.p.vehicle_name)
            self._shot_state('done', now)
            self.info('%s from %s: hovering' % (name, msg.source))
        else:
            self.warn_throttled('shot_cmd', 'shot command %r ignored in state %s' % (name, self.shot_state))

    def _shot_state(self, state: str, now: int) -> None:
        self.shot_state = state
        self.shot_t0 = now
        # the *Async calls only queue their request on the client's event loop; a synchronous call runs the loop,
        # so the command is on the wire now (the last one, hover, would otherwise be lost at shutdown)
        self.client.ping()


def _vec(v) -> np.ndarray:
    return np.array([float(v.x_val), float(v.y_val), float(v.z_val)])


def _quat(q) -> np.ndarray:
    return np.array([float(q.w_val), float(q.x_val), float(q.y_val), float(q.z_val)])


def _pose_ok(pose) -> bool:
    try:
        return bool(np.all(np.isfinite(_vec(pose.position))) and np.all(np.isfinite(_quat(pose.orientation))))
    except (AttributeError, TypeError, ValueError):
        return False


def _why(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]

