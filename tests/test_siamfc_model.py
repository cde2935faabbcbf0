"""SiamFC network: official checkpoint layout, crops, batched scales, ONNX Runtime parity."""

import numpy as np
import pytest
import torch

from uavcine.core import siamfc as S
from conftest import SHARED

REF = SHARED / 'reference' / 'siamfc_alexnetv1_params.txt'

torch.set_num_threads(1)


def reference_layout():
    if not REF.is_file():
        pytest.skip('reference layout not found at %s' % REF)
    out = {}
    for line in REF.read_text().splitlines():
        parts = line.split('\t')
        if len(parts) == 3 and parts[0].startswith('backbone.'):
            shape = tuple(int(v) for v in parts[1].strip('()').split(',') if v.strip())
            out[parts[0]] = (shape, parts[2])
    assert out, 'no entries parsed from %s' % REF
    return out


def test_names_and_shapes_match_official_layout():
    ref = reference_layout()
    ours = S.official_state_dict_shapes(1.0)
    assert list(ours) == list(ref)
    for k, (shape, _) in ref.items():
        assert ours[k] == shape, k


def test_random_official_state_dict_loads_strict(tmp_path):
    ref = reference_layout()
    g = torch.Generator().manual_seed(0)
    sd = {}
    for k, (shape, dtype) in ref.items():
        if dtype == 'torch.int64':
            sd[k] = torch.tensor(7, dtype=torch.int64)
        elif k.endswith('running_var'):
            sd[k] = torch.rand(shape, generator=g) + 0.5
        else:
            sd[k] = torch.randn(shape, generator=g) * 0.01
    path = tmp_path / 'siamfc_alexnet_e50.pth'
    torch.save(sd, path)  # a plain state dict, as the public file
    net = S.load_official_checkpoint(str(path))
    got = net.state_dict()
    for k, v in sd.items():
        assert torch.equal(got[k], v), k
    # DataParallel prefixes and our own checkpoint format load too
    net2 = S.load_official_checkpoint({'module.' + k: v for k, v in sd.items()})
    assert torch.equal(net2.state_dict()['backbone.conv5.0.weight'], sd['backbone.conv5.0.weight'])
    net3, cfg, _ = S.load_checkpoint(str(path))
    assert cfg.width == 1.0 and torch.equal(net3.state_dict()['backbone.conv1.0.bias'], sd['backbone.conv1.0.bias'])


def test_bad_checkpoints_give_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match='not found'):
        S.load_checkpoint(str(tmp_path / 'nope.pt'))
    bad = tmp_path / 'bad.pt'
    bad.write_bytes(b'not a checkpoint')
    with pytest.raises(ValueError, match='cannot read'):
        S.load_checkpoint(str(bad))
    slim = S.SiamFCNet(0.5).state_dict()
    with pytest.raises(ValueError, match='shape mismatch'):
        S.load_official_checkpoint(slim)


def test_response_size_matches_reference():
    net = S.SiamFCNet(0.25).eval()
    with torch.no_grad():
        z = net.backbone(torch.zeros(1, 3, 127, 127))
        x = net.backbone(torch.zeros(3, 3, 255, 255))
        r = S.xcorr(z, x)
    assert tuple(z.shape[-2:]) == (6, 6) and tuple(x.shape[-2:]) == (22, 22)
    assert tuple(r.shape) == (3, 1, 17, 17)


def test_paired_xcorr_equals_loop():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(4, 8, 6, 6, generator=g)
    x = torch.randn(4, 8, 22, 22, generator=g)
    out = S.xcorr(z, x)
    for i in range(4):
        ref = torch.nn.functional.conv2d(x[i:i + 1], z[i:i + 1])
        assert torch.allclose(out[i:i + 1], ref, atol=1e-4)


def test_fused_backbone_equals_batchnorm_backbone():
    net = S.SiamFCNet(0.25)
    S.init_weights(net)
    for m in net.modules():  # non-trivial running statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
    net.eval()
    x = torch.rand(2, 3, 127, 127) * 255
    with torch.no_grad():
        a = net.backbone(x)
        b = S.fuse_backbone(net.backbone)(x)
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-3 * float(a.abs().max()))


