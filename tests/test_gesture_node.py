"""Gesture node through the offline host: reasons for no gesture, the subject rule, the safety gate, bad input."""
import numpy as np
import pytest
import torch

from test_gesture_core import waving
from uavcine.core.gestures import skeleton as K
from uavcine.core.gestures.mmgr import UAV_GESTURE_LABELS, GestureLSTM, MMGRConfig
from uavcine.nodes import msgs
from uavcine.nodes.base import RELIABLE, Node
from uavcine.nodes.gesture import GestureNode
from uavcine.offline.host import OfflineHost


def constant_model(path, label, labels=UAV_GESTURE_LABELS):
    """A recogniser checkpoint that always says ``label`` with p ~ 0.99 (a test double for the trained one)."""
    m = GestureLSTM(MMGRConfig(labels=tuple(labels)))
    with torch.no_grad():
        m.fc2.weight.zero_()
        m.fc2.bias.fill_(0.0)
        m.fc2.bias[list(labels).index(label)] = 8.0
    torch.save({'kind': 'lstm', 'config': dict(m.cfg.__dict__), 'model': m.state_dict()}, path)
    return str(path)


@pytest.fixture(scope='module')
def always(tmp_path_factory):
    """A recogniser checkpoint that always says all_clear with p ~ 0.99 (a test double for the trained one)."""
    m = GestureLSTM(MMGRConfig())
    with torch.no_grad():
        m.fc2.weight.zero_()
        m.fc2.bias.fill_(0.0)
        m.fc2.bias[UAV_GESTURE_LABELS.index('all_clear')] = 8.0
    path = tmp_path_factory.mktemp('models') / 'always.pt'
    torch.save({'kind': 'lstm', 'config': dict(m.cfg.__dict__), 'model': m.state_dict()}, path)
    return str(path)


class Person(Node):
    """Publishes a Track and a Skeleton2D at 10 Hz; ``plan(k)`` says what frame k looks like."""
    NAME = 'person'

    def setup(self):
        self.track = self.create_publisher('uavcine_interfaces/msg/Track', 'target/track', RELIABLE)
        self.skel = self.create_publisher('uavcine_interfaces/msg/Skeleton2D', 'person/skeleton', RELIABLE)
        self.create_timer(0.1, self.tick)
        self.k = 0
        self.seq = waving(T=200)
        self.plan = lambda k: {}
        self.frames = 120

    def tick(self):
        k, self.k = self.k, self.k + 1
        if k >= self.frames:
            self.request_shutdown('done')
            return
        what = self.plan(k)
        now = self.now_ns()
        h = msgs.header(self, now, 'camera_optical')
        pts = self.seq[k % len(self.seq)].copy()
        score = np.ones(18)
        if what.get('missing'):
            score[list(K.UPPER7)[1:]] = 0.0
        if what.get('track', True):
            x0, y0 = pts.min(0) - 10
            x1, y1 = pts.max(0) + 10
            hgt = what.get('box_h', y1 - y0)
            self.track.publish(self.new('uavcine_interfaces/msg/Track', header=h, track_id=7, state=2,
                                        bbox=msgs.bbox_fields(x0, y0, x1 - x0, hgt)))
        if what.get('bystander'):
            pts = pts + 600.0
        if what.get('garbage'):
            self.skel.publish(self.new('uavcine_interfaces/msg/Skeleton2D', header=h, x=[1.0, 2.0], y=[1.0],
                                       score=[1.0]))
            return
        self.skel.publish(self.new('uavcine_interfaces/msg/Skeleton2D', header=h, track_id=what.get('track_id', 0),
                                   names=list(K.COCO18), x=pts[:, 0], y=pts[:, 1], score=score))


def run(plan, params, frames=120):
    host = OfflineHost()
    person = host.add_node(Person)
    person.plan, person.frames = plan, frames
    node = host.add_node(GestureNode, params)
    gestures = host.capture('/gesture/recognised')
    commands = host.capture('/shot/command')
    host.run()
    return node, [m for _, m in gestures], [m for _, m in commands]


