"""SiamFC's int8 search graph (train/siamfc_int8.py, runtime/siamfc_onnx.py) and the scales split over threads
(runtime/split_batch.py): the same tracker, checked against the float one."""
from pathlib import Path

import numpy as np
import pytest
import torch

from test_manager_node import run  # the tracker node between a truth camera and a truth detector
from uavcine.core import siamfc as S
from uavcine.core.box_ops import iou
from uavcine.nodes import msgs
from uavcine.offline.host import GraphError
from uavcine.runtime.siamfc_onnx import load_search_onnx
from uavcine.runtime.split_batch import SplitBatch
from uavcine.train import siamfc_int8

REPO = Path(__file__).resolve().parents[1]


def tiny_model(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    net = S.SiamFCNet(0.25)
    S.init_weights(net)
    torch.save(S.save_checkpoint(net.eval(), S.SiamFCConfig(width=0.25)), path)
    return path


def frames(n=10):
    """A textured background with a red box moving 4 px right and 2 px down per frame."""
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 255, (240, 320, 3)).astype(np.uint8)
    out, boxes = [], []
    for i in range(n):
        img = bg.copy()
        x, y = 100 + 4 * i, 80 + 2 * i
        img[y:y + 30, x:x + 40] = (220, 30, 30)
        out.append(img)
        boxes.append((x, y, 40, 30))
    return out, boxes


def track(trk, imgs, box0):
    trk.init(imgs[0], box0)
    return [trk.update(f).box for f in imgs[1:]]


@pytest.fixture(scope='module')
def int8(tmp_path_factory):
    d = tmp_path_factory.mktemp('int8')
    model = tiny_model(d / 'siamfc_test.pt', 0)
    net, cfg, _ = S.load_checkpoint(str(model))
    imgs, boxes = frames()
    seq = type('Seq', (), {'__len__': lambda s: len(imgs), 'frame': lambda s, i: imgs[i],
                           'boxes': np.array(boxes, float)})()
    feeds = siamfc_int8.calibration_feeds([seq], net, cfg, frames=10, every=2)
    report = siamfc_int8.quantize(model, feeds, d / 'search_int8.onnx')
    return model, d / 'search_int8.onnx', report


class FakeSession:
    def __init__(self):
        self.calls = []

    def run(self, names, feeds):
        self.calls.append(feeds['x'].shape[0])
        return [feeds['x'] * 2 + feeds['k'], feeds['x'][:, :1]]


def test_split_batch_concatenates_groups_in_order():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    fake = FakeSession()
    out = SplitBatch(fake, 2, 'x').run(None, {'x': x, 'k': np.float32(1)})
    assert sorted(fake.calls) == [1, 2]  # 3 scales on 2 threads: groups of 2 and 1
    np.testing.assert_array_equal(out[0], x * 2 + 1)
    np.testing.assert_array_equal(out[1], x[:, :1])
    fake = FakeSession()
    SplitBatch(fake, 4, 'x').run(None, {'x': x[:1], 'k': np.float32(0)})
    assert fake.calls == [1]  # a batch of one is not split
    with pytest.raises(ValueError, match='groups must be at least 1'):
        SplitBatch(fake, 0, 'x')


def test_scales_split_over_threads_track_exactly_like_one_session(tmp_path):
    net, cfg, q = S.load_checkpoint(str(tiny_model(tmp_path / 'm.pt', 1)))
    imgs, boxes = frames()
    one = track(S.SiamFCTracker(net, cfg, q, backend='onnxruntime', num_threads=1), imgs, boxes[0])
    split = S.SiamFCTracker(net, cfg, q, backend='onnxruntime', num_threads=1)
    split.search_session = SplitBatch(split.search_session, 2, 'x')
    two = track(split, imgs, boxes[0])
    np.testing.assert_allclose(np.array(two), np.array(one), atol=1e-3)
    with pytest.raises(ValueError, match="backend='onnxruntime'"):
        S.SiamFCTracker(net, cfg, q, backend='torch').search_session = split.search_session


def test_int8_graph_agrees_with_the_float_one_and_tracks(int8):
    model, onnx_path, report = int8
    assert report['convs'] == 5 and report['response_corr_min'] > 0.95
    net, cfg, q = S.load_checkpoint(str(model))
    imgs, boxes = frames()
    graph = load_search_onnx(onnx_path, model)
    got = track(S.SiamFCTracker(net, cfg, q, backend='onnxruntime', search_onnx=graph), imgs, boxes[0])
    ref = track(S.SiamFCTracker(net, cfg, q, backend='onnxruntime'), imgs, boxes[0])
    assert min(iou(a, b) for a, b in zip(got, ref)) > 0.8
    with pytest.raises(ValueError, match="needs backend='onnxruntime'"):
        S.SiamFCTracker(net, cfg, q, backend='torch', search_onnx=graph)


def test_a_graph_is_refused_with_other_weights_or_bad_files(int8, tmp_path):
    model, onnx_path, _ = int8
    other = tiny_model(tmp_path / 'other.pt', 2)
    with pytest.raises(ValueError, match='was made from siamfc_test.pt'):
        load_search_onnx(onnx_path, other)
    with pytest.raises(ValueError, match='not found'):
        load_search_onnx(tmp_path / 'none.onnx', model)
    (tmp_path / 'bad.onnx').write_bytes(b'not an onnx file')
    with pytest.raises(ValueError, match='cannot read SiamFC search graph'):
        load_search_onnx(tmp_path / 'bad.onnx', model)
    net, cfg, _ = S.load_checkpoint(str(model))
    plain = tmp_path / 'plain.onnx'  # the float export carries no record of its weights
    plain.write_bytes(S.export_onnx(S.SearchModel(S.fuse_backbone(net.backbone), net.out_scale, True), cfg))
    with pytest.raises(ValueError, match='does not say which model file'):
        load_search_onnx(plain, model)


def test_tracker_node_runs_the_int8_graph_split_over_threads(int8):
    model, onnx_path, _ = int8
    cam, det, node, tracks = run(str(model), backend='onnxruntime', search_onnx=str(onnx_path), num_threads=2,
                                 thread_split='scales')
    assert isinstance(node.loop.tracker.search_session, SplitBatch)
    later = tracks[2:]
    assert len(later) == cam.p.frames - 1
    assert all(m.state == 2 and iou(msgs.bbox_xywh(m.bbox), t) > 0.5 for m, t in zip(later, cam.boxes[1:]))
    with pytest.raises(GraphError, match='search_onnx and thread_split are for backend onnxruntime'):
        run(str(model), search_onnx=str(onnx_path))


def test_the_shipped_int8_graph_belongs_to_the_shipped_weights():
    """models/siamfc_real_int8.onnx must be remade (python -m uavcine.train.siamfc_int8) whenever
    models/siamfc_real.pt changes: the node would refuse it."""
    graph = load_search_onnx(REPO / 'models' / 'siamfc_real_int8.onnx', REPO / 'models' / 'siamfc_real.pt')
    assert len(graph) < 2_000_000
