"""SimNode: the embedded simulator as a source node of the offline host.

Publishes, on simulated time (one timer per sensor at its rate; see sensors.py
for stamps, latency, jitter, dropouts and the magnetic declination):

- /camera/image_raw (sensor_msgs/Image rgb8, frame camera_optical), /camera/camera_info
- /vehicle/fix (NavSatFix with diagonal covariance), /vehicle/imu (orientation of base_link in ENU,
  w.r.t. magnetic north when a declination is set), /vehicle/gimbal (QuaternionStamped: gimbal FLU
  relative to base_link), /vehicle/agl (Range, m)
- ground truth at each image's stamp: /truth/targets (uavcine_interfaces/TargetTruthArray),
  /truth/camera_pose (PoseStamped of camera_optical in 'map'), /truth/vehicle_pose (base_link in 'map'),
  /truth/vehicle_fix (noise-free NavSatFix), and optionally /truth/depth (32FC1, optical z in m, +inf sky)
  and /truth/flow (32FC2, px, from this image to the next one).

It obeys /shot/command (uavcine_interfaces/ShotCommand: START, HOLD, LATERAL_LEFT/RIGHT, END; see
shots.py) from the time it arrives.

It asks the host to stop at the end of the scenario.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from transforms3d.euler import euler2quat, quat2euler
from transforms3d.quaternions import mat2quat

from ..nodes import msgs, paths, vehicle
from ..nodes.base import RELIABLE, Node, param
from .scenario import load_scenario
from .sensors import SENSORS

NAVSAT_COV_DIAGONAL_KNOWN = 2
RANGE_INFRARED = 1


_WORLD = 'the simulated world, its sensors and the published topics are built when the node starts'


@dataclass
class SimParams:
    scenario: str = param('sim/flight_test_towers.yaml', 'Scenario YAML (a path, or a name under sim/)',
        read_only=_WORLD)
    seed: int = param(-1, 'Random seed (-1: the scenario\'s)',
        read_only=_WORLD)
    duration_s: float = param(0.0, 'Length of the run in s (0: the scenario\'s)', min=0.0,
        read_only=_WORLD)
    camera_rate_hz: float = param(0.0, 'Camera frame rate (0: the scenario\'s)', min=0.0,
        read_only=_WORLD)
    noise_scale: float = param(1.0, 'Multiplies every sensor noise sigma, bias and drift (0: perfect sensors)', min=0.0,
        read_only=_WORLD)
    latency_scale: float = param(1.0, 'Multiplies every sensor latency and jitter (0: none)', min=0.0,
        read_only=_WORLD)
    dropout: float = param(-1.0, 'Probability of losing any sensor sample (-1: the scenario\'s)', min=-1.0, max=1.0,
        read_only=_WORLD)
    magnetic_declination_deg: float = param(-999.0, 'Declination in deg, east positive (-999: the scenario\'s)',
        read_only=_WORLD)
    pixel_noise: float = param(-1.0, 'Image noise sigma, 0-255 (-1: the scenario\'s)', min=-1.0,
        read_only=_WORLD)
    publish_truth: bool = param(True, 'Publish /truth/targets, camera and vehicle poses',
        read_only=_WORLD)
    publish_depth: bool = param(False, 'Publish /truth/depth (32FC1) with each image',
        read_only=_WORLD)
    publish_flow: bool = param(False, 'Publish /truth/flow (32FC2) with each image',
        read_only=_WORLD)
    frame_id_map: str = param('map', 'Frame of the local ENU world')
    gimbal_mode: str = param('', 'Override the scenario\'s gimbal mode (empty: the scenario\'s); command = follow '
                             '/gimbal/command (geometry_msgs/QuaternionStamped relative to base_link)',
                             choices=['', 'fixed', 'lock', 'mount', 'command'],
        read_only=_WORLD)
    obey_shot_commands: bool = param(True, 'Follow /shot/command (uavcine_interfaces/ShotCommand) from the director')


class SimNode(Node):
    NAME = 'sim'
    Params = SimParams

    def setup(self):
        from .simulator import Simulator  # lazy: start-up time: importing it loads cv2, the renderer
        p = self.p
        sc = load_scenario(paths.resolve(p.scenario))  # also share/uavcine/sim in a colcon install
        if p.duration_s > 0:
            sc.duration_s = p.duration_s
        if p.camera_rate_hz > 0:
            sc.camera.rate_hz = p.camera_rate_hz
        if p.pixel_noise >= 0:
            sc.camera.noise_sigma = p.pixel_noise
        s = sc.sensors
        for name in SENSORS:
            c = getattr(s, name)
            c.sigma *= p.noise_scale
            c.sigma_v *= p.noise_scale
            c.drift *= p.noise_scale
            c.bias = [b * p.noise_scale for b in c.bias]
            c.latency_s *= p.latency_scale
            c.jitter_s *= p.latency_scale
            if p.dropout >= 0:
                c.dropout = p.dropout
        if p.magnetic_declination_deg != -999.0:
            s.magnetic_declination_deg = p.magnetic_declination_deg
        if p.gimbal_mode:
            sc.gimbal.mode = p.gimbal_mode
        self.t0_ns = self.now_ns()
        self.sim = Simulator(sc, seed=None if p.seed < 0 else p.seed, start_ns=self.t0_ns)
        self.expected_duration_s = sc.duration_s  # the offline host's progress bar reads this
        self.pubs = vehicle.camera_source_publishers(self)  # by kind: image, camera_info, fix, imu, gimbal, agl
        if p.publish_truth:
            self.pub_truth = self.create_publisher('uavcine_interfaces/msg/TargetTruthArray', 'truth/targets', RELIABLE)
            self.pub_cam_pose = self.create_publisher('geometry_msgs/msg/PoseStamped', 'truth/camera_pose', RELIABLE)
            self.pub_veh_pose = self.create_publisher('geometry_msgs/msg/PoseStamped', 'truth/vehicle_pose', RELIABLE)
            self.pub_veh_fix = self.create_publisher('sensor_msgs/msg/NavSatFix', 'truth/vehicle_fix', RELIABLE)
        if p.publish_depth:
            self.pub_depth = self.create_publisher('sensor_msgs/msg/Image', 'truth/depth', RELIABLE)
        if p.publish_flow:
            self.pub_flow = self.create_publisher('sensor_msgs/msg/Image', 'truth/flow', RELIABLE)
        if sc.gimbal.mode == 'command':
            self.create_subscription('geometry_msgs/msg/QuaternionStamped', 'gimbal/command', self.on_gimbal_command,
                                     RELIABLE)
        self.create_subscription('uavcine_interfaces/msg/ShotCommand', 'shot/command', self.on_shot_command, RELIABLE)
        self.shot_commands = []  # (t_s, command name) obeyed
        self.count = {n: 0 for n in SENSORS}
        for name in SENSORS:
            rate = self.sim.sensors.rate(name)
            if rate > 0:
                self.create_timer(1.0 / rate, lambda n=name: self.on_sensor(n))
        self.create_timer(0.1, self.check_end)
        self.info('scenario %s: %.1f s, %d targets, %d objects, seed %d'
                  % (sc.name, sc.duration_s, len(self.sim.world.targets), len(self.sim.world.objects), self.sim.seed))

    def on_gimbal_command(self, msg):
        q = msgs.unit_quaternion(msg.quaternion)
        if q is None:
            self.warn_throttled('gimbal_cmd', 'dropping a gimbal command that is not a unit quaternion')
            return
        _, pitch, yaw = quat2euler(q, 'sxyz')
        self.sim.command_gimbal((self.now_ns() - self.t0_ns) / 1e9, pitch, yaw)

    def on_shot_command(self, msg):
        if not self.p.obey_shot_commands:
            return
        name = str(msg.command_name) or {1: 'START', 2: 'HOLD', 3: 'LATERAL_LEFT', 4: 'LATERAL_RIGHT',
                                         5: 'END'}.get(int(msg.command), '')
        t = (self.now_ns() - self.t0_ns) / 1e9
        try:
            changed = self.sim.command_shot(t, name)
        except ValueError as exc:
            self.warn_throttled('shot_cmd', 'dropping a shot command: %s' % exc)
            return
        if not changed:
            self.info('shot command %s at %.2f s: the shot already does that' % (name, t))
            return
        self.shot_commands.append((t, name))
        self.info('shot command %s at %.2f s (from %s)' % (name, t, msg.source))

    # ------------------------------------------------------------------ timers
    def check_end(self):
        if (self.now_ns() - self.t0_ns) / 1e9 >= self.sim.duration_s - 1e-9:
            self.request_shutdown('end of scenario %s' % self.sim.scenario.name)

    def on_sensor(self, name: str):
        k = self.count[name]
        self.count[name] += 1
        sample = self.sim.sensors.sample(name, k)
        if sample.dropped:
            return
        stamp = self.t0_ns + int(round(sample.t_stamp * 1e9))
        getattr(self, 'publish_' + name)(sample, stamp)

    # ------------------------------------------------------------------ publishers
    def publish_camera(self, sample, stamp):
        frame = self.sim.render_at(sample.t_stamp, index=sample.k, telemetry=False)
        self.pubs['image'].publish(msgs.numpy_to_image(self, frame.rgb, stamp, 'camera_optical', 'rgb8'))
        self.pubs['camera_info'].publish(self.new('sensor_msgs/msg/CameraInfo',
                                                  header=msgs.header(self, stamp, 'camera_optical'),
                                                  **self.sim.camera.camera_info_fields()))
        if self.p.publish_truth:
            self.publish_truth(frame, stamp)
        if self.p.publish_depth:
            self.pub_depth.publish(msgs.numpy_to_image(self, frame.depth, stamp, 'camera_optical', '32FC1'))
        if self.p.publish_flow:
            self.pub_flow.publish(msgs.numpy_to_image(self, np.ascontiguousarray(frame.flow), stamp,
                                                      'camera_optical', '32FC2'))

    def publish_truth(self, frame, stamp):
        mp = self.p.frame_id_map
        targets = []
        for t in frame.truth:
            box = t.bbox_xywh or (0.0, 0.0, 0.0, 0.0)
            full = t.bbox_full or (0.0, 0.0, 0.0, 0.0)
            lat, lon, alt = t.geodetic
            targets.append({
                'id': int(t.id), 'class_id': t.cls, 'distractor': bool(t.distractor), 'in_view': bool(t.in_view),
                'bbox': msgs.bbox_fields(*box), 'bbox_full': msgs.bbox_fields(*full),
                'visibility': float(t.visibility), 'truncated': bool(t.truncated), 'pixels': int(t.pixels),
                'position_enu': _point(t.enu),
                'geodetic': self._fix_fields(stamp, mp, lat, lon, alt, np.zeros(9), 0),
                'yaw': float(t.yaw), 'velocity_enu': _point(t.velocity_enu),
                'size': _point(t.size), 'range_m': float(t.range_m)})
        self.pub_truth.publish(self.new('uavcine_interfaces/msg/TargetTruthArray',
                                        header=msgs.header(self, stamp, mp), targets=targets))
        st = frame.state
        q_cam = mat2quat(st.R_world_optical)
        self.pub_cam_pose.publish(self.new('geometry_msgs/msg/PoseStamped', header=msgs.header(self, stamp, mp),
                                           pose={'position': _point(st.pos), 'orientation': msgs.quaternion_fields(q_cam)}))
        q_body = euler2quat(*st.body_rpy, 'sxyz')
        self.pub_veh_pose.publish(self.new('geometry_msgs/msg/PoseStamped', header=msgs.header(self, stamp, mp),
                                           pose={'position': _point(st.pos), 'orientation': msgs.quaternion_fields(q_body)}))
        lat, lon, alt = self.sim.world.geodetic(st.pos)
        self.pub_veh_fix.publish(self._fix_msg(stamp, 'base_link', lat, lon, alt, np.zeros(9), 0))

    def _fix_fields(self, stamp, frame_id, lat, lon, alt, cov, cov_type):
        return {'header': {'stamp': msgs.stamp_fields(stamp), 'frame_id': frame_id},
                'status': {'status': 0, 'service': 1},
                'latitude': float(lat), 'longitude': float(lon), 'altitude': float(alt),
                'position_covariance': np.asarray(cov, np.float64), 'position_covariance_type': int(cov_type)}

    def _fix_msg(self, stamp, frame_id, lat, lon, alt, cov, cov_type):
        return self.new('sensor_msgs/msg/NavSatFix', **self._fix_fields(stamp, frame_id, lat, lon, alt, cov, cov_type))

    def publish_gps(self, sample, stamp):
        v = sample.value
        self.pubs['fix'].publish(self._fix_msg(stamp, 'base_link', v['lat'], v['lon'], v['alt'], v['covariance'],
                                           NAVSAT_COV_DIAGONAL_KNOWN))

    def publish_imu(self, sample, stamp):
        v = sample.value
        q = euler2quat(*v['rpy'], 'sxyz')
        var = v['sigma_rad'] ** 2
        unknown = np.zeros(9)
        unknown[0] = -1.0  # ROS: covariance[0] = -1 means "this field is not provided"
        self.pubs['imu'].publish(self.new('sensor_msgs/msg/Imu', header=msgs.header(self, stamp, 'base_link'),
                                      orientation=msgs.quaternion_fields(q),
                                      orientation_covariance=np.diag([var, var, var]).reshape(-1),
                                      angular_velocity_covariance=unknown, linear_acceleration_covariance=unknown))

    def publish_gimbal(self, sample, stamp):
        q = euler2quat(*sample.value['rpy'], 'sxyz')
        self.pubs['gimbal'].publish(self.new('geometry_msgs/msg/QuaternionStamped',
                                         header=msgs.header(self, stamp, 'base_link'), quaternion=msgs.quaternion_fields(q)))

    def publish_agl(self, sample, stamp):
        self.pubs['agl'].publish(self.new('sensor_msgs/msg/Range', header=msgs.header(self, stamp, 'base_link'),
                                      radiation_type=RANGE_INFRARED, field_of_view=0.05, min_range=0.1,
                                      max_range=500.0, range=float(sample.value['range'])))


def _point(v):
    v = np.asarray(v, float)
    return {'x': float(v[0]), 'y': float(v[1]), 'z': float(v[2])}
