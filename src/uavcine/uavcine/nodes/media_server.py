"""Media analysis as ROS 2 services (AI4Media report §3.2, §3.3, §3.5): what a crew wants of footage after a shot.

- ``media/detect_shots`` (uavcine_interfaces/srv/DetectShots): shot boundaries and dynamic keyframes (§3.5);
- ``media/select_thumbnails`` (SelectThumbnails): RL-DiVTS thumbnails (§3.2) or a baseline, written as JPEGs;
- ``media/summarize`` (Summarize): key fragments under a duration budget, written as a clip, and its 9:16 or
  1:1 version with a smooth crop path that keeps the target in view (§3.3).

The video is a file (OpenCV decodes it) or a rosbag2 + image topic + time range (+ the tracker's Track topic for
the target's box). Bags are read by a reader that the host registers with ``set_bag_reader`` (nodes never import
rosbags): the offline host registers ``uavcine.offline.media_source``, the ROS host rosbag2_py.
While a request runs, ``media/progress`` (uavcine_interfaces/msg/MediaProgress) says how far it is, so a
client is never left without feedback. A bad request (missing file, undecodable video, zero-length video, a
bag without the topic, a range past the end) gets ``success: false`` and the reason, never a crash.

Every parameter is read where it is used (at each request), so a change at run time applies to the next
request. Python 3.8.
"""
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import cv2
import numpy as np

from ..core.media import summaries as S
from ..core.media.shot_boundaries import ShotBoundaryDetector, ShotDetectorConfig, sampling_structure
from ..core.media.thumbnails import (AestheticsConfig, RewardConfig, RLDiVTS, RLDiVTSConfig, cinematic_aesthetics,
                                     frame_features, reward, select_greedy, select_random, select_uniform, with_time)
from .base import RELIABLE, Node, param
from . import msgs, paths


class MediaSourceError(ValueError):
    """A video source cannot be read; the message is the reason given to the client."""


#: (bag_path, topic, msgtype, start_ns, stop_ns) -> iterator of (header stamp ns, message); set by the host.
#: Raises MediaSourceError (missing bag, no such topic, another type on it).
_BAG_READER = None  # type: Optional[Callable[[str, str, str, int, int], Iterator[Tuple[int, Any]]]]


def set_bag_reader(reader) -> None:
    """Hosts register how bags are read (the offline host: rosbags)."""
    global _BAG_READER
    _BAG_READER = reader


def video_file_frames(path: str, start_ns: int = 0, stop_ns: int = 0) -> Tuple[float, Iterator[Tuple[int, np.ndarray]], int]:
    """(fps, iterator of (offset_ns from the file's start, BGR frame), frame count or -1) of a video file."""
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
    analysis_width: int = param(256, 'Frames are reduced to about this width (grey, px) for shot detection', min=32, max=2048)
    max_dissolve: int = param(4, 'Longest dissolve (frames) the deep check tests; 1: hard cuts only', min=1, max=8)
    flow_preset: str = param('ultrafast', 'DIS optical-flow preset of the fast check (every frame)',
                             choices=['ultrafast', 'fast', 'medium'])
    deep_preset: str = param('medium', 'DIS preset of the deep check (candidates only)', choices=['ultrafast', 'fast', 'medium'])
    keyframe_motion: float = param(30.0, 'Accumulated motion (% of the width) worth a new keyframe', min=1.0)
    thumbnails: int = param(3, 'Thumbnails returned when a request asks for 0', min=1, max=20)
    thumbnail_method: str = param('rl', 'How thumbnails are chosen when a request leaves it empty',
                                  choices=['rl', 'greedy', 'uniform', 'random'])
    thumbnail_policy: str = param('models/rl_divts_sim.pt', 'RL-DiVTS policy weights (torch), for method rl')
    summary_fraction: float = param(0.15, 'Summary length as a fraction of the video when a request gives no duration',
                                    min=0.01, max=1.0)
    max_fragment_s: float = param(2.0, 'Longest key fragment of a summary (s)', min=0.2)
    crop_smoothness: float = param(400.0, 'Weight of the crop path\'s second differences (larger: smoother)', min=0.0)
    progress_every: int = param(25, 'Publish media/progress every this many frames', min=1)
    max_frames: int = param(100000, 'Refuse to analyse more frames than this in one request', min=1)


