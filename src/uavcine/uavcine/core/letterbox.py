"""Letterbox: fit an image into the network's fixed input size, and map boxes back.

The detector runs at a fixed input size (e.g. 384x288). An image of any size is
scaled uniformly to fit, centred, and padded; boxes predicted in the network's
frame are mapped back to the ORIGINAL image's pixels with the exact inverse.

Pixels are continuous (the image spans [0, W] x [0, H]); a point maps as
``x_net = x_img * sx + pad_x`` where ``sx = new_w / src_w`` is the scale that the
rounded resized width really has (so the mapping is exact, not approximate).

Python 3.8, numpy (cv2 for resizing when present).
"""
from dataclasses import dataclass
from typing import Tuple

import numpy as np


@dataclass(frozen=True)
class Letterbox:
    """The resize-and-pad that maps an ``src_w x src_h`` image into ``dst_w x dst_h``."""

    src_w: int
    src_h: int
    dst_w: int
    dst_h: int
    new_w: int
    new_h: int
    pad_x: int
    pad_y: int

    @classmethod
    def fit(cls, src_w: int, src_h: int, dst_w: int, dst_h: int) -> 'Letterbox':
        if src_w <= 0 or src_h <= 0 or dst_w <= 0 or dst_h <= 0:
            raise ValueError('letterbox sizes must be positive, got %dx%d -> %dx%d' % (src_w, src_h, dst_w, dst_h))
        scale = min(dst_w / float(src_w), dst_h / float(src_h))
        new_w = max(1, min(dst_w, int(round(src_w * scale))))
        new_h = max(1, min(dst_h, int(round(src_h * scale))))
        return cls(int(src_w), int(src_h), int(dst_w), int(dst_h), new_w, new_h,
                   (dst_w - new_w) // 2, (dst_h - new_h) // 2)

    @property
    def sx(self) -> float:
        return self.new_w / float(self.src_w)

    @property
    def sy(self) -> float:
        return self.new_h / float(self.src_h)

    def apply(self, image: np.ndarray, pad_value=0) -> np.ndarray:
        """HxWxC image -> dst_h x dst_w x C, resized (bilinear) and padded with ``pad_value``."""
        if image.shape[0] != self.src_h or image.shape[1] != self.src_w:
            raise ValueError('image is %dx%d, letterbox was fitted for %dx%d'
                             % (image.shape[1], image.shape[0], self.src_w, self.src_h))
        resized = resize_bilinear(image, self.new_w, self.new_h)
        out = np.empty((self.dst_h, self.dst_w) + image.shape[2:], dtype=image.dtype)
        out[...] = np.asarray(pad_value, dtype=image.dtype)
        out[self.pad_y:self.pad_y + self.new_h, self.pad_x:self.pad_x + self.new_w] = resized
        return out

    def boxes_to_network(self, xyxy: np.ndarray) -> np.ndarray:
        """(N, 4) x0, y0, x1, y1 in original pixels -> network-input pixels."""
        b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        s = np.array([self.sx, self.sy, self.sx, self.sy])
        p = np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y], dtype=np.float64)
        return b * s + p

    def boxes_to_image(self, xyxy: np.ndarray, clip: bool = True) -> np.ndarray:
        """(N, 4) x0, y0, x1, y1 in network-input pixels -> original image pixels (the exact inverse)."""
        b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        s = np.array([self.sx, self.sy, self.sx, self.sy])
        p = np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y], dtype=np.float64)
        out = (b - p) / s
        if clip:
            out[:, 0::2] = np.clip(out[:, 0::2], 0.0, float(self.src_w))
            out[:, 1::2] = np.clip(out[:, 1::2], 0.0, float(self.src_h))
        return out


def resize_bilinear(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize (cv2.INTER_AREA when shrinking, INTER_LINEAR otherwise).

    Falls back to a small numpy bilinear (pixel-centre aligned, like cv2's
    INTER_LINEAR) only where OpenCV is missing, so the core runs without it.
    """
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image.copy()
    try:
        import cv2  # lazy: OpenCV: start-up time, only this path draws or reads images
    except ImportError:  # pragma: no cover - OpenCV is present on this machine and on JetPack
        cv2 = None
    if cv2 is not None:
        interp = cv2.INTER_AREA if (width < w and height < h) else cv2.INTER_LINEAR
        out = cv2.resize(np.ascontiguousarray(image), (int(width), int(height)), interpolation=interp)
        return out.reshape((height, width) + image.shape[2:])
    xs = np.clip((np.arange(width) + 0.5) * (w / float(width)) - 0.5, 0, w - 1)
    ys = np.clip((np.arange(height) + 0.5) * (h / float(height)) - 0.5, 0, h - 1)
    x0 = np.floor(xs).astype(int)
    y0 = np.floor(ys).astype(int)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    fx = (xs - x0)[None, :]
    fy = (ys - y0)[:, None]
    if image.ndim == 3:
        fx = fx[..., None]
        fy = fy[..., None]
    img = image.astype(np.float32)
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x1] * fx
    bot = img[y1][:, x0] * (1 - fx) + img[y1][:, x1] * fx
    out = top * (1 - fy) + bot * fy
    if np.issubdtype(image.dtype, np.integer):
        out = np.clip(np.round(out), np.iinfo(image.dtype).min, np.iinfo(image.dtype).max)
    return out.astype(image.dtype)


def input_size_tuple(value) -> Tuple[int, int]:
    """[w, h] -> (w, h) as ints, checked."""
    w, h = int(value[0]), int(value[1])
    if w <= 0 or h <= 0:
        raise ValueError('input size must be positive, got %r' % (value,))
    return w, h
