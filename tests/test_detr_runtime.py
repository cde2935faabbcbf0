"""Inference runtime: ONNX export (TensorRT 8.5 operator set), onnxruntime parity with torch, engine cache keys,
and clear errors for missing or corrupt model files."""
import numpy as np
import pytest
import torch

from uavcine.core.detr import DETR
from uavcine.runtime import BackendUnavailable, EngineMissing, ModelFileError, open_runtime
from uavcine.runtime import tensorrt_engine as T
from uavcine.runtime.detector import Detector, export_detr_onnx, save_detr_checkpoint
from uavcine.runtime.onnx_export import check_onnx_for_tensorrt, read_metadata
from detr_fixtures import tiny_config


@pytest.fixture(scope='module', params=['standard', 'whitened'])
def model_files(request, tmp_path_factory):
    torch.manual_seed(3)
    model = DETR(tiny_config(encoder_attention=request.param)).eval()
    d = tmp_path_factory.mktemp('detr_' + request.param)
    pt = d / 'tiny.pt'
    save_detr_checkpoint(str(pt), model, half=False)
    ops = export_detr_onnx(model, str(d / 'tiny.onnx'))
    return pt, d / 'tiny.onnx', ops


def test_onnx_matches_torch_within_1e_3(model_files):
    pt, onnx_path, ops = model_files
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    dt, do = Detector(str(pt), 'torch'), Detector(str(pt), 'onnxruntime')  # .pt path: the sibling .onnx is used
    assert do.model_file.endswith('.onnx') and do.class_names == dt.class_names
    lt, bt, _ = dt.infer(img)
    lo, bo, _ = do.infer(img)
    assert np.abs(lt - lo).max() < 1e-3 and np.abs(bt - bo).max() < 1e-3
    a, b = dt.detect(img, 0.0, 100), do.detect(img, 0.0, 100)
    assert a.labels.tolist() == b.labels.tolist() and np.abs(a.boxes_xyxy - b.boxes_xyxy).max() < 0.5


def test_exported_graph_is_tensorrt_8_5_safe(model_files):
    _, onnx_path, ops = model_files
    assert 'GridSample' not in ops and 'LayerNormalization' not in ops
    assert check_onnx_for_tensorrt(str(onnx_path)) == ops
    meta = read_metadata(str(onnx_path))
    assert meta['format'] == 'uavcine-detr' and meta['config']['class_names'] == ['person', 'car', 'tower']


def test_forbidden_operator_is_reported(tmp_path):
    import onnx
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 1, 4, 4])
    g = helper.make_tensor_value_info('g', TensorProto.FLOAT, [1, 4, 4, 2])
    y = helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 1, 4, 4])
    graph = helper.make_graph([helper.make_node('GridSample', ['x', 'g'], ['y'])], 'g', [x, g], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 16)])
    with pytest.raises(ValueError, match='GridSample'):
        check_onnx_for_tensorrt(model)


def test_engine_cache_key_and_missing_engine_message(model_files, tmp_path):
    _, onnx_path, _ = model_files
    kw = dict(trt_version='8.5.2.2', compute_capability=(7, 2))
    key = T.engine_key(str(onnx_path), 'fp16', **kw)
    sha = T.onnx_sha256(str(onnx_path))
    assert key == '%s-trt8.5.2.2-sm72-fp16' % sha[:16]
    p16 = T.engine_path(str(onnx_path), 'fp16', str(tmp_path), **kw)
    assert p16 != T.engine_path(str(onnx_path), 'int8', str(tmp_path), **kw)
    assert p16 != T.engine_path(str(onnx_path), 'fp16', str(tmp_path), trt_version='10.3.0', compute_capability=(7, 2))
    assert p16 != T.engine_path(str(onnx_path), 'fp16', str(tmp_path), trt_version='8.5.2.2', compute_capability=(8, 7))
    with pytest.raises(EngineMissing, match='python -m uavcine.runtime.tensorrt_engine --onnx'):
        T.find_engine(str(onnx_path), 'fp16', str(tmp_path), **kw)
    open(p16, 'wb').close()
    assert T.find_engine(str(onnx_path), 'fp16', str(tmp_path), **kw) == p16
    with pytest.raises(ValueError, match='precision'):
        T.engine_key(str(onnx_path), 'fp8', **kw)


def test_tensorrt_backend_without_tensorrt_is_a_clear_error(model_files):
    pytest.importorskip('onnxruntime')
    try:
        import tensorrt  # noqa: F401
        pytest.skip('tensorrt is installed here')
    except ImportError:
        pass
    with pytest.raises(BackendUnavailable, match='tensorrt'):
        open_runtime('tensorrt', onnx_path=str(model_files[1]))
    assert T.main(['--onnx', str(model_files[1]), '--print-path']) == 2


def test_missing_and_corrupt_model_files(tmp_path, model_files):
    with pytest.raises(ModelFileError, match='not found'):
        Detector(str(tmp_path / 'nope.pt'), 'torch')
    with pytest.raises(ModelFileError, match='not found'):
        Detector(str(tmp_path / 'nope.onnx'), 'onnxruntime')
    bad = tmp_path / 'bad.pt'
    bad.write_bytes(b'\x00garbage' * 100)
    with pytest.raises(ModelFileError, match='corrupt'):
        Detector(str(bad), 'torch')
    (tmp_path / 'bad.onnx').write_bytes(b'\x00garbage' * 100)
    with pytest.raises(ModelFileError):
        Detector(str(tmp_path / 'bad.onnx'), 'onnxruntime')
    other = tmp_path / 'other.pt'
    torch.save({'weights': 1}, other)
    with pytest.raises(ModelFileError, match='not a DETR checkpoint'):
        Detector(str(other), 'torch')
    with pytest.raises(ValueError, match='unknown backend'):
        Detector(str(model_files[0]), 'tflite')


def test_input_size_override_rules(model_files):
    pt, onnx_path, _ = model_files
    meta = read_metadata(str(onnx_path))
    with pytest.raises(ValueError, match='fixed input size'):
        Detector(str(onnx_path), 'onnxruntime', input_size=(128, 96))
    if meta['config']['encoder_attention'] == 'whitened':
        with pytest.raises(ValueError, match='whitened'):
            Detector(str(pt), 'torch', input_size=(128, 96))
    else:
        d = Detector(str(pt), 'torch', input_size=(128, 96))
        logits, boxes, lb = d.infer(np.zeros((480, 640, 3), np.uint8))
        assert lb.dst_w == 128 and boxes.shape[1] == 4
    with pytest.raises(ValueError, match='unknown class'):
        Detector(str(pt), 'torch').label_ids(['person', 'zebra'])


def test_set_difference_pairs_queries_before_comparing():
    from uavcine.train.detr_eval import set_difference
    rng = np.random.default_rng(1)
    logits, boxes = rng.normal(size=(30, 4)), rng.random((30, 4))
    perm = rng.permutation(30)
    same = set_difference(logits, boxes, logits[perm], boxes[perm])
    assert same == {'all': 0.0, 'logits': 0.0, 'probs': 0.0, 'boxes': 0.0}
    moved = boxes[perm].copy()
    moved[3, 0] += 0.01  # one coordinate of one query differs
    d = set_difference(logits, boxes, logits[perm], moved)
    assert abs(d['all'] - 0.01) < 1e-9 and abs(d['boxes'] - 0.01) < 1e-9 and d['logits'] == 0.0
