"""Seed ensembles of the gesture LSTM: packing runs into one node checkpoint, and the command's user errors."""
import numpy as np
import torch

from uavcine.core.gestures.mmgr import GestureEnsemble, classify_window, from_checkpoint
from uavcine.train import gesture_train as G


def fake_run(d, seed, pool='mean', **kw):
    """A run directory as ``gesture_train run`` leaves it (untrained models of one recipe, seed ``seed``; split k's
    model drawn after ``torch.manual_seed(seed * 10 + k)``)."""
    d.mkdir()
    for k in (1, 2, 3):
        torch.manual_seed(seed * 10 + k)
        m = G.make_model('lstm', 32, velocity=True, pool=pool, none=True, **kw)
        torch.save({'kind': 'lstm', 'config': dict(m.cfg.__dict__), 'model': m.state_dict()}, d / ('lstm_split%d.pt' % k))
    return d


def skeletons(T=60):
    rng = np.random.default_rng(0)
    base = np.array([[960, 300], [960, 380], [900, 380], [860, 460], [850, 540], [1020, 380], [1060, 460],
                     [1070, 540]] + [[960, 600]] * 10, float)
    return base[None] + rng.normal(0, 5, (T, 18, 2))


def test_pack_writes_one_checkpoint_whose_probabilities_are_the_runs_average(tmp_path):
    runs = [fake_run(tmp_path / ('r%d' % s), s) for s in range(3)]
    dest = tmp_path / 'ens.pt'
    assert G.main(['pack', *map(str, runs), '--dest', str(dest), '--data', str(tmp_path / 'nodata'), '--split', '2']) == 0
    ck = torch.load(dest, weights_only=False)
    assert ck['kind'] == 'lstm_ensemble' and ck['members'] == 3 and ck['split'] == 2
    ens = from_checkpoint(ck)
    assert isinstance(ens, GestureEnsemble) and ens.cfg.labels[-1] == 'none'
    members = [from_checkpoint(torch.load(r / 'lstm_split2.pt', weights_only=False)) for r in runs]
    t = np.arange(60) / 10.0
    want = np.mean([classify_window(m, skeletons(), t) for m in members], axis=0)
    assert np.allclose(classify_window(ens, skeletons(), t), want, atol=1e-6)


def test_ensemble_commands_refuse_missing_runs_and_mixed_recipes_with_status_2(tmp_path, capsys):
    a = fake_run(tmp_path / 'a', 0)
    b = fake_run(tmp_path / 'b', 1, distances=True)
    assert G.main(['pack', str(a), str(tmp_path / 'nope')]) == 2
    assert 'no trained model' in capsys.readouterr().err
    assert G.main(['pack', str(a), str(b), '--dest', str(tmp_path / 'x.pt')]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'configuration differs' in err
    assert not (tmp_path / 'x.pt').exists()


def test_the_shipped_recogniser_and_its_onnx_agree():
    """models/gesture_lstm_none.pt (the node's default, a seed ensemble) and its .onnx (``gesture_train export``)
    give the same probabilities on windows of real-looking features."""
    import onnxruntime as ort
    from pathlib import Path
    root = Path(__file__).resolve().parents[1] / 'models'
    model = from_checkpoint(torch.load(root / 'gesture_lstm_none.pt', weights_only=False))
    sess = ort.InferenceSession(str(root / 'gesture_lstm_none.onnx'), providers=['CPUExecutionProvider'])
    from uavcine.core.gestures import skeleton as K
    from uavcine.core.gestures.mmgr import window_features
    for seed in range(5):
        pts = skeletons(60) + np.random.default_rng(seed).normal(0, 30, (60, 18, 2))
        p7, _ = K.joint_proc(pts)
        x = window_features(model.cfg, p7, np.arange(60) / 10.0, K.sample_indices(60, model.cfg.frames))[None]
        with torch.no_grad():
            want = torch.softmax(model(torch.from_numpy(x)), -1).numpy()
        got = torch.softmax(torch.from_numpy(sess.run(None, {'features': x})[0]), -1).numpy()
        assert np.abs(want - got).max() < 1e-5 and want.argmax() == got.argmax()
