"""Novel-view synthesis, stage 3: the residual decoder (core/views/refiner.py): its shapes and blend, files
without it generating as before, synthesis = eval = ONNX with it, its training stage, and the service."""
import numpy as np
import pytest
import torch

from uavcine.core.shot_geometry import ShotPlan, plan_shot
from uavcine.core.views.plane import central_plane_z, plane_homography, plane_warp
from uavcine.core.views.refiner import Refiner, RefinerConfig
from uavcine.core.views.synthesis import from_checkpoint, load_refiner, refine, synthesize

from test_view_synthesis import K64, serve, tiny_checkpoint, write_tiny_splits


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


def test_the_refiner_maps_four_images_a_mask_and_a_camera_to_a_view_and_starts_as_a_blend():
    ref = Refiner().eval()
    assert sum(p.numel() for p in ref.parameters()) < 300_000          # "a few hundred k parameters at most"
    src, rec, dec, warped = torch.rand(4, 2, 3, 48, 64) * 2 - 1
    valid = torch.ones(2, 1, 48, 64)
    cam = torch.randn(2, 16)
    out = ref(src, rec, dec, warped, valid, cam)
    assert out.shape == (2, 3, 48, 64) and out.abs().max() <= 1
    w = torch.softmax(torch.tensor([0.0, RefinerConfig().warp_init, 0.0]), 0)   # it starts near the warp
    with torch.no_grad():
        ref.out.weight.zero_()        # no residual: the blend by the initial weights
    torch.testing.assert_close(ref(src, rec, dec, warped, valid, cam), w[0] * src + w[1] * warped + w[2] * dec)
    with torch.no_grad():
        ref.out.bias[:3] = torch.tensor([30.0, 0.0, 0.0])     # all weight on the source, whatever the others
    torch.testing.assert_close(ref(src, rec, dec, warped, valid, cam), src, atol=1e-6, rtol=0)


def test_the_plane_homography_moves_points_of_the_plane_where_the_target_camera_sees_them():
    poses, _ = plan_shot(ShotPlan(type='ORBIT', distance_m=25.0, altitude_m=15.0), [3, 4, 2.0], [0, 0, 0], [0, 9])
    K = K64
    rng = np.random.default_rng(0)
    H, n_t, d_t = plane_homography(K, poses[0], poses[1], 2.0)
    for _ in range(5):
        X = np.array([rng.uniform(-5, 10), rng.uniform(-5, 10), 2.0, 1.0])          # on the plane z = 2 m
        uv = []
        for T in poses:
            p = (np.linalg.inv(T) @ X)[:3]
            uv.append(K @ p / p[2])
        got = H @ uv[0]
        np.testing.assert_allclose(got[:2] / got[2], uv[1][:2], atol=1e-6)
        p_t = (np.linalg.inv(poses[1]) @ X)[:3]
        assert n_t @ p_t == pytest.approx(d_t)            # the plane in the target frame
    # the same camera: the warp is the source, valid where the pixel's ray points down (meets the plane below)
    src = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    w, valid = plane_warp(src, K, poses[0], poses[0], 2.0)
    np.testing.assert_array_equal(w, src)
    jj, ii = np.mgrid[0:48, 0:64]
    down = (poses[0][:3, :3] @ np.linalg.inv(K) @ np.stack([ii.ravel(), jj.ravel(), np.ones(48 * 64)]))[2] < 0
    np.testing.assert_array_equal(valid.ravel() == 1, down)
    assert 0 < valid.mean() < 1
    # a plane above the camera is seen by no pixel looking down
    assert not plane_warp(src, K, poses[0], poses[1], poses[0][2, 3] + 50.0)[1][-1].any()
    # central_plane_z: the point at a depth on the central ray; the orbit looks at (3, 4, 2 + look height)
    dist = np.linalg.norm(poses[0][:3, 3] - np.array([3, 4, 2.0 + ShotPlan().look_height_m]))
    assert central_plane_z(poses[0], K, dist) == pytest.approx(2.0 + ShotPlan().look_height_m, abs=1e-6)