def test_a_held_gesture_sends_one_command_per_refractory_period(always):
    node, gestures, commands = run(lambda k: {}, {'model_path': always, 'window_s': 2.0, 'hold_s': 1.0,
                                                  'refractory_s': 5.0, 'recognise_every_s': 0.5})
    labelled = [g for g in gestures if g.label]
    assert labelled and all(g.label == 'all_clear' and g.confidence > 0.99 and g.track_id == 7 for g in labelled)
    g = labelled[0]
    assert msgs.stamp_ns(g.window_end) - msgs.stamp_ns(g.window_start) >= 0.8 * 2.0e9
    assert len(g.scores) == 13 and len(g.skeleton.x) == 18
    # the window fills at 1.6 s, the hold takes 1 s more; then one command per 5 s
    assert [c.command_name for c in commands] == ['START', 'START']
    t = [msgs.stamp_ns(c.header.stamp) / 1e9 for c in commands]
    assert t[1] - t[0] >= 5.0 and commands[0].command == 1 and commands[0].source == 'gesture:all_clear'
    assert commands[0].track_id == 7
    assert any(g.reason.startswith('window not full') for g in gestures)


def test_no_gesture_with_a_reason_and_the_node_stays_up(always):
    def plan(k):
        if k < 20:
            return {'track': False}
        if k < 40:
            return {'box_h': 40.0}
        if k < 60:
            return {'missing': True}
        if k < 70:
            return {'garbage': True}
        return {'bystander': True}
    node, gestures, commands = run(plan, {'model_path': always, 'window_s': 1.0, 'min_person_px': 80.0})
    reasons = [g.reason for g in gestures]
    assert reasons[0] == 'no tracked person'
    assert any(r.startswith('person too small') for r in reasons)
    assert any(r.startswith('keypoints missing') for r in reasons)
    assert reasons[-1] == 'not the tracked subject'
    assert node.counts['dropped'] == 10 and not commands and not any(g.label for g in gestures)


def test_only_the_tracked_subject_commands(always):
    # skeletons that name another track id never count, even when they overlap the box
    node, gestures, commands = run(lambda k: {'track_id': 3}, {'model_path': always, 'window_s': 1.0, 'hold_s': 0.0})
    assert not commands and {g.reason for g in gestures} == {'not the tracked subject'}
    node, gestures, commands = run(lambda k: {'track_id': 7}, {'model_path': always, 'window_s': 1.0, 'hold_s': 0.0},
                                   frames=30)
    assert [c.command_name for c in commands] == ['START']


def test_a_parameter_change_at_run_time_takes_effect(always):
    host = OfflineHost()
    host.add_node(Person)
    node = host.add_node(GestureNode, {'model_path': always, 'window_s': 1.0, 'hold_s': 0.0, 'min_confidence': 1.0})
    commands = host.capture('/shot/command')
    node.p.gesture_commands = ['all_clear=HOLD']   # changed after setup, before any skeleton arrived
    node.p.min_confidence = 0.5
    host.run()
    assert commands and {c.command_name for _, c in commands} == {'HOLD'}


def test_a_missing_model_is_a_reason_not_a_crash(tmp_path):
    node, gestures, commands = run(lambda k: {}, {'model_path': str(tmp_path / 'nope.pt'), 'window_s': 1.0},
                                   frames=30)
    assert 'no recogniser model' in {g.reason for g in gestures} and not commands


def test_a_person_not_signalling_sends_nothing(tmp_path):
    """A model with the 'none' class (person idle or walking): its Gesture says none, and no command goes out."""
    path = constant_model(tmp_path / 'none.pt', 'none', UAV_GESTURE_LABELS + ('none',))
    node, gestures, commands = run(lambda k: {}, {'model_path': path, 'window_s': 1.0, 'hold_s': 0.0,
                                                  'min_confidence': 0.0}, frames=40)
    labelled = [g for g in gestures if g.label]
    assert labelled and {g.label for g in labelled} == {'none'} and len(labelled[0].scores) == 14
    assert not commands


