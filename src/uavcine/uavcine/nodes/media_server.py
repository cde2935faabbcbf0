"""Media analysis as ROS 2 services (AI4Media report §3.5): shot boundaries and dynamic keyframes of footage.

Service ``media/detect_shots`` (uavcine_interfaces/srv/DetectShots): the video is a file (OpenCV decodes it) or
a rosbag2 + image topic + time range. Bags are read by a reader that the host registers with
``set_bag_reader`` (nodes never import rosbags): the offline host registers ``uavcine.offline.media_source``.
While a request runs, ``media/progress`` (uavcine_interfaces/msg/MediaProgress) says how far it is, so a
client is never left without feedback. A bad request (missing file, undecodable video, zero-length video, a
bag without the topic, a range past the end) gets ``success: false`` and the reason, never a crash.

Every parameter is read where it is used (at each request), so a change at run time applies to the next
request. Python 3.8.
"""
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Tuple

import numpy as np

from ..core.media.shot_boundaries import ShotBoundaryDetector, ShotDetectorConfig
from .base import RELIABLE, Node, param
from . import msgs


RESPONSE = 'uavcine_interfaces/srv/DetectShots_Response'


class MediaSourceError(ValueError):
    """A video source cannot be read; the message is the reason given to the client."""


#: (bag_path, image_topic, start_ns, stop_ns) -> iterator of (stamp_ns, HxWx3 uint8 BGR); set by the host.
_BAG_READER = None  # type: Optional[Callable[[str, str, int, int], Iterator[Tuple[int, np.ndarray]]]]


def set_bag_reader(reader) -> None:
    """Hosts register how bags are read (the offline host: rosbags)."""
    global _BAG_READER
    _BAG_READER = reader


def video_file_frames(path: str, start_ns: int = 0, stop_ns: int = 0) -> Tuple[float, Iterator[Tuple[int, np.ndarray]], int]:
    """(fps, iterator of (offset_ns from the file's start, BGR frame), frame count or -1) of a video file."""
    import cv2
    if not path or not os.path.isfile(path):
        raise MediaSourceError('video file not found: %s' % path)
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise MediaSourceError('cannot open %s as a video (not a video, or a codec OpenCV lacks)' % path)
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    if not fps > 0 or fps > 1000:
        fps = 25.0
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or -1)
    ok, first = cap.read()
    if not ok or first is None:
        cap.release()
        raise MediaSourceError('%s has no decodable frame (zero-length or damaged video)' % path)

    def gen():
        try:
            k, frame = 0, first
            while frame is not None:
                t = int(round(k * 1e9 / fps))
                if stop_ns and t > stop_ns:
                    break
                if t >= start_ns:
                    yield t, frame
                ok, frame = cap.read()
                if not ok:
                    frame = None
                k += 1
        finally:
            cap.release()
    return fps, gen(), count


@dataclass
class MediaServerParams:
    analysis_width: int = param(256, 'Frames are reduced to this width (grey, px) before any measure', min=32, max=2048)
    max_dissolve: int = param(4, 'Longest dissolve (frames) the deep check tests; 1: hard cuts only', min=1, max=8)
    flow_preset: str = param('ultrafast', 'DIS optical-flow preset of the fast check (every frame)',
                             choices=['ultrafast', 'fast', 'medium'])
    deep_preset: str = param('medium', 'DIS preset of the deep check (candidates only)', choices=['ultrafast', 'fast', 'medium'])
    keyframe_motion: float = param(30.0, 'Accumulated motion (% of the width) worth a new keyframe', min=1.0)
    progress_every: int = param(25, 'Publish media/progress every this many frames', min=1)
    max_frames: int = param(100000, 'Refuse to analyse more frames than this in one request', min=1)


