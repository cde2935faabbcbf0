"""The detect/track manager of the seed's onboard loop (Alaez et al., MMSP 2023), as pure logic.

DETECTING -> TRACKING -> DETECTING: the manager asks the detector for detections
until a target is found, starts the tracker on it, and keeps the tracker's boxes
while its quality stays at or above ``quality_threshold`` and its tracking time
window ``track_window_s`` has not run out. A weak frame (quality below the
threshold) makes the track OCCLUDED (the tracker's held box is reported);
more than ``max_weak_frames`` weak frames in a row make it LOST and the manager
goes back to DETECTING. When the window runs out, or while the track is weak,
the manager asks for detections again: a fresh detection of the same target
(IoU with the tracked box, or appearance) re-initialises the tracker under the
same track id. A TRACKING frame whose quality has decayed below ``confirm_quality`` (the box
no longer fits a target that grows or turns, while still above the weak threshold) asks the
detector too, at most every ``confirm_interval_s``; a detection that then confirms the track
restarts the tracker on the detection's fresh box when its size differs from the box's by more
than ``confirm_scale`` (SiamFC's scale search lags a target that grows as the drone closes in).
A LOST track keeps the tracker searching around its held box (it recovers by itself if the
target reappears there) while the detector looks for it; after ``max_lost_s`` the manager gives
the track up (DETECTING, no box).

Target choice, in order: the class filter, then the detection closest to the
previous track (within a gate, and like it in appearance when that is known),
else a new track id on the most confident detection (``acquire='score'``) or on
the one nearest the image centre (``acquire='centre'``: the operator framed the
target before handing over; among same-class distractors confidence says nothing
about which one is meant).

No images here: the caller runs the tracker and the detector and passes boxes,
qualities and times (seconds) in. Boxes are (x, y, w, h) pixels. Python 3.8.
"""
import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

from .box_ops import centre_distance, iou

# Track states: the one definition in Python of uavcine_interfaces/msg/Track's STATE_* (tests/test_manager_logic.py
# checks them against Track.msg); the manager is the only state machine that sets them.
NONE = 0
DETECTING = 1
TRACKING = 2
OCCLUDED = 3
LOST = 4
STATE_NAMES = {NONE: 'none', DETECTING: 'detecting', TRACKING: 'tracking', OCCLUDED: 'occluded', LOST: 'lost'}

Box = Tuple[float, float, float, float]


@dataclass
class ManagerConfig:
    quality_threshold: float = 0.5    # tracker quality (P(box on the target)) below this is a weak frame
    max_weak_frames: int = 10         # weak frames tolerated in a row before the track is LOST
    max_hold_frames: int = 3          # weak frames in a row on which the tracker holds its box; past them it follows
                                      # its response again (under a moving camera a held box goes stale fast)
    hold_quality: float = 0.3         # ... and only on frames whose quality is below this (<= quality_threshold: a
                                      # weak frame asks the detector, which is cheap; a hold can lose a moving target;
                                      # 0.3 chosen on the real development set, MODEL_CARD_siamfc_sim.md)
    max_lost_s: float = 5.0           # a LOST track is given up (DETECTING, no box) after this long
    track_window_s: float = 5.0       # after this long without a confirming detection, ask the detector again
    target_classes: List[str] = field(default_factory=list)  # class filter; empty = any class
    min_score: float = 0.5            # detections below this score are ignored
    reinit_iou: float = 0.3           # a detection with this IoU with the tracked box is the same target
    refresh_iou: float = 0.5          # ... and a confident track it overlaps this much is only confirmed, not restarted
    reanchor_score: float = 0.7       # a detection this confident, of the track's class, overlapping the tracked box
                                      # only partly (0 < IoU < refresh_iou) contradicts it and re-anchors it (0 = off)
    confirm_quality: float = 0.0      # a TRACKING frame below this quality (the predicted IoU has decayed: a box that
                                      # no longer fits a growing or turning target) asks the detector, at most every
                                      # confirm_interval_s, and a detection that confirms the track (IoU >= refresh_iou)
                                      # then restarts the tracker on its box instead of only re-arming the window
                                      # (0 = off: only the window's end asks)
    confirm_interval_s: float = 1.0   # ... seconds between two such checks
    confirm_scale: float = 1.0        # ... and only when the detection's size (sqrt of its area) differs from the box's
                                      # by more than this factor: the scale change SiamFC did not follow (1 = any size)
    min_appearance: float = 0.5       # appearance similarity (when given) for a detection to be the same target
    gate: float = 3.0                 # re-acquisition gate: centre distance <= gate * max(w, h) of the last box
    gate_growth_per_s: float = 1.0    # ... plus this many box sizes per second since the last good box
    forget_s: float = 10.0            # after this long lost, the previous track no longer steers the choice
    detect_while_weak: bool = True    # ask for detections on OCCLUDED frames too (early re-acquisition)
    acquire: str = 'centre'           # new target: 'centre' = nearest the image centre, 'score' = most confident


