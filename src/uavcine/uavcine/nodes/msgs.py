"""Conversions between messages and numpy, the same in both hosts.

Reading works on rosbags dataclasses and on rclpy messages alike (numeric arrays
are numpy arrays in one and array.array in the other; ``np.asarray`` takes both).
Building goes through ``node.new`` so each host makes its own message class.
Python 3.8.
"""
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

#: Image encodings we read, with (channels, dtype, order of colour channels).
ENCODINGS = {
    'rgb8': (3, np.uint8, 'rgb'),
    'bgr8': (3, np.uint8, 'bgr'),
    'rgba8': (4, np.uint8, 'rgb'),
    'bgra8': (4, np.uint8, 'bgr'),
    'mono8': (1, np.uint8, 'mono'),
    '32FC1': (1, np.float32, 'mono'),
    '32FC2': (2, np.float32, 'mono'),  # optical flow (u, v) in pixels
    '16UC1': (1, np.uint16, 'mono'),
}


class BadMessage(ValueError):
    """A message whose contents cannot be used (the node drops it and warns)."""


def stamp_ns(stamp: Any) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def stamp_fields(ns: int) -> Dict[str, int]:
    """Integer nanoseconds -> fields of builtin_interfaces/Time."""
    ns = int(ns)
    return {'sec': ns // 1_000_000_000, 'nanosec': ns % 1_000_000_000}


def header(node: Any, ns: int, frame_id: str):
    return node.new('std_msgs/msg/Header', stamp=stamp_fields(ns), frame_id=frame_id)


def image_to_numpy(msg: Any, want: str = 'rgb') -> np.ndarray:
    """sensor_msgs/Image -> HxWx3 uint8 array in RGB (``want='rgb'``) or the raw array (``want='raw'``).

    Raises BadMessage for unknown encodings, empty images and size mismatches.
    """
    enc = msg.encoding
    if enc not in ENCODINGS:
        raise BadMessage('unsupported image encoding %r (supported: %s)' % (enc, ', '.join(ENCODINGS)))
    ch, dtype, order = ENCODINGS[enc]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise BadMessage('empty image (%dx%d)' % (w, h))
    itemsize = np.dtype(dtype).itemsize
    if step < w * ch * itemsize:
        raise BadMessage('image step %d is smaller than width*channels*itemsize = %d' % (step, w * ch * itemsize))
    buf = np.frombuffer(memoryview(msg.data).cast('B') if not isinstance(msg.data, np.ndarray) else msg.data,
                        dtype=np.uint8)
    if buf.size < h * step:
        raise BadMessage('image data has %d bytes, %dx%d with step %d needs %d' % (buf.size, w, h, step, h * step))
    rows = buf[:h * step].reshape(h, step)[:, :w * ch * itemsize]
    arr = rows.copy().view(dtype).reshape(h, w, ch)
    if bool(msg.is_bigendian) != (np.little_endian is False) and itemsize > 1:
        arr = arr.byteswap()
    if want == 'raw':
        return arr if ch > 1 else arr[:, :, 0]
    if dtype != np.uint8:
        raise BadMessage('encoding %r is not a colour image' % enc)
    if order == 'mono':
        return np.repeat(arr, 3, axis=2)
    arr = arr[:, :, :3]
    return arr[:, :, ::-1].copy() if order == 'bgr' else arr


def numpy_to_image(node: Any, arr: np.ndarray, ns: int, frame_id: str, encoding: Optional[str] = None):
    """HxWx3 uint8 RGB (or HxW float32 / uint16 / uint8) -> sensor_msgs/Image."""
    arr = np.ascontiguousarray(arr)
    if encoding is None:
        if arr.ndim == 3 and arr.shape[2] == 3 and arr.dtype == np.uint8:
            encoding = 'rgb8'
        elif arr.ndim == 2 and arr.dtype == np.float32:
            encoding = '32FC1'
        elif arr.ndim == 2 and arr.dtype == np.uint16:
            encoding = '16UC1'
        elif arr.ndim == 2 and arr.dtype == np.uint8:
            encoding = 'mono8'
        else:
            raise ValueError('cannot infer an encoding for an array of shape %s and dtype %s' % (arr.shape, arr.dtype))
    h, w = arr.shape[:2]
    step = arr.strides[0]
    return node.new('sensor_msgs/msg/Image', header=header(node, ns, frame_id), height=h, width=w,
                    encoding=encoding, is_bigendian=0, step=step, data=arr.reshape(-1).view(np.uint8))


def bbox_xywh(bbox: Any) -> Tuple[float, float, float, float]:
    """vision_msgs/BoundingBox2D (Humble: center.position.x) -> (x_min, y_min, width, height)."""
    w, h = float(bbox.size_x), float(bbox.size_y)
    return float(bbox.center.position.x) - w / 2, float(bbox.center.position.y) - h / 2, w, h


def best_hypotheses(msg: Any) -> List[Tuple[Tuple[float, float, float, float], float, str]]:
    """vision_msgs/Detection2DArray -> per detection with a result: its box (x_min, y_min, width, height) and its
    most confident hypothesis's score and class id (detections without a result are left out)."""
    out = []
    for d in msg.detections:
        if d.results:
            best = max(d.results, key=lambda r: float(r.hypothesis.score))
            out.append((bbox_xywh(d.bbox), float(best.hypothesis.score), str(best.hypothesis.class_id)))
    return out


def bbox_fields(x: float, y: float, w: float, h: float) -> Dict[str, Any]:
    """(x_min, y_min, width, height) -> fields of vision_msgs/BoundingBox2D (Humble schema)."""
    return {'center': {'position': {'x': float(x + w / 2), 'y': float(y + h / 2)}, 'theta': 0.0},
            'size_x': float(w), 'size_y': float(h)}


def quaternion_wxyz(q: Any) -> np.ndarray:
    """geometry_msgs/Quaternion -> numpy [w, x, y, z] (transforms3d order)."""
    return np.array([float(q.w), float(q.x), float(q.y), float(q.z)])


def unit_quaternion(q: Any) -> Optional[np.ndarray]:
    """geometry_msgs/Quaternion -> [w, x, y, z] if it is a finite unit quaternion, else None (drop the message)."""
    wxyz = quaternion_wxyz(q)
    if not np.all(np.isfinite(wxyz)) or abs(np.linalg.norm(wxyz) - 1.0) > 1e-3:
        return None
    return wxyz


def quaternion_fields(wxyz: Any) -> Dict[str, float]:
    w, x, y, z = (float(v) for v in wxyz)
    return {'w': w, 'x': x, 'y': y, 'z': z}
