"""The LSTM's pooling over time (MMGRConfig.pool): last / mean / max / meanmax, shapes, checkpoints and ONNX."""
import numpy as np
import pytest
import torch

from uavcine.core.gestures.mmgr import POOLS, GestureLSTM, MMGRConfig, from_checkpoint
from uavcine.train import gesture_train as G

from test_gesture_ensemble import fake_run


def lstm(pool, seed=0, **kw):
    torch.manual_seed(seed)
    return G.make_model('lstm', 32, velocity=True, pool=pool, none=True, **kw).eval()


@pytest.mark.parametrize('pool', POOLS)
def test_every_pool_gives_class_logits_for_any_batch(pool):
    m = lstm(pool)
    assert m.fc1.in_features == (256 if pool == 'meanmax' else 128)
    for b in (1, 3):
        assert m(torch.randn(b, 32, 28)).shape == (b, 14)


def test_the_pools_are_what_they_say_over_the_time_axis():
    out = torch.tensor([[[1.0, -4.0], [3.0, 2.0], [-1.0, 5.0]]])  # (B=1, T=3, hidden=2)
    want = {'last': [[-1.0, 5.0]], 'mean': [[1.0, 1.0]], 'max': [[3.0, 5.0]], 'meanmax': [[1.0, 1.0, 3.0, 5.0]]}
    for pool, w in want.items():
        m = GestureLSTM(MMGRConfig(hidden=2, pool=pool))
        assert torch.equal(m.pooled(out), torch.tensor(w)), pool


def test_mean_pool_is_the_shipped_forward_and_initialisation():
    """pool='mean' (the shipped recipe) still draws the same initial weights (fc1 128 -> 64) and computes
    fc2(relu(fc1(mean over time of the LSTM's outputs))) — the new options do not change it."""
    m = lstm('mean', seed=3)
    torch.manual_seed(3)
    ref = torch.nn.LSTM(28, 128, batch_first=True), torch.nn.Linear(128, 64)
    assert torch.equal(m.lstm.weight_ih_l0, ref[0].weight_ih_l0) and torch.equal(m.fc1.weight, ref[1].weight)
    x = torch.randn(2, 32, 28)
    with torch.no_grad():
        want = m.fc2(torch.relu(m.fc1(m.lstm(x)[0].mean(dim=1))))
        assert torch.equal(m(x), want)


def test_max_pool_changes_the_decision_input_and_an_unknown_pool_is_refused():
    x = torch.randn(1, 32, 28)
    with torch.no_grad():
        assert not torch.allclose(lstm('mean')(x), lstm('max')(x))
    with pytest.raises(ValueError, match='unknown pool'):
        GestureLSTM(MMGRConfig(pool='median'))


@pytest.mark.parametrize('pool', ['max', 'meanmax'])
def test_pooled_checkpoints_reload_and_export_to_onnx_with_parity(tmp_path, pool):
    """A packed 3-member ensemble of a new pool: checkpoint round trip, and ``export``'s ONNX (TensorRT 8.5 ops,
    ReduceMax in the graph) agrees with torch on random windows."""
    runs = [fake_run(tmp_path / ('r%d' % s), s, pool=pool) for s in range(3)]
    dest = tmp_path / 'ens.pt'
    assert G.main(['pack', *map(str, runs), '--dest', str(dest), '--data', str(tmp_path / 'nodata')]) == 0
    ens = from_checkpoint(torch.load(dest, weights_only=False))
    assert ens.cfg.pool == pool and ens.members[0].fc1.in_features == (256 if pool == 'meanmax' else 128)
    x = torch.randn(1, 32, 28)
    with torch.no_grad():
        want = np.mean([torch.softmax(lstm(pool, seed=s * 10 + 1)(x), -1).numpy() for s in range(3)], axis=0)
        assert np.allclose(torch.softmax(ens(x), -1).numpy(), want, atol=1e-6)
    res = G.export(dest, tmp_path / 'ens.onnx', None)
    assert 'ReduceMax' in res['ops']
    assert res['windows'] == 100 and res['argmax_agree'] == 100 and res['max_abs_prob_diff'] < 1e-5


def test_p2_flips_lists_the_videos_the_prefix_breaks_and_fixes_with_the_prefix_gesture():
    """``ensemble``'s P-II diagnostic (used to ask whether a pool makes the LSTM less sensitive to the prefix)."""
    from uavcine.train import gesture_eval as E
    from uavcine.train.uav_gesture import Video
    z = np.zeros((10, 18, 2))
    videos = {n: Video(n, n.split('_')[0], lab, z) for n, lab in [
        ('S1_a', 'all_clear'), ('S1_b', 'hover'), ('S1_c', 'land'), ('S2_a', 'all_clear'), ('S2_b', 'hover')]}
    test = ['S1_a', 'S1_b', 'S1_c', 'S2_a']
    r = {'test_videos': test,
         'P-I': {'true': ['all_clear', 'hover', 'land', 'all_clear'], 'pred': ['all_clear', 'hover', 'hover', 'land']},
         'P-II': {'true': ['all_clear', 'hover', 'land', 'all_clear'], 'pred': ['not_clear', 'hover', 'land', 'land']}}
    out = E.p2_flips(videos, {1: r})
    # S1_a: next gesture after all_clear that S1 shows in the test split is hover; S2_a's prefix is outside it
    assert out['broken'] == [{'video': 'S1_a', 'true': 'all_clear', 'pred': 'not_clear', 'prefix': 'hover'}]
    assert out['fixed'] == [{'video': 'S1_c', 'true': 'land', 'pred': 'land', 'prefix': 'all_clear'}]
