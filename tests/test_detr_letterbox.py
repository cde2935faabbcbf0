"""Resize/letterbox and its inverse: boxes come back in the ORIGINAL image's pixels."""
import numpy as np
import pytest

from uavcine.core.detr import postprocess, preprocess
from uavcine.core.letterbox import Letterbox, resize_bilinear


@pytest.mark.parametrize('src,dst', [((640, 480), (384, 288)), ((1920, 1080), (384, 288)), ((300, 500), (384, 288)),
                                     ((641, 479), (320, 240)), ((64, 48), (384, 288))])
def test_box_round_trip(src, dst):
    lb = Letterbox.fit(src[0], src[1], dst[0], dst[1])
    assert lb.new_w <= dst[0] and lb.new_h <= dst[1] and (lb.new_w == dst[0] or lb.new_h == dst[1])
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 1, (20, 2)) * src
    wh = rng.uniform(0, 0.3, (20, 2)) * src
    boxes = np.concatenate([xy, np.minimum(xy + wh, src)], 1)
    net = lb.boxes_to_network(boxes)
    assert net[:, 0].min() >= lb.pad_x - 1e-9 and net[:, 2].max() <= lb.pad_x + lb.new_w + 1e-9
    assert np.allclose(lb.boxes_to_image(net), boxes, atol=1e-9)


def test_image_content_lands_where_the_boxes_say():
    img = np.zeros((480, 640, 3), np.uint8)
    img[100:200, 300:500] = 255  # x 300..500, y 100..200
    lb = Letterbox.fit(640, 360, 384, 288)  # a 16:9 image padded top and bottom
    img2 = np.zeros((360, 640, 3), np.uint8)
    img2[100:200, 300:500] = 255
    out = lb.apply(img2, pad_value=7)
    assert out.shape == (288, 384, 3) and lb.pad_y > 0
    x0, y0, x1, y1 = lb.boxes_to_network(np.array([[300, 100, 500, 200]]))[0]
    assert out[int(y0) + 2:int(y1) - 2, int(x0) + 2:int(x1) - 2].min() == 255
    assert out[:lb.pad_y - 1].max() == 7 and out[lb.pad_y + lb.new_h + 1:].max() == 7
    with pytest.raises(ValueError):
        lb.apply(img)


def test_numpy_fallback_resize_matches_opencv_closely():
    import cv2
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    img = cv2.GaussianBlur(img, (5, 5), 2)
    ref = cv2.resize(img, (96, 72), interpolation=cv2.INTER_LINEAR).astype(float)
    import uavcine.core.letterbox as L
    real = L.resize_bilinear
    try:
        import builtins
        orig_import = builtins.__import__

        def no_cv2(name, *a, **k):
            if name == 'cv2':
                raise ImportError
            return orig_import(name, *a, **k)
        builtins.__import__ = no_cv2
        out = resize_bilinear(img, 96, 72).astype(float)
    finally:
        builtins.__import__ = orig_import
    assert real is L.resize_bilinear and np.abs(out - ref).mean() < 1.0


def test_postprocess_maps_network_boxes_back_to_original_pixels():
    src_boxes = np.array([[100.0, 50.0, 180.0, 250.0], [400.0, 200.0, 600.0, 350.0]])  # in a 640x360 image
    lb = Letterbox.fit(640, 360, 384, 288)
    net = lb.boxes_to_network(src_boxes) / np.array([384, 288, 384, 288])
    cxcywh = np.stack([(net[:, 0] + net[:, 2]) / 2, (net[:, 1] + net[:, 3]) / 2, net[:, 2] - net[:, 0],
                       net[:, 3] - net[:, 1]], 1)
    q, k = 5, 3
    logits = np.full((q, k + 1), -5.0)
    logits[:, -1] = 5.0
    boxes = np.full((q, 4), 0.5)
    logits[3, 2], logits[3, -1] = 6.0, -5.0  # tower, high score
    logits[1, 0], logits[1, -1] = 2.0, 0.0  # person, lower score
    boxes[3], boxes[1] = cxcywh[1], cxcywh[0]
    b, s, l = postprocess(logits, boxes, lb, score_threshold=0.5, max_detections=10)
    assert l.tolist() == [2, 0] and s[0] > s[1] > 0.5
    assert np.allclose(b, src_boxes[[1, 0]], atol=1e-6)
    b, s, l = postprocess(logits, boxes, lb, score_threshold=0.5, max_detections=1)
    assert l.tolist() == [2]
    b, s, l = postprocess(logits, boxes, lb, score_threshold=0.5, max_detections=10, keep_labels=[0])
    assert l.tolist() == [0]
    b, s, l = postprocess(logits, boxes, lb, score_threshold=0.99999, max_detections=10)
    assert len(b) == 0 and b.shape == (0, 4)


def test_preprocess_normalises_and_pads_to_zero():
    cfg = {'input_width': 96, 'input_height': 96, 'pixel_mean': [0.5, 0.5, 0.5], 'pixel_std': [0.25, 0.25, 0.25]}
    rgb = np.full((48, 96, 3), 255, np.uint8)
    x, lb = preprocess(rgb, cfg)
    assert x.shape == (1, 3, 96, 96) and x.dtype == np.float32
    assert lb.pad_y == 24 and np.allclose(x[0, :, lb.pad_y + 2, 10], 2.0)
    assert np.abs(x[0, :, 2, 10]).max() < 0.02  # padding = mean colour -> ~0
    with pytest.raises(ValueError):
        preprocess(np.zeros((10, 10), np.uint8), cfg)
