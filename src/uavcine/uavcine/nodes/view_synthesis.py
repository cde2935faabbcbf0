"""Preview a planned shot before it is flown (AI4Media report section 4.2): novel-view synthesis as a service.

``view_synthesis/synthesize_shot`` (uavcine_interfaces/srv/SynthesizeShot): the request gives a shot type and its
parameters, the target (a GeoTarget or a point, with its velocity), the camera's current image, CameraInfo and
pose, and N. The node plans the shot with the project's one shot generator (core/shot_geometry.py, the one the
simulator flies; a moving target is forecast at constant velocity), letterboxes the image to the model's
64 x 48 input (the intrinsics follow the same scale and offset), generates the N views along the shot
(core/views/synthesis.py: VQ tokenizer + camera-conditioned GeoGPT, each view conditioned on the source and
the views before it) and answers the views, their camera poses and the planned path (nav_msgs/Path).

Topic mode (``preview_rate_hz`` > 0): previews of the shot currently planned (the ``shot_*`` parameters; nothing
publishes a planned shot yet) from the newest camera image whose pose geo published (``camera/pose_enu``, the
camera in the target's local ENU frame), around the newest GeoTarget (``target/geo``): the N views on
``view_synthesis/preview/image`` (each stamped at the time of its pose), their poses on
``view_synthesis/preview/poses`` and the planned path on ``view_synthesis/preview/path`` (nav_msgs/Path, stamped at
the source image). Missing, stale or bad inputs give no preview and the reason on /diagnostics.

The target moves along the forecasting node's path (``forecast/path``) when one is fresh at the source image
(service requests with a GeoTarget too), else at its constant velocity.

Unlike the published ROS 1 tool, the camera matrix comes from CameraInfo and the checkpoint from a parameter,
every parameter is read where it is used, and a bad request (unknown shot type, N out of range, an empty
or undecodable image, a pose or number that is not finite, no intrinsics, a missing model) gets
``success: false`` and the reason, never a crash. Python 3.8.
"""
import math
import os
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Deque, Optional, Tuple

import numpy as np
from transforms3d.quaternions import mat2quat, quat2mat

from ..core.letterbox import Letterbox
from ..core.shot_geometry import SHOT_TYPES, ShotPlan, TargetPath, continue_shot, plan_shot
from .base import RELIABLE, Node, param
from .diagnostics import OK, WARN, diagnostic_array, diagnostic_status
from . import msgs, paths, vehicle

SRV = 'uavcine_interfaces/srv/SynthesizeShot'


class RequestError(ValueError):
    """A request the node cannot serve; the message is the reason given to the client."""


