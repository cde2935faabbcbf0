"""Tracker node: the seed's detect/track loop -- SiamFC with quality gating, driven by the manager.

One node holds both the SiamFC tracker and the manager. The tracker must start on
the very image a detection was made in, and the manager's decision (track, wait,
re-detect) depends on the tracker's result for each image: in one node both see
the same image buffer and run in a fixed order, with no init/ack messages and no
race between them, so a run is deterministic on the offline host and on ROS 2.

The loop itself (``core/detect_track.py``) needs no messages; this node adapts messages to it.
Its core configurations (``SiamFCConfig``, ``ManagerConfig``) are built from the parameters of the
same names in ``configure()``, again on every change at run time; the model, backend, threads and
image QoS are read-only.

Per image: the tracker updates (if a target is held), the manager gates its
quality and time window, ``/target/track`` is published, and when the manager
wants detections a request goes to the detector (``/detector/request``,
std_msgs/Empty; the detector node with ``run_on_request`` detects on the latest image
not yet processed, or the next one). Detections
(``/detector/detections``) are matched to the buffered image of the same stamp;
the manager chooses or confirms the target and the tracker (re)starts there,
catching up on the images that arrived since.

Python 3.8.
"""
from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import Any, Dict, List  # noqa: F401  (Dict: a type comment)

import numpy as np

from ..core import siamfc as S
from ..core.detect_track import DetectTrackLoop
from ..core.manager import Detection, Manager, ManagerConfig
from ..runtime.siamfc_onnx import load_search_onnx
from ..runtime.split_batch import SplitBatch
from . import msgs, paths, vehicle
from .base import LATCHED, RELIABLE, Node, param, sensor_qos

TRACK = 'uavcine_interfaces/msg/Track'


_S = S.SiamFCConfig()
_M = ManagerConfig()
_LOADED = 'the model is loaded when the node starts; restart the node to change it'