def test_crop_is_exact_at_unit_scale_and_pads_with_mean():
    img = np.arange(60 * 80 * 3, dtype=np.uint32).reshape(60, 80, 3) % 251
    img = img.astype(np.uint8)
    crop = S.crop_and_resize(img, (50.0, 40.0), 20, 20, (0, 0, 0))
    assert np.array_equal(crop, img[30:50, 40:60])
    # centred outside the top-left corner: the outside part is the border colour
    crop = S.crop_and_resize(img, (0.0, 0.0), 20, 20, (7, 8, 9))
    assert np.array_equal(crop[:10, :10], np.broadcast_to(np.array([7, 8, 9], np.uint8), (10, 10, 3)))
    assert np.array_equal(crop[10:, 10:], img[:10, :10])


def test_exemplar_context():
    # p = 0.5 (w + h); side = sqrt((w + p)(h + p))
    assert S.exemplar_size((40, 20), 0.5) == pytest.approx(np.sqrt(70 * 50))


def test_onnxruntime_matches_torch():
    pytest.importorskip('onnxruntime')
    net = S.SiamFCNet(0.25)
    S.init_weights(net)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    a = S.SiamFCTracker(net, S.SiamFCConfig(width=0.25), backend='torch')
    b = S.SiamFCTracker(net, S.SiamFCConfig(width=0.25), backend='onnxruntime', num_threads=1)
    a.init(img, (60, 50, 20, 16))
    b.init(img, (60, 50, 20, 16))
    crops = np.stack([S.crop_and_resize(img, (70, 58), 80 * f, 255, a.avg_color) for f in a.scale_factors])
    ra, rb = a.responses(crops), b.responses(crops)
    assert np.allclose(ra, rb, rtol=1e-3, atol=1e-3 * np.abs(ra).max())
    # the exemplar branch runs on onnxruntime too (kernel, appearance features): the same features
    ka, kb = a.kernel.numpy(), b.kernel.numpy()
    assert ka.shape == kb.shape and np.allclose(ka, kb, rtol=1e-3, atol=1e-3 * np.abs(ka).max())
    a.exemplar_pass = b.exemplar_pass = True  # the exemplar-branch appearance (appz_*) on both backends
    qa, qb = a.update(img), b.update(img)
    assert np.allclose(qa.box, qb.box, atol=1e-3) and abs(qa.stats['app_init'] - qb.stats['app_init']) < 1e-3
    for k in S.QUALITY_FEATURES + S.APPZ_STATS:
        assert abs(qa.stats[k] - qb.stats[k]) < 1e-3 * max(1.0, abs(qa.stats[k])), k


def test_checkpoint_round_trip_fp16():
    net = S.SiamFCNet(0.25)
    S.init_weights(net)
    cfg = S.SiamFCConfig(width=0.25, context=0.4)
    ckpt = S.save_checkpoint(net, cfg, S.QualityHead([0.1] + list(range(1, len(S.QUALITY_FEATURES) + 1))), {'note': 'test'})
    assert ckpt['state_dict']['backbone.conv1.0.weight'].dtype == torch.float16
    net2, cfg2, q2 = S.load_checkpoint(ckpt)
    assert cfg2 == cfg and q2.coef == [0.1] + list(range(1, len(S.QUALITY_FEATURES) + 1))
    old = dict(ckpt, config=dict(ckpt['config'], weak_quality=0.3, lost_frames=15, hold_when_weak=True))
    assert S.load_checkpoint(old)[1] == cfg  # checkpoints from before the manager owned the gating still load
    w = net.state_dict()['backbone.conv1.0.weight']
    assert net2.state_dict()['backbone.conv1.0.weight'].dtype == torch.float32
    assert torch.allclose(net2.state_dict()['backbone.conv1.0.weight'], w, atol=1e-3)