def test_the_default_model_has_a_none_class():
    """The node flies with the recogniser that knows a person who is not signalling (models/MODEL_CARD_gesture.md)."""
    from uavcine.core.gestures.mmgr import from_checkpoint
    from uavcine.nodes import paths
    from uavcine.nodes.gesture import GestureParams
    model = from_checkpoint(torch.load(paths.resolve(GestureParams().model_path), weights_only=False))
    assert model.cfg.labels[-1] == 'none' and model.cfg.labels[:13] == UAV_GESTURE_LABELS


class Camera(Node):
    """Publishes a camera image and (after 0.5 s) the person's Track at 10 Hz; a bad image at frame 10."""
    NAME = 'camera'

    def setup(self):
        self.track = self.create_publisher('uavcine_interfaces/msg/Track', 'target/track', RELIABLE)
        self.img = self.create_publisher('sensor_msgs/msg/Image', 'camera/image_raw', RELIABLE)
        self.create_timer(0.1, self.tick)
        self.k = 0
        self.frame = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)

    def tick(self):
        k, self.k = self.k, self.k + 1
        if k >= 40:
            self.request_shutdown('done')
            return
        now = self.now_ns()
        if k >= 5:
            self.track.publish(self.new('uavcine_interfaces/msg/Track', header=msgs.header(self, now, 'camera_optical'),
                                        track_id=4, state=2, bbox=msgs.bbox_fields(60.0, 10.0, 30.0, 95.0)))
        if k == 10:
            self.img.publish(self.new('sensor_msgs/msg/Image', header=msgs.header(self, now, 'camera_optical'),
                                      height=120, width=160, encoding='rgb8', step=480, data=np.zeros(10, np.uint8)))
            return
        self.img.publish(msgs.numpy_to_image(self, self.frame, now, 'camera_optical'))


def test_image_source_runs_the_pose_network_on_the_tracked_crop(always, tmp_path):
    from uavcine.core.gestures.pose import PoseNet
    torch.manual_seed(0)
    pose = tmp_path / 'pose.pt'
    net = PoseNet()
    torch.save({'kind': 'pose', 'config': dict(net.cfg.__dict__), 'model': net.state_dict()}, pose)
    host = OfflineHost()
    host.add_node(Camera)
    node = host.add_node(GestureNode, {'skeleton_source': 'image', 'pose_model_path': str(pose), 'model_path': always,
                                       'window_s': 1.0, 'min_person_px': 50.0, 'min_keypoint_score': 0.0,
                                       'hold_s': 0.0})
    skeletons = host.capture('/gesture/skeleton')
    gestures = host.capture('/gesture/recognised')
    host.run()
    reasons = [m.reason for _, m in gestures]
    assert reasons[0] == 'no tracked person'                         # images before the first Track
    assert node.counts['dropped'] == 1                                # the bad image, and the node went on
    assert len(skeletons) == 40 - 5 - 1
    s = skeletons[0][1]
    assert s.track_id == 4 and list(s.names) == list(K.COCO18)
    x, y = np.asarray(s.x), np.asarray(s.y)                           # the crop's keypoints, back in image pixels
    assert np.all((x > 60 + 15 - 0.6 * 95 * 1.15) & (x < 60 + 15 + 0.6 * 95 * 1.15))
    assert np.all((y > 10 + 47.5 - 0.6 * 95 * 1.15) & (y < 10 + 47.5 + 0.6 * 95 * 1.15))
    assert any(m.label == 'all_clear' for _, m in gestures)          # the estimated skeletons reach the recogniser


def test_image_source_without_a_pose_model_says_so(always, tmp_path):
    host = OfflineHost()
    host.add_node(Camera)
    host.add_node(GestureNode, {'skeleton_source': 'image', 'pose_model_path': str(tmp_path / 'none.pt'),
                                'model_path': always, 'min_person_px': 50.0})
    gestures = host.capture('/gesture/recognised')
    host.run()
    assert 'no pose model' in {m.reason for _, m in gestures}
