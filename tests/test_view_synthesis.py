"""Novel-view synthesis (seed section 4.2): the shot generator, the tokenizer, GeoGPT's cache, the reprojection
peer, and the SynthesizeShot service in the offline host (good and bad requests)."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from uavcine.core.camera import PinholeCamera
from uavcine.core.shot_geometry import ShotPlan, plan_shot, shot_xy
from uavcine.core.views.cameras import camera_features, relative_pose, shot_features
from uavcine.core.views.geogpt import GeoGPT, GeoGPTConfig
from uavcine.core.views.reprojection import reproject
from uavcine.core.views.synthesis import from_checkpoint, synthesize, to_checkpoint
from uavcine.core.views.vqgan import VQConfig, VQModel
from uavcine.nodes import msgs
from uavcine.nodes.view_synthesis import SRV, ViewSynthesisNode
from uavcine.offline.host import OfflineHost

REPO = Path(__file__).resolve().parents[1]
K64 = PinholeCamera.from_dfov(64, 48, 92.0).K


def tiny_checkpoint(path, copy_prior=False):
    torch.manual_seed(0)
    vq = VQModel(VQConfig(width=8, code_dim=8, n_codes=16))
    gpt = GeoGPT(GeoGPTConfig(n_layer=2, n_embd=16, n_head=2, vocab=16, copy_prior=copy_prior))
    if copy_prior:   # a prior strong enough to change the greedy tokens (a fresh one is 0.02-small)
        with torch.no_grad():
            gpt.prev.weight[:16].normal_(0.0, 2.0)
    gpt_cfg = vars(gpt.cfg).copy()
    if not copy_prior:
        del gpt_cfg['copy_prior']    # as the files written before the copy prior existed
    torch.save(to_checkpoint(vars(vq.cfg), vq.state_dict(), gpt_cfg, gpt.state_dict()), path)
    return path


@pytest.fixture(scope='module')
def model_path(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp('nvs') / 'tiny.pt')


@pytest.fixture(scope='module')
def prior_model_path(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp('nvs') / 'tiny_prior.pt', copy_prior=True)


# --- the shot generator -------------------------------------------------------------------------------
def test_orbit_keeps_its_radius_around_a_moving_target_and_looks_at_it():
    plan = ShotPlan(type='ORBIT', distance_m=25.0, altitude_m=20.0, speed_mps=5.0, look_height_m=0.0)
    vel = np.array([2.0, -1.0, 0.0])
    times = np.linspace(0, 10, 6)
    poses, targets = plan_shot(plan, [10.0, 5.0, 3.0], vel, times)
    np.testing.assert_allclose(targets[-1], [30.0, -5.0, 3.0])
    for T, p in zip(poses, targets):
        assert math.hypot(*(T[:2, 3] - p[:2])) == pytest.approx(25.0)
        assert T[2, 3] == pytest.approx(p[2] + 20.0)
        look = (p - T[:3, 3]) / np.linalg.norm(p - T[:3, 3])
        np.testing.assert_allclose(T[:3, 2], look, atol=1e-9)   # optical z points at the target
    # ORBIT sweeps speed / radius rad/s: 10 s at 5 m/s on 25 m is 2 rad
    a0 = math.atan2(*(poses[0, [1, 0], 3] - targets[0, [1, 0]]))
    a1 = math.atan2(*(poses[-1, [1, 0], 3] - targets[-1, [1, 0]]))
    assert (a1 - a0) % (2 * math.pi) == pytest.approx(2.0)


def test_flyover_passes_over_the_target_and_chase_stays_behind_it():
    poses, targets = plan_shot(ShotPlan(type='FLYOVER', speed_mps=4.0, t_closest_s=3.0, heading_deg=90.0),
                               [0, 0, 0], [1.0, 0, 0], [0.0, 3.0, 6.0])
    np.testing.assert_allclose(poses[1, :2, 3], targets[1, :2], atol=1e-9)
    np.testing.assert_allclose(poses[2, :2, 3] - poses[0, :2, 3], [6.0, 24.0], atol=1e-9)
    poses, targets = plan_shot(ShotPlan(type='CHASE', distance_m=10.0), [0, 0, 0], [0.0, 3.0, 0.0], [0.0, 2.0])
    np.testing.assert_allclose(poses[:, :2, 3], targets[:, :2] - [0.0, 10.0], atol=1e-9)
    with pytest.raises(ValueError, match='unknown shot type'):
        shot_xy('SPIRAL', 0.0, np.zeros(2), 0.0, np.zeros(2), 0.0, 1.0, 1.0, 0.0, 'right', 0.0, 'ccw')


def test_the_simulator_flies_the_same_shot_generator():
    from uavcine.sim.scenario import random_scenario
    from uavcine.sim.shots import Shot
    from uavcine.sim.world import World
    sc = random_scenario(3, shots=('FLYBY',), duration_s=10.0)
    world = World(sc, 3)
    shot = Shot(world, sc.shot, sc.gimbal, sc.duration_s, 3)
    for t in (0.0, 4.0, 9.0):
        p, hd = shot.ref(t)
        p0 = shot.ref(shot.t_closest)[0]
        c = sc.shot
        xy = shot_xy('FLYBY', t, p[:2], hd, p0[:2], shot.t_closest, c.distance_m, c.speed_mps, c.heading_deg,
                     c.side, c.start_angle_deg, c.direction)
        np.testing.assert_allclose(shot._horizontal(t)[0], xy)


# --- the model ----------------------------------------------------------------------------------------
def test_camera_features_are_relative_to_the_source():
    T0 = np.eye(4)
    T0[:3, 3] = [100.0, 50.0, 30.0]
    T1 = T0.copy()
    T1[:3, 3] += T0[:3, :3] @ [3.0, 0.0, 0.0]   # 3 m to the camera's right
    f = shot_features([T0, T1], K64, 64, 48)
    np.testing.assert_allclose(f[0, :12], np.r_[np.eye(3).ravel(), 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(f[1, 9:12], [0.1, 0.0, 0.0], atol=1e-6)  # in units of 30 m
    np.testing.assert_allclose(camera_features(relative_pose(T1, T1), K64, 64, 48), f[0], atol=1e-6)


def test_vq_codebook_restarts_unused_codes_and_round_trips_shapes():
    torch.manual_seed(0)
    vq = VQModel(VQConfig(width=8, code_dim=8, n_codes=32))
    x = torch.rand(4, 3, 48, 64) * 2 - 1
    x_hat, idx, commit = vq(x)
    assert x_hat.shape == x.shape and idx.shape == (4, 6, 8) and float(commit.detach()) >= 0
    # the first batch restarts every unused code on an encoder output: the codebook is the data's
    z = vq.encoder(x).permute(0, 2, 3, 1).reshape(-1, 8)
    d = torch.cdist(vq.quantizer.embed, z).min(1).values
    assert int((d < 1e-3).sum()) >= 32 - len(torch.unique(idx))
    vq.eval()
    assert vq.decode(vq.encode(x)).shape == x.shape


@pytest.mark.parametrize('copy_prior', [False, True])
def test_kv_cache_generation_equals_the_teacher_forced_forward(copy_prior):
    torch.manual_seed(1)
    cfg = GeoGPTConfig(n_layer=2, n_embd=32, n_head=4, vocab=40, tokens_per_view=6, max_views=3, copy_prior=copy_prior)
    gpt = GeoGPT(cfg).eval()
    if copy_prior:
        with torch.no_grad():
            gpt.prev.weight[:40].normal_(0.0, 1.0)
    toks = torch.randint(0, 40, (2, 3, 6))
    cams = torch.randn(2, 3, 16)
    with torch.no_grad():
        full = gpt(toks, cams)                                   # (2, 2, 6, 40)
        cam_e = gpt.camera_embedding(cams)
        _, cache = gpt.step(gpt.embed(toks[:, :1], cam_e[:, :1]), None)
        for k in (1, 2):
            logits, cache = gpt.step(gpt.camera_input(cam_e[:, k], k, toks[:, k - 1]), cache)
            for j in range(6):
                torch.testing.assert_close(logits[:, -1], full[:, k - 1, j], atol=1e-5, rtol=1e-4)
                logits, cache = gpt.step(gpt.token_input(toks[:, k, j], cam_e[:, k], k, j, toks[:, k - 1]), cache)


def test_the_copy_prior_adds_the_previous_views_token_where_it_is_predicted_and_is_off_by_default():
    torch.manual_seed(5)
    base = GeoGPTConfig(n_layer=1, n_embd=16, n_head=2, vocab=12, tokens_per_view=4, max_views=3)
    plain = GeoGPT(base).eval()
    assert base.copy_prior is False and plain.prev is None and not any('prev' in k for k in plain.state_dict())
    prior = GeoGPT(GeoGPTConfig(**{**vars(base), 'copy_prior': True})).eval()
    prior.load_state_dict(plain.state_dict(), strict=False)          # everything but ``prev`` shared
    toks = torch.randint(0, 12, (2, 3, 4))
    cams = torch.randn(2, 3, 16)
    # slot j of view k predicts token j of view k and gets token j of view k-1; the source's and last slots: none
    p = prior.prior_tokens(toks)
    assert torch.equal(p[:, 1:, :4], toks[:, :2]) and (p[:, 0] == 12).all() and (p[:, :, 4] == 12).all()
    assert prior.prev.weight[12].abs().sum() == 0
    with torch.no_grad():
        assert not torch.allclose(prior(toks, cams), plain(toks, cams))    # the prior changes the logits...
        prior.prev.weight.zero_()
        torch.testing.assert_close(prior(toks, cams), plain(toks, cams))   # ...only through the prior


def test_the_null_camera_removes_the_conditioning():
    torch.manual_seed(2)
    gpt = GeoGPT(GeoGPTConfig(n_layer=1, n_embd=16, n_head=2, vocab=16, tokens_per_view=4, max_views=2)).eval()
    toks = torch.randint(0, 16, (1, 2, 4))
    with torch.no_grad():
        a = gpt(toks, torch.randn(1, 2, 16), torch.tensor([True]))
        b = gpt(toks, torch.randn(1, 2, 16), torch.tensor([True]))
        c = gpt(toks, torch.randn(1, 2, 16))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_reprojection_identity_and_a_sideways_step():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    depth = np.full((48, 64), 20.0, np.float32)
    depth[:10] = np.inf    # sky
    T = np.eye(4)
    out, holes = reproject(img, depth, K64, T, T)
    assert holes == 0.0 and np.array_equal(out, img)
    T2 = T.copy()
    T2[0, 3] = 2.0    # 2 m right: the wall at 20 m shifts left by fx * 2 / 20 px, the sky stays
    out, holes = reproject(img, depth, K64, T, T2, fill=False)
    shift = int(round(K64[0, 0] * 2.0 / 20.0))
    np.testing.assert_array_equal(out[20:, :64 - shift - 1], img[20:, shift:63])
    np.testing.assert_array_equal(out[:10], img[:10])
    assert holes == pytest.approx(38 * shift / (48 * 64), abs=0.02)


def test_generation_feeds_each_generated_view_as_the_next_ones_copy_prior():
    """A GPT that only reads the prior and answers 'previous token + 1': view k must be the source + k, which
    it is only if view k's prior is the generated view k-1 (the source would give + 1 every time)."""
    V = 6
    gpt = GeoGPT(GeoGPTConfig(n_layer=1, n_embd=V, n_head=1, vocab=V, tokens_per_view=6, max_views=4,
                              copy_prior=True)).eval()
    with torch.no_grad():
        for p in gpt.parameters():
            p.zero_()
        gpt.ln_f.weight.fill_(1.0)
        gpt.prev.weight[:V] = 10 * torch.eye(V)
        gpt.head.weight.copy_(torch.roll(torch.eye(V), 1, dims=0))     # logit of t + 1 = embedding of t

    class Tokens:   # a tokenizer whose tokens are the pixels (2 x 3 images)
        def encode(self, x):
            return ((x[:, 0] + 1.0) * 127.5).round().long()

        def decode(self, t):
            return (t.float() / 127.5 - 1.0)[:, None].expand(-1, 3, -1, -1)
    src = np.array([[0, 1, 2], [3, 4, 5]], np.uint8)[..., None].repeat(3, -1)
    poses, _ = plan_shot(ShotPlan(type='ORBIT'), [0, 0, 0], [0, 0, 0], [0, 1, 2, 3])
    views = synthesize(Tokens(), gpt, src, poses, K64)[..., 0]
    for k in (1, 2, 3):
        np.testing.assert_array_equal(views[k - 1], (src[..., 0] + k) % V)


