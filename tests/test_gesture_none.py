"""The 'none' class of the gesture recogniser: its training samples and the false-command evaluation."""
import numpy as np
import torch

from uavcine.core.gestures import body as B
from uavcine.train import gesture_eval as E
from uavcine.train import gesture_train as G


def test_none_bank_is_simulated_people_labelled_none_from_the_seen_motions():
    bank = G.none_bank(2, G.NONE_TRAIN_SEED, seconds=4.0)
    assert [v.label for v in bank] == ['none', 'none'] and bank[0].subject != bank[1].subject
    assert bank[0].points18.shape == (100, 18, 2)                      # 4 s at UAV-GESTURE's 25 fps
    again = G.none_bank(1, G.NONE_TRAIN_SEED, seconds=4.0)
    assert np.array_equal(again[0].points18, bank[0].points18)
    assert not set(B.HELD_OUT_KINDS) & set(B.TRAIN_KINDS)            # idle-eval's unseen motions never train


def test_training_samples_with_none_keep_their_labels():
    rng = np.random.default_rng(0)
    idle = G.none_bank(3, G.NONE_TRAIN_SEED, seconds=4.0)
    gesture = G.U.Video('S1_hover_HD', 'S1', 'hover', idle[0].points18.copy())   # any skeletons, labelled hover
    labels = set()
    m = G.make_model('lstm', 32, velocity=True, pool='mean', none=True)
    for _ in range(20):
        p7, y = G.augmented(gesture, [], 32, rng, idle)                # may get an idle prefix: still hover
        labels.add(y)
        assert p7.ndim == 3 and p7.shape[1:] == (7, 2) and len(p7) >= 32
        assert G.features(m, p7, rng).shape == (32, 28)
    assert labels == {G.LABEL_INDEX['hover']}
    _, y = G.augmented(idle[1], [], 32, rng, idle)
    assert y == G.LABEL_INDEX['none'] == 13
    assert m.cfg.labels[-1] == 'none' and m.fc2.out_features == 14
    assert G.make_model('lstm', 32).fc2.out_features == 13


def test_idle_eval_counts_the_commands_a_model_sends_to_people_not_signalling(tmp_path):
    """A model that always says 'land' (mapped to END by the node's default) sends commands every refractory
    period; one that always says 'none' sends nothing."""
    paths = []
    for label in ('land', 'none'):
        m = G.make_model('lstm', 32, velocity=True, pool='mean', none=True)
        with torch.no_grad():
            m.fc2.weight.zero_()
            m.fc2.bias.fill_(0.0)
            m.fc2.bias[G.LABEL_INDEX[label]] = 8.0
        p = tmp_path / ('%s.pt' % label)
        torch.save({'kind': 'lstm', 'config': dict(m.cfg.__dict__), 'model': m.state_dict()}, p)
        paths.append(p)
    res = E.idle_eval(paths, people=1, seconds=20.0)
    land, none = (res['models'][str(p)] for p in paths)
    for per in land.values():
        # windows end from 4.9 s on, every 0.5 s; 1 s hold, 5 s refractory: commands at 5.9, 10.9, 15.9 s
        assert per['default mapping']['commands'] == 3 and per['default mapping']['gestures'] == {'land': 3}
        assert per['none_share'] == 0.0
    for per in none.values():
        assert per['default mapping']['commands'] == 0 and per['every gesture mapped']['commands'] == 0
        assert per['none_share'] == 1.0


def test_extra_augmentation_resamples_time_drops_joints_and_jitters_but_keeps_the_label():
    """--aug: a faster or slower performance (length changes), OpenPose-like lost joints (filled, never NaN or
    zero-length) and jitter; the label is the video's (or its mirror's)."""
    rng = np.random.default_rng(3)
    pts = G.none_bank(1, G.NONE_TRAIN_SEED, seconds=8.0)[0].points18      # 200 frames of a moving body
    v = G.U.Video('S1_hover_HD', 'S1', 'hover', pts)
    lengths = set()
    for _ in range(30):
        p7, y = G.augmented(v, [], 32, rng, None, G.EXTRA_AUGMENT)
        assert y == G.LABEL_INDEX['hover'] and np.isfinite(p7).all() and p7.shape[1:] == (7, 2)
        lengths.add(len(p7))
    plain = {len(G.augmented(v, [], 32, np.random.default_rng(i))[0]) for i in range(30)}
    assert max(lengths) > 200 >= max(plain)                                # slowed down: more frames than the video
    # the same draw with and without jitter differs by small noise only
    a, _ = G.augmented(v, [], 32, np.random.default_rng(5), None, G.Augment(jitter=0.01))
    b, _ = G.augmented(v, [], 32, np.random.default_rng(5))
    assert a.shape == b.shape and 0 < np.abs(a - b).mean() < 0.03
    side = G.U.Video('S1_moveToLeft_HD', 'S1', 'move_to_left', pts)
    ys = {G.augmented(side, [], 32, np.random.default_rng(i), None, G.EXTRA_AUGMENT)[1] for i in range(20)}
    assert ys == {G.LABEL_INDEX['move_to_left'], G.LABEL_INDEX['move_to_right']}   # mirrored: the side swaps


def test_dropped_joints_reach_joint_proc_as_openpose_zeros(monkeypatch):
    pts = G.none_bank(1, G.NONE_TRAIN_SEED, seconds=4.0)[0].points18
    pts = np.where(pts == 0, 1.0, pts)                                       # no joint missing to start with
    seen = []
    real = G.K.joint_proc
    monkeypatch.setattr(G.K, 'joint_proc', lambda seq: seen.append(seq.copy()) or real(seq))
    v = G.U.Video('S1_hover_HD', 'S1', 'hover', pts)
    G.augmented(v, [], 32, np.random.default_rng(0), None, G.Augment(drop=1.0))
    lost = (seen[0][:, list(G.K.UPPER7)] == 0).all(-1)                      # (T, 7) joints set to (0, 0)
    assert 1 <= lost.any(0).sum() <= 2 and 0.1 <= lost.any(1).mean() <= 0.8    # one or two joints, for a span
