"""SMEMO: shapes, autoregression, permutation equivariance over agents, the loader, the shipped weights."""
import numpy as np
import pytest
import torch

from uavcine.core.forecasting.constant_velocity import constant_velocity, sampled_constant_velocity
from uavcine.core.forecasting.smemo import SMEMO, SMEMOConfig, best_of_k_loss, count_parameters, winner_takes_all_loss


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return SMEMO().eval()


def scene(b=2, a=4, t=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, a, t, 2, generator=g) * 0.4).cumsum(2)


def test_shapes_and_scale(model):
    with torch.no_grad():
        y, attn = model(scene(), return_attention=True)
    assert y.shape == (2, 4, 20, 12, 2)
    assert attn['read'].shape == (2, 4, 20, 12, 128) and attn['write'].shape == (2, 4, 20, 18, 128)
    assert torch.allclose(attn['read'].sum(-1), torch.ones(()), atol=1e-5)
    # the released implementation's scale (~213k): 2->8->16 embeddings, GRU 100, memory 128x20, 20 read heads
    assert 205_000 < count_parameters(model) < 225_000


def test_autoregression_is_causal_and_starts_at_the_present(model):
    """Predicting 16 steps gives the same first 12 as predicting 12: each step feeds only the next."""
    x = scene()
    long = SMEMO(SMEMOConfig(pred_len=16)).eval()
    long.load_state_dict(model.state_dict())
    with torch.no_grad():
        y12, y16 = model(x), long(x)
    assert torch.allclose(y12, y16[:, :, :, :12], atol=1e-6)
    # positions are the present plus accumulated displacements: the first step is near the present
    first = torch.linalg.norm(y12[:, :, :, 0] - x[:, :, None, -1], dim=-1)
    assert float(first.max()) < 5.0
    # the history matters: moving an early observed point changes the forecast
    x2 = x.clone()
    x2[:, :, 0] += 1.0
    with torch.no_grad():
        assert not torch.allclose(model(x2), y12)


def test_permutation_equivariance_over_agents(model):
    x = scene(a=5)
    perm = torch.tensor([3, 0, 4, 1, 2])
    with torch.no_grad():
        y, yp = model(x), model(x[:, perm])
    assert torch.allclose(y[:, perm], yp, atol=1e-5)


def test_padded_agents_change_nothing_and_others_do(model):
    x = scene(a=3)
    pad = torch.cat([x, torch.randn(2, 2, 8, 2) * 30], dim=1)
    mask = torch.tensor([[True] * 3 + [False] * 2] * 2)
    with torch.no_grad():
        y = model(x)
        assert torch.allclose(model(pad, mask)[:, :3], y, atol=1e-6)
        # the social memory is shared: a real extra agent changes the others' forecasts
        assert not torch.allclose(model(pad)[:, :3], y)


def test_batched_windows_equal_one_window_at_a_time(model):
    """Windows of different sizes padded into one batch forecast exactly as each window alone: a window's
    agents share one memory, other windows never see it (the trainer batches this way)."""
    g = torch.Generator().manual_seed(3)
    wins = [(torch.randn(n, 8, 2, generator=g) * 0.4).cumsum(1) for n in (2, 5, 1, 3)]
    x = torch.zeros(len(wins), 5, 8, 2)
    mask = torch.zeros(len(wins), 5, dtype=torch.bool)
    for j, w in enumerate(wins):
        x[j, :len(w)] = w
        x[j, len(w):] = torch.randn(5 - len(w), 8, 2, generator=g) * 20   # padding: garbage, masked
        mask[j, :len(w)] = True
    with torch.no_grad():
        batched = model(x, mask)
        for j, w in enumerate(wins):
            alone = model(w[None])[0]
            assert torch.allclose(batched[j, :len(w)], alone, atol=1e-5), j


@pytest.mark.parametrize('merge', ['sum', 'max'])
def test_winner_takes_all_loss_equals_best_of_k_loss_and_its_gradient(merge):
    """The trainer's loss (decoder backward on each agent's best mode only) is the variety loss on all K
    modes: same value, same gradient on every parameter."""
    torch.manual_seed(0)
    a = SMEMO(SMEMOConfig(write_merge=merge))
    b = SMEMO(SMEMOConfig(write_merge=merge))
    b.load_state_dict(a.state_dict())
    x = scene(b=3, a=4, t=20, seed=5)
    mask = torch.tensor([[True] * 4, [True, True, False, False], [True, True, True, False]])
    la = best_of_k_loss(a(x[:, :, :8], mask), x[:, :, 8:], mask)
    lb = winner_takes_all_loss(b, x[:, :, :8], x[:, :, 8:], mask)
    la.backward()
    lb.backward()
    assert lb.item() == pytest.approx(la.item(), rel=1e-6)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert pb.grad is not None and pa.grad is not None, name
        assert torch.allclose(pa.grad, pb.grad, rtol=1e-4, atol=1e-7), name
        if name.startswith(('D_T', 'memory.controller', 'memory.read_heads')):
            assert float(pb.grad.abs().sum()) > 0, name   # the decoder and the memory do get a gradient