def test_synthesize_gives_n_views_deterministically(model_path):
    vq, gpt = from_checkpoint(torch.load(model_path, weights_only=False))
    src = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    poses, _ = plan_shot(ShotPlan(type='ORBIT'), [0, 0, 0], [0, 0, 0], [0, 1, 2, 3])
    a = synthesize(vq, gpt, src, poses, K64)
    assert a.shape == (3, 48, 64, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, synthesize(vq, gpt, src, poses, K64))
    with pytest.raises(ValueError, match='1..5'):
        synthesize(vq, gpt, src, np.repeat(poses, 3, axis=0), K64)


@pytest.mark.skipif(not (REPO / 'models' / 'nvs_geogpt_sim.pt').exists(), reason='models/nvs_geogpt_sim.pt not built')
def test_the_shipped_model_is_small_and_loads():
    path = REPO / 'models' / 'nvs_geogpt_sim.pt'
    assert path.stat().st_size < 9e6
    ck = torch.load(path, weights_only=False)
    vq, gpt = from_checkpoint(ck)
    assert gpt.cfg.n_layer == 16 and gpt.cfg.tokens_per_view == 48
    assert ck['curves']['gpt'] and ck['curves']['vq']
    res, _ = serve(path, n=2)   # the node's default model, through the service
    assert res.success and len(res.images) == 2, res.message


