"""Detector node: camera images -> DETR detections (vision_msgs, Humble schema), on request or at a rate.

Subscribes  camera/image_raw     sensor_msgs/msg/Image (rgb8, bgr8, mono8, ...; sensor-data QoS)
            detector/request     std_msgs/msg/Empty  (when run_on_request: detect on the next image,
                                 or at once on the latest image not yet processed)
Publishes   detector/detections  vision_msgs/msg/Detection2DArray (header copied from the image; one
                                 Detection2D per object: results[0].hypothesis.class_id = class name,
                                 .score; bbox centre/size in the ORIGINAL image's pixels). An empty
                                 array is published when nothing is found, so a requester always hears back.
            detector/labels      vision_msgs/msg/LabelInfo (latched: label index -> class name, threshold)

Bad input (unsupported encoding, empty or truncated image) and a missing or corrupt
model file give a throttled warning and the node keeps running (the model is
retried every ``model_retry_s``). Python 3.8.
"""
import os
from dataclasses import dataclass
from typing import Any, List, Optional

from ..runtime.base import RuntimeErrorBase
from . import msgs, paths, vehicle
from .base import LATCHED, RELIABLE, Node, param, sensor_qos


_MODEL = 'the model is loaded (and its engine built) when the node starts; restart the node to change it'
_SUB = 'the image QoS and the request subscription are fixed when the node starts'


@dataclass
class DetectorParams:
    model_path: str = param('models/detr_small.pt', 'DETR model: .pt (torch) or .onnx (onnxruntime/tensorrt); '
                            'the sibling file with the other extension is used when the backend needs it '
                            '(relative paths: see uavcine.nodes.paths)',
        read_only=_MODEL)
    backend: str = param('torch', 'Inference backend', choices=['torch', 'onnxruntime', 'tensorrt'],
        read_only=_MODEL)
    device: str = param('cpu', 'torch/onnxruntime device (tensorrt always runs on the GPU)', choices=['cpu', 'cuda'],
        read_only=_MODEL)
    precision: str = param('fp16', 'TensorRT engine precision (engine built beforehand, never at start)',
                           choices=['fp32', 'fp16', 'int8'],
        read_only=_MODEL)
    engine_cache_dir: str = param('', 'TensorRT engine cache directory (empty: ~/.cache/uavcine/tensorrt)',
        read_only=_MODEL)
    threads: int = param(0, 'CPU threads for onnxruntime (0 = library default)', min=0,
        read_only=_MODEL)
    input_width: int = param(0, 'Network input width (0 = the model\'s own; only torch + standard attention '
                             'can run at another size)', min=0,
        read_only=_MODEL)
    input_height: int = param(0, 'Network input height (0 = the model\'s own)', min=0,
        read_only=_MODEL)
    score_threshold: float = param(0.5, 'Minimum class probability of a detection', min=0.0, max=1.0)
    class_filter: str = param('', 'Comma-separated class names to report (empty = all classes)')
    max_detections: int = param(20, 'At most this many detections per image (highest scores first)', min=1)
    max_rate_hz: float = param(0.0, 'Detect at most this often, by image stamps (0 = every image)', min=0.0)
    run_on_request: bool = param(False, 'Only detect when a std_msgs/Empty arrives on detector/request',
        read_only=_SUB)
    image_reliability: str = param('best_effort', 'Image subscription QoS reliability',
                                   choices=['best_effort', 'reliable'],
        read_only=_SUB)
    model_retry_s: float = param(10.0, 'Retry loading a missing/corrupt model this often (node time)', min=0.1)