def test_files_without_a_refiner_load_none_and_generate_as_before(paths):
    base, refined = paths
    ck = torch.load(base, weights_only=False)
    assert load_refiner(ck) is None
    vq, gpt, ref = from_checkpoint(ck, with_refiner=True)
    assert ref is None
    src, poses = shot()
    plain = synthesize(vq, gpt, src, poses, K64)
    np.testing.assert_array_equal(plain, synthesize(vq, gpt, src, poses, K64, refiner=None, plane_z=0.0))
    # the file with a refiner has the same stages 1-2: token-only generation is the base's, bit for bit
    vq2, gpt2, ref2 = from_checkpoint(torch.load(refined, weights_only=False), with_refiner=True)
    assert ref2 is not None
    np.testing.assert_array_equal(plain, synthesize(vq2, gpt2, src, poses, K64))
    with pytest.raises(ValueError, match='plane_z'):
        synthesize(vq2, gpt2, src, poses, K64, refiner=ref2)
    got = synthesize(vq2, gpt2, src, poses, K64, refiner=ref2, plane_z=0.0)
    assert got.shape == plain.shape and not np.array_equal(got, plain)
    # synthesize with a refiner = refine() on the token-only views (what eval-nvs and the training stage do)
    np.testing.assert_array_equal(got, refine(vq2, ref2, src[None], plain[None], poses[None], K64, [0.0])[0])
    assert not np.array_equal(got, synthesize(vq2, gpt2, src, poses, K64, refiner=ref2, plane_z=-5.0))


def test_onnx_exports_the_refiner_with_tensorrt_ops_and_matches_torch(paths, tmp_path):
    pytest.importorskip('onnxruntime')
    pytest.importorskip('onnx')
    from uavcine.runtime.nvs_onnx import REFINER_FILE, NvsOnnx, export
    base, refined = paths
    vq, gpt, ref = from_checkpoint(torch.load(refined, weights_only=False), with_refiner=True)
    ops = export(vq, gpt, str(tmp_path), refiner=ref)     # raises on an operator TensorRT 8.5 cannot import
    assert 'Conv' in ops[REFINER_FILE] and 'Softmax' in ops[REFINER_FILE]
    src, poses = shot(5)
    want = synthesize(vq, gpt, src, poses, K64, refiner=ref, plane_z=1.0)
    m = NvsOnnx(str(tmp_path))
    assert m.refiner is not None
    with pytest.raises(ValueError, match='plane_z'):
        m.synthesize(src, poses, K64)
    got = m.synthesize(src, poses, K64, plane_z=1.0)
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
    write_tiny_splits(tmp_path, seed=6)
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


def test_the_gap_study_of_a_refined_model_ablates_the_plane_and_the_transformer(paths, tmp_path):
    """eval-nvs on a file with a refiner adds the plane warp alone and the refiner fed the source's tokens (what the
    transformer adds is the model minus that row), and tables them."""
    from uavcine.core.views.synthesis import plane_warps, to_images, to_tensor
    from uavcine.eval.nvs_gap import evaluate, summarize, table
    from uavcine.train.nvs_refine import episode_plane_z
    _, refined = paths
    rng = np.random.default_rng(5)
    poses = np.stack([plan_shot(ShotPlan(type='FLYBY', distance_m=20.0), [0, 0, 0], [0, 0, 0],
                                [0, g, 2 * g, 3 * g, 4 * g, 5 * g])[0] for g in (1, 5)])
    d = dict(images=rng.integers(0, 255, (2, 6, 48, 64, 3), dtype=np.uint8),
             depth=np.full((2, 6, 48, 64), 30.0, np.float32), poses=poses, seed=np.array([1, 1]), shot=np.array([1, 1]),
             gap=np.array([1, 5]), K=K64)
    ck = torch.load(refined, weights_only=False)
    preds, psnr, ssim, holes, _ = evaluate(ck, d)
    pz = episode_plane_z(d, 2)
    np.testing.assert_array_equal(preds['plane_warp'], plane_warps(d['images'][:, 0], poses, K64, pz)[0])
    vq, _, ref = from_checkpoint(ck, with_refiner=True)
    with torch.no_grad():
        rec = to_images(vq.decode(vq.encode(to_tensor(d['images'][:, 0]))))
    want = refine(vq, ref, d['images'][:, 0], np.repeat(rec[:, None], 5, axis=1), poses, K64, pz)
    np.testing.assert_array_equal(preds['refined_source_tokens'], want)
    assert not np.array_equal(preds['refined_source_tokens'], preds['model'])     # the tokens do reach the refiner
    md = table(summarize(d, psnr, ssim, holes))
    assert 'refiner without the transformer' in md and md.count('\n| 5 |') >= 3