IMAGE = 'sensor_msgs/msg/Image'
TRACK = 'uavcine_interfaces/msg/Track'
ANALYSIS_W = 320  # px: frames kept in memory for thumbnails and summaries are this wide
SAMPLING_FRAMES = 12  # frames of the first shot whose fields tell the sampling structure


class MediaServerNode(Node):
    NAME = 'media_server'
    Params = MediaServerParams

    def setup(self):
        self.progress = self.create_publisher('uavcine_interfaces/msg/MediaProgress', 'media/progress', RELIABLE)
        self.create_service('uavcine_interfaces/srv/DetectShots', 'media/detect_shots', self.on_detect_shots)
        self.create_service('uavcine_interfaces/srv/SelectThumbnails', 'media/select_thumbnails', self.on_select_thumbnails)
        self.create_service('uavcine_interfaces/srv/Summarize', 'media/summarize', self.on_summarize)
        self._policy = None  # type: Any
        self._policy_path = None  # type: Optional[str]
        self._sampling = 'unknown'
        self._bad_images = (0, '')  # type: Tuple[int, str]

    # --- sources ----------------------------------------------------------------------
    def _open(self, req) -> Tuple[float, Iterator[Tuple[int, np.ndarray]], int]:
        """(fps or 0 (bags: from the stamps), iterator of (stamp ns, BGR/RGB frame), total or -1)."""
        start, stop = msgs.stamp_ns(req.start), msgs.stamp_ns(req.stop)
        if stop and start and stop <= start:
            raise MediaSourceError('stop (%d ns) is not after start (%d ns)' % (stop, start))
        if req.video_path and req.bag_path:
            raise MediaSourceError('give a video_path or a bag_path, not both')
        if req.video_path:
            return video_file_frames(req.video_path, start, stop)
        if req.bag_path:
            if not req.image_topic:
                raise MediaSourceError('a bag source needs image_topic')
            if _BAG_READER is None:
                raise MediaSourceError('this host cannot read bags (no bag reader registered; the offline host has one)')
            return 0.0, self._bag_frames(_BAG_READER(req.bag_path, req.image_topic, IMAGE, start, stop)), -1
        raise MediaSourceError('no video: set video_path, or bag_path and image_topic')

    def _bag_frames(self, messages):
        self._bad_images = (0, '')
        for ns, msg in messages:
            try:
                yield ns, msgs.image_to_numpy(msg, 'rgb')
            except msgs.BadMessage as exc:
                self._bad_images = (self._bad_images[0] + 1, str(exc))
                self.warn_throttled('bad_image', 'media: leaving out an undecodable image: %s' % exc)

    def _tracks(self, req) -> Dict[int, Tuple[float, float, float, float]]:
        """Header stamp -> the target's box (x, y, w, h) from the request's track topic (bags only)."""
        topic = getattr(req, 'track_topic', '')
        if not topic:
            return {}
        if not req.bag_path or _BAG_READER is None:
            raise MediaSourceError('track_topic needs a bag source')
        out = {}
        for ns, msg in _BAG_READER(req.bag_path, topic, TRACK, msgs.stamp_ns(req.start), msgs.stamp_ns(req.stop)):
            if int(msg.state) in (2, 3):  # tracking or occluded (a prediction): a box worth framing on
                out[ns] = msgs.bbox_xywh(msg.bbox)
        return out

    def _publish_progress(self, rid, stage, done, total):
        frac = float(done) / total if total and total > 0 else -1.0
        self.progress.publish(self.new('uavcine_interfaces/msg/MediaProgress', request_id=rid, stage=stage,
                                       frames_done=int(done), frames_total=int(total), fraction=min(frac, 1.0)))

    def _analyse(self, req, rid: str, keep_small: bool):
        """One pass over the source: shot boundaries and keyframes, and (``keep_small``) small RGB frames."""
        fps, frames, total = self._open(req)
        p = self.p  # read at each request: a parameter changed at run time applies to the next one
        det = ShotBoundaryDetector(ShotDetectorConfig(
            analysis_width=p.analysis_width, max_dissolve=p.max_dissolve, flow_preset=p.flow_preset,
            deep_preset=p.deep_preset, keyframe_motion=p.keyframe_motion))
        stamps, small, shape, head = [], [], None, []
        self._bad_images = (0, '')
        for t_ns, frame in frames:
            if shape is None:
                shape = frame.shape
            elif frame.shape != shape:
                raise MediaSourceError('frame %d is %s, the first was %s: one video must keep its size'
                                       % (len(stamps), frame.shape, shape))
            det.push(frame)
            if len(head) < SAMPLING_FRAMES:  # full-resolution grey: fields need every line
                head.append(frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
            if keep_small:
                h, w = frame.shape[:2]
                small.append(cv2.resize(frame, (ANALYSIS_W, max(2, int(round(h * ANALYSIS_W / float(w))))),
                                        interpolation=cv2.INTER_AREA))
            stamps.append(t_ns)
            if len(stamps) > p.max_frames:
                raise MediaSourceError('more than max_frames=%d frames: ask for a shorter range' % p.max_frames)
            if len(stamps) % p.progress_every == 0:
                self._publish_progress(rid, 'analysing', len(stamps), total)
        if not stamps:
            if self._bad_images[0]:
                raise MediaSourceError('none of the %d images could be decoded (%s)' % self._bad_images)
            raise MediaSourceError('no frames between start and stop (the range is past the end, or the video is empty)')
        det.finish()
        if not fps:  # a bag: the median frame period
            fps = 1e9 / float(np.median(np.diff(stamps))) if len(stamps) > 1 else 1.0
        first_shot = det.result.shots()[0] if det.result.shots() else (0, 0)
        self._sampling = sampling_structure(head[:first_shot[1] + 1])[0] if first_shot[1] >= 2 else 'unknown'
        return fps, stamps, det.result, small, shape

    def _failed(self, rid, srv, exc):
        self._publish_progress(rid, 'failed', 0, -1)
        return self.new(srv + '_Response', success=False, message=str(exc))

    # --- shots and keyframes ----------------------------------------------------------
    def on_detect_shots(self, req, res):
        rid = req.request_id or 'detect_shots'
        t_wall = time.monotonic()
        try:
            fps, stamps, r, _, _ = self._analyse(req, rid, keep_small=False)
            files = self._write_jpegs(req.output_dir, r.keyframes, req, 'keyframe') if req.output_dir else []
        except MediaSourceError as exc:
            return self._failed(rid, SHOTS_SRV, exc)
        out = self.new(
            SHOTS_SRV + '_Response', success=True,
            message='%d frames, %d transitions, %d keyframes' % (len(stamps), len(r.boundaries), len(r.keyframes)),
            n_frames=len(stamps), fps=float(fps),
            boundary_last=np.array([b.last for b in r.boundaries], np.int32),
            boundary_first=np.array([b.first for b in r.boundaries], np.int32),
            boundary_kind=[b.kind for b in r.boundaries],
            keyframes=np.array(r.keyframes, np.int32),
            keyframe_stamps=[msgs.stamp_fields(stamps[k]) for k in r.keyframes], keyframe_files=files,
            sampling_structure=self._sampling,
            ms_per_frame=1000.0 * (time.monotonic() - t_wall) / len(stamps))
        self._publish_progress(rid, 'done', len(stamps), len(stamps))
        return out

    # --- thumbnails -------------------------------------------------------------------
    def _frame_scores(self, small, stamps, tracks, shape):
        scale = ANALYSIS_W / float(shape[1])
        a, x = [], []
        for f, ns in zip(small, stamps):
            box = tracks.get(ns)
            box = None if box is None else [v * scale for v in box]
            # without a track topic there is no target to frame: the frame terms alone (sharpness, exposure)
            a.append(cinematic_aesthetics(f, box, 1.0)[0] if tracks else _frame_only_aesthetics(f))
            x.append(frame_features(f))
        return np.array(a, np.float32), with_time(np.stack(x))

    def _load_policy(self, feature_dim):
        path = paths.resolve(self.p.thumbnail_policy)
        if self._policy is not None and self._policy_path == path:
            return self._policy
        if not path or not os.path.isfile(path):
            raise MediaSourceError('no RL-DiVTS policy at %r (parameter thumbnail_policy); ask for method greedy' % path)
        import torch  # the RL policy alone needs torch (a slow import the other requests skip)
        ck = torch.load(path, map_location='cpu')
        model = RLDiVTS(int(ck['feature_dim']), RLDiVTSConfig(m=int(ck.get('m', 3))), RewardConfig(D=float(ck['D'])))
        model.load_state_dict(ck['state_dict'])
        if int(ck['feature_dim']) != feature_dim:
            raise MediaSourceError('policy %s expects %d features, frames give %d' % (path, ck['feature_dim'], feature_dim))
        self._policy, self._policy_path = model, path
        return model

    def on_select_thumbnails(self, req, res):
        rid = req.request_id or 'select_thumbnails'
        p = self.p
        method = req.method or p.thumbnail_method
        m = int(req.count) if req.count > 0 else p.thumbnails
        try:
            if method not in ('rl', 'greedy', 'uniform', 'random'):
                raise MediaSourceError('method must be rl, greedy, uniform or random, not %r' % method)
            tracks = self._tracks(req)
            fps, stamps, r, small, shape = self._analyse(req, rid, keep_small=True)
            a, x = self._frame_scores(small, stamps, tracks, shape)
            rcfg = RewardConfig()
            if method == 'rl':
                model = self._load_policy(x.shape[1])
                model.cfg.m = m
                rcfg = model.reward_cfg
                picks = model.select(a, x)
            elif method == 'greedy':
                picks = select_greedy(a, x, m, rcfg)
            elif method == 'uniform':
                picks = select_uniform(len(a), m)
            else:
                picks = select_random(len(a), m, np.random.default_rng(0))
            files = self._write_jpegs(req.output_dir, picks, req, 'thumb') if req.output_dir else []
        except MediaSourceError as exc:
            return self._failed(rid, THUMBS_SRV, exc)
        picks = sorted(int(k) for k in picks)
        self._publish_progress(rid, 'done', len(stamps), len(stamps))
        return self.new(THUMBS_SRV + '_Response', success=True, message='%d thumbnails of %d frames (%s)' % (
            len(picks), len(stamps), method), frames=np.array(picks, np.int32),
            stamps=[msgs.stamp_fields(stamps[k]) for k in picks], aesthetics=np.array([a[k] for k in picks], np.float32),
            files=files, reward=float(reward(picks, a, x, rcfg)), method=method)

    def _write_jpegs(self, out_dir, picks, req, prefix):
        """Full-resolution JPEGs of the picked frames (a second pass over the source)."""
        try:
            os.makedirs(out_dir, exist_ok=True)
        except OSError as exc:
            raise MediaSourceError('cannot create %s: %s' % (out_dir, exc))
        want = set(int(k) for k in picks)
        files = {}  # type: Dict[int, str]
        if not want:
            return []
        _, frames, _ = self._open(req)
        for k, (_, frame) in enumerate(frames):
            if k in want:
                path = os.path.join(out_dir, '%s_%05d.jpg' % (prefix, k))
                bgr = frame if req.video_path else cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
                if not cv2.imwrite(path, bgr):
                    raise MediaSourceError('cannot write %s' % path)
                files[k] = path
            if k >= max(want):
                break
        return [files[k] for k in sorted(files)]

    # --- summaries --------------------------------------------------------------------
    def on_summarize(self, req, res):
        rid = req.request_id or 'summarize'
        p = self.p
        try:
            if not req.output_dir:
                raise MediaSourceError('output_dir is required (the summary is written as a clip)')
            aspect = None
            if req.aspect:
                try:
                    aw, ah = (int(v) for v in req.aspect.split(':'))
                    aspect = (aw, ah)
                except ValueError:
                    raise MediaSourceError('aspect must look like 9:16 or 1:1, not %r' % req.aspect) from None
            tracks = self._tracks(req)
            fps, stamps, r, small, shape = self._analyse(req, rid, keep_small=True)
            a, _ = self._frame_scores(small, stamps, tracks, shape)
            n = len(stamps)
            budget = int(round(req.duration_s * fps)) if req.duration_s > 0 else int(round(p.summary_fraction * n))
            budget = max(1, budget)
            # fragments no longer than the budget, so that a short summary still gets its best moment
            frag_len = max(1, min(int(round(p.max_fragment_s * fps)), budget))
            frags = S.select_key_fragments(a, r.shots(), budget, frag_len)
            if not frags:
                raise MediaSourceError('no key fragment fits in %d frames; ask for a longer summary' % budget)
            os.makedirs(req.output_dir, exist_ok=True)
            H, W = shape[:2]
            chosen = [k for a0, b0 in frags for k in range(a0, b0 + 1)]
            crop_x, cw, inside = {}, W, -1.0
            if aspect is not None:
                cw = S.crop_width(W, H, aspect[0], aspect[1]) // 2 * 2  # video encoders want even sizes
                boxes = []
                for a0, b0 in frags:  # one smooth path per fragment: the crop may jump at a cut
                    pts = [self._attention_x(small[k], tracks.get(stamps[k]), W) for k in range(a0, b0 + 1)]
                    path = S.smooth_crop_path(pts, W, cw, lam=p.crop_smoothness)
                    for k, x0 in zip(range(a0, b0 + 1), path):
                        crop_x[k] = int(round(x0))
                    boxes += [tracks.get(stamps[k]) for k in range(a0, b0 + 1)]
                if any(b is not None for b in boxes):
                    inside = S.crop_metrics(np.array([crop_x[k] for k in chosen], float), cw, boxes)[0]
            summary_file, retarget_file = self._write_clips(req, set(chosen), crop_x, cw, fps, shape, aspect)
        except MediaSourceError as exc:
            return self._failed(rid, SUMMARY_SRV, exc)
        except OSError as exc:
            return self._failed(rid, SUMMARY_SRV, 'cannot write to %s: %s' % (req.output_dir, exc))
        self._publish_progress(rid, 'done', n, n)
        return self.new(SUMMARY_SRV + '_Response', success=True, message='%d key fragments, %d of %d frames' % (
            len(frags), len(chosen), n), fragment_first=np.array([f[0] for f in frags], np.int32),
            fragment_last=np.array([f[1] for f in frags], np.int32), duration_s=len(chosen) / float(fps),
            summary_file=summary_file, retargeted_file=retarget_file, target_inside=float(inside))

    @staticmethod
    def _attention_x(small, box, W):
        """The point of attention's x (full-resolution px): the target's centre, else the saliency map's centroid."""
        if box is not None:
            return box[0] + box[2] / 2.0
        sal = cv2.saliency.StaticSaliencySpectralResidual_create()
        ok, m = sal.computeSaliency(small)
        if not ok or m is None or float(m.sum()) <= 0:
            return None
        m = m.astype(np.float64)
        m = np.where(m >= np.percentile(m, 95), m, 0.0)  # the most salient 5 %: the viewer's focus
        xs = np.arange(m.shape[1])
        return float((m.sum(axis=0) * xs).sum() / max(m.sum(), 1e-9)) * W / float(m.shape[1])

    def _write_clips(self, req, chosen, crop_x, cw, fps, shape, aspect):
        H, W = shape[:2]
        base = os.path.join(req.output_dir, 'summary')
        summary_file = base + '.webm'  # VP8: browsers play it (report.html), OpenCV's FFmpeg writes it
        writer = cv2.VideoWriter(summary_file, cv2.VideoWriter_fourcc(*'VP80'), float(fps), (W, H))
        retarget_file = ''
        rw = None
        if aspect is not None:
            retarget_file = '%s_%dx%d.webm' % (base, aspect[0], aspect[1])
            rw = cv2.VideoWriter(retarget_file, cv2.VideoWriter_fourcc(*'VP80'), float(fps), (cw, H))
        if not writer.isOpened() or (rw is not None and not rw.isOpened()):
            raise MediaSourceError('cannot write video files in %s' % req.output_dir)
        try:
            _, frames, _ = self._open(req)
            last = max(chosen)
            for k, (_, frame) in enumerate(frames):
                if k in chosen:
                    bgr = frame if req.video_path else cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
                    writer.write(bgr)
                    if rw is not None:
                        x0 = crop_x[k]
                        rw.write(np.ascontiguousarray(bgr[:, x0:x0 + cw]))
                if k >= last:
                    break
        finally:
            writer.release()
            if rw is not None:
                rw.release()
        return summary_file, retarget_file


SHOTS_SRV = 'uavcine_interfaces/srv/DetectShots'
THUMBS_SRV = 'uavcine_interfaces/srv/SelectThumbnails'
SUMMARY_SRV = 'uavcine_interfaces/srv/Summarize'


def _frame_only_aesthetics(frame) -> float:
    """Sharpness and exposure alone (no target known), on the same scale as cinematic_aesthetics."""
    cfg = AestheticsConfig(w_framing=0.0, w_size=0.0, w_visibility=0.0)
    return cinematic_aesthetics(frame, None, 1.0, 0.0, cfg)[0]