@dataclass
class ViewSynthesisParams:
    model: str = param('models/nvs_geogpt_sim.pt', 'Novel-view synthesis checkpoint (VQ tokenizer + GeoGPT, torch)')
    default_views: int = param(5, 'Views generated when a request asks for 0', min=1, max=5)
    temperature: float = param(0.0, 'Sampling temperature of the transformer; 0: the most likely token (greedy)',
                               min=0.0, max=5.0)
    top_k: int = param(0, 'Sample among the k most likely tokens (0: all); with temperature > 0', min=0, max=256)
    seed: int = param(0, 'Random seed of sampling (temperature > 0), per request')
    threads: int = param(1, 'CPU threads of the transformer (torch)', min=1, max=64)
    path_step_s: float = param(0.5, 'Time between consecutive poses of the planned path (s)', min=0.05, max=10.0)
    look_height_m: float = param(1.0, 'The camera looks at this height above the target\'s ground (m)', min=0.0,
                                 max=200.0)
    max_duration_s: float = param(600.0, 'Longest shot a request may ask for (s)', min=1.0)
    use_forecast: bool = param(True, 'Move the target along forecast/path (the forecasting node) when it is fresh at '
                               'the source image (previews, and requests with a GeoTarget); else constant velocity')
    max_forecast_age_s: float = param(1.0, 'A forecast path starting farther than this from the source image is not '
                                      'used (s)', min=0.0)
    # --- topic mode: previews of the shot currently planned ---
    preview_rate_hz: float = param(0.0, 'Previews of the planned shot per second (0: off; the shipped model takes '
                                   'about 0.22 s a view with torch on one thread, its model card)', min=0.0, max=5.0)
    preview_max: int = param(0, 'Stop after this many previews (0: no limit; 1: preview a shot once, at its start)',
                             min=0)
    preview_views: int = param(5, 'Views per preview', min=1, max=5)
    shot_type: str = param('ORBIT', 'Planned shot previewed', choices=list(SHOT_TYPES))
    shot_radius_m: float = param(30.0, 'Planned shot: ORBIT radius, FLYBY closest distance, CHASE / LATERAL offset (m)',
                                 min=0.1)
    shot_height_m: float = param(30.0, 'Planned shot: camera height above the target\'s ground (m)', min=-100.0,
                                 max=1000.0)
    shot_speed_mps: float = param(3.0, 'Planned shot: ground speed, ORBIT tangential (m/s)', min=0.0, max=100.0)
    shot_duration_s: float = param(10.0, 'Preview this much of the planned shot from the source image (s); the views '
                                   'are spread evenly over it', min=0.1, max=600.0)
    shot_heading_deg: float = param(0.0, 'Planned shot: FLYBY / FLYOVER travel direction (ENU, 0 = east, CCW)',
                                    min=-360.0, max=360.0)
    shot_start_angle_deg: float = param(270.0, 'Planned shot: ORBIT bearing of the drone from the target at its '
                                        'start (with shot_continue false)', min=-360.0, max=360.0)
    shot_direction: str = param('ccw', 'Planned shot: ORBIT direction', choices=['ccw', 'cw'])
    shot_side: str = param('right', 'Planned shot: FLYBY / LATERAL side of the target', choices=['left', 'right'])
    shot_closest_s: float = param(0.0, 'Planned shot: FLYBY / FLYOVER closest approach, s after the source image '
                                  '(with shot_continue false)', min=-600.0, max=600.0)
    shot_continue: bool = param(True, 'Preview the shot on from where the camera is (ORBIT from its bearing, FLYBY '
                                'from its place along the pass); false: from the shot\'s own start')
    max_pose_gap_s: float = param(0.05, 'The camera pose (camera/pose_enu, from geo) must be this close to the '
                                  'source image\'s stamp (s)', min=0.0, max=1.0)
    max_target_age_s: float = param(1.0, 'A GeoTarget older than this at the source image gives no preview (s)',
                                    min=0.0)
    image_buffer_s: float = param(1.0, 'Images are kept this long to meet their camera pose (geo publishes it after '
                                  'the tracker) (s)', min=0.0, max=10.0)


def _finite(*values: float) -> bool:
    return all(math.isfinite(float(v)) for v in values)


def pose_from_msg(pose: Any) -> np.ndarray:
    """geometry_msgs/Pose -> 4x4 camera-to-world; RequestError when not finite or not a unit quaternion."""
    p = pose.position
    if not _finite(p.x, p.y, p.z):
        raise RequestError('source_pose position is not finite')
    q = msgs.unit_quaternion(pose.orientation)
    if q is None:
        raise RequestError('source_pose orientation is not a finite unit quaternion')
    T = np.eye(4)
    T[:3, :3] = quat2mat(q)
    T[:3, 3] = [p.x, p.y, p.z]
    return T


def intrinsics(info: Any, width: int, height: int) -> np.ndarray:
    """K of the image from CameraInfo; a CameraInfo of another size is scaled to the image's."""
    K = np.asarray(info.k, float).reshape(3, 3) if len(info.k) == 9 else np.zeros((3, 3))
    if not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise RequestError('source_camera_info has no intrinsics (K must have fx, fy > 0)')
    iw, ih = int(info.width), int(info.height)
    if iw > 0 and ih > 0 and (iw, ih) != (width, height):
        K = np.diag([width / float(iw), height / float(ih), 1.0]) @ K
    return K


