"""Gesture node: the tracked person's skeletons -> sliding-window gesture recognition -> shot commands.

Inputs: the target ``Track`` (``target/track``) and 2D skeletons, from one of two sources
(``skeleton_source``, fixed at start): ``topic`` — ``person/skeleton`` (uavcine_interfaces/Skeleton2D,
COCO-18 names) from an external pose estimator (or the simulator's truth); ``image`` — the camera image
(``camera/image_raw``): the tracked person's crop (a square around the Track's box) goes through the
small pose network (``core.gestures.pose``, ``pose_model_path``, at most every ``pose_every_s``), and the
estimated skeleton (track id = the Track's) is published on ``gesture/skeleton`` and used as below. A skeleton belongs to the tracked subject when its
``track_id`` is the Track's, or (``track_id`` 0) when at least ``min_subject_inside`` of its
seen torso keypoints (nose, neck, shoulders, hips: arms leave the box when they signal) lie inside
the Track's box grown by 10 %. The node keeps the subject's skeletons of the
last ``window_s`` seconds and every ``recognise_every_s`` runs MMGR's skeleton recogniser
(``core.gestures.mmgr``) on the window; it publishes a ``Gesture`` (label and confidence, or
the reason there is none: no tracked person, person too small, keypoints missing, window not
full) and, through the safety gate (``core.gestures.commands``: confidence, hold time,
refractory period, tracked subject only), a ``ShotCommand``. A recogniser with the ``none`` class
(the default, ``models/gesture_lstm_none.pt``) says so for a person who is idle or walking; ``none``
never maps to a command.

Not here: the hand-patch (FMoD) branch (measured on simulated people only, where it did not help: see
models/MODEL_CARD_gesture.md). Every parameter is read where it is used, so a change at run time takes
effect (``skeleton_source`` is fixed: it chooses the subscriptions).

Python 3.8.
"""
from collections import deque
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..core.gestures import commands as C
from ..core.gestures import skeleton as K
from . import msgs, paths, vehicle
from .base import RELIABLE, Node, ParamError, param, sensor_qos

GESTURE = 'uavcine_interfaces/msg/Gesture'
SHOT_COMMAND = 'uavcine_interfaces/msg/ShotCommand'
SKELETON = 'uavcine_interfaces/msg/Skeleton2D'
TRACK = 'uavcine_interfaces/msg/Track'
TRACK_STATES_WITH_A_PERSON = (2, 3)  # Track.STATE_TRACKING, STATE_OCCLUDED
TORSO = (0, 1, 2, 5, 8, 11)  # COCO-18 nose, neck, shoulders, hips


@dataclass
class GestureParams:
    model_path: str = param('models/gesture_lstm_none.pt', 'Gesture recogniser (.pt from uavcine.train.gesture_train; '
                            'the default has a "none" class for a person not signalling; relative paths: see '
                            'uavcine.nodes.paths)')
    window_s: float = param(5.0, 'Sliding window of skeletons the recogniser sees, s', min=0.5, max=30.0)
    min_window_fill: float = param(0.8, 'Recognise only when the window covers this fraction of window_s', min=0.0,
                                   max=1.0)
    recognise_every_s: float = param(0.5, 'Run the recogniser at most this often, s', min=0.0)
    min_person_px: float = param(80.0, 'A tracked person shorter than this (box height, px) is too small for a pose',
                                 min=0.0)
    min_keypoint_score: float = param(0.2, 'Keypoints scored below this are missing', min=0.0, max=1.0)
    min_upper_joints: int = param(5, 'A skeleton with fewer of the 7 upper-body joints seen is unusable', min=1, max=7)
    min_usable_fraction: float = param(0.6, 'Recognise only when this fraction of the window has usable skeletons',
                                       min=0.0, max=1.0)
    min_subject_inside: float = param(0.7, 'A skeleton without a track id is the subject when this fraction of its '
                                      "seen keypoints lies inside the Track's box (grown by 10 %)", min=0.0, max=1.0)
    max_track_age_s: float = param(0.5, 'Ignore a Track older than this relative to the skeleton', min=0.0)
    min_confidence: float = param(0.8, 'A gesture below this probability sends no command', min=0.0, max=1.0)
    hold_s: float = param(1.0, 'The same gesture must be recognised this long before its command is sent', min=0.0)
    refractory_s: float = param(5.0, 'No second command within this many seconds of one', min=0.0)
    max_gap_s: float = param(1.5, 'A gap in recognitions longer than this restarts the hold', min=0.0)
    skeleton_source: str = param('topic', "Where skeletons come from: 'topic' (person/skeleton, an external pose "
                                 "estimator) or 'image' (the pose network on the tracked person's crop of "
                                 'camera/image_raw)', choices=['topic', 'image'],
                                 read_only='it chooses the subscriptions when the node starts')
    pose_model_path: str = param('models/gesture_pose.pt', 'Pose network on person crops (.pt from '
                                 'uavcine.train.pose_train), for skeleton_source image')
    pose_every_s: float = param(0.0, 'Run the pose network at most this often, s (0: every image)', min=0.0)
    image_reliability: str = param('best_effort', 'Image subscription QoS reliability (skeleton_source image)',
                                   choices=['best_effort', 'reliable'],
                                   read_only='the subscription QoS is fixed when it is created')
    gesture_commands: list = param(['all_clear=START', 'hover=HOLD', 'move_to_left=LATERAL_LEFT',
                                    'move_to_right=LATERAL_RIGHT', 'land=END', 'wave_off=END'],
                                   'Gesture -> shot command (GESTURE=START|HOLD|LATERAL_LEFT|LATERAL_RIGHT|END)')