# --- the service --------------------------------------------------------------------------------------
def request(host, *, image=None, info_size=(64, 48), n=3, **over):
    img = np.random.default_rng(1).integers(0, 255, (48, 64, 3), dtype=np.uint8) if image is None else image
    h, w = img.shape[:2]
    cam = PinholeCamera.from_dfov(*info_size, 92.0)
    T = np.eye(4)
    T[:3, :3] = plan_shot(ShotPlan(type='ORBIT'), [0, 0, 0], [0, 0, 0], [0.0])[0][0, :3, :3]
    fields = dict(shot_type='ORBIT', radius_m=30.0, height_m=20.0, speed_mps=3.0, duration_s=10.0,
                  target_point=dict(x=0.0, y=0.0, z=0.0), target_velocity=dict(x=1.0, y=0.0, z=0.0), n_views=n,
                  source_image=dict(header=dict(stamp=msgs.stamp_fields(10**18), frame_id='camera'), height=h, width=w,
                                    encoding='rgb8', step=w * 3, data=img.reshape(-1)),
                  source_camera_info=dict(width=info_size[0], height=info_size[1], k=cam.K.ravel()),
                  source_pose=dict(header=dict(stamp=msgs.stamp_fields(10**18), frame_id='map'),
                                   pose=dict(position=dict(x=0.0, y=-30.0, z=20.0), orientation=dict(w=1.0))))
    from transforms3d.quaternions import mat2quat
    fields['source_pose']['pose']['orientation'] = msgs.quaternion_fields(mat2quat(T[:3, :3]))
    for k, v in over.items():
        fields[k] = v
    return host.new(SRV + '_Request', fields)