@dataclass
class TrackerParams:
    model_path: str = param('models/siamfc_sim.pt', 'SiamFC model: ours (.pt from siamfc_train) or an official '
                            'siamfc-pytorch state dict (relative paths: see uavcine.nodes.paths)', read_only=_LOADED)
    backend: str = param('torch', 'Inference backend for the search forward', choices=['torch', 'onnxruntime'],
                         read_only=_LOADED)
    num_threads: int = param(0, 'CPU threads for inference (0 = library default)', min=0, max=64,
                             read_only='the inference session is made with its thread pool when the node starts')
    search_onnx: str = param('', 'onnxruntime backend: ONNX file of the search forward made from model_path (e.g. '
                             'models/siamfc_real_int8.onnx from uavcine.train.siamfc_int8: int8, ~2x faster on a '
                             'CPU); empty = the float graph exported from model_path', read_only=_LOADED)
    thread_split: str = param('operators', "onnxruntime backend with num_threads > 1: 'operators' = one forward of "
                              "all scales, each operator split over the threads; 'scales' = the search scales split "
                              'over the threads, one forward each (fewer joins: better on a CPU busy with other '
                              'nodes)', choices=['operators', 'scales'],
                              read_only='the inference session is made with its thread pool when the node starts')
    # SiamFC (paper defaults)
    context: float = param(_S.context, 'Context margin around the target: p = context * (w + h)', min=0.0, max=2.0)
    scale_num: int = param(_S.scale_num, 'Number of search scales (odd)', min=1, max=9)
    scale_step: float = param(_S.scale_step, 'Ratio between neighbouring search scales', min=1.0, max=1.5)
    scale_lr: float = param(_S.scale_lr, 'Damping of the scale update (0 = keep size, 1 = jump to the best scale)',
                            min=0.0, max=1.0)
    scale_penalty: float = param(_S.scale_penalty, 'Response penalty of the non-unit scales', min=0.0, max=1.0)
    window_influence: float = param(_S.window_influence, 'Weight of the cosine window on the response', min=0.0, max=1.0)
    response_up: int = param(_S.response_up, 'Upsampling factor of the 17x17 response', min=1, max=32)
    # quality gating and the manager
    quality_threshold: float = param(_M.quality_threshold, 'Tracking quality below this is a weak frame '
                                     '(quality = the predicted IoU of the box with the target)', min=0.0, max=1.0)
    max_weak_frames: int = param(_M.max_weak_frames, 'Weak frames tolerated in a row before the track is lost', min=0)
    max_hold_frames: int = param(_M.max_hold_frames, 'Weak frames in a row on which the tracker holds its box; '
                                 'past them it follows its response again', min=0)
    hold_quality: float = param(_M.hold_quality, 'The tracker holds its box only on weak frames of a quality below '
                                'this (a weak frame above it asks the detector but follows the response)', min=0.0,
                                max=1.0)
    max_lost_s: float = param(_M.max_lost_s, 'A lost track keeps searching this long (detector asked) before it is given up',
                              min=0.0)
    track_window_s: float = param(_M.track_window_s, 'Tracking time window: after it, the detector confirms the target', min=0.0)
    target_classes: str = param('', 'Comma-separated class names to follow (empty = any class)')
    min_score: float = param(_M.min_score, 'Minimum detection score for a target', min=0.0, max=1.0)
    reinit_iou: float = param(_M.reinit_iou, 'IoU of a detection with the tracked box to re-initialise on it', min=0.0, max=1.0)
    refresh_iou: float = param(_M.refresh_iou, 'A confident track that a detection overlaps this much is confirmed, not restarted',
                               min=0.0, max=1.0)
    reanchor_score: float = param(_M.reanchor_score, 'A detection of the track\'s class this confident that overlaps '
                                  'the tracked box only partly re-anchors the track (0 = off)', min=0.0, max=1.0)
    confirm_quality: float = param(_M.confirm_quality, 'A tracking frame below this quality asks the detector (at '
                                   'most every confirm_interval_s) and a confirming detection restarts the tracker on '
                                   'its box (0 = off: only the tracking window asks)', min=0.0, max=1.0)
    confirm_interval_s: float = param(_M.confirm_interval_s, 'Seconds between two detector checks of a decayed track '
                                      '(confirm_quality)', min=0.0)
    confirm_scale: float = param(_M.confirm_scale, 'A decayed track (confirm_quality) is restarted on a confirming '
                                 "detection only when the detection's size differs from the box's by more than this "
                                 'factor (1 = any size)', min=1.0, max=10.0)
    use_appearance: bool = param(True, 'Compare detections with the target exemplar before re-initialising')
    min_appearance: float = param(_M.min_appearance, 'Appearance similarity (0..1) for a detection to be the same target',
                                  min=0.0, max=1.0)
    gate: float = param(_M.gate, 'Re-acquisition gate: centre distance in sizes of the last box', min=0.0)
    forget_s: float = param(_M.forget_s, 'After this long lost, the previous track no longer steers the choice', min=0.0)
    detect_while_weak: bool = param(_M.detect_while_weak, 'Ask for detections on weak (occluded) frames too, not only when lost')
    acquire: str = param(_M.acquire, "How a new target is chosen when none is held: 'centre' = the detection nearest "
                                   "the image centre (the operator framed it), 'score' = the most confident",
                         choices=['centre', 'score'])
    request_detections: bool = param(True, 'Publish detector/request when detections are wanted')
    buffer_frames: int = param(30, 'Images kept to start the tracker on a late detection', min=1, max=1000)
    image_reliability: str = param('best_effort', 'Image subscription QoS reliability',
                                   choices=['best_effort', 'reliable'],
                                   read_only='the subscription QoS is fixed when it is created')


