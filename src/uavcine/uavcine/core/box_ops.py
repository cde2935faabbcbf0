"""Box operations, one home for every layer (core, eval, train, the video overlay).

Formats: ``xywh`` (top-left corner, width, height in pixels: vision_msgs boxes, tracker and OTB
truth), ``xyxy`` (corners) and ``cxcywh`` (centre, size: DETR's normalised boxes). The torch
functions are facebookresearch/detr ``util/box_ops.py`` (pairwise, for the matcher and the loss);
the numpy ones are row by row, for tracks and evaluation (NaN rows mean "no box").

Python 3.8.
"""
import math
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

# ----------------------------------------------------------------------------
# numpy, row by row (x, y, w, h)
# ----------------------------------------------------------------------------


def xywh_to_xyxy(b) -> np.ndarray:
    b = np.asarray(b, dtype=float)
    return np.concatenate([b[..., :2], b[..., :2] + b[..., 2:4]], axis=-1)


def xyxy_to_xywh(b) -> np.ndarray:
    b = np.asarray(b, dtype=float)
    return np.concatenate([b[..., :2], b[..., 2:4] - b[..., :2]], axis=-1)


def iou_xywh(a, b) -> np.ndarray:
    """IoU of boxes (x, y, w, h), row by row; NaN rows (no box) and empty boxes give 0."""
    a = np.atleast_2d(np.asarray(a, dtype=float))
    b = np.atleast_2d(np.asarray(b, dtype=float))
    x1 = np.maximum(a[:, 0], b[:, 0])
    y1 = np.maximum(a[:, 1], b[:, 1])
    x2 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    y2 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        out = np.where(union > 0, inter / union, 0.0)
    return np.nan_to_num(out, nan=0.0)


def iou(a: Optional[Sequence[float]], b: Optional[Sequence[float]]) -> float:
    """IoU of two single (x, y, w, h) boxes; 0 when either is missing (None or NaN).

    Plain floats, not numpy: the manager calls it per detection per frame (the same arithmetic as
    ``iou_xywh``, without numpy's per-call overhead)."""
    if a is None or b is None or not all(math.isfinite(v) for v in tuple(a) + tuple(b)):
        return 0.0
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = min(ax + aw, bx + bw) - max(ax, bx)
    ih = min(ay + ah, by + bh) - max(ay, by)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def centre_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """Distance between the centres of two single (x, y, w, h) boxes (plain floats, see ``iou``)."""
    return math.hypot(a[0] + a[2] / 2 - b[0] - b[2] / 2, a[1] + a[3] / 2 - b[1] - b[3] / 2)


def centre_error(a, b) -> np.ndarray:
    """Distance between the centres of (x, y, w, h) boxes in pixels, row by row; NaN rows give +inf."""
    a = np.atleast_2d(np.asarray(a, dtype=float))
    b = np.atleast_2d(np.asarray(b, dtype=float))
    d = np.hypot(a[:, 0] + a[:, 2] / 2 - b[:, 0] - b[:, 2] / 2, a[:, 1] + a[:, 3] / 2 - b[:, 1] - b[:, 3] / 2)
    return np.where(np.isfinite(d), d, np.inf)


# ----------------------------------------------------------------------------
# torch, pairwise (util/box_ops.py)
# ----------------------------------------------------------------------------


def box_cxcywh_to_xyxy(x: Tensor) -> Tensor:
    x_c, y_c, w, h = x.unbind(-1)
    return torch.stack([x_c - 0.5 * w, y_c - 0.5 * h, x_c + 0.5 * w, y_c + 0.5 * h], dim=-1)


def box_xyxy_to_cxcywh(x: Tensor) -> Tensor:
    x0, y0, x1, y1 = x.unbind(-1)
    return torch.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], dim=-1)


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tuple[Tensor, Tensor]:
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    lt = torch.max(boxes1[:, None, :2], boxes2[:, :2])
    rb = torch.min(boxes1[:, None, 2:], boxes2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    union = area1[:, None] + area2 - inter
    return inter / union, union


def generalized_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Generalized IoU (Rezatofighi et al. 2019) of xyxy boxes, pairwise (N x M)."""
    iou, union = box_iou(boxes1, boxes2)
    lt = torch.min(boxes1[:, None, :2], boxes2[:, :2])
    rb = torch.max(boxes1[:, None, 2:], boxes2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    area = wh[:, :, 0] * wh[:, :, 1]
    return iou - (area - union) / area
