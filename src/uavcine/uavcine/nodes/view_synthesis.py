"""Preview a planned shot before it is flown (AI4Media report section 4.2): novel-view synthesis as a service.

``view_synthesis/synthesize_shot`` (uavcine_interfaces/srv/SynthesizeShot): the request gives a shot type and its
parameters, the target (a GeoTarget or a point, with its velocity), the camera's current image, CameraInfo and
pose, and N. The node plans the shot with the project's one shot generator (core/shot_geometry.py, the one the
simulator flies; a moving target is forecast at constant velocity), letterboxes the image to the model's
64 x 48 input (the intrinsics follow the same scale and offset), generates the N views along the shot
(core/views/synthesis.py: VQ tokenizer + camera-conditioned GeoGPT, each view conditioned on the source and
the views before it) and answers the views, their camera poses and the planned path (nav_msgs/Path).

Unlike the published ROS 1 tool, the camera matrix comes from CameraInfo and the checkpoint from a parameter,
every parameter is read where it is used, and a bad request (unknown shot type, N out of range, an empty
or undecodable image, a pose or number that is not finite, no intrinsics, a missing model) gets
``success: false`` and the reason, never a crash. Python 3.8.
"""
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Optional, Tuple

import numpy as np
from transforms3d.quaternions import mat2quat, quat2mat

from ..core.letterbox import Letterbox
from ..core.shot_geometry import SHOT_TYPES, ShotPlan, plan_shot
from .base import Node, param
from . import msgs, paths

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
        self._model = None  # type: Optional[Tuple[Any, Any]]
        self._model_key = None  # type: Optional[Tuple[str, float]]
        self._size = (64, 48)  # the model's image (width, height), from its checkpoint

    # --- the model ---------------------------------------------------------------------
    def model(self):
        """(vq, gpt), loaded on first use and again when the ``model`` parameter or the file changes."""
        path = paths.resolve(self.p.model)
        if not path or not os.path.isfile(path):
            raise RequestError('model not found: %s (parameter model)' % self.p.model)
        key = (path, os.path.getmtime(path))
        if self._model is None or self._model_key != key:
            import torch  # lazy: torch takes seconds to import; the node starts (and refuses requests) without it
            from ..core.views.synthesis import from_checkpoint  # lazy: imports torch
            try:
                ck = torch.load(path, map_location='cpu', weights_only=False)
                self._model = from_checkpoint(ck)
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
        return self.new(SRV + '_Response', success=True, message='%d views of a %s shot in %.2f s' % (
            len(out['images']), str(req.shot_type).strip().upper(), time.time() - t0), **out)

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
        vq, gpt = self.model()
        import torch  # lazy, as in model(): loaded by then
        torch.set_num_threads(self.p.threads)
        lb = Letterbox.fit(w, h, self._size[0], self._size[1])
        small = lb.apply(img)
        K_net = np.array([[K[0, 0] * lb.sx, 0.0, K[0, 2] * lb.sx + lb.pad_x],
                          [0.0, K[1, 1] * lb.sy, K[1, 2] * lb.sy + lb.pad_y], [0.0, 0.0, 1.0]])
        times = [req.duration_s * k / n for k in range(1, n + 1)]
        poses, _ = plan_shot(plan, pos, vel, times)
        from ..core.views.synthesis import synthesize  # lazy: imports torch
        gen = torch.Generator().manual_seed(int(self.p.seed))
        views = synthesize(vq, gpt, small, np.concatenate([T_src[None], poses]), K_net,
                           temperature=self.p.temperature, top_k=self.p.top_k, generator=gen)
        frame = req.source_pose.header.frame_id or 'map'
        ns0 = msgs.stamp_ns(req.source_pose.header.stamp) or msgs.stamp_ns(req.source_image.header.stamp)
        crop = (slice(lb.pad_y, lb.pad_y + lb.new_h), slice(lb.pad_x, lb.pad_x + lb.new_w))
        steps = max(2, int(math.floor(req.duration_s / self.p.path_step_s + 1e-9)) + 1)
        pt = np.linspace(0.0, req.duration_s, steps)
        path_poses, _ = plan_shot(plan, pos, vel, pt)
        return dict(
            images=[msgs.numpy_to_image(self, np.ascontiguousarray(v[crop]), ns0 + int(t * 1e9),
                                        req.source_image.header.frame_id) for v, t in zip(views, times)],
            poses=[self._pose(T, ns0 + int(t * 1e9), frame) for T, t in zip(poses, times)],
            times_s=np.asarray(times, np.float64),
            path=self.new('nav_msgs/msg/Path', header=msgs.header(self, ns0, frame),
                          poses=[self._pose(T, ns0 + int(t * 1e9), frame) for T, t in zip(path_poses, pt)]))

    def _pose(self, T: np.ndarray, ns: int, frame: str):
        return self.new('geometry_msgs/msg/PoseStamped', header=msgs.header(self, ns, frame),
                        pose=dict(position=dict(x=float(T[0, 3]), y=float(T[1, 3]), z=float(T[2, 3])),
                                  orientation=msgs.quaternion_fields(mat2quat(T[:3, :3]))))