class TrackerNode(Node):
    NAME = 'tracker'
    Params = TrackerParams

    def setup(self):
        p = self.p
        if p.num_threads > 0:
            import torch  # only to size its thread pool (torch is loaded by core.siamfc anyway)
            torch.set_num_threads(p.num_threads)
        model_path = paths.resolve(p.model_path)
        net, self.net_cfg, quality = S.load_checkpoint(model_path)  # ValueError: one clear line
        if (p.search_onnx or p.thread_split != 'operators') and p.backend != 'onnxruntime':
            raise ValueError('search_onnx and thread_split are for backend onnxruntime, not %s' % p.backend)
        search_onnx = load_search_onnx(paths.resolve(p.search_onnx), model_path) if p.search_onnx else None
        by_scales = p.thread_split == 'scales' and p.num_threads > 1
        tracker = S.SiamFCTracker(net, self.tracker_config(), quality, backend=p.backend,
                                  num_threads=1 if by_scales else p.num_threads, search_onnx=search_onnx)
        if by_scales:
            tracker.search_session = SplitBatch(tracker.search_session, p.num_threads, 'x')
        self.loop = DetectTrackLoop(tracker, Manager(self.manager_config()))
        self.configure()
        self.headers = OrderedDict()  # type: OrderedDict  # stamp_ns -> (header, width, height)
        self.labels = {}  # type: Dict[str, str]
        self.pub = self.create_publisher(TRACK, 'target/track', RELIABLE)
        self.req = self.create_publisher('std_msgs/msg/Empty', 'detector/request', RELIABLE)
        vehicle.IMAGE.subscribe(self, self.on_image, sensor_qos(p.image_reliability))
        self.create_subscription('vision_msgs/msg/Detection2DArray', 'detector/detections', self.on_detections,
                                 RELIABLE)
        self.create_subscription('vision_msgs/msg/LabelInfo', 'detector/labels', self.on_labels, LATCHED)

    # --- parameters -> core configurations (setup and every change at run time) -------------
    def tracker_config(self) -> S.SiamFCConfig:
        """The loaded model's SiamFC config with the inference parameters of the same names from ``self.p``."""
        names = {f.name for f in fields(S.SiamFCConfig)} & set(vars(self.p))
        return S.SiamFCConfig(**dict(vars(self.net_cfg), **{n: getattr(self.p, n) for n in names}))

    def manager_config(self) -> ManagerConfig:
        """The manager's config from the parameters of the same names (``target_classes``: comma-separated)."""
        names = {f.name for f in fields(ManagerConfig)} & set(vars(self.p))
        kw = {n: getattr(self.p, n) for n in names}
        kw['target_classes'] = [c.strip() for c in self.p.target_classes.split(',') if c.strip()]
        return ManagerConfig(**kw)

    def configure(self):
        self.loop.tracker.set_config(self.tracker_config())  # ValueError (e.g. an even scale_num): refused
        self.loop.manager.cfg = self.manager_config()
        self.loop.use_appearance = self.p.use_appearance
        self.loop.buffer_frames = self.p.buffer_frames

    def _flush_warnings(self):
        for key, text in self.loop.warnings:
            self.warn_throttled(key, text)
        self.loop.warnings = []

    # --- inputs ----------------------------------------------------------------------
    def on_labels(self, msg):
        try:
            self.labels = {str(int(c.class_id)): str(c.class_name) for c in msg.class_map}
        except (AttributeError, TypeError, ValueError) as e:
            self.warn_throttled('bad_labels', 'ignoring malformed LabelInfo: %s' % e)

    def on_image(self, msg):
        try:
            rgb = msgs.image_to_numpy(msg)
        except msgs.BadMessage as e:
            self.warn_throttled('bad_image', 'dropping image: %s' % e)
            return
        ns = msgs.stamp_ns(msg.header.stamp)
        out = self.loop.on_image(ns, rgb)
        self._flush_warnings()
        if out is None:
            return
        self.headers[ns] = (msg.header, rgb.shape[1], rgb.shape[0])
        while len(self.headers) > self.p.buffer_frames:
            self.headers.popitem(last=False)
        self._publish(msg.header, rgb.shape[1], rgb.shape[0], out)
        if out.request_detections and self.p.request_detections:
            self.req.publish(self.new('std_msgs/msg/Empty'))

    def _detections(self, msg) -> List[Any]:
        dets = []
        for (x, y, w, h), score, cid in msgs.best_hypotheses(msg):
            if not all(np.isfinite([x, y, w, h])) or w <= 0 or h <= 0:
                continue
            dets.append(Detection((x, y, w, h), score, self.labels.get(cid, cid)))
        return dets

    def on_detections(self, msg):
        try:
            ns = msgs.stamp_ns(msg.header.stamp)
            dets = self._detections(msg)
        except (AttributeError, TypeError, ValueError) as e:
            self.warn_throttled('bad_dets', 'dropping malformed detections: %s' % e)
            return
        out = self.loop.on_detections(ns, dets)
        self._flush_warnings()
        if out is not None and ns in self.headers:
            header, w, h = self.headers[ns]
            self._publish(header, w, h, out)

    # --- output ----------------------------------------------------------------------
    def _publish(self, header, w: int, h: int, out) -> None:
        if out.box is not None:
            x, y, bw, bh = out.box
            truncated = x <= 0.5 or y <= 0.5 or x + bw >= w - 0.5 or y + bh >= h - 0.5
            bbox = msgs.bbox_fields(x, y, bw, bh)
        else:
            truncated, bbox = False, msgs.bbox_fields(0.0, 0.0, 0.0, 0.0)
        self.pub.publish(self.new(TRACK, header=header, track_id=int(out.track_id), class_id=out.class_id,
                                  class_score=float(out.class_score), bbox=bbox, quality=float(out.quality),
                                  state=int(out.state), truncated=bool(truncated), age_s=float(out.age_s)))