def test_trainer_runs_resumes_and_writes_the_model(shared_data, tmp_path):
    from uavcine.train import smemo_train
    args = ['--split', 'hotel', '--data', str(shared_data / 'eth_ucy'), '--out', str(tmp_path), '--epochs', '1',
            '--max-train-scenes', '8', '--max-val-scenes', '4', '--max-agents', '16']
    assert smemo_train.main(args) == 0
    ck = torch.load(tmp_path / 'smemo_hotel.pt', weights_only=False)
    assert len(ck['curve']) == 1 and ck['curve'][0]['windows_seen'] == 8
    assert (tmp_path / 'curve.png').is_file()
    # resumed with one more epoch: goes on from the checkpoint (epoch 1 -> 2), the curve grows
    assert smemo_train.main(args[:-8] + ['--epochs', '2'] + args[-6:] + ['--resume']) == 0
    ck = torch.load(tmp_path / 'last.pt', weights_only=False)
    assert ck['epoch'] == 2 and len(ck['curve']) == 2 and ck['curve'][1]['windows_seen'] == 16
    assert smemo_train.main(['--split', 'univ', '--data', str(shared_data / 'eth_ucy'), '--out', str(tmp_path)]) == 2


def test_trainer_init_starts_from_a_model_file_and_refuses_bad_ones(shared_data, repo, tmp_path, capsys):
    from uavcine.core.forecasting.smemo import from_checkpoint
    from uavcine.train import eth_ucy, smemo_train
    shipped = repo / 'models' / 'smemo_hotel.pt'
    if not shipped.is_file():
        pytest.skip('no shipped SMEMO weights at %s' % shipped)
    data = str(shared_data / 'eth_ucy')
    tiny = ['--split', 'hotel', '--data', data, '--epochs', '1', '--max-train-scenes', '8', '--max-val-scenes', '4',
            '--max-agents', '16']
    # --lr 0: the weights cannot move, so the init file stays the best and is what the run writes
    assert smemo_train.main(tiny + ['--out', str(tmp_path / 'a'), '--init', str(shipped), '--lr', '0']) == 0
    ck = torch.load(tmp_path / 'a' / 'smemo_hotel.pt', weights_only=False)
    init = torch.load(shipped, weights_only=False)
    val = eth_ucy.load(shared_data / 'eth_ucy', 'hotel', 'val')
    val = [val[i] for i in sorted(np.random.default_rng(1234).permutation(len(val))[:4])]   # the trainer's subset
    own = smemo_train.validate(from_checkpoint(init), val, 32, 'cpu')['ade']
    assert ck['curve'][0]['minutes'] == 0 and ck['curve'][0]['init'] == str(shipped)
    assert ck['init']['val_ade'] == pytest.approx(own, abs=1e-6) == ck['curve'][0]['val_ade']
    assert ck['best']['init'] and len(ck['curve']) == 2
    for k, v in init['model'].items():
        if k != 'mode_prior':
            assert torch.equal(ck['model'][k], v), k
    # a run that trains: its best is the init unless a later val ADE is lower
    assert smemo_train.main(tiny + ['--out', str(tmp_path / 'c'), '--init', str(shipped), '--lr', '1e-3']) == 0
    ck = torch.load(tmp_path / 'c' / 'smemo_hotel.pt', weights_only=False)
    assert ck['best']['val_ade'] == min(c['val_ade'] for c in ck['curve'])
    assert bool(ck['best'].get('init')) == (ck['curve'][1]['val_ade'] >= ck['curve'][0]['val_ade'])
    # refused in one line with status 2: missing, unreadable, another split's model, another config
    bad = dict(init, config=dict(init['config'], write_merge='max'))
    torch.save(bad, tmp_path / 'bad_config.pt')
    (tmp_path / 'junk.pt').write_text('not a model')
    capsys.readouterr()
    for path, why in ((tmp_path / 'none.pt', 'no such file'), (tmp_path / 'junk.pt', 'unreadable'),
                      (repo / 'models' / 'smemo_eth.pt', "a model of split 'eth'"),
                      (tmp_path / 'bad_config.pt', 'config differs from the trainer\'s in write_merge')):
        assert smemo_train.main(tiny + ['--out', str(tmp_path / 'd'), '--init', str(path)]) == 2
        err = capsys.readouterr().err
        assert why in err and err.count('\n') == 1, err
    with pytest.raises(SystemExit) as e:
        smemo_train.main(tiny + ['--out', str(tmp_path / 'a'), '--init', str(shipped), '--resume'])
    assert e.value.code == 2