class GestureNode(Node):
    NAME = 'gesture'
    Params = GestureParams

    def setup(self):
        self.pub_gesture = self.create_publisher(GESTURE, 'gesture/recognised', RELIABLE)
        self.pub_command = self.create_publisher(SHOT_COMMAND, 'shot/command', RELIABLE)
        self.create_subscription(TRACK, 'target/track', self.on_track, RELIABLE)
        if self.p.skeleton_source == 'image':
            self.pub_skeleton = self.create_publisher(SKELETON, 'gesture/skeleton', RELIABLE)
            vehicle.IMAGE.subscribe(self, self.on_image, sensor_qos(self.p.image_reliability))
        else:
            self.create_subscription(SKELETON, 'person/skeleton', self.on_skeleton, RELIABLE)
        self._pose = None
        self._pose_path = None
        self.last_pose_ns = None
        self.track = None              # (stamp ns, track_id, (x, y, w, h), state)
        self.window = deque()          # (stamp ns, (18, 2) pixels with zeros missing, usable)
        self.window_track_id = None
        self.last_recognition_ns = None
        self.gate = C.CommandGate()
        self._model = None
        self._model_path = None
        self.counts = {'gestures': 0, 'commands': 0, 'dropped': 0}
        self.check_mapping()

    def check_mapping(self):
        """A wrong gesture mapping is the user's mistake: refuse it at start and when set at run time."""
        try:
            C.parse_mapping(self.p.gesture_commands)
        except C.MappingError as exc:
            raise ParamError(str(exc)) from None

    def on_parameters_changed(self, changed):
        # every other parameter is read from self.p where it is used; the model reloads when model_path changes
        if 'gesture_commands' in changed:
            self.check_mapping()

    # ------------------------------------------------------------------ inputs
    def on_track(self, msg):
        x, y, w, h = msgs.bbox_xywh(msg.bbox)
        if not all(np.isfinite([x, y, w, h])):
            self.warn_throttled('track', 'dropping a Track with a non-finite box')
            return
        self.track = (msgs.stamp_ns(msg.header.stamp), int(msg.track_id), (x, y, w, h), int(msg.state))

    def on_skeleton(self, msg):
        ns = msgs.stamp_ns(msg.header.stamp)
        try:
            pts, score = self.coco18(msg)
        except msgs.BadMessage as exc:
            self.counts['dropped'] += 1
            self.warn_throttled('skeleton', 'dropping a skeleton: %s' % exc)
            return
        reason = self.subject_problem(ns, msg, pts, score)
        if reason:
            if reason == 'not the tracked subject':
                self.gate.reset()  # another person's gesture interrupts the subject's hold
            self.publish_gesture(msg, ns, ns, None, None, reason)
            return
        pts[score < self.p.min_keypoint_score] = 0.0
        usable = int(K.valid_mask(pts[list(K.UPPER7)]).sum()) >= self.p.min_upper_joints
        if self.window_track_id != self.track[1]:
            self.window.clear()
            self.window_track_id = self.track[1]
        self.window.append((ns, pts, usable))
        while self.window and self.window[0][0] < ns - int(self.p.window_s * 1e9):
            self.window.popleft()
        if not usable:
            self.publish_gesture(msg, self.window[0][0], ns, None, None, 'keypoints missing')
            return
        span_s = (ns - self.window[0][0]) / 1e9
        if span_s < self.p.min_window_fill * self.p.window_s:
            self.publish_gesture(msg, self.window[0][0], ns, None, None, 'window not full (%.1f of %.1f s)'
                                 % (span_s, self.p.window_s))
            return
        if self.last_recognition_ns is not None and ns - self.last_recognition_ns < self.p.recognise_every_s * 1e9:
            return
        frac = float(np.mean([u for _, _, u in self.window]))
        if frac < self.p.min_usable_fraction:
            self.publish_gesture(msg, self.window[0][0], ns, None, None,
                                 'keypoints missing in %.0f%% of the window' % (100 * (1 - frac)))
            return
        self.recognise(msg, ns)

    def on_image(self, msg):
        """skeleton_source image: the tracked person's crop -> pose network -> a Skeleton2D of the subject."""
        ns = msgs.stamp_ns(msg.header.stamp)
        if self.last_pose_ns is not None and 0 <= ns - self.last_pose_ns < self.p.pose_every_s * 1e9:
            return
        reason = self.track_problem(ns)
        if reason:
            self.publish_gesture(msg, ns, ns, None, None, reason)
            return
        try:
            rgb = msgs.image_to_numpy(msg)
        except msgs.BadMessage as exc:
            self.counts['dropped'] += 1
            self.warn_throttled('image', 'dropping an image: %s' % exc)
            return
        try:
            net = self.pose_model()
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            self.warn_throttled('pose', 'no pose network (%s): %s' % (self.p.pose_model_path, exc))
            self.publish_gesture(msg, ns, ns, None, None, 'no pose model')
            return
        import cv2  # lazy: only the image source needs it
        import torch  # lazy: start-up time

        from ..core.gestures.pose import crop_transform, to_image  # lazy: imports torch
        self.last_pose_ns = ns
        M = crop_transform(self.track[2], net.cfg)
        crop = cv2.warpAffine(rgb, M, (net.cfg.size, net.cfg.size), flags=cv2.INTER_AREA)
        with torch.no_grad():
            xy, conf = net(torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))[None].float() / 255.0)
        pts = to_image(xy[0].numpy().astype(np.float64), M)
        skel = self.new(SKELETON, header=msg.header, track_id=self.track[1], names=list(K.COCO18),
                        x=pts[:, 0], y=pts[:, 1], score=conf[0].numpy().astype(np.float64))
        self.pub_skeleton.publish(skel)
        self.on_skeleton(skel)

    def pose_model(self):
        path = paths.resolve(self.p.pose_model_path)
        if self._pose is None or self._pose_path != path:
            import torch  # lazy: start-up time

            from ..core.gestures.pose import from_checkpoint  # lazy: imports torch
            self._pose = from_checkpoint(torch.load(path, map_location='cpu', weights_only=False))
            self._pose_path = path
        return self._pose

    # ------------------------------------------------------------------ checks
    def coco18(self, msg):
        names = list(msg.names)
        xs, ys, sc = (np.asarray(v, dtype=np.float64) for v in (msg.x, msg.y, msg.score))
        if not (len(xs) == len(ys) == len(sc)) or (names and len(names) != len(xs)):
            raise msgs.BadMessage('names, x, y and score differ in length')
        pts = np.zeros((18, 2))
        score = np.zeros(18)
        if names:
            for i, n in enumerate(names):
                if n in K.COCO18:
                    j = K.COCO18.index(n)
                    pts[j] = xs[i], ys[i]
                    score[j] = sc[i]
        elif len(xs) == 18:
            pts[:, 0], pts[:, 1], score[:] = xs, ys, sc
        else:
            raise msgs.BadMessage('no joint names and not 18 (COCO-18) joints but %d' % len(xs))
        bad = ~np.isfinite(pts).all(-1) | ~np.isfinite(score)
        pts[bad], score[bad] = 0.0, 0.0
        return pts, score

    def track_problem(self, ns) -> Optional[str]:
        """Why there is no tracked person to look at now, or None."""
        if self.track is None or self.track[3] not in TRACK_STATES_WITH_A_PERSON:
            return 'no tracked person'
        t_ns, _, box, _ = self.track
        if abs(ns - t_ns) > self.p.max_track_age_s * 1e9:
            return 'no tracked person (track %.2f s old)' % (abs(ns - t_ns) / 1e9)
        if box[3] < self.p.min_person_px:
            return 'person too small (%.0f px < %.0f px)' % (box[3], self.p.min_person_px)
        return None

    def subject_problem(self, ns, msg, pts, score) -> Optional[str]:
        """Why this skeleton cannot be used for the subject's gestures, or None."""
        reason = self.track_problem(ns)
        if reason:
            return reason
        _, tid, box, _ = self.track
        if int(msg.track_id) != 0:
            return None if int(msg.track_id) == tid else 'not the tracked subject'
        seen = score >= self.p.min_keypoint_score
        torso = seen & np.isin(np.arange(18), TORSO)
        if not torso.any():
            return 'keypoints missing (no torso joint)'
        x, y, w, h = box
        q = pts[torso]
        inside = ((q[:, 0] >= x - 0.05 * w) & (q[:, 0] <= x + 1.05 * w) & (q[:, 1] >= y - 0.05 * h)
                  & (q[:, 1] <= y + 1.05 * h))
        if inside.mean() < self.p.min_subject_inside:
            return 'not the tracked subject'
        return None

    # ------------------------------------------------------------------ recognition
    def model(self):
        path = paths.resolve(self.p.model_path)
        if self._model is None or self._model_path != path:
            import torch  # lazy: start-up time (torch loads only when a model is needed)

            from ..core.gestures.mmgr import from_checkpoint  # lazy: imports torch
            self._model = from_checkpoint(torch.load(path, map_location='cpu', weights_only=False))
            self._model_path = path
        return self._model

    def gate_config(self) -> C.GateConfig:
        return C.GateConfig(C.parse_mapping(self.p.gesture_commands), self.p.min_confidence, self.p.hold_s,
                            self.p.refractory_s, self.p.max_gap_s)

    def recognise(self, msg, ns):
        from ..core.gestures.mmgr import classify_window  # lazy: imports torch
        try:
            model = self.model()
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            self.warn_throttled('model', 'no gesture recogniser (%s): %s' % (self.p.model_path, exc))
            self.publish_gesture(msg, self.window[0][0], ns, None, None, 'no recogniser model')
            return
        self.last_recognition_ns = ns
        frames = np.stack([p for _, p, _ in self.window])
        times_s = np.array([t for t, _, _ in self.window], np.float64) / 1e9
        probs = classify_window(model, frames, times_s - times_s[0])  # velocities per second of the real stamps
        k = int(np.argmax(probs))
        label = model.cfg.labels[k]
        self.publish_gesture(msg, self.window[0][0], ns, label, probs, '', labels=model.cfg.labels)
        try:
            cfg = self.gate_config()
        except C.MappingError as exc:
            self.warn_throttled('mapping', str(exc))
            return
        d = self.gate.update(ns / 1e9, label, float(probs[k]), True, cfg)
        if d.command is not None:
            self.counts['commands'] += 1
            self.pub_command.publish(self.new(SHOT_COMMAND, header=msgs.header(self, ns, msg.header.frame_id),
                                              command=C.COMMANDS[d.command], command_name=d.command,
                                              source='gesture:%s' % label, track_id=self.track[1],
                                              confidence=float(probs[k])))
            self.info('shot command %s from gesture %s (p=%.2f)' % (d.command, label, probs[k]))

    def publish_gesture(self, msg, start_ns, end_ns, label, probs, reason, labels=()):
        if label is not None:
            self.counts['gestures'] += 1
        self.pub_gesture.publish(self.new(
            GESTURE, header=msgs.header(self, end_ns, msg.header.frame_id),
            track_id=self.track[1] if self.track is not None else 0, label=label or '',
            confidence=float(probs[list(labels).index(label)]) if label is not None else 0.0,
            window_start=msgs.stamp_fields(start_ns), window_end=msgs.stamp_fields(end_ns),
            labels=list(labels), scores=np.asarray(probs if probs is not None else [], np.float64),
            reason=reason, skeleton=self.skeleton_fields(msg)))

    @staticmethod
    def skeleton_fields(msg) -> dict:
        """The Gesture's skeleton: the Skeleton2D it came from (empty for an image without one)."""
        if not hasattr(msg, 'x'):
            return {'header': msg.header}
        return {'header': msg.header, 'track_id': int(msg.track_id), 'names': list(msg.names),
                'x': np.asarray(msg.x, np.float64), 'y': np.asarray(msg.y, np.float64),
                'score': np.asarray(msg.score, np.float64)}

