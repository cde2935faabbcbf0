"""The tracker node (SiamFC + manager) in the offline host with a camera and a detector that answers requests."""
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
import torch

from uavcine.core import siamfc as S
from uavcine.core.box_ops import iou
from uavcine.nodes import msgs
from uavcine.nodes.base import LATCHED, RELIABLE, SENSOR_DATA, Node, param
from uavcine.nodes.tracker import TrackerNode
from uavcine.offline.host import GraphError, OfflineHost

torch.set_num_threads(1)
TRACK = 'uavcine_interfaces/msg/Track'


def scene(n, w=200, h=150, seed=0):
    rng = np.random.default_rng(seed)
    bg = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3)).astype(np.uint8), (0, 0), 3)
    patch = np.zeros((20, 24, 3), np.uint8)
    patch[::6, :] = (255, 40, 40)
    patch[:, ::6] = (40, 255, 40)
    patch[6:-6, 6:-6] = (30, 30, 200)
    frames, boxes = [], []
    for i in range(n):
        img = bg.copy()
        x, y = 40 + 3 * i, 50 + i
        img[y:y + 20, x:x + 24] = patch
        frames.append(img)
        boxes.append((x, y, 24, 20))
    return frames, boxes


@dataclass
class CamParams:
    frames: int = param(12, 'frames', min=1)
    bad_at: int = param(-1, 'publish an empty image instead of this frame')


class Camera(Node):
    NAME = 'camera'
    Params = CamParams

    def setup(self):
        self.frames, self.boxes = scene(self.p.frames)
        self.pub = self.create_publisher('sensor_msgs/msg/Image', 'camera/image_raw', SENSOR_DATA)
        self.create_timer(0.1, self.tick)
        self.n = 0
        self.stamps = []

    def tick(self):
        if self.n == self.p.bad_at:
            self.pub.publish(self.new('sensor_msgs/msg/Image', header=msgs.header(self, self.now_ns(), 'cam'),
                                      height=0, width=0, encoding='rgb8', step=0, data=np.zeros(0, np.uint8)))
        else:
            self.pub.publish(msgs.numpy_to_image(self, self.frames[self.n], self.now_ns(), 'camera_optical'))
        self.stamps.append(self.now_ns())
        self.n += 1
        if self.n == self.p.frames:
            self.request_shutdown('done')


class TruthDetector(Node):
    """Like the detector node with run_on_request: on std_msgs/Empty, detects on the latest image not yet
    processed (or the next one), answering with its true box (class 2 = 'car' in its LabelInfo)."""
    NAME = 'detector'

    def setup(self):
        self.cam = None
        self.latest, self.done, self.pending = None, True, False
        self.requests = 0
        self.pub = self.create_publisher('vision_msgs/msg/Detection2DArray', 'detector/detections', RELIABLE)
        labels = self.create_publisher('vision_msgs/msg/LabelInfo', 'detector/labels', LATCHED)
        labels.publish(self.new('vision_msgs/msg/LabelInfo', class_map=[{'class_id': 2, 'class_name': 'car'}]))
        self.create_subscription('sensor_msgs/msg/Image', 'camera/image_raw', self.on_image, SENSOR_DATA)
        self.create_subscription('std_msgs/msg/Empty', 'detector/request', self.on_request, RELIABLE)

    def on_image(self, msg):
        self.latest, self.done = msg.header, False
        if self.pending:
            self.pending = False
            self.detect(msg.header)

    def on_request(self, _msg):
        self.requests += 1
        if self.latest is not None and not self.done:
            self.detect(self.latest)
        else:
            self.pending = True

    def detect(self, header):
        self.done = True
        ns = msgs.stamp_ns(header.stamp)
        i = self.cam.stamps.index(ns)
        x, y, w, h = self.cam.boxes[i]
        det = {'header': header, 'bbox': msgs.bbox_fields(x, y, w, h),
               'results': [{'hypothesis': {'class_id': '2', 'score': 0.9}}]}
        self.pub.publish(self.new('vision_msgs/msg/Detection2DArray', header=header, detections=[det]))


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    torch.manual_seed(0)
    net = S.SiamFCNet(0.25)
    S.init_weights(net)
    path = tmp_path_factory.mktemp('m') / 'siamfc_test.pt'
    torch.save(S.save_checkpoint(net.eval(), S.SiamFCConfig(width=0.25)), path)
    return str(path)


