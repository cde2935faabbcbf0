"""The small backbone at stride 8 (issue #21, small targets): the feature grid, the same weights' shapes as
stride 16 (so the shipped weights can start it), a forward pass at the network input, a clear error."""
import pytest
import torch

from uavcine.core import detr as D

from detr_fixtures import tiny_config


def test_feature_size_at_stride_8():
    assert D.feature_size(288, 384, 'small', small_stride=8) == (36, 48)
    assert D.feature_size(288, 384, 'small', small_stride=16) == (18, 24)
    assert tiny_config(small_stride=8).feature_size == (8, 12) and tiny_config().feature_size == (4, 6)
    assert tiny_config(small_stride=8).stride == 8
    with pytest.raises(ValueError, match='small_stride must be 8 or 16'):
        D.feature_size(288, 384, 'small', small_stride=4)


@pytest.mark.parametrize('attention', ['standard', 'whitened'])
def test_stride_8_model_runs_and_shares_the_stride_16_weights(attention):
    torch.manual_seed(0)
    widen = [8, 16, 24, 32]  # every stage widens, as the shipped 32-64-128-160: each has its 1x1 projection
    m16 = D.DETR(tiny_config(encoder_attention=attention, small_channels=widen)).eval()
    m8 = D.DETR(tiny_config(encoder_attention=attention, small_channels=widen, small_stride=8)).eval()
    sd16, sd8 = m16.state_dict(), m8.state_dict()
    differ = sorted(k for k in sd16 if sd16[k].shape != sd8[k].shape)
    # only the whitened attention matrix depends on the grid (rebuilt for it); every learned tensor is shared
    assert differ == (['transformer.encoder.aux_matrix'] if attention == 'whitened' else [])
    m8.load_state_dict({k: v for k, v in sd16.items() if k not in differ}, strict=False)
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        feat8, feat16 = m8.backbone[0](x), m16.backbone[0](x)
        out = m8(x)
    assert feat8.shape[-2:] == (8, 12) and feat16.shape[-2:] == (4, 6)
    assert out['pred_logits'].shape == (1, 6, 4) and torch.isfinite(out['pred_boxes']).all()
    # the stride-8 config survives a checkpoint round trip; older configs (no small_stride) read as stride 16
    cfg = D.DETRConfig.from_dict(m8.cfg.to_dict())
    assert cfg.small_stride == 8
    old = {k: v for k, v in m16.cfg.to_dict().items() if k != 'small_stride'}
    assert D.DETRConfig.from_dict(old).small_stride == 16
