"""Tracker node: the seed's detect/track loop -- SiamFC with quality gating, driven by the manager.

One node holds both the SiamFC tracker and the manager. The tracker must start on
the very image a detection was made in, and the manager's decision (track, wait,
re-detect) depends on the tracker's result for each image: in one node both see
the same image buffer and run in a fixed order, with no init/ack messages and no
race between them, so a run is deterministic on the offline host and on ROS 2.

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
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np

from . import msgs, paths
from .base import LATCHED, RELIABLE, Node, param, sensor_qos

TRACK = 'uavcine_interfaces/msg/Track'


@dataclass
class TrackerParams:
    model_path: str = param('models/siamfc_sim.pt', 'SiamFC model: ours (.pt from siamfc_train) or an official '
                            'siamfc-pytorch state dict (relative paths: see uavcine.nodes.paths)')
    backend: str = param('torch', 'Inference backend for the search forward', choices=['torch', 'onnxruntime'])
    num_threads: int = param(0, 'CPU threads for inference (0 = library default)', min=0, max=64)
    # SiamFC (paper defaults)
    context: float = param(0.5, 'Context margin around the target: p = context * (w + h)', min=0.0, max=2.0)
    scale_num: int = param(3, 'Number of search scales (odd)', min=1, max=9)
    scale_step: float = param(1.0375, 'Ratio between neighbouring search scales', min=1.0, max=1.5)
    scale_lr: float = param(0.59, 'Damping of the scale update (0 = keep size, 1 = jump to the best scale)',
                            min=0.0, max=1.0)
    scale_penalty: float = param(0.9745, 'Response penalty of the non-unit scales', min=0.0, max=1.0)
    window_influence: float = param(0.176, 'Weight of the cosine window on the response', min=0.0, max=1.0)
    response_up: int = param(16, 'Upsampling factor of the 17x17 response', min=1, max=32)
    # quality gating and the manager
    quality_threshold: float = param(0.3, 'Tracking quality below this is a weak frame (predicted IoU)',
                                     min=0.0, max=1.0)
    max_weak_frames: int = param(10, 'Weak frames tolerated in a row before the track is lost', min=0)
    max_lost_s: float = param(5.0, 'A lost track keeps searching this long (detector asked) before it is given up',
                              min=0.0)
    track_window_s: float = param(5.0, 'Tracking time window: after it, the detector confirms the target', min=0.0)
    target_classes: str = param('', 'Comma-separated class names to follow (empty = any class)')
    min_score: float = param(0.5, 'Minimum detection score for a target', min=0.0, max=1.0)
    reinit_iou: float = param(0.3, 'IoU of a detection with the tracked box to re-initialise on it', min=0.0, max=1.0)
    refresh_iou: float = param(0.5, 'A confident track that a detection overlaps this much is confirmed, not restarted',
                               min=0.0, max=1.0)
    use_appearance: bool = param(True, 'Compare detections with the target exemplar before re-initialising')
    min_appearance: float = param(0.5, 'Appearance similarity (0..1) for a detection to be the same target',
                                  min=0.0, max=1.0)
    gate: float = param(3.0, 'Re-acquisition gate: centre distance in sizes of the last box', min=0.0)
    forget_s: float = param(10.0, 'After this long lost, the previous track no longer steers the choice', min=0.0)
    detect_while_weak: bool = param(True, 'Ask for detections on weak (occluded) frames too, not only when lost')
    acquire: str = param('centre', "How a new target is chosen when none is held: 'centre' = the detection nearest "
                                   "the image centre (the operator framed it), 'score' = the most confident",
                         choices=['centre', 'score'])
    request_detections: bool = param(True, 'Publish detector/request when detections are wanted')
    buffer_frames: int = param(30, 'Images kept to start the tracker on a late detection', min=1, max=1000)
    image_reliability: str = param('best_effort', 'Image subscription QoS reliability',
                                   choices=['best_effort', 'reliable'])


class DetectTrackLoop:
    """The loop without messages: SiamFC + manager over an image buffer (the node and the evaluation use it).

    ``on_image(ns, rgb)`` -> the manager's output for that image (check ``request_detections``);
    ``on_detections(ns, dets)`` -> the output for that image if it is the latest one and the
    tracker was (re)started on it, else None. ``warnings`` collects (key, text) for the node to log.
    """

    def __init__(self, tracker, manager, use_appearance: bool = True, buffer_frames: int = 30):
        from ..core import manager as M
        from ..core import siamfc as S
        self.M, self.S = M, S
        self.tracker = tracker
        self.manager = manager
        self.use_appearance = use_appearance
        self.buffer_frames = buffer_frames
        self.images = OrderedDict()  # type: OrderedDict  # stamp_ns -> rgb
        self.track_kernel = None  # exemplar features when the current track id started
        self.warnings = []  # type: List[Any]
        self.last_result = None  # the tracker's last TrackResult (for evaluation)

    def on_image(self, ns: int, rgb: np.ndarray):
        if self.images and ns <= next(reversed(self.images)):
            self.warnings.append(('old_image', 'dropping image older than the last one (stamp %d ns)' % ns))
            return None
        self.images[ns] = rgb
        while len(self.images) > self.buffer_frames:
            self.images.popitem(last=False)
        return self._track(ns, rgb)

    def _track(self, ns: int, rgb: np.ndarray):
        t = ns * 1e-9
        self.last_result = None
        if not self.manager.tracker_wanted:
            if self.tracker.initialised:
                self.tracker.reset()  # the detector has the lead: no tracking cost meanwhile
            return self.manager.on_tracker(t, None, 0.0)
        r = self.tracker.update(rgb)
        self.last_result = r
        if r.error:
            self.warnings.append(('tracker_' + r.error.split(' ')[0], 'tracker: %s' % r.error))
        failed = r.box is None or not self.tracker.initialised
        return self.manager.on_tracker(t, r.box, r.quality, failed=failed)

    def on_detections(self, ns: int, dets: List[Any]):
        rgb = self.images.get(ns)
        if rgb is None:
            self.warnings.append(('no_image', 'detections for an image no longer buffered (stamp %d ns); '
                                              'raise buffer_frames' % ns))
            return None
        if self.use_appearance and self.track_kernel is not None:
            for d in dets:
                d.appearance = self.tracker.appearance(rgb, d.box, self.track_kernel)
        t = ns * 1e-9
        cmd = self.manager.on_detections(t, dets, (rgb.shape[1], rgb.shape[0]))
        if cmd is None:
            return None
        r = self.tracker.init(rgb, cmd.box)
        if r.error:
            self.warnings.append(('init', 'tracker refused detection box: %s' % r.error))
            self.manager.tracker_init_failed(t, r.error)
            return None
        self.last_result = r
        if cmd.reason == 'new' or self.track_kernel is None:
            self.track_kernel = self.tracker.kernel
        # catch up on the images that arrived after the detected one (their tracks are already out)
        newer = [k for k in self.images if k > ns]
        for k in newer:
            self._track(k, self.images[k])
        return None if newer else self.manager.output(t)


class TrackerNode(Node):
    NAME = 'tracker'
    Params = TrackerParams

    def setup(self):
        from ..core import manager as M
        from ..core import siamfc as S
        p = self.p
        if p.num_threads > 0:
            import torch
            torch.set_num_threads(p.num_threads)
        net, cfg, quality = S.load_checkpoint(paths.resolve(p.model_path))  # ValueError: one clear line
        cfg.context, cfg.scale_num, cfg.scale_step = p.context, p.scale_num, p.scale_step
        cfg.scale_lr, cfg.scale_penalty, cfg.window_influence = p.scale_lr, p.scale_penalty, p.window_influence
        cfg.response_up = p.response_up
        cfg.weak_quality = p.quality_threshold
        cfg.lost_frames = p.max_weak_frames + 1
        cfg.__post_init__()
        tracker = S.SiamFCTracker(net, cfg, quality, backend=p.backend, num_threads=p.num_threads)
        classes = [c.strip() for c in p.target_classes.split(',') if c.strip()]
        manager = M.Manager(M.ManagerConfig(
            quality_threshold=p.quality_threshold, max_weak_frames=p.max_weak_frames, max_lost_s=p.max_lost_s,
            track_window_s=p.track_window_s, target_classes=classes, min_score=p.min_score,
            reinit_iou=p.reinit_iou, refresh_iou=p.refresh_iou, min_appearance=p.min_appearance, gate=p.gate,
            forget_s=p.forget_s,
            detect_while_weak=p.detect_while_weak, acquire=p.acquire))
        self.loop = DetectTrackLoop(tracker, manager, p.use_appearance, p.buffer_frames)
        self.Detection = M.Detection
        self.headers = OrderedDict()  # type: OrderedDict  # stamp_ns -> (header, width, height)
        self.labels = {}  # type: Dict[str, str]
        self.pub = self.create_publisher(TRACK, 'target/track', RELIABLE)
        self.req = self.create_publisher('std_msgs/msg/Empty', 'detector/request', RELIABLE)
        self.create_subscription('sensor_msgs/msg/Image', 'camera/image_raw', self.on_image,
                                 sensor_qos(p.image_reliability))
        self.create_subscription('vision_msgs/msg/Detection2DArray', 'detector/detections', self.on_detections,
                                 RELIABLE)
        self.create_subscription('vision_msgs/msg/LabelInfo', 'detector/labels', self.on_labels, LATCHED)

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
        for d in msg.detections:
            if not d.results:
                continue
            best = max(d.results, key=lambda r: float(r.hypothesis.score))
            cid = str(best.hypothesis.class_id)
            x, y, w, h = msgs.bbox_xywh(d.bbox)
            if not all(np.isfinite([x, y, w, h])) or w <= 0 or h <= 0:
                continue
            dets.append(self.Detection((x, y, w, h), float(best.hypothesis.score), self.labels.get(cid, cid)))
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