def serve(model_path, **over):
    host = OfflineHost()
    node = host.add_node(ViewSynthesisNode, params={'model': str(model_path)})
    return host.call_service('/view_synthesis/synthesize_shot', request(host, **over)), node


def test_service_answers_views_poses_and_the_path(model_path):
    res, _ = serve(model_path, n=4)
    assert res.success, res.message
    assert len(res.images) == 4 and len(res.poses) == 4 and list(res.times_s) == [2.5, 5.0, 7.5, 10.0]
    assert (res.images[0].width, res.images[0].height, res.images[0].encoding) == (64, 48, 'rgb8')
    assert len(res.path.poses) == 21 and res.path.header.frame_id == 'map'    # every 0.5 s over 10 s
    # the views' poses lie on the planned path, 30 m from the target moving at 1 m/s east
    for p, t in zip(res.poses, res.times_s):
        assert math.hypot(p.pose.position.x - t, p.pose.position.y) == pytest.approx(30.0)
        assert msgs.stamp_ns(p.header.stamp) == 10**18 + int(t * 1e9)


def test_images_of_another_size_are_letterboxed(model_path):
    wide = np.random.default_rng(2).integers(0, 255, (90, 320, 3), dtype=np.uint8)
    res, _ = serve(model_path, image=wide, info_size=(640, 180), n=1)   # CameraInfo of another size: K scaled
    assert res.success, res.message
    assert (res.images[0].width, res.images[0].height) == (64, 18)      # the letterbox's content, source aspect


