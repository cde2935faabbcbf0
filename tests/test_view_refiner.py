"""Novel-view synthesis, stage 3: the residual decoder (core/views/refiner.py): its shapes and blend, files
without it generating as before, synthesis = eval = ONNX with it, its training stage, and the service."""
import numpy as np
import pytest
import torch

from uavcine.core.shot_geometry import ShotPlan, plan_shot
from uavcine.core.views.refiner import Refiner, RefinerConfig
from uavcine.core.views.synthesis import from_checkpoint, load_refiner, refine, synthesize

from test_view_synthesis import K64, serve, tiny_checkpoint


def with_refiner(path, out):
    """``path``'s checkpoint plus a random (but not neutral) refiner, written to ``out``."""
    torch.manual_seed(1)
    ref = Refiner(RefinerConfig(width=4, cam_hidden=8))
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0.0, 0.2)
    ck = torch.load(path, weights_only=False)
    ck['refiner_cfg'] = vars(ref.cfg).copy()
    ck['refiner'] = {k: v.half() for k, v in ref.state_dict().items()}
    torch.save(ck, out)
    return out


@pytest.fixture(scope='module')
def paths(tmp_path_factory):
    d = tmp_path_factory.mktemp('nvs_ref')
    base = tiny_checkpoint(d / 'tiny_prior.pt', copy_prior=True)
    return base, with_refiner(base, d / 'tiny_ref.pt')


def shot(seed=3):
    src = np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    poses, _ = plan_shot(ShotPlan(type='FLYBY', distance_m=20.0), [0, 0, 0], [0.5, 0, 0], [0, 2, 4, 6])
    return src, poses


def test_the_refiner_maps_three_images_and_a_camera_to_a_view_and_starts_as_a_blend():
    ref = Refiner().eval()
    assert sum(p.numel() for p in ref.parameters()) < 300_000          # "a few hundred k parameters at most"
    src, rec, dec = torch.rand(3, 2, 3, 48, 64) * 2 - 1
    cam = torch.randn(2, 16)
    out = ref(src, rec, dec, cam)
    assert out.shape == (2, 3, 48, 64) and out.abs().max() <= 1
    m = torch.sigmoid(torch.tensor(RefinerConfig().mask_init))     # it starts near copying the source
    with torch.no_grad():
        ref.out.weight.zero_()        # no residual: the blend of source and decoded view by the initial mask
    torch.testing.assert_close(ref(src, rec, dec, cam), m * src + (1 - m) * dec)
    with torch.no_grad():
        ref.out.bias[0] = 30.0       # mask 1: the source, whatever the decoded view
    torch.testing.assert_close(ref(src, rec, dec, cam), src, atol=1e-6, rtol=0)


def test_files_without_a_refiner_load_none_and_generate_as_before(paths):
    base, refined = paths
    ck = torch.load(base, weights_only=False)
    assert load_refiner(ck) is None
    vq, gpt, ref = from_checkpoint(ck, with_refiner=True)
    assert ref is None
    src, poses = shot()
    plain = synthesize(vq, gpt, src, poses, K64)
    np.testing.assert_array_equal(plain, synthesize(vq, gpt, src, poses, K64, refiner=None))
    # the file with a refiner has the same stages 1-2: token-only generation is the base's, bit for bit
    vq2, gpt2, ref2 = from_checkpoint(torch.load(refined, weights_only=False), with_refiner=True)
    assert ref2 is not None
    np.testing.assert_array_equal(plain, synthesize(vq2, gpt2, src, poses, K64))
    got = synthesize(vq2, gpt2, src, poses, K64, refiner=ref2)
    assert got.shape == plain.shape and not np.array_equal(got, plain)
    # synthesize with a refiner = refine() on the token-only views (what eval-nvs and the training stage do)
    np.testing.assert_array_equal(got, refine(vq2, ref2, src[None], plain[None], poses[None], K64)[0])