class DetectorNode(Node):
    NAME = 'detector'
    Params = DetectorParams

    def setup(self):
        self.pub = self.create_publisher('vision_msgs/msg/Detection2DArray', 'detector/detections', RELIABLE)
        self.labels_pub = self.create_publisher('vision_msgs/msg/LabelInfo', 'detector/labels', LATCHED)
        vehicle.IMAGE.subscribe(self, self.on_image, sensor_qos(self.p.image_reliability))
        if self.p.run_on_request:
            self.create_subscription('std_msgs/msg/Empty', 'detector/request', self.on_request, RELIABLE)
        self.detector = None  # type: Any
        self.keep_labels = None  # type: Optional[List[int]]
        self.model_error = ''
        self.last_load_ns = None  # type: Optional[int]
        self.last_run_ns = None  # type: Optional[int]
        self.latest = None  # type: Any
        self.latest_done = True
        self.pending = 0
        self.frames = 0
        self._load_model()

    # ------------------------------------------------------------------ model
    def _load_model(self) -> bool:
        from ..runtime.detector import Detector  # lazy: start-up time: importing it loads torch
        self.last_load_ns = self.now_ns()
        size = None
        if self.p.input_width or self.p.input_height:
            size = (self.p.input_width, self.p.input_height)
        path = self.p.model_path
        stem, ext = os.path.splitext(path)
        if self.p.backend == 'torch' and ext == '.onnx':
            path = stem + '.pt'
        elif self.p.backend != 'torch' and ext != '.onnx':
            path = stem + '.onnx'
        try:
            det = Detector(paths.resolve(path), self.p.backend, self.p.device, self.p.engine_cache_dir or None,
                           self.p.precision, self.p.threads, input_size=size)
            keep = self._keep_labels(det)
        except (RuntimeErrorBase, ValueError, OSError) as exc:
            self.model_error = str(exc)
            self.error('detector model not loaded: %s' % exc)
            return False
        self.detector, self.keep_labels, self.model_error = det, keep, ''
        self.info('loaded %s (%s, input %dx%d, classes: %s)' % (det.model_file, det.backend, det.input_size[0],
                                                                 det.input_size[1], ', '.join(self._class_names())))
        self._publish_labels()
        return True

    def _keep_labels(self, det) -> Optional[List[int]]:
        names = [c.strip() for c in self.p.class_filter.split(',') if c.strip()]
        return det.label_ids(names) if names else None  # ValueError for a class the model does not have

    def _publish_labels(self) -> None:
        self.labels_pub.publish(self.new(
            'vision_msgs/msg/LabelInfo', header=msgs.header(self, self.now_ns(), ''),
            class_map=[{'class_id': i, 'class_name': n} for i, n in enumerate(self.detector.class_names) if n != 'N/A'],
            threshold=float(self.p.score_threshold)))

    def on_parameters_changed(self, changed):
        """score_threshold, max_detections, max_rate_hz and model_retry_s are read where they are used; a new
        class_filter is resolved against the loaded model now (an unknown class refuses the change)."""
        if self.detector is not None and ('class_filter' in changed or 'score_threshold' in changed):
            self.keep_labels = self._keep_labels(self.detector)
            self._publish_labels()

    def _class_names(self) -> List[str]:
        return [n for n in self.detector.class_names if n != 'N/A']

    def _model_ready(self) -> bool:
        if self.detector is not None:
            return True
        if self.now_ns() - (self.last_load_ns or 0) >= self.p.model_retry_s * 1e9 and self._load_model():
            return True
        self.warn_throttled('no_model', 'dropping image: no detector model (%s)' % self.model_error)
        return False

    # ------------------------------------------------------------------ callbacks
    def on_request(self, msg: Any) -> None:
        if self.latest is not None and not self.latest_done:
            self._run(self.latest)
        else:
            self.pending = 1

    def on_image(self, msg: Any) -> None:
        if self.p.run_on_request:
            self.latest, self.latest_done = msg, False
            if self.pending:
                self.pending = 0
                self._run(msg)
            return
        if self.p.max_rate_hz > 0:
            t = msgs.stamp_ns(msg.header.stamp)
            if self.last_run_ns is not None and 0 <= t - self.last_run_ns < 1e9 / self.p.max_rate_hz:
                return
        self._run(msg)

    def _run(self, msg: Any) -> None:
        self.latest_done = True
        if not self._model_ready():
            return
        try:
            rgb = msgs.image_to_numpy(msg)
        except msgs.BadMessage as exc:
            self.warn_throttled('bad_image', 'dropping image: %s' % exc)
            return
        try:
            det = self.detector.detect(rgb, self.p.score_threshold, self.p.max_detections, self.keep_labels)
        except Exception as exc:  # a backend failure on one frame must not take the node down
            self.warn_throttled('inference', 'detection failed on an image: %s: %s' % (type(exc).__name__, exc))
            return
        self.last_run_ns = msgs.stamp_ns(msg.header.stamp)
        self.frames += 1
        detections = []
        for (x0, y0, x1, y1), score, name in zip(det.boxes_xyxy, det.scores, det.names()):
            detections.append({
                'header': msg.header,
                'results': [{'hypothesis': {'class_id': name, 'score': float(score)}}],
                'bbox': msgs.bbox_fields(float(x0), float(y0), float(x1 - x0), float(y1 - y0)),
            })
        self.pub.publish(self.new('vision_msgs/msg/Detection2DArray', header=msg.header, detections=detections))