@pytest.mark.parametrize('over, reason', [
    (dict(shot_type='SPIRAL'), 'unknown shot_type'),
    (dict(n=6), 'n_views must be 1..5'),
    (dict(n=-1), 'n_views must be 1..5'),
    (dict(radius_m=float('nan')), 'not finite: radius_m'),
    (dict(radius_m=0.0), 'radius_m must be > 0'),
    (dict(duration_s=0.0), 'duration_s must be in'),
    (dict(direction='up'), 'direction must be'),
    (dict(target_point=dict(x=float('inf'))), 'target position or velocity is not finite'),
    (dict(source_image=dict(height=0, width=0, encoding='rgb8')), 'empty image'),
    (dict(source_image=dict(height=48, width=64, encoding='rgb8', step=192, data=np.zeros(10, np.uint8))), 'bytes'),
    (dict(source_camera_info=dict()), 'no intrinsics'),
    (dict(source_pose=dict(pose=dict(position=dict(x=float('nan'))))), 'position is not finite'),
    (dict(source_pose=dict(pose=dict(orientation=dict(w=2.0)))), 'unit quaternion'),
])
def test_bad_requests_get_a_reason(model_path, over, reason):
    res, _ = serve(model_path, **over)
    assert not res.success
    assert reason in res.message, res.message
    assert len(res.images) == 0


def test_missing_or_foreign_model_gets_a_reason_and_a_new_path_takes_effect(model_path, tmp_path):
    res, node = serve(tmp_path / 'nope.pt')
    assert not res.success and 'model not found' in res.message
    bad = tmp_path / 'bad.pt'
    bad.write_bytes(b'not a checkpoint')
    ok, msg = node.set_parameters({'model': str(bad)})
    assert ok, msg
    res = node.host.call_service('/view_synthesis/synthesize_shot', request(node.host))
    assert not res.success and 'cannot load model' in res.message
    node.set_parameters({'model': str(model_path)})
    res = node.host.call_service('/view_synthesis/synthesize_shot', request(node.host))
    assert res.success, res.message


@pytest.mark.parametrize('copy_prior', [False, True])
def test_onnx_export_uses_tensorrt_ops_and_matches_torch(model_path, prior_model_path, tmp_path, copy_prior):
    pytest.importorskip('onnxruntime')
    pytest.importorskip('onnx')
    from uavcine.runtime.nvs_onnx import NvsOnnx, export
    vq, gpt = from_checkpoint(torch.load(prior_model_path if copy_prior else model_path, weights_only=False))
    assert gpt.cfg.copy_prior is copy_prior
    ops = export(vq, gpt, str(tmp_path))   # raises if a graph uses an operator TensorRT 8.5 cannot import
    assert set(ops) == {'nvs_encoder.onnx', 'nvs_step.onnx', 'nvs_decoder.onnx'}
    assert 'ArgMin' in ops['nvs_encoder.onnx'] and 'Softmax' in ops['nvs_step.onnx']
    assert not any('LayerNormalization' in o for o in ops.values())
    rng = np.random.default_rng(3)
    src = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    poses, _ = plan_shot(ShotPlan(type='FLYBY', distance_m=20.0), [0, 0, 0], [0.5, 0, 0], [0, 2, 4])
    want = synthesize(vq, gpt, src, poses, K64)
    onnx_model = NvsOnnx(str(tmp_path))
    assert ('prev' in [i.name for i in onnx_model.sess[1].get_inputs()]) is copy_prior
    got = onnx_model.synthesize(src, poses, K64)
    assert got.shape == want.shape
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_eval_nvs_command_writes_the_gap_study_and_refuses_a_missing_file(model_path, tmp_path, capsys):
    from uavcine import cli
    assert cli.main(['eval-nvs', '--model', str(tmp_path / 'none.pt'), '--data', str(tmp_path / 'x.npz')]) == 2
    assert 'not found' in capsys.readouterr().err
    rng = np.random.default_rng(4)
    poses = np.stack([plan_shot(ShotPlan(type='ORBIT', distance_m=20.0), [0, 0, 0], [0, 0, 0], [0, g, 2 * g, 3 * g,
                                                                                        4 * g, 5 * g])[0]
                      for g in (1, 10)])
    data = tmp_path / 'test.npz'
    np.savez(data, images=rng.integers(0, 255, (2, 6, 48, 64, 3), dtype=np.uint8), depth=np.full((2, 6, 48, 64), 30.0,
             np.float32), poses=poses, seed=np.array([1, 1]), shot=np.array([0, 0]), gap=np.array([1, 10]), K=K64)
    out = tmp_path / 'eval'
    assert cli.main(['eval-nvs', '--model', str(model_path), '--data', str(data), '--out', str(out)]) == 0
    import json
    summary = json.loads((out / 'gap_study.json').read_text())
    assert set(summary['gaps']) == {'1', '10'}
    row = summary['gaps']['1']
    assert row['copy']['psnr'] < 100 and len(row['model']['psnr_per_view']) == 5 and 0 <= row['holes'] <= 1
    assert 'copy through the tokenizer' in (out / 'gap_study.md').read_text()
    # the tokenized-copy peer is the source encoded and decoded, for every view
    from uavcine.core.views.synthesis import to_images, to_tensor
    from uavcine.eval.nvs_gap import evaluate
    with np.load(data) as z:
        d = {k: z[k] for k in z.files}
    preds = evaluate(torch.load(model_path, weights_only=False), d)[0]
    vq, _ = from_checkpoint(torch.load(model_path, weights_only=False))
    with torch.no_grad():
        want = to_images(vq.decode(vq.encode(to_tensor(d['images'][:, 0]))))
    np.testing.assert_array_equal(preds['copy_tokenized'], np.repeat(want[:, None], 5, axis=1))
    assert (out / 'gap_study.png').exists() and (out / 'samples.png').exists()