class MediaServerNode(Node):
    NAME = 'media_server'
    Params = MediaServerParams

    def setup(self):
        self.progress = self.create_publisher('uavcine_interfaces/msg/MediaProgress', 'media/progress', RELIABLE)
        self.create_service('uavcine_interfaces/srv/DetectShots', 'media/detect_shots', self.on_detect_shots)

    # --- sources ----------------------------------------------------------------------
    def _open(self, req) -> Tuple[float, Iterator[Tuple[int, np.ndarray]], int, int]:
        """(fps, frames, total or -1, stamp of offset 0 in ns)."""
        start, stop = msgs.stamp_ns(req.start), msgs.stamp_ns(req.stop)
        if stop and start and stop <= start:
            raise MediaSourceError('stop (%d ns) is not after start (%d ns)' % (stop, start))
        if req.video_path and req.bag_path:
            raise MediaSourceError('give a video_path or a bag_path, not both')
        if req.video_path:
            fps, frames, total = video_file_frames(req.video_path, start, stop)
            return fps, frames, total, 0
        if req.bag_path:
            if not req.image_topic:
                raise MediaSourceError('a bag source needs image_topic')
            if _BAG_READER is None:
                raise MediaSourceError('this host cannot read bags (no bag reader registered; the offline host has one)')
            frames = _BAG_READER(req.bag_path, req.image_topic, start, stop)
            return 0.0, frames, -1, 0
        raise MediaSourceError('no video: set video_path, or bag_path and image_topic')

    def _publish_progress(self, rid, stage, done, total):
        frac = float(done) / total if total and total > 0 else -1.0
        self.progress.publish(self.new('uavcine_interfaces/msg/MediaProgress', request_id=rid, stage=stage,
                                       frames_done=int(done), frames_total=int(total), fraction=min(frac, 1.0)))

    # --- the service ------------------------------------------------------------------
    def on_detect_shots(self, req, res):
        rid = req.request_id or 'detect_shots'
        t_wall = time.monotonic()
        try:
            fps, frames, total, _ = self._open(req)
            p = self.p  # read at each request: a parameter changed at run time applies to the next one
            det = ShotBoundaryDetector(ShotDetectorConfig(
                analysis_width=p.analysis_width, max_dissolve=p.max_dissolve, flow_preset=p.flow_preset,
                deep_preset=p.deep_preset, keyframe_motion=p.keyframe_motion))
            stamps = []
            shape = None
            for t_ns, frame in frames:
                if shape is None:
                    shape = frame.shape
                elif frame.shape != shape:
                    raise MediaSourceError('frame %d is %s, the first was %s: one video must keep its size'
                                           % (len(stamps), frame.shape, shape))
                det.push(frame)
                stamps.append(t_ns)
                if len(stamps) > p.max_frames:
                    raise MediaSourceError('more than max_frames=%d frames: ask for a shorter range' % p.max_frames)
                if len(stamps) % p.progress_every == 0:
                    self._publish_progress(rid, 'analysing', len(stamps), total)
            if not stamps:
                raise MediaSourceError('no frames between start and stop (the range is past the end, or the video is empty)')
            det.finish()
        except MediaSourceError as exc:
            self._publish_progress(rid, 'failed', 0, -1)
            return self.new(RESPONSE, success=False, message=str(exc))
        r = det.result
        if not fps:  # a bag: the median frame period
            fps = 1e9 / float(np.median(np.diff(stamps))) if len(stamps) > 1 else 0.0
        out = self.new(
            RESPONSE, success=True,
            message='%d frames, %d transitions, %d keyframes' % (len(stamps), len(r.boundaries), len(r.keyframes)),
            n_frames=len(stamps), fps=float(fps),
            boundary_last=np.array([b.last for b in r.boundaries], np.int32),
            boundary_first=np.array([b.first for b in r.boundaries], np.int32),
            boundary_kind=[b.kind for b in r.boundaries],
            keyframes=np.array(r.keyframes, np.int32),
            keyframe_stamps=[msgs.stamp_fields(stamps[k]) for k in r.keyframes],
            ms_per_frame=1000.0 * (time.monotonic() - t_wall) / len(stamps))
        self._publish_progress(rid, 'done', len(stamps), len(stamps))
        return out