def test_best_of_k_loss_trains_the_best_mode_only():
    pred = torch.zeros(1, 1, 3, 12, 2, requires_grad=True)
    fut = torch.zeros(1, 1, 12, 2)
    with torch.no_grad():
        pred[0, 0, 1] += 2.0
        pred[0, 0, 2] += 0.5
    loss = best_of_k_loss(pred, fut, torch.ones(1, 1))
    loss.backward()
    assert loss.item() == pytest.approx(0.0)
    assert float(pred.grad[0, 0, 1:].abs().sum()) == 0.0


def test_constant_velocity_peers():
    past = np.stack([np.arange(8.0), np.zeros(8)], -1)[None]       # 1 m/step along x
    cv = constant_velocity(past, 12)
    assert cv.shape == (1, 1, 12, 2)
    assert np.allclose(cv[0, 0, :, 0], 7 + np.arange(1, 13)) and np.allclose(cv[0, 0, :, 1], 0)
    s = sampled_constant_velocity(past, 12, 20, 0.3, 0.2, np.random.default_rng(0))
    assert s.shape == (1, 20, 12, 2) and np.allclose(s[0, 0], cv[0, 0])
    assert s[0, 1:, -1].std(0).min() > 0.1
    # a least-squares velocity over noisy positions: unbiased on a line, steadier than the last displacement
    rng = np.random.default_rng(1)
    noisy = past + rng.normal(0, 0.3, (200, 8, 2))
    fit = constant_velocity(noisy, 12, fit_points=8)[:, 0, -1]
    last = constant_velocity(noisy, 12)[:, 0, -1]
    assert np.allclose(constant_velocity(past, 12, fit_points=8), cv)
    assert np.linalg.norm(fit - [19, 0], axis=1).mean() < 0.5 * np.linalg.norm(last - [19, 0], axis=1).mean()


def test_eth_ucy_windows_keep_agents_present_in_all_frames():
    from uavcine.train.eth_ucy import windows
    rows = []
    for f in range(25):
        rows.append((f * 10, 1, f * 0.5, 0.0))        # always there
        if f < 22:
            rows.append((f * 10, 2, 0.0, f * 0.5))    # leaves after frame 21
        if 3 <= f:
            rows.append((f * 10, 3, 1.0, f * 0.2))    # arrives at frame 3
    sc = windows(np.array(rows), seq_len=20, min_agents=2)
    # starts 0..5; agent 2 is in all frames of starts 0..2, agent 3 of starts 3..5: always 2 agents
    assert len(sc) == 6 and all(s.shape == (2, 20, 2) for s in sc)
    assert windows(np.array(rows), seq_len=20, min_agents=3) == []


def test_shipped_weights_beat_constant_velocity_on_real_zara1(shared_data, repo):
    from uavcine.eval.forecast_eval import best_of_k, load_smemo, smemo_forecaster
    from uavcine.train import eth_ucy
    path = repo / 'models' / 'smemo_zara1.pt'
    if not path.is_file():
        pytest.skip('no shipped SMEMO weights at %s' % path)
    test = eth_ucy.load(shared_data / 'eth_ucy', 'zara1', 'test')[::40]
    model, ckpt = load_smemo(path)
    f = smemo_forecaster(model)
    ade_s = np.concatenate([best_of_k(f(s[:, :8]), s[:, 8:])[0] for s in test]).mean()
    ade_cv = np.concatenate([best_of_k(constant_velocity(s[:, :8], 12), s[:, 8:])[0] for s in test]).mean()
    # The shipped weights (round 3: about 8 + 17 passes over the training windows, model card) beat plain constant
    # velocity on ZARA1 (0.197 vs 0.431 m ADE on the whole test split) and the sampled best-of-20 one (0.273).
    assert ade_s < ade_cv
    assert abs(float(model.mode_prior.sum()) - 1.0) < 1e-3
