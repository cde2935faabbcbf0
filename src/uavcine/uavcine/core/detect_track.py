"""The seed's detect/track loop without messages: SiamFC and the manager over an image buffer.

Alaez et al. (MMSP 2023): the tracker follows the target; the manager judges each result
(the only track state machine, ``core/manager.py``) and asks for detections when the track is
weak or old; a detection (re)starts the tracker on the image it was made in, and the loop
catches up on the images that arrived since. On a frame the manager judges weak the tracker
holds its previous box (``hold_when_weak``: no drift onto an occluder), for at most the manager's
``max_hold_frames`` weak frames in a row.

The tracker node (``nodes/tracker.py``) and the tracking evaluation (``eval/track_eval.py``)
both run this loop. No images leave it, no clock is read: stamps are given in. Python 3.8.
"""
from collections import OrderedDict
from typing import List, Optional

import numpy as np

from .manager import Detection, Manager, ManagerOutput
from .siamfc import SiamFCTracker


class DetectTrackLoop:
    """``on_image(ns, rgb)`` -> the manager's output for that image (check ``request_detections``);
    ``on_detections(ns, dets)`` -> the output for that image if it is the latest one and the
    tracker was (re)started on it, else None. ``warnings`` collects (key, text) for the node to log.
    """

    def __init__(self, tracker: SiamFCTracker, manager: Manager, use_appearance: bool = True,
                 buffer_frames: int = 30, hold_when_weak: bool = True):
        self.tracker = tracker
        self.manager = manager
        self.use_appearance = use_appearance
        self.buffer_frames = buffer_frames
        self.hold_when_weak = hold_when_weak
        self.images = OrderedDict()  # type: OrderedDict  # stamp_ns -> rgb
        self.track_kernel = None  # exemplar features when the current track id started
        self.warnings = []  # type: List[Any]
        self.last_result = None  # the tracker's last TrackResult (for evaluation)

    def on_image(self, ns: int, rgb: np.ndarray) -> Optional[ManagerOutput]:
        if self.images and ns <= next(reversed(self.images)):
            self.warnings.append(('old_image', 'dropping image older than the last one (stamp %d ns)' % ns))
            return None
        self.images[ns] = rgb
        while len(self.images) > self.buffer_frames:
            self.images.popitem(last=False)
        return self._track(ns, rgb)

    def _track(self, ns: int, rgb: np.ndarray) -> ManagerOutput:
        t = ns * 1e-9
        self.last_result = None
        if not self.manager.tracker_wanted:
            if self.tracker.initialised:
                self.tracker.reset()  # the detector has the lead: no tracking cost meanwhile
            return self.manager.on_tracker(t, None, 0.0)
        r = self.tracker.update(rgb)
        self.last_result = r
        if r.error:
            self.warnings.append(('tracker_' + r.error.split(' ')[0], 'tracker: %s' % r.error))
        failed = r.box is None or not self.tracker.initialised
        box = r.box
        if not failed and self.hold_when_weak and self.manager.holds(r.quality):
            box = self.tracker.hold()
        return self.manager.on_tracker(t, box, r.quality, failed=failed)

    def on_detections(self, ns: int, dets: List[Detection]) -> Optional[ManagerOutput]:
        rgb = self.images.get(ns)
        if rgb is None:
            self.warnings.append(('no_image', 'detections for an image no longer buffered (stamp %d ns); '
                                              'raise buffer_frames' % ns))
            return None
        if self.use_appearance and self.track_kernel is not None:
            for d in dets:
                d.appearance = self.tracker.appearance(rgb, d.box, self.track_kernel)
        t = ns * 1e-9
        cmd = self.manager.on_detections(t, dets, (rgb.shape[1], rgb.shape[0]))
        if cmd is None:
            return None
        r = self.tracker.init(rgb, cmd.box)
        if r.error:
            self.warnings.append(('init', 'tracker refused detection box: %s' % r.error))
            self.manager.tracker_init_failed(t, r.error)
            return None
        self.last_result = r
        if cmd.reason == 'new' or self.track_kernel is None:
            self.track_kernel = self.tracker.kernel
        # catch up on the images that arrived after the detected one (their tracks are already out)
        newer = [k for k in self.images if k > ns]
        for k in newer:
            self._track(k, self.images[k])
        return None if newer else self.manager.output(t)