@dataclass
class Detection:
    box: Box
    score: float
    class_id: str = ''
    appearance: Optional[float] = None  # similarity to the tracked target in [0, 1], if the caller computed it


@dataclass
class InitCommand:
    """Start (or restart) the tracker on ``box``."""

    box: Box
    track_id: int
    class_id: str
    class_score: float
    reason: str  # 'new' | 'reacquire' | 'refresh'


@dataclass
class ManagerOutput:
    state: int
    box: Optional[Box]
    quality: float
    track_id: int
    class_id: str
    class_score: float
    age_s: float
    request_detections: bool

    @property
    def state_name(self) -> str:
        return STATE_NAMES[self.state]


class Manager:
    """The state machine. Per image: ``on_tracker(t, box, quality)``; per detection result: ``on_detections``."""

    def __init__(self, cfg: Optional[ManagerConfig] = None):
        self.cfg = cfg or ManagerConfig()
        self.state = DETECTING
        self.track_id = 0
        self.next_id = 1
        self.class_id = ''
        self.class_score = 0.0
        self.box = None  # type: Optional[Box]
        self.quality = 0.0
        self.weak = 0
        self.t_init = None  # type: Optional[float]
        self.t_confirm = None  # type: Optional[float]  # start of the current tracking time window
        self.t_good = None  # type: Optional[float]   last time the box was trusted (tracking or detection)
        self.last_good_box = None  # type: Optional[Box]
        self.t_check = None  # type: Optional[float]  # last time a decayed track asked the detector (confirm_quality)
        self.check_due = False  # this frame's decayed track asks the detector

    # --- helpers -----------------------------------------------------------------
    def _age(self, t: float) -> float:
        return 0.0 if self.t_init is None else max(0.0, t - self.t_init)

    def _window_over(self, t: float) -> bool:
        return self.t_confirm is not None and t - self.t_confirm >= self.cfg.track_window_s

    def wants_detections(self, t: float) -> bool:
        """Should the detector look at the next image?"""
        if self.state in (DETECTING, LOST, NONE):
            return True
        if self.state == OCCLUDED and self.cfg.detect_while_weak:
            return True
        return self.check_due or self._window_over(t)

    def decayed(self) -> bool:
        """Has a TRACKING track's quality fallen below ``confirm_quality`` (a box worth checking with the detector)?"""
        return self.state == TRACKING and self.quality < self.cfg.confirm_quality

    def output(self, t: float) -> ManagerOutput:
        has_box = self.state in (TRACKING, OCCLUDED, LOST) and self.box is not None and self.t_init is not None
        return ManagerOutput(self.state, self.box if has_box else None, self.quality if has_box else 0.0,
                             self.track_id, self.class_id, self.class_score, self._age(t) if has_box else 0.0,
                             self.wants_detections(t))

    # --- tracker results ---------------------------------------------------------
    def is_weak(self, quality: float) -> bool:
        """Is a tracker result of this quality a weak frame? (The only quality threshold of the loop.)"""
        return not quality >= self.cfg.quality_threshold  # NaN is weak

    def holds(self, quality: float) -> bool:
        """Should the tracker hold its previous box on a result of this quality? Weak and below ``hold_quality``,
        and fewer than ``max_hold_frames`` weak frames in a row before it (call before ``on_tracker`` of the frame)."""
        return self.is_weak(quality) and not quality >= self.cfg.hold_quality and self.weak < self.cfg.max_hold_frames

    def on_tracker(self, t: float, box: Optional[Box], quality: float, failed: bool = False) -> ManagerOutput:
        """The tracker's output for the image at time ``t``; ``failed`` = the tracker was reset (bad input)."""
        self.check_due = False
        if self.state not in (TRACKING, OCCLUDED, LOST):
            return self.output(t)
        if failed or box is None:  # the tracker was reset: LOST for this frame, then the detector takes over
            return self._give_up(t)
        self.box = tuple(float(v) for v in box)
        self.quality = float(quality)
        if not self.is_weak(quality):
            self.weak = 0
            self.state = TRACKING
            self.t_good = t
            self.last_good_box = self.box
            if self.decayed() and (self.t_check is None or t - self.t_check >= self.cfg.confirm_interval_s):
                self.check_due = True
                self.t_check = t
        else:
            self.weak += 1
            if self.weak > self.cfg.max_weak_frames:
                if self.t_good is not None and t - self.t_good > self.cfg.max_lost_s:
                    return self._give_up(t)
                self.state = LOST
            else:
                self.state = OCCLUDED
        return self.output(t)

    def _give_up(self, t: float) -> ManagerOutput:
        self.state = LOST
        self.quality = 0.0
        out = self.output(t)
        self.state = DETECTING
        return out

    @property
    def tracker_wanted(self) -> bool:
        """Should the tracker keep running (else it may be reset to save its cost)?"""
        return self.state in (TRACKING, OCCLUDED, LOST)

    # --- detections --------------------------------------------------------------
    def _candidates(self, dets: Sequence[Detection]) -> List[Detection]:
        cls = set(self.cfg.target_classes)
        return [d for d in dets if d.score >= self.cfg.min_score and (not cls or d.class_id in cls)
                and d.box[2] > 0 and d.box[3] > 0]

    def _gate_px(self, t: float) -> float:
        ref = self.last_good_box or self.box
        size = max(ref[2], ref[3])
        dt = 0.0 if self.t_good is None else max(0.0, t - self.t_good)
        return size * (self.cfg.gate + self.cfg.gate_growth_per_s * dt)

    def _like(self, d: Detection) -> bool:
        return d.appearance is None or d.appearance >= self.cfg.min_appearance

    def _contradicts(self, d: Detection) -> bool:
        """A confident detection of the track's class that overlaps the tracked box only partly: the tracker has
        slid onto part of its target or next to it (the thin tower's top) while its quality stayed high."""
        if self.cfg.reanchor_score <= 0 or d.score < self.cfg.reanchor_score or self.box is None:
            return False
        if self.class_id and d.class_id != self.class_id:
            return False
        return 0.0 < iou(d.box, self.box) < self.cfg.refresh_iou

    def _rescaled(self, d: Detection) -> bool:
        """Does the detection's size differ from the tracked box's by more than ``confirm_scale`` (either way)?"""
        ratio = math.sqrt((d.box[2] * d.box[3]) / max(1e-9, self.box[2] * self.box[3]))
        return max(ratio, 1.0 / max(ratio, 1e-9)) > self.cfg.confirm_scale

    def on_detections(self, t: float, dets: Sequence[Detection],
                      image_size: Optional[Tuple[int, int]] = None) -> Optional[InitCommand]:
        """Detections of the image at time ``t`` (``image_size`` = (width, height), used by acquire='centre').
        Returns the tracker (re)initialisation to do, if any."""
        cands = self._candidates(dets)
        if not cands:
            return None
        tracking = self.state in (TRACKING, OCCLUDED, LOST)
        if tracking and self.box is not None:
            # a fresh detection of the same target: best IoU with the tracked box, like it in appearance
            same = [d for d in cands if self._like(d)
                    and (iou(d.box, self.box) >= self.cfg.reinit_iou or self._contradicts(d))]
            if same:
                best = max(same, key=lambda d: iou(d.box, self.box))
                if (self.state == TRACKING and iou(best.box, self.box) >= self.cfg.refresh_iou
                        and not (self.decayed() and self._rescaled(best))):
                    self.t_confirm = t  # a confident track the detector confirms: re-employ the tracker
                    self.class_score = float(best.score)
                    return None
                return self._start(t, best, 'refresh', new=False)
            if self.state == TRACKING:
                if self._window_over(t):
                    self.t_confirm = t  # tracker still confident and nothing contradicts it: re-employ it
                return None
        # (re-)acquisition: closest to the previous track within the gate, else a new target (cfg.acquire)
        ref = self.last_good_box or self.box
        recent = ref is not None and (self.t_good is None or t - self.t_good <= self.cfg.forget_s)
        if recent:
            near = [d for d in cands if self._like(d) and centre_distance(d.box, ref) <= self._gate_px(t)]
            if near:
                best = min(near, key=lambda d: centre_distance(d.box, ref))
                return self._start(t, best, 'reacquire', new=self.track_id == 0)
            if tracking:
                return None  # weak or lost but nothing near: keep searching at the held box
        if self.cfg.acquire == 'centre' and image_size is not None:
            centre = (image_size[0] / 2.0, image_size[1] / 2.0, 0.0, 0.0)
            best = min(cands, key=lambda d: (centre_distance(d.box, centre), -d.score))
        else:
            best = max(cands, key=lambda d: d.score)
        return self._start(t, best, 'new', new=True)

    def _start(self, t: float, d: Detection, reason: str, new: bool) -> InitCommand:
        if new:
            self.track_id = self.next_id
            self.next_id += 1
        self.class_id = d.class_id
        self.class_score = float(d.score)
        self.box = tuple(float(v) for v in d.box)
        self.quality = 1.0
        self.weak = 0
        self.state = TRACKING
        self.t_init = t
        self.t_confirm = t
        self.t_good = t
        self.t_check = t
        self.check_due = False
        self.last_good_box = self.box
        return InitCommand(self.box, self.track_id, self.class_id, self.class_score, reason)

    def tracker_init_failed(self, t: float, error: str = '') -> None:
        """The tracker refused the box of the last InitCommand (bad box or image): back to DETECTING."""
        self.state = DETECTING
        self.box = None
        self.quality = 0.0
