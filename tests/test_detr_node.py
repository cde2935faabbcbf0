"""Detector node in the offline host: detections in original pixels, header copied, latched labels,
on-request and rate-limited operation, and bad input or a bad model file never take it down."""
import logging

import numpy as np
import pytest
import torch

from uavcine.core.detr import DETR
from uavcine.core.letterbox import Letterbox
from uavcine.nodes import msgs
from uavcine.nodes.base import RELIABLE, SENSOR_DATA, Node, param
from uavcine.nodes.detector import DetectorNode
from uavcine.offline.host import OfflineHost
from uavcine.runtime.detector import save_detr_checkpoint
from detr_fixtures import tiny_config
from dataclasses import dataclass


@pytest.fixture(scope='module')
def model_path(tmp_path_factory):
    torch.manual_seed(0)
    p = tmp_path_factory.mktemp('detnode') / 'tiny.pt'
    save_detr_checkpoint(str(p), DETR(tiny_config()).eval())
    return str(p)


@dataclass
class CamParams:
    frames: int = param(6, 'frames', min=1)
    rate_hz: float = param(10.0, 'rate', min=0.1)
    bad: bool = param(False, 'interleave broken images')
    width: int = param(640, 'width', min=1)
    height: int = param(480, 'height', min=1)


class Cam(Node):
    NAME = 'cam'
    Params = CamParams

    def setup(self):
        self.pub = self.create_publisher('sensor_msgs/msg/Image', 'camera/image_raw', SENSOR_DATA)
        self.req = self.create_publisher('std_msgs/msg/Empty', 'detector/request', RELIABLE)
        self.create_timer(1.0 / self.p.rate_hz, self.tick)
        self.n = 0
        self.sent = []
        self.request_at = set()

    def tick(self):
        self.n += 1
        rng = np.random.default_rng(self.n)
        img = rng.integers(0, 255, (self.p.height, self.p.width, 3), dtype=np.uint8)
        m = msgs.numpy_to_image(self, img, self.now_ns(), 'camera_optical')
        kinds = ['ok', 'encoding', 'empty', 'truncated', 'bgr']
        kind = kinds[self.n % len(kinds)] if self.p.bad else 'ok'
        if kind == 'encoding':
            m = self.new('sensor_msgs/msg/Image', header=m.header, height=2, width=2, encoding='yuv422', step=4,
                         data=np.zeros(8, np.uint8))
        elif kind == 'empty':
            m = self.new('sensor_msgs/msg/Image', header=m.header, encoding='rgb8')
        elif kind == 'truncated':
            m = self.new('sensor_msgs/msg/Image', header=m.header, height=480, width=640, encoding='rgb8',
                         step=1920, data=np.zeros(1000, np.uint8))
        elif kind == 'bgr':
            m = msgs.numpy_to_image(self, img[:, :, ::-1], self.now_ns(), 'camera_optical', encoding='bgr8')
        self.sent.append((msgs.stamp_ns(m.header.stamp), kind))
        self.pub.publish(m)
        if self.n in self.request_at:
            self.req.publish(self.new('std_msgs/msg/Empty'))
        if self.n == self.p.frames:
            self.request_shutdown('done')


def run(params, cam=None, late_labels=False):
    host = OfflineHost()
    c = host.add_node(Cam, params=cam or {})
    det = host.add_node(DetectorNode, params=params)
    got = host.capture('/detector/detections')
    labels = host.capture('/detector/labels')
    host.run()
    host.close()
    return c, det, got, labels, host


def test_detections_for_good_images_only_and_node_stays_up(model_path, caplog):
    caplog.set_level(logging.WARNING)
    cam, det, got, labels, host = run({'model_path': model_path, 'score_threshold': 0.0, 'max_detections': 4},
                                      {'frames': 10, 'bad': True})
    good = [t for t, kind in cam.sent if kind in ('ok', 'bgr')]
    assert [msgs.stamp_ns(m.header.stamp) for _, m in got] == good  # one array per good image, header copied
    for _, m in got:
        assert m.header.frame_id == 'camera_optical' and len(m.detections) == 4
        for d in m.detections:
            x, y, w, h = msgs.bbox_xywh(d.bbox)
            assert -1e-6 <= x and x + w <= 640 + 1e-6 and -1e-6 <= y and y + h <= 480 + 1e-6
            assert d.results[0].hypothesis.class_id in ('person', 'car', 'tower')
            assert msgs.stamp_ns(d.header.stamp) == msgs.stamp_ns(m.header.stamp)
    assert 'unsupported image encoding' in caplog.text
    assert not host.errors
    assert [c.class_name for c in labels[0][1].class_map] == ['person', 'car', 'tower']


