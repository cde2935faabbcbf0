"""FLODCAST: shapes, the BerHu loss against hand values, min-max normalisation, skip, ONNX export, the weights."""
from pathlib import Path

import numpy as np
import pytest
import torch

from uavcine.core.forecasting.flodcast import (FLODCAST, FlodcastConfig, MinMax, TupleOutputs, base_forecast, berhu,
                                               checkpoint, count_parameters, flodcast_loss, from_checkpoint,
                                               make_input, to_metric)
from uavcine.runtime.onnx_export import export_onnx

REPO = Path(__file__).resolve().parents[1]


def test_shapes_any_size_and_k_futures_at_once():
    torch.manual_seed(0)
    m = FLODCAST(FlodcastConfig(width=0.125)).eval()
    for h, w in ((60, 80), (37, 50)):   # odd sizes: the UNet's pooling and upsampling keep every pixel
        with torch.no_grad():
            out = m(torch.rand(2, 3, 3, h, w))
        assert out['flow'].shape == (2, 3, 2, h, w) and out['depth'].shape == (2, 3, 1, h, w)
        assert float(out['flow'].abs().max()) <= 1.0                                   # tanh
        assert 0.0 <= float(out['depth'].min()) and float(out['depth'].max()) <= 1.0   # sigmoid
    # single-modality ablations: one input modality, one head
    assert FLODCAST(FlodcastConfig(width=0.125, modalities=('depth',)))(torch.rand(1, 3, 1, 16, 16)).keys() == {'depth'}
    assert FLODCAST(FlodcastConfig(width=0.125, modalities=('flow',)))(torch.rand(1, 3, 2, 16, 16)).keys() == {'flow'}
    with pytest.raises(ValueError):
        FlodcastConfig(modalities=('rgb',))


def test_paper_widths_are_the_default_preset():
    cfg = FlodcastConfig()
    assert cfg.widths == (64, 128, 256, 512, 1024) and cfg.past == 3 and cfg.future == 3
    assert FlodcastConfig(width=0.125).widths == (8, 16, 32, 64, 128)
    m = FLODCAST(FlodcastConfig(width=0.125))
    assert [l.out_channels for l in m.heads['flow'].body if isinstance(l, torch.nn.Conv2d)] == [32, 16, 8]
    assert m.heads['flow'].out.out_channels == 6 and m.heads['depth'].out.out_channels == 3
    # every past step goes through the same UNet: parameters do not grow with T
    assert count_parameters(FLODCAST(FlodcastConfig(width=0.125, past=5))) == count_parameters(m)


def test_recurrence_uses_every_past_step():
    torch.manual_seed(1)
    m = FLODCAST(FlodcastConfig(width=0.125)).eval()
    x = torch.rand(1, 3, 3, 24, 32)
    x0 = x.clone()
    x0[:, 0] += 0.3          # change only the oldest step
    with torch.no_grad():
        assert not torch.allclose(m(x)['depth'], m(x0)['depth'])


def test_berhu_hand_values():
    # residuals 0.1, -0.5, 1.0: c = 0.2 * 1.0 = 0.2; |0.1| <= c -> 0.1; 0.5 -> (0.25 + 0.04) / 0.4 = 0.725;
    # 1.0 -> (1 + 0.04) / 0.4 = 2.6; mean = (0.1 + 0.725 + 2.6) / 3
    r = torch.tensor([0.1, -0.5, 1.0])
    assert float(berhu(r)) == pytest.approx((0.1 + 0.725 + 2.6) / 3, rel=1e-6)
    # L1 below c, continuous at c: x = c gives c from both sides
    r = torch.tensor([0.2, 1.0])
    assert float(berhu(r)) == pytest.approx((0.2 + 2.6) / 2, rel=1e-6)
    assert float(berhu(torch.zeros(4))) == 0.0


