"""GestureActorNode: a simulated person's 2D skeleton, driven by a real UAV-GESTURE training-split sequence.

A stand-in for the pose network on the simulator's people (which do not move their arms yet):
on every /truth/targets message it publishes the skeleton (uavcine_interfaces/Skeleton2D, COCO-18,
``person/skeleton``) of the target ``target_id``, retargeted into its true image box — the UAV-GESTURE
keypoints of ``video`` (scaled so the body's median height fills the box height, centred on it) from
``start_s`` to ``start_s + duration_s`` (per frame, the neck goes where a standing person's neck is in the box —
on its vertical centre line, at the video's median neck height — which removes the UAV camera's own
drift; one scale per video: the median nose-to-ankle height = 90 % of the box height), and a standing pose (arms down, from the video's first frame)
before and after. Keypoints get Gaussian noise of ``noise_px`` (a pose estimator is not exact).
Only training-split videos of ``split`` are accepted (the shipped recogniser never saw the test ones,
and the demo must not use them either).

Truth: /truth/gesture (std_msgs/String) carries the label being performed at each skeleton's stamp.

It lives with the gesture demo (apps), not in the simulator package: it reads the UAV-GESTURE files
through the training code's loader, which the simulator may not import.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.gestures import skeleton as K
from ..nodes import msgs
from ..nodes.base import RELIABLE, Node, param
from ..train import uav_gesture as U

REPO = Path(__file__).resolve().parents[4]


def default_data_dir() -> str:
    for c in (REPO.parent / 'shared' / 'data' / 'uav_gesture', REPO.parent.parent / 'shared' / 'data' / 'uav_gesture'):
        if (c / 'joint_positions').is_dir():
            return str(c)
    return str(REPO.parent / 'shared' / 'data' / 'uav_gesture')


@dataclass
class GestureActorParams:
    data_dir: str = param('', 'UAV-GESTURE folder (empty: shared/data/uav_gesture beside the repository)')
    video: str = param('S1_allClear_HD', 'UAV-GESTURE video the person performs (a training-split one)')
    split: int = param(1, 'Subject split whose training part the video must come from', min=1, max=3)
    target_id: int = param(1, 'Simulator target id of the person')
    start_s: float = param(5.0, 'When the gesture starts (s from the first truth message)', min=0.0)
    duration_s: float = param(12.0, 'How long it is performed (the video loops if shorter)', min=0.0)
    noise_px: float = param(1.0, 'Gaussian keypoint noise, px (1 sigma)', min=0.0)
    seed: int = param(0, 'Noise seed')


class GestureActorNode(Node):
    NAME = 'gesture_actor'
    Params = GestureActorParams

    def setup(self):
        data = self.p.data_dir or default_data_dir()
        train, _ = U.split(data, self.p.split)
        if self.p.video not in train:
            raise ValueError('video %s is not in the training part of split %d' % (self.p.video, self.p.split))
        self.video = U.load(data)[self.p.video]
        self.label = self.video.label
        seq = self.video.points18.copy()
        valid = K.valid_mask(seq)
        body = np.where(valid[..., None], seq, np.nan)
        nose_y = np.nanmedian(body[:, 0, 1])
        ankle_y = np.nanmedian(np.nanmean(body[:, [10, 13], 1], axis=1))
        self.body_h = float(ankle_y - nose_y) / 0.9
        #: where the neck sits below the top of the box, as a fraction of the box height
        self.neck_frac = float((np.nanmedian(body[:, 1, 1]) - nose_y) / self.body_h + 0.05)
        neck = body[:, 1]
        ok = np.isfinite(neck).all(1)
        self.neck = np.stack([np.interp(np.arange(len(neck)), np.flatnonzero(ok), neck[ok, d]) for d in (0, 1)], 1)
        self.seq, self.valid = seq, valid
        self.idle = self.standing(seq[0], valid[0])
        self.rng = np.random.default_rng(self.p.seed)
        self.t0 = None
        self.pub = self.create_publisher('uavcine_interfaces/msg/Skeleton2D', 'person/skeleton', RELIABLE)
        self.pub_truth = self.create_publisher('std_msgs/msg/String', 'truth/gesture', RELIABLE)
        self.create_subscription('uavcine_interfaces/msg/TargetTruthArray', 'truth/targets', self.on_truth, RELIABLE)

    @staticmethod
    def standing(p18, v18):
        """Arms hanging down beside the body, from one frame's shoulders."""
        p = p18.copy()
        for sh, el, wr in ((2, 3, 4), (5, 6, 7)):
            if v18[sh] and v18[1]:
                arm = 1.6 * np.linalg.norm(p[sh] - p[1])
                p[el] = p[sh] + (0.0, 0.5 * arm)
                p[wr] = p[sh] + (0.0, 1.0 * arm)
        return p

    def on_truth(self, msg):
        ns = msgs.stamp_ns(msg.header.stamp)
        if self.t0 is None:
            self.t0 = ns
        t = (ns - self.t0) / 1e9
        tgt = [x for x in msg.targets if int(x.id) == self.p.target_id and x.in_view and x.bbox.size_y > 0]
        if not tgt:
            return
        x, y, w, h = msgs.bbox_xywh(tgt[0].bbox)
        performing = self.p.start_s <= t < self.p.start_s + self.p.duration_s
        k = int((t - self.p.start_s) * 25.0) % len(self.seq) if performing else 0   # UAV-GESTURE runs at 25 fps
        p18, seen = (self.seq[k], self.valid[k]) if performing else (self.idle, self.valid[0])
        s = h / self.body_h
        pts = (p18 - self.neck[k]) * s + (x + w / 2, y + self.neck_frac * h) + self.rng.normal(0, self.p.noise_px, (18, 2))
        score = np.where(seen, 1.0, 0.0)
        self.pub.publish(self.new('uavcine_interfaces/msg/Skeleton2D', header=msg.header, track_id=0,
                                  names=list(K.COCO18), x=pts[:, 0], y=pts[:, 1], score=score))
        self.pub_truth.publish(self.new('std_msgs/msg/String', data=self.label if performing else 'idle'))


@dataclass
class TruthTrackParams:
    target_id: int = param(1, 'Simulator target id to publish as the tracked subject')
    track_id: int = param(1, 'Track id to give it')


class TruthTrackNode(Node):
    """Stand-in for detector + tracker in gesture demos: the true box of one target as a TRACKING Track."""
    NAME = 'truth_track'
    Params = TruthTrackParams

    def setup(self):
        self.pub = self.create_publisher('uavcine_interfaces/msg/Track', 'target/track', RELIABLE)
        self.create_subscription('uavcine_interfaces/msg/TargetTruthArray', 'truth/targets', self.on_truth, RELIABLE)

    def on_truth(self, msg):
        for t in msg.targets:
            if int(t.id) == self.p.target_id and t.in_view and t.bbox.size_y > 0:
                self.pub.publish(self.new('uavcine_interfaces/msg/Track', header=msg.header, track_id=self.p.track_id,
                                          class_id=t.class_id, bbox=t.bbox, quality=1.0, state=2))
