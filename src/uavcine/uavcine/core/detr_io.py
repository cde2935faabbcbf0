"""DETR's pre- and post-processing in numpy, the same for every inference backend (torch, ONNX Runtime,
TensorRT). Kept apart from ``detr`` (the torch model) so that the onnxruntime and TensorRT backends run
where torch is not installed (a ROS 2 install on a PC or the Jetson). Python 3.8, numpy only.
"""
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from .letterbox import Letterbox


def preprocess(rgb: np.ndarray, cfg_or_meta: Any) -> Tuple[np.ndarray, Letterbox]:
    """H x W x 3 uint8 RGB -> (1 x 3 x h x w float32 normalised network input, the letterbox used)."""
    w, h = _get(cfg_or_meta, 'input_width'), _get(cfg_or_meta, 'input_height')
    mean = np.asarray(_get(cfg_or_meta, 'pixel_mean'), dtype=np.float32)
    std = np.asarray(_get(cfg_or_meta, 'pixel_std'), dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError('expected an H x W x 3 uint8 RGB image, got %s %s' % (rgb.shape, rgb.dtype))
    lb = Letterbox.fit(rgb.shape[1], rgb.shape[0], int(w), int(h))
    pad = np.round(mean * 255.0).astype(np.uint8)  # pads normalise to zero
    img = lb.apply(rgb, pad_value=pad).astype(np.float32) * (1.0 / 255.0)
    img = (img - mean) / std
    return np.ascontiguousarray(img.transpose(2, 0, 1)[None]), lb


def postprocess(pred_logits: np.ndarray, pred_boxes: np.ndarray, letterbox: Letterbox,
                score_threshold: float = 0.5, max_detections: int = 100,
                keep_labels: Optional[Sequence[int]] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's Q x (K+1) logits and Q x 4 boxes -> (N x 4 xyxy in ORIGINAL pixels, N scores, N labels).

    Score of a query = its highest class probability (softmax, no-object excluded), as in DETR's PostProcess.
    """
    logits = np.asarray(pred_logits, dtype=np.float64)
    logits = logits - logits.max(-1, keepdims=True)
    prob = np.exp(logits)
    prob /= prob.sum(-1, keepdims=True)
    prob = prob[:, :-1]
    labels = prob.argmax(-1)
    scores = prob[np.arange(len(prob)), labels]
    keep = scores >= score_threshold
    if keep_labels is not None:
        keep &= np.isin(labels, np.asarray(list(keep_labels), dtype=np.int64))
    idx = np.nonzero(keep)[0]
    idx = idx[np.argsort(-scores[idx], kind='stable')][:max(0, int(max_detections))]
    b = np.asarray(pred_boxes, dtype=np.float64)[idx]
    xyxy = np.stack([b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2], 1)
    xyxy = xyxy * np.array([letterbox.dst_w, letterbox.dst_h, letterbox.dst_w, letterbox.dst_h], dtype=np.float64)
    return letterbox.boxes_to_image(xyxy), scores[idx], labels[idx]


def _get(obj: Any, name: str) -> Any:
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)