def test_loss_has_one_threshold_per_modality():
    cfg = FlodcastConfig(alpha=2.0, beta=0.5)
    pred = {'flow': torch.zeros(1, 3, 2, 2, 2), 'depth': torch.zeros(1, 3, 1, 2, 2)}
    tgt = {'flow': torch.full((1, 3, 2, 2, 2), 0.1), 'depth': torch.zeros(1, 3, 1, 2, 2)}
    tgt['depth'][0, 0, 0, 0, 0] = 1.0
    loss, parts = flodcast_loss(pred, tgt, cfg)
    # flow: every residual is the max 0.1, above c = 0.02 -> (0.01 + 0.0004) / 0.04 = 0.26
    assert float(parts['flow']) == pytest.approx(0.26, rel=1e-5)
    # depth: one residual 1.0 (c = 0.2) -> 2.6 over 12 values, the rest 0
    assert float(parts['depth']) == pytest.approx(2.6 / 12, rel=1e-5)
    assert float(loss) == pytest.approx(2.0 * 0.26 + 0.5 * 2.6 / 12, rel=1e-5)


def test_minmax_normalisation_round_trip_and_ranges():
    rng = np.random.default_rng(0)
    depth = rng.uniform(5, 250, (4, 6, 8)).astype(np.float32)
    flow = rng.normal(0, 3, (4, 6, 8, 2)).astype(np.float32)
    norm = MinMax.fit(depth, flow)
    x = make_input(depth[None], flow[None], norm, ('flow', 'depth'))       # (1, 4, 3, 6, 8)
    assert x.shape == (1, 4, 3, 6, 8)
    assert x[:, :, 2].min() == pytest.approx(0.0, abs=1e-6) and x[:, :, 2].max() == pytest.approx(1.0, abs=1e-6)
    assert x[:, :, :2].min() == pytest.approx(-1.0, abs=1e-6) and x[:, :, :2].max() == pytest.approx(1.0, abs=1e-6)
    back = to_metric({'flow': x[:, :, :2], 'depth': x[:, :, 2:]}, norm)
    assert np.allclose(back['depth'][0], depth, atol=1e-3) and np.allclose(back['flow'][0], flow, atol=1e-4)
    # values outside the training range are clipped into the model's range
    far = make_input(np.full((1, 6, 8), 1e4, np.float32), np.full((1, 6, 8, 2), 1e4, np.float32), norm,
                     ('flow', 'depth'))
    assert far.max() == 1.0


def test_skip_adds_scaled_corrections_to_the_base_forecast_and_checkpoint_round_trip(tmp_path):
    m = FLODCAST(FlodcastConfig(width=0.125, skip="last", depth_step_scale=(0.01, 0.02, 0.03))).eval()
    for head in m.heads.values():    # a head of zeros: the forecast is copy-last
        torch.nn.init.zeros_(head.out.weight)
        torch.nn.init.zeros_(head.out.bias)
    x = torch.rand(2, 3, 3, 20, 24) * 2 - 1
    x[:, :, 2] = x[:, :, 2].abs()
    with torch.no_grad():
        out = m(x)
    for k in range(3):
        assert torch.allclose(out['flow'][:, k], x[:, -1, :2]) and torch.allclose(out['depth'][:, k], x[:, -1, 2:])
    torch.nn.init.constant_(m.heads['depth'].out.bias, 1.0)   # a head of ones: k * 0.01 more
    with torch.no_grad():
        up = m(x)['depth'] - x[:, -1:, 2:]
    inside = (x[:, -1:, 2:] < 0.9).expand_as(up)   # away from the clamp at 1
    for k in range(3):
        assert torch.allclose(up[:, k][inside[:, k]], torch.tensor(0.01 * (k + 1)), atol=1e-6)
    norm = MinMax((1.0, 200.0), (-10.0, 12.0), (-8.0, 9.0))
    torch.save(checkpoint(m, norm, name='both'), tmp_path / 'f.pt')
    m2, n2 = from_checkpoint(torch.load(tmp_path / 'f.pt', weights_only=False))
    assert n2 == norm and m2.cfg == m.cfg
    with torch.no_grad():
        assert torch.allclose(m2(x)['depth'], m(x)['depth'], atol=1e-3)