class ViewSynthesisNode(Node):
    NAME = 'view_synthesis'
    Params = ViewSynthesisParams

    def setup(self):
        self.create_service(SRV, 'view_synthesis/synthesize_shot', self.on_synthesize)
        self._model = None  # type: Optional[Tuple[Any, Any, Any]]
        self._model_key = None  # type: Optional[Tuple[str, float]]
        self._size = (64, 48)  # the model's image (width, height), from its checkpoint
        # topic mode: the newest inputs
        self.images = deque()  # type: Deque[Tuple[int, Any]]  # (stamp ns, Image) of the last image_buffer_s
        self.camera_poses = deque(maxlen=50)  # type: Deque[Tuple[int, Any]]  # (stamp ns, PoseStamped)
        self.camera_info = None  # type: Any
        self.geo = None  # type: Any  # the newest GeoTarget
        self.forecast = None  # type: Any  # the newest forecast/path
        self.previews = 0
        self.last_preview = ''  # what the last preview tick did (diagnostics, tests)
        self.last_motion = ''   # how the target moved in the last preview or answer
        self._timer = None  # type: Any
        self._timer_rate = 0.0
        self.pub_image = self.create_publisher('sensor_msgs/msg/Image', 'view_synthesis/preview/image', RELIABLE)
        self.pub_poses = self.create_publisher('nav_msgs/msg/Path', 'view_synthesis/preview/poses', RELIABLE)
        self.pub_path = self.create_publisher('nav_msgs/msg/Path', 'view_synthesis/preview/path', RELIABLE)
        self.pub_diag = self.create_publisher('diagnostic_msgs/msg/DiagnosticArray', '/diagnostics', RELIABLE)
        vehicle.IMAGE.subscribe(self, self.on_image)
        vehicle.CAMERA_INFO.subscribe(self, self.on_camera_info)
        self.create_subscription('geometry_msgs/msg/PoseStamped', 'camera/pose_enu', self.on_camera_pose, RELIABLE)
        self.create_subscription('uavcine_interfaces/msg/GeoTarget', 'target/geo', self.on_geo, RELIABLE)
        self.create_subscription('nav_msgs/msg/Path', 'forecast/path', self.on_forecast, RELIABLE)
        self.configure()

    def configure(self):
        """The preview timer at ``preview_rate_hz`` (none at 0): a change at run time replaces it."""
        rate = self.p.preview_rate_hz
        if rate == self._timer_rate:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if rate > 0:
            self._timer = self.create_timer(1.0 / rate, self.on_preview_timer)
        self._timer_rate = rate

    # --- the model ---------------------------------------------------------------------
    def model(self):
        """(vq, gpt, refiner or None), loaded on first use and again when the ``model`` parameter or the file
        changes (a file with a stage-3 refiner, core/views/refiner.py, decodes the views with the source's pixels)."""
        path = paths.resolve(self.p.model)
        if not path or not os.path.isfile(path):
            raise RequestError('model not found: %s (parameter model)' % self.p.model)
        key = (path, os.path.getmtime(path))
        if self._model is None or self._model_key != key:
            import torch  # lazy: torch takes seconds to import; the node starts (and refuses requests) without it
            from ..core.views.synthesis import from_checkpoint  # lazy: imports torch
            try:
                ck = torch.load(path, map_location='cpu', weights_only=False)
                self._model = from_checkpoint(ck, with_refiner=True)
                self._size = tuple(int(v) for v in ck.get('image_size', (64, 48)))   # (width, height)
            except Exception as exc:  # a damaged or foreign file: the reason goes to the client
                raise RequestError('cannot load model %s: %s' % (path, str(exc).splitlines()[0] if str(exc) else
                                                                  type(exc).__name__))
            self._model_key = key
        return self._model

    # --- the request -------------------------------------------------------------------
    def plan(self, req) -> Tuple[ShotPlan, np.ndarray, np.ndarray]:
        typ = str(req.shot_type).strip().upper()
        if typ not in SHOT_TYPES:
            raise RequestError('unknown shot_type %r (one of %s)' % (req.shot_type, ', '.join(SHOT_TYPES)))
        nums = dict(radius_m=req.radius_m, height_m=req.height_m, speed_mps=req.speed_mps, duration_s=req.duration_s,
                    heading_deg=req.heading_deg, start_angle_deg=req.start_angle_deg, closest_s=req.closest_s)
        bad = [k for k, v in nums.items() if not _finite(v)]
        if bad:
            raise RequestError('not finite: %s' % ', '.join(bad))
        if not 0 < req.duration_s <= self.p.max_duration_s:
            raise RequestError('duration_s must be in (0, %g], got %g' % (self.p.max_duration_s, req.duration_s))
        if typ != 'FLYOVER' and req.radius_m <= 0:
            raise RequestError('radius_m must be > 0 for %s, got %g' % (typ, req.radius_m))
        if req.speed_mps < 0:
            raise RequestError('speed_mps must be >= 0, got %g' % req.speed_mps)
        direction = str(req.direction or 'ccw').lower()
        side = str(req.side or 'right').lower()
        if direction not in ('ccw', 'cw'):
            raise RequestError('direction must be ccw or cw, got %r' % req.direction)
        if side not in ('left', 'right'):
            raise RequestError('side must be left or right, got %r' % req.side)
        if req.use_geotarget:
            p, v = req.target.position_enu, req.target.velocity_enu
        else:
            p, v = req.target_point, req.target_velocity
        pos, vel = np.array([p.x, p.y, p.z], float), np.array([v.x, v.y, v.z], float)
        if not np.all(np.isfinite(pos)) or not np.all(np.isfinite(vel)):
            raise RequestError('the target position or velocity is not finite')
        plan = ShotPlan(type=typ, distance_m=float(req.radius_m), altitude_m=float(req.height_m),
                        speed_mps=float(req.speed_mps), heading_deg=float(req.heading_deg), side=side,
                        start_angle_deg=float(req.start_angle_deg), direction=direction,
                        t_closest_s=float(req.closest_s), look_height_m=self.p.look_height_m)
        return plan, pos, vel

    def on_synthesize(self, req, res):
        t0 = time.time()
        try:
            out = self._serve(req)
        except (RequestError, msgs.BadMessage) as exc:
            self.warn_throttled('bad_request', 'synthesize_shot refused: %s' % exc)
            return self.new(SRV + '_Response', success=False, message=str(exc))
        return self.new(SRV + '_Response', success=True, message='%d views of a %s shot in %.2f s; target %s' % (
            len(out['images']), str(req.shot_type).strip().upper(), time.time() - t0, self.last_motion), **out)

    def _serve(self, req) -> dict:
        """The response's fields; RequestError / BadMessage for a request that cannot be served."""
        n = int(req.n_views) or self.p.default_views
        if not 1 <= n <= 5:
            raise RequestError('n_views must be 1..5 (0: the default), got %d' % req.n_views)
        plan, pos, vel = self.plan(req)
        T_src = pose_from_msg(req.source_pose.pose)
        img = msgs.image_to_numpy(req.source_image)
        h, w = img.shape[:2]
        K = intrinsics(req.source_camera_info, w, h)
        ns0 = msgs.stamp_ns(req.source_pose.header.stamp) or msgs.stamp_ns(req.source_image.header.stamp)
        motion = None
        if req.use_geotarget:
            motion, self.last_motion = self.target_motion(pos, ns0)
        else:
            self.last_motion = 'constant velocity'
        return self.generate(plan, pos, vel, motion, T_src, img, K, n, float(req.duration_s), ns0,
                             req.source_pose.header.frame_id or 'map', req.source_image.header.frame_id)

    def target_motion(self, pos: np.ndarray, ns0: int) -> Tuple[Optional[TargetPath], str]:
        """The target's path from the newest forecast/path when ``use_forecast`` and it starts within
        ``max_forecast_age_s`` of ``ns0`` (its heights: ``pos``'s, a forecast is horizontal), else None (constant
        velocity); and how the target moves, in words."""
        f = self.forecast
        if not self.p.use_forecast:
            return None, 'constant velocity (use_forecast is off)'
        if f is None or len(f.poses) < 2:
            return None, 'constant velocity (no forecast/path)'
        stamps = np.array([msgs.stamp_ns(q.header.stamp) for q in f.poses], dtype=np.int64)
        age = abs(int(stamps[0]) - ns0) / 1e9
        if age > self.p.max_forecast_age_s:
            return None, 'constant velocity (forecast/path starts %.2f s from the source image)' % age
        xyz = np.array([[q.pose.position.x, q.pose.position.y, pos[2]] for q in f.poses], float)
        try:
            path = TargetPath((stamps - ns0) / 1e9, xyz)
        except ValueError as exc:
            return None, 'constant velocity (forecast/path unusable: %s)' % exc
        return path, 'along forecast/path (%d poses over %.1f s)' % (len(xyz), (stamps[-1] - stamps[0]) / 1e9)

    def generate(self, plan: ShotPlan, pos: np.ndarray, vel: np.ndarray, motion: Optional[TargetPath],
                 T_src: np.ndarray, img: np.ndarray, K: np.ndarray, n: int, duration_s: float, ns0: int, frame: str,
                 image_frame: str) -> dict:
        """N views of ``plan`` from the source image and pose, over ``duration_s``: images, poses, times_s and the
        planned path (fields of the service's response; the topic mode publishes the same)."""
        vq, gpt, refiner = self.model()
        import torch  # lazy, as in model(): loaded by then
        torch.set_num_threads(self.p.threads)
        h, w = img.shape[:2]
        lb = Letterbox.fit(w, h, self._size[0], self._size[1])
        small = lb.apply(img)
        K_net = np.array([[K[0, 0] * lb.sx, 0.0, K[0, 2] * lb.sx + lb.pad_x],
                          [0.0, K[1, 1] * lb.sy, K[1, 2] * lb.sy + lb.pad_y], [0.0, 0.0, 1.0]])
        times = [duration_s * k / n for k in range(1, n + 1)]
        poses, _ = plan_shot(plan, pos, vel, times, motion)
        from ..core.views.synthesis import synthesize  # lazy: imports torch
        gen = torch.Generator().manual_seed(int(self.p.seed))
        views = synthesize(vq, gpt, small, np.concatenate([T_src[None], poses]), K_net,
                           temperature=self.p.temperature, top_k=self.p.top_k, generator=gen, refiner=refiner,
                           plane_z=float(pos[2]))   # the refiner's ground plane: the target's height
        crop = (slice(lb.pad_y, lb.pad_y + lb.new_h), slice(lb.pad_x, lb.pad_x + lb.new_w))
        steps = max(2, int(math.floor(duration_s / self.p.path_step_s + 1e-9)) + 1)
        pt = np.linspace(0.0, duration_s, steps)
        path_poses, _ = plan_shot(plan, pos, vel, pt, motion)
        return dict(
            images=[msgs.numpy_to_image(self, np.ascontiguousarray(v[crop]), ns0 + int(t * 1e9), image_frame)
                    for v, t in zip(views, times)],
            poses=[self._pose(T, ns0 + int(t * 1e9), frame) for T, t in zip(poses, times)],
            times_s=np.asarray(times, np.float64),
            path=self.new('nav_msgs/msg/Path', header=msgs.header(self, ns0, frame),
                          poses=[self._pose(T, ns0 + int(t * 1e9), frame) for T, t in zip(path_poses, pt)]))

    # --- topic mode --------------------------------------------------------------------
    def on_image(self, msg):
        ns = msgs.stamp_ns(msg.header.stamp)
        if self.images and ns < self.images[-1][0]:
            self.images.clear()    # time went backwards (a bag looped, the simulator restarted): start again
        self.images.append((ns, msg))
        while self.images and self.images[0][0] < ns - int(self.p.image_buffer_s * 1e9):
            self.images.popleft()

    def on_camera_info(self, msg):
        self.camera_info = msg

    def on_camera_pose(self, msg):
        self.camera_poses.append((msgs.stamp_ns(msg.header.stamp), msg))

    def on_geo(self, msg):
        self.geo = msg

    def on_forecast(self, msg):
        self.forecast = msg

    def source(self) -> Tuple[int, Any, Any]:
        """(stamp ns, Image, PoseStamped): the newest camera pose with an image within max_pose_gap_s of it."""
        if not self.images:
            raise RequestError('no camera image yet (%s)' % vehicle.IMAGE.name)
        if not self.camera_poses:
            raise RequestError('no camera pose yet (camera/pose_enu, published by geo)')
        tol = int(self.p.max_pose_gap_s * 1e9)
        for ns, pose in reversed(self.camera_poses):
            ns_img, img = min(self.images, key=lambda e: abs(e[0] - ns))
            if abs(ns_img - ns) <= tol:
                return ns, img, pose
        return 0, None, None

    def preview(self) -> dict:
        """One preview of the planned shot from the newest inputs (the response's fields); RequestError /
        BadMessage with the reason when there is none."""
        ns0, img_msg, pose_msg = self.source()
        if img_msg is None:
            raise RequestError('no image within max_pose_gap_s of a camera pose (newest pose %.3f s, newest image '
                               '%.3f s)' % (self.camera_poses[-1][0] / 1e9, self.images[-1][0] / 1e9))
        if self.camera_info is None:
            raise RequestError('no CameraInfo yet (%s)' % vehicle.CAMERA_INFO.name)
        if self.geo is None:
            raise RequestError('no target yet (target/geo)')
        age = (ns0 - msgs.stamp_ns(self.geo.header.stamp)) / 1e9
        if abs(age) > self.p.max_target_age_s:
            raise RequestError('the target (target/geo) is %.2f s from the source image (max_target_age_s %.2f)'
                               % (age, self.p.max_target_age_s))
        p, v = self.geo.position_enu, self.geo.velocity_enu
        vel = np.array([v.x, v.y, 0.0], float)
        pos = np.array([p.x, p.y, p.z], float) + vel * age    # at the source image's time
        if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(vel))):
            raise RequestError('the target (target/geo) position or velocity is not finite')
        T_src = pose_from_msg(pose_msg.pose)
        img = msgs.image_to_numpy(img_msg)
        h, w = img.shape[:2]
        K = intrinsics(self.camera_info, w, h)
        p = self.p
        plan = ShotPlan(type=p.shot_type, distance_m=p.shot_radius_m, altitude_m=p.shot_height_m,
                        speed_mps=p.shot_speed_mps, heading_deg=p.shot_heading_deg, side=p.shot_side,
                        start_angle_deg=p.shot_start_angle_deg, direction=p.shot_direction,
                        t_closest_s=p.shot_closest_s, look_height_m=p.look_height_m)
        motion, self.last_motion = self.target_motion(pos, ns0)
        if p.shot_continue:
            plan = continue_shot(plan, T_src[:2, 3], pos[:2])
        return self.generate(plan, pos, vel, motion, T_src, img, K, p.preview_views, p.shot_duration_s, ns0,
                             pose_msg.header.frame_id or 'map', img_msg.header.frame_id)

    def on_preview_timer(self):
        if self.p.preview_max and self.previews >= self.p.preview_max:
            return
        t0 = time.time()
        try:
            out = self.preview()
        except (RequestError, msgs.BadMessage) as exc:
            self.last_preview = 'no preview: %s' % exc
            self._diagnostics(WARN)
            return
        for im in out['images']:
            self.pub_image.publish(im)
        self.pub_poses.publish(self.new('nav_msgs/msg/Path', header=out['path'].header, poses=out['poses']))
        self.pub_path.publish(out['path'])
        self.previews += 1
        self.last_preview = '%d views of the %s shot in %.2f s; target %s' % (
            len(out['images']), self.p.shot_type, time.time() - t0, self.last_motion)
        self._diagnostics(OK)

    def _diagnostics(self, level: int):
        self.pub_diag.publish(diagnostic_array(self, self.now_ns(), [diagnostic_status(
            self, level, 'view_synthesis: preview', self.last_preview, self.name,
            [('previews', self.previews), ('shot_type', self.p.shot_type)])]))

    def _pose(self, T: np.ndarray, ns: int, frame: str):
        return self.new('geometry_msgs/msg/PoseStamped', header=msgs.header(self, ns, frame),
                        pose=dict(position=dict(x=float(T[0, 3]), y=float(T[1, 3]), z=float(T[2, 3])),
                                  orientation=msgs.quaternion_fields(mat2quat(T[:3, :3]))))
