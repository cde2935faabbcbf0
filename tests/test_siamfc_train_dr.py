"""SiamFC fine-tuning with domain randomisation and real pairs by fold (issue #14, deliverable 2), and the tracker
hyper-parameter tuning with leave-one-sequence-out selection."""

import numpy as np
import pytest
import torch

from uavcine.core import siamfc as S
from uavcine.eval import track_tune
from uavcine.train import siamfc_train as T
from uavcine.train.siamfc_augment import AugmentConfig, Augmenter

torch.set_num_threads(1)


def _crop(n, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (n, n, 3)).astype(np.uint8)


def test_strength_zero_is_the_plain_pair_and_full_strength_changes_it():
    z, x = _crop(127, 1), _crop(255, 2)
    z0, x0 = Augmenter(AugmentConfig(strength=0.0), np.random.default_rng(0)).pair(z, x, _crop(255, 3))
    assert z0 is z and x0 is x
    aug = Augmenter(AugmentConfig(p_colour=1, p_haze=1, p_noise=1, p_jpeg=1), np.random.default_rng(0))
    z1, x1 = aug.pair(z, x, _crop(255, 3))
    assert z1.shape == z.shape and x1.shape == x.shape and z1.dtype == np.uint8 and x1.dtype == np.uint8
    assert np.abs(z1.astype(int) - z).mean() > 5 and np.abs(x1.astype(int) - x).mean() > 5


def test_haze_lifts_dark_ground_towards_the_airlight():
    dark = np.full((64, 64, 3), 20, np.uint8)
    aug = Augmenter(AugmentConfig(frame_brightness=0, p_blur=0, p_motion=0), np.random.default_rng(0))
    out = aug.photometric(dark, {'haze': 0.5, 'airlight': np.array([220.0, 220.0, 220.0])})
    assert abs(float(out.mean()) - 120.0) < 2


def test_distractor_is_pasted_away_from_the_target():
    x = np.zeros((255, 255, 3), np.uint8)
    other = np.full((255, 255, 3), 255, np.uint8)
    aug = Augmenter(AugmentConfig(), np.random.default_rng(5))
    for _ in range(20):
        out = aug.distractor(x, other)
        assert out.max() > 100  # something was pasted
        c = 127
        assert out[c - 24:c + 25, c - 24:c + 25].max() == 0  # the target's place (and its 16 px label) untouched


def test_geometry_keeps_the_target_at_the_centre():
    x = np.zeros((255, 255, 3), np.uint8)
    x[122:133, 122:133] = 255
    aug = Augmenter(AugmentConfig(p_geometry=1.0), np.random.default_rng(3))
    for _ in range(10):
        out = aug.geometry(x)
        ys, xs = np.nonzero(out[:, :, 0] > 128)
        assert abs(ys.mean() - 127) < 1.5 and abs(xs.mean() - 127) < 1.5


def _bank(n_seq, frames, seed, name):
    rng = np.random.default_rng(seed)
    return {'crops': rng.integers(0, 255, (n_seq * frames, T.BANK_SZ, T.BANK_SZ, 3)).astype(np.uint8),
            'seq': np.repeat(np.arange(n_seq), frames).astype(np.int32),
            'frame': np.tile(np.arange(frames), n_seq).astype(np.int32),
            'names': np.array(['%s%d' % (name, k) for k in range(n_seq)])}


def test_merge_and_drop_sequences():
    b = T.merge_banks([_bank(2, 3, 0, 'sim_'), _bank(3, 2, 1, 'real')])
    assert list(b['names']) == ['sim_0', 'sim_1', 'real0', 'real1', 'real2']
    assert sorted(set(b['seq'].tolist())) == [0, 1, 2, 3, 4] and len(b['crops']) == 12
    d = T.drop_sequences(b, ['real1', 'sim_0'])
    assert sorted(set(d['seq'].tolist())) == [1, 2, 4] and len(d['crops']) == 7
    assert np.array_equal(d['crops'][0], b['crops'][3])  # sim_1's first crop


def test_lr_follows_the_time_budget():
    assert T.lr_at(10, 1000, 1e-3, warmup=100, frac=0.9) == pytest.approx(1e-3 * 11 / 100)  # warm-up first
    assert T.lr_at(500, 1000, 1e-3, warmup=100, frac=0.0) == pytest.approx(1e-3)
    assert T.lr_at(500, 1000, 1e-3, warmup=100, frac=1.0) == pytest.approx(1e-5)