def test_nvs_data_refuses_train_scenes_outside_the_train_split(tmp_path, capsys):
    from uavcine.train import nvs_data
    assert nvs_data.main(['--split', 'dev', '--train-scenes', '5', '--out', str(tmp_path / 'x.npz')]) == 2
    assert nvs_data.main(['--split', 'train', '--train-scenes', '100001', '--out', str(tmp_path / 'x.npz')]) == 2
    assert 'train-scenes' in capsys.readouterr().err and not (tmp_path / 'x.npz').exists()


def test_stage_two_can_take_the_tokenizer_of_a_packed_model(model_path, tmp_path):
    from uavcine.train.nvs_train import load_vq, vq_from_model
    vq_from_model(model_path, tmp_path)
    got = load_vq(tmp_path / 'vq.pt').state_dict()
    want = from_checkpoint(torch.load(model_path, weights_only=False))[0].state_dict()
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)


def write_tiny_splits(folder, seed):
    """``folder``/tr.npz and dv.npz in nvs_data's layout: 4 ORBIT episodes of 6 random 64 x 48 views each, at
    gaps 1 and 10, with a flat 30 m depth."""
    rng = np.random.default_rng(seed)
    poses = np.stack([plan_shot(ShotPlan(type='ORBIT', distance_m=20.0), [0, 0, 0], [0, 0, 0],
                                [0, g, 2 * g, 3 * g, 4 * g, 5 * g])[0] for g in (1, 10, 1, 10)])
    for name in ('tr', 'dv'):
        np.savez(folder / (name + '.npz'), images=rng.integers(0, 255, (4, 6, 48, 64, 3), dtype=np.uint8),
                 poses=poses, gap=np.array([1, 10, 1, 10]), K=K64, depth=np.full((4, 1, 48, 64), 30.0, np.float32))

def test_stages_one_and_two_train_within_their_budget_and_resume(tmp_path):
    """nvs_train --stage vq / gpt (the shared loop of train/nvs_loop.py): a few seconds of each stage write a
    checkpoint with a curve, and --resume continues it (more steps, the curve extended, the minutes counted on)."""
    from uavcine.train import nvs_train
    write_tiny_splits(tmp_path, seed=0)
    common = ['--train', str(tmp_path / 'tr.npz'), '--dev', str(tmp_path / 'dv.npz'), '--out', str(tmp_path / 'run'),
              '--batch', '4', '--eval-minutes', '0.005']
    for stage, extra in (('vq', []), ('gpt', ['--layers', '2', '--width', '32', '--heads', '2'])):
        assert nvs_train.main(['--stage', stage, '--max-minutes', '0.02'] + common + extra) == 0
        first = torch.load(tmp_path / 'run' / (stage + '.pt'), weights_only=False)['state']
        assert first['step'] >= 2 and len(first['curve']) >= 1 and first['curve'][0]['step'] == 1
        assert nvs_train.main(['--stage', stage, '--max-minutes', '0.04', '--resume'] + common + extra) == 0
        second = torch.load(tmp_path / 'run' / (stage + '.pt'), weights_only=False)['state']
        assert second['step'] > first['step'] and len(second['curve']) > len(first['curve'])
        assert first['minutes'] >= 0.02 and second['minutes'] >= 0.04