def run(model, frames=12, bad_at=-1, **params):
    host = OfflineHost()
    cam = host.add_node(Camera, params={'frames': frames, 'bad_at': bad_at})
    det = host.add_node(TruthDetector)
    det.cam = cam
    node = host.add_node(TrackerNode, params={'model_path': model, **params})
    tracks = host.capture('/target/track')
    host.run()
    host.close()
    return cam, det, node, [m for _, m in tracks]


def test_detect_then_track(model):
    cam, det, node, tracks = run(model)
    # first image: DETECTING + request, the detection for it starts the tracker (a second Track for that image)
    assert tracks[0].state == 1 and tracks[1].state == 2
    assert msgs.stamp_ns(tracks[0].header.stamp) == msgs.stamp_ns(tracks[1].header.stamp)
    assert det.requests == 1  # the tracker then runs alone
    later = tracks[2:]
    assert len(later) == cam.p.frames - 1
    for m, truth in zip(later, cam.boxes[1:]):
        assert m.state == 2 and m.track_id == 1 and m.class_id == 'car' and 0 <= m.quality <= 1
        assert iou(msgs.bbox_xywh(m.bbox), truth) > 0.5
    assert later[-1].age_s == pytest.approx(1.1)


def test_weak_quality_loses_and_redetects_same_target(model):
    # quality never reaches 1: every frame weak; after 2 weak frames the track is lost and re-acquired
    cam, det, node, tracks = run(model, quality_threshold=1.0, max_weak_frames=2, detect_while_weak=False)
    states = [m.state for m in tracks]
    assert 3 in states and 4 in states  # OCCLUDED then LOST
    assert det.requests > 1
    # LOST goes out with a request; the detection of that image restarts the tracker (a second Track, same stamp)
    assert states[:6] == [1, 2, 3, 3, 4, 2]
    assert tracks[4].header.stamp == tracks[5].header.stamp
    assert {m.track_id for m in tracks if m.state in (2, 3)} == {1}  # re-acquired, same id


def test_time_window_asks_the_detector_again(model):
    cam, det, node, tracks = run(model, frames=12, track_window_s=0.45)
    assert det.requests >= 3
    # the detector confirms the track at each window end (0.5 s = 5 frames): requests only then
    assert det.requests == 1 + (cam.p.frames - 1) // 5
    assert all(m.state == 2 and m.track_id == 1 for m in tracks[1:])


def test_empty_image_is_dropped_and_tracking_goes_on(model):
    cam, det, node, tracks = run(model, frames=8, bad_at=4)
    stamps = [msgs.stamp_ns(m.header.stamp) for m in tracks]
    assert cam.stamps[4] not in stamps
    assert tracks[-1].state == 2 and iou(msgs.bbox_xywh(tracks[-1].bbox), cam.boxes[-1]) > 0.5


def test_missing_model_is_one_clear_error(tmp_path):
    host = OfflineHost()
    with pytest.raises(GraphError, match='node tracker could not start: SiamFC model not found') as err:
        host.add_node(TrackerNode, params={'model_path': str(tmp_path / 'none.pt')})
    assert isinstance(err.value.__cause__, ValueError)
    host.close()


def test_best_hypotheses_keeps_each_detections_most_confident_class():
    """msgs.best_hypotheses (the tracker node's and shot_diag's reading of a Detection2DArray): per detection its
    box and its most confident hypothesis; a detection without results is left out."""
    from types import SimpleNamespace as N

    def det(box, results):
        x, y, w, h = box
        return N(bbox=N(center=N(position=N(x=x + w / 2, y=y + h / 2)), size_x=w, size_y=h),
                 results=[N(hypothesis=N(class_id=c, score=s)) for c, s in results])
    arr = N(detections=[det((10, 20, 30, 40), [('car', 0.4), ('person', 0.7)]), det((0, 0, 5, 5), []),
                        det((1, 2, 3, 4), [('tower', 0.9)])])
    assert msgs.best_hypotheses(arr) == [((10.0, 20.0, 30.0, 40.0), 0.7, 'person'),
                                         ((1.0, 2.0, 3.0, 4.0), 0.9, 'tower')]