def test_boxes_are_reported_in_original_pixels(model_path):
    """A fake network output that puts one tower at a known box: the node reports it in image pixels."""
    host = OfflineHost()
    cam = host.add_node(Cam, params={'frames': 1, 'width': 1280, 'height': 720})
    det = host.add_node(DetectorNode, params={'model_path': model_path, 'class_filter': 'tower'})
    want = np.array([[600.0, 100.0, 700.0, 500.0]])
    cfg = det.detector.config
    lb = Letterbox.fit(1280, 720, cfg['input_width'], cfg['input_height'])
    n = lb.boxes_to_network(want)[0] / np.array([lb.dst_w, lb.dst_h, lb.dst_w, lb.dst_h])
    q = cfg['num_queries']

    class FakeRuntime:
        def run(self, feeds):
            assert feeds['images'].shape == (1, 3, cfg['input_height'], cfg['input_width'])
            logits = np.zeros((1, q, 4), np.float32)
            logits[0, :, 3] = 8.0
            logits[0, 0] = [0, 0, 9, 0]  # query 0: tower
            logits[0, 1] = [9, 0, 0, 0]  # query 1: person (filtered out by class_filter)
            boxes = np.full((1, q, 4), 0.5, np.float32)
            boxes[0, 0] = [(n[0] + n[2]) / 2, (n[1] + n[3]) / 2, n[2] - n[0], n[3] - n[1]]
            return [logits, boxes]
    det.detector.runtime = FakeRuntime()
    got = host.capture('/detector/detections')
    host.run()
    (_, m), = got
    (d,), = [m.detections]
    assert d.results[0].hypothesis.class_id == 'tower' and d.results[0].hypothesis.score > 0.99
    assert np.allclose(msgs.bbox_xywh(d.bbox), [600, 100, 100, 400], atol=1e-3)


def test_missing_and_corrupt_model_keep_the_node_up(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    cam, det, got, labels, host = run({'model_path': str(tmp_path / 'missing.pt')}, {'frames': 3})
    assert not got and not labels and not host.errors
    assert 'not found' in caplog.text and 'no detector model' in caplog.text
    bad = tmp_path / 'corrupt.pt'
    bad.write_bytes(b'PK\x03\x04 not really a zip')
    cam, det, got, labels, host = run({'model_path': str(bad)}, {'frames': 3})
    assert not got and not host.errors and 'corrupt' in caplog.text
    cam, det, got, labels, host = run({'model_path': str(tmp_path / 'missing.onnx'), 'backend': 'onnxruntime'},
                                      {'frames': 2})
    assert not got and not host.errors


def test_unknown_class_filter_is_reported(model_path, caplog):
    caplog.set_level(logging.ERROR)
    cam, det, got, labels, host = run({'model_path': model_path, 'class_filter': 'zebra'}, {'frames': 2})
    assert not got and 'unknown class zebra' in caplog.text


def test_run_on_request(model_path):
    host = OfflineHost()
    cam = host.add_node(Cam, params={'frames': 8})
    cam.request_at = {3, 6}
    host.add_node(DetectorNode, params={'model_path': model_path, 'run_on_request': True, 'score_threshold': 0.0})
    got = host.capture('/detector/detections')
    host.run()
    stamps = [msgs.stamp_ns(m.header.stamp) for _, m in got]
    # the request after frame 3 is served at once with frame 3 (not yet processed), likewise frame 6
    assert stamps == [cam.sent[2][0], cam.sent[5][0]]


def test_max_rate(model_path):
    cam, det, got, labels, host = run({'model_path': model_path, 'max_rate_hz': 2.5}, {'frames': 10, 'rate_hz': 10})
    stamps = np.array([msgs.stamp_ns(m.header.stamp) for _, m in got])
    assert len(got) == 3 and (np.diff(stamps) >= 0.4e9 - 1).all()
