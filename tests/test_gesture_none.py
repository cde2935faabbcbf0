"""The 'none' class of the gesture recogniser: its training samples and the false-command evaluation."""
import numpy as np
import torch

from uavcine.core.gestures import body as B
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
    res = G.idle_eval(paths, people=1, seconds=20.0)
    land, none = (res['models'][str(p)] for p in paths)
    for per in land.values():
        # windows end from 4.9 s on, every 0.5 s; 1 s hold, 5 s refractory: commands at 5.9, 10.9, 15.9 s
        assert per['default mapping']['commands'] == 3 and per['default mapping']['gestures'] == {'land': 3}
        assert per['none_share'] == 0.0
    for per in none.values():
        assert per['default mapping']['commands'] == 0 and per['every gesture mapped']['commands'] == 0
        assert per['none_share'] == 1.0
