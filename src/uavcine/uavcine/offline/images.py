"""Camera images recorded as sensor_msgs/CompressedImage (JPEG) and read back as sensor_msgs/Image.

The convention is image_transport's: the compressed stream of TOPIC is TOPIC/compressed, ``format``
"rgb8; jpeg compressed bgr8" (the raw encoding, then what the JPEG holds), so ``ros2 bag play`` with
image_transport's republisher, Foxglove and rqt show it. JPEG through OpenCV.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..nodes import msgs

IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED = 'sensor_msgs/msg/CompressedImage'
SUFFIX = '/compressed'


def to_jpeg(new, msg, quality: int):
    """An Image message -> a CompressedImage message (JPEG) with the same header; None if it cannot be encoded."""
    try:
        rgb = msgs.image_to_numpy(msg, 'rgb')
    except msgs.BadMessage:
        return None
    ok, buf = cv2.imencode('.jpg', rgb[:, :, ::-1], [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        return None
    return new(COMPRESSED, {'header': msg.header, 'format': '%s; jpeg compressed bgr8' % msg.encoding,
                            'data': np.frombuffer(buf.tobytes(), np.uint8)})


def from_compressed(new, msg):
    """A CompressedImage (JPEG or PNG) -> an rgb8 Image with its header. Raises msgs.BadMessage if undecodable."""
    data = np.asarray(msg.data, dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise msgs.BadMessage('cannot decode a CompressedImage (format %r, %d bytes)' % (msg.format, data.size))
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    h, w = rgb.shape[:2]
    return new(IMAGE, {'header': msg.header, 'height': h, 'width': w, 'encoding': 'rgb8', 'is_bigendian': 0,
                       'step': w * 3, 'data': rgb.reshape(-1)})