def test_fine_tune_cli_from_a_model_file_leaves_the_fold_out(tmp_path, capsys):
    np.savez(tmp_path / 'sim.npz', **_bank(2, 3, 0, 'sim_'))
    np.savez(tmp_path / 'real.npz', **_bank(3, 3, 1, 'real'))
    net = S.SiamFCNet(0.5)
    S.init_weights(net)
    torch.save(S.save_checkpoint(net, S.SiamFCConfig(width=0.5), S.QualityHead()), tmp_path / 'm.pt')
    rc = T.main(['train', '--bank', '%s,%s' % (tmp_path / 'sim.npz', tmp_path / 'real.npz'), '--bank-share', '0.5,0.5',
                 '--exclude', 'real1', '--init', str(tmp_path / 'm.pt'), '--augment', '1', '--steps', '2',
                 '--batch', '2', '--warmup', '1', '--out', str(tmp_path / 'run'), '--max-minutes', '5'])
    assert rc == 0
    out = capsys.readouterr().out
    assert 'real0, real2' in out and 'real1' not in out.split('sequences:')[1]
    ck = torch.load(tmp_path / 'run' / 'last.pt', weights_only=False)
    assert ck['step'] == 2 and len(ck['history']) == 2
    # a fine-tune starts from the model's weights, not from a fresh initialisation
    start = net.state_dict()['backbone.conv1.0.weight']
    assert torch.allclose(ck['net']['backbone.conv1.0.weight'], start, atol=0.05)
    rc = T.main(['train', '--bank', str(tmp_path / 'sim.npz'), '--bank-share', '0.5,0.5', '--out', str(tmp_path / 'r')])
    assert rc == 2 and '--bank-share' in capsys.readouterr().err


def test_grid_and_leave_one_sequence_out_selection():
    grid = track_tune.parse_grid(['window_influence=0.2,0.4', 'context=0.5'])
    assert grid == [{'window_influence': 0.2, 'context': 0.5}, {'window_influence': 0.4, 'context': 0.5}]
    with pytest.raises(ValueError):
        track_tune.parse_grid(['exemplar_sz=100'])
    # setting 1 wins on sequences 0 and 1 only; sequence 2 must be scored with what the others chose
    auc = np.array([[0.1, 0.1, 0.9],
                    [0.5, 0.5, 0.0]])
    choice, held = track_tune.loso_select(auc)
    assert choice == [0, 0, 1]
    assert held[2] == 0.0  # not the 0.9 it would get if it could choose on itself


def _tiny_model(tmp_path):
    torch.manual_seed(0)
    net = S.SiamFCNet(0.25)
    S.init_weights(net)
    path = tmp_path / 'm.pt'
    torch.save(S.save_checkpoint(net, S.SiamFCConfig(width=0.25)), path)
    return path


def test_tune_cli_scores_every_setting_and_the_held_out_choice(tmp_path, capsys):
    from test_track_eval_otb import write_otb
    write_otb(tmp_path / 'seqs' / 'a', n=6)
    write_otb(tmp_path / 'seqs' / 'b', n=6)
    out = tmp_path / 'tune.md'
    rc = track_tune.main(['--otb', str(tmp_path / 'seqs'), '--model', str(_tiny_model(tmp_path)), '--max-frames', '0',
                          '--grid', 'window_influence=0.176,0.4', '--out', str(out)])
    assert rc == 0
    text = out.read_text()
    assert '| window_influence=0.176 |' in text and '| window_influence=0.4 |' in text
    assert '| a | window_influence=' in text and 'Held-out mean AUC' in text
    rc = track_tune.main(['--otb', str(tmp_path / 'seqs'), '--grid', 'exemplar_sz=100', '--out', str(out)])
    assert rc == 2 and 'unknown hyper-parameter' in capsys.readouterr().err


def test_diag_cli_renders_one_sheet_per_sequence(tmp_path, capsys):
    from uavcine.eval import track_diag
    from test_track_eval_otb import write_otb
    write_otb(tmp_path / 's', n=6)
    rc = track_diag.main(['--otb', str(tmp_path / 's'), '--model', str(_tiny_model(tmp_path)), '--frames', '1,3',
                          '--out', str(tmp_path / 'd')])
    assert rc == 0
    import cv2
    sheet = cv2.imread(str(tmp_path / 'd' / 's.png'))
    assert sheet is not None and sheet.shape[0] == 2 * 360  # two frames, one row each
    assert track_diag.main(['--otb', str(tmp_path / 'nope'), '--out', str(tmp_path / 'd')]) == 2
    # a missing or unreadable model: one line and status 2 (the message of S.load_checkpoint), in both tools
    (tmp_path / 'bad.pt').write_bytes(b'not a model')
    for model in (tmp_path / 'missing.pt', tmp_path / 'bad.pt'):
        assert track_diag.main(['--otb', str(tmp_path / 's'), '--model', str(model), '--out', str(tmp_path / 'd')]) == 2
        assert track_tune.main(['--otb', str(tmp_path / 's'), '--model', str(model)]) == 2
    err = capsys.readouterr().err
    assert 'SiamFC model not found' in err and 'cannot read SiamFC model' in err