def test_onnx_export_parity_and_tensorrt_ops(tmp_path):
    ort = pytest.importorskip('onnxruntime')
    torch.manual_seed(2)
    m = FLODCAST(FlodcastConfig(width=0.125)).eval()
    x = torch.rand(1, 3, 3, 60, 80)
    ops = export_onnx(TupleOutputs(m), [x], str(tmp_path / 'f.onnx'), ['past'], ['flow', 'depth'])
    assert 'Resize' in ops and 'GridSample' not in ops
    sess = ort.InferenceSession(str(tmp_path / 'f.onnx'), providers=['CPUExecutionProvider'])
    flow, depth = sess.run(None, {'past': x.numpy()})
    with torch.no_grad():
        ref = m(x)
    assert np.abs(flow - ref['flow'].numpy()).max() < 1e-3 and np.abs(depth - ref['depth'].numpy()).max() < 1e-3


def test_linear_base_extrapolates_the_last_two_frames():
    past = torch.stack([torch.full((1, 2, 2), v) for v in (0.1, 0.2, 0.25)])[None]   # (1, T=3, 1, 2, 2)
    lin = base_forecast(past, 3, 'linear')
    assert torch.allclose(lin[0, :, 0, 0, 0], torch.tensor([0.3, 0.35, 0.4]))
    assert torch.allclose(base_forecast(past, 3, 'last')[0, :, 0, 0, 0], torch.tensor([0.25] * 3))
    with pytest.raises(ValueError):
        FlodcastConfig(skip='cubic')


def test_blend_mixes_copy_last_and_linear_by_a_predicted_gate():
    past = torch.stack([torch.full((1, 2, 2), v) for v in (0.1, 0.2, 0.25)])[None]
    assert torch.allclose(base_forecast(past, 3, 'blend')[0, :, 0, 0, 0], torch.tensor([0.275, 0.3, 0.325]))
    gate = torch.ones(1, 3, 1, 2, 2)
    assert torch.allclose(base_forecast(past, 3, 'blend', gate), base_forecast(past, 3, 'last'))
    m = FLODCAST(FlodcastConfig(width=0.125, skip='blend')).eval()
    assert m.heads['depth'].out.out_channels == 3 + 3 and m.heads['flow'].out.out_channels == 6 + 3
    for head in m.heads.values():      # zero corrections, gates of sigmoid(+20) = 1: copy-last
        torch.nn.init.zeros_(head.out.weight)
        torch.nn.init.constant_(head.out.bias, 20.0)
        head.out.bias.data[:-3] = 0.0
    x = torch.rand(1, 3, 3, 16, 16) * 0.5
    with torch.no_grad():
        out = m(x)
    assert torch.allclose(out['depth'], x[:, -1:, 2:].expand(-1, 3, -1, -1, -1), atol=1e-6)
    assert torch.allclose(out['flow'], x[:, -1:, :2].expand(-1, 3, -1, -1, -1), atol=1e-6)


@pytest.mark.parametrize('name,modalities', [('both', ('flow', 'depth')), ('flow', ('flow',)), ('depth', ('depth',))])
def test_shipped_models_are_small_load_and_match_their_onnx(name, modalities):
    ort = pytest.importorskip('onnxruntime')
    pt = REPO / 'models' / ('flodcast_%s.pt' % name)
    assert pt.stat().st_size < 9e6 and pt.with_suffix('.onnx').stat().st_size < 9e6
    m, norm = from_checkpoint(torch.load(pt, weights_only=False))
    assert m.cfg.modalities == modalities and m.cfg.skip == 'blend' and (m.cfg.height, m.cfg.width_px) == (60, 80)
    assert norm.depth[1] == pytest.approx(300.0) and norm.flow_u == (-40.0, 40.0)
    x = torch.rand(1, 3, m.cfg.in_channels, 60, 80)
    sess = ort.InferenceSession(str(pt.with_suffix('.onnx')), providers=['CPUExecutionProvider'])
    got = sess.run(None, {'past': x.numpy()})
    with torch.no_grad():
        ref = m(x)
    for mod, y in zip(modalities, got):
        assert np.abs(y - ref[mod].numpy()).max() < 1e-3