def test_onnx_exports_the_refiner_with_tensorrt_ops_and_matches_torch(paths, tmp_path):
    pytest.importorskip('onnxruntime')
    pytest.importorskip('onnx')
    from uavcine.runtime.nvs_onnx import REFINER_FILE, NvsOnnx, export
    base, refined = paths
    vq, gpt, ref = from_checkpoint(torch.load(refined, weights_only=False), with_refiner=True)
    ops = export(vq, gpt, str(tmp_path), refiner=ref)     # raises on an operator TensorRT 8.5 cannot import
    assert 'Conv' in ops[REFINER_FILE] and 'Sigmoid' in ops[REFINER_FILE]
    src, poses = shot(5)
    want = synthesize(vq, gpt, src, poses, K64, refiner=ref)
    m = NvsOnnx(str(tmp_path))
    assert m.refiner is not None
    got = m.synthesize(src, poses, K64)
    assert got.shape == want.shape
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 2
    assert np.abs(got.astype(int) - want.astype(int)).mean() < 0.05
    # exporting a model without one removes a stale refiner graph: the onnx path is then token-only
    export(vq, gpt, str(tmp_path))
    assert not (tmp_path / REFINER_FILE).exists() and NvsOnnx(str(tmp_path)).refiner is None


def test_the_service_runs_a_file_with_a_refiner(paths):
    base, refined = paths
    res, node = serve(refined, n=3)
    assert res.success, res.message
    assert len(res.images) == 3 and node.model()[2] is not None
    res0, node0 = serve(base, n=3)
    assert res0.success and node0.model()[2] is None
    a = np.frombuffer(bytes(res.images[0].data), np.uint8)
    b = np.frombuffer(bytes(res0.images[0].data), np.uint8)
    assert a.shape == b.shape and not np.array_equal(a, b)


def test_the_refine_stage_trains_resumes_and_packs(paths, tmp_path):
    from uavcine.train import nvs_train
    base, _ = paths
    rng = np.random.default_rng(6)
    poses = np.stack([plan_shot(ShotPlan(type='ORBIT', distance_m=20.0), [0, 0, 0], [0, 0, 0],
                                [0, g, 2 * g, 3 * g, 4 * g, 5 * g])[0] for g in (1, 10, 1, 10)])
    for name in ('tr', 'dv'):
        np.savez(tmp_path / (name + '.npz'), images=rng.integers(0, 255, (4, 6, 48, 64, 3), dtype=np.uint8),
                 poses=poses, gap=np.array([1, 10, 1, 10]), K=K64)
    args = ['--stage', 'refine', '--base', str(base), '--train', str(tmp_path / 'tr.npz'), '--dev',
            str(tmp_path / 'dv.npz'), '--out', str(tmp_path / 'run'), '--cache', str(tmp_path / 'cache'),
            '--inputs', 'tf,sample,greedy', '--greedy-episodes', '2', '--max-minutes', '0.02', '--batch', '6',
            '--refiner-width', '4']
    assert nvs_train.main(args) == 0
    s = torch.load(tmp_path / 'run' / 'refine.pt', weights_only=False)['state']
    assert s['step'] >= 1 and s['curve'] and len(list((tmp_path / 'cache').glob('*.npz'))) == 4
    assert nvs_train.main(args[:-4] + ['--max-minutes', '0.04', '--batch', '6', '--refiner-width', '4',
                                       '--resume']) == 0
    assert torch.load(tmp_path / 'run' / 'refine.pt', weights_only=False)['state']['step'] > s['step']
    assert nvs_train.main(['--stage', 'refine', '--base', str(base), '--inputs', 'magic', '--train',
                           str(tmp_path / 'tr.npz'), '--dev', str(tmp_path / 'dv.npz')]) == 2
    out = tmp_path / 'packed.pt'
    assert nvs_train.main(['--stage', 'pack-refine', '--base', str(base), '--out', str(tmp_path / 'run'),
                           '--model', str(out)]) == 0
    ck = torch.load(out, weights_only=False)
    assert ck['refiner_cfg']['width'] == 4 and ck['curves']['refiner'] and load_refiner(ck) is not None
    assert all(v.dtype == torch.float16 for v in ck['refiner'].values())
