"""Gesture recognition core (seed §3.8): skeleton processing, the recognisers' shapes, the command gate."""
import math

import numpy as np
import pytest
import torch

from uavcine.core.gestures import commands as C
from uavcine.core.gestures import skeleton as K
from uavcine.core.gestures.ddnet import DDNet, DDNetConfig, jcd, pose_motions
from uavcine.core.gestures.mmgr import (GestureEnsemble, GestureLSTM, MMGRConfig, classify_window, from_checkpoint,
                                        mirrored_classes, mirrored_features, skeleton_dim, window_features)


def waving(T=60, x0=900.0, y0=500.0, size=1.0, seed=0):
    """A synthetic COCO-18 person (pixels) waving the right arm."""
    rng = np.random.default_rng(seed)
    base = np.zeros((18, 2))
    base[0] = (0, -60); base[1] = (0, 0)
    base[2] = (-40, 0); base[3] = (-70, 40); base[4] = (-80, 90)
    base[5] = (40, 0); base[6] = (70, 40); base[7] = (80, 90)
    base[8] = (-25, 120); base[11] = (25, 120)
    base[14:] = (-10, -70), (10, -70), (-20, -65), (20, -65)
    seq = np.repeat(base[None], T, 0).copy()
    ph = np.linspace(0, 4 * math.pi, T)
    seq[:, 3] = np.stack([-70 - 10 * np.sin(ph), -30 + 0 * ph], 1)
    seq[:, 4] = np.stack([-90 - 40 * np.sin(ph), -90 + 0 * ph], 1)
    seq = seq * 3.0 * size + rng.normal(0, 0.5, seq.shape)
    return seq + np.array([x0, y0])


def test_normalisation_is_invariant_to_position_and_size():
    a, _ = K.joint_proc(waving())
    b, _ = K.joint_proc(waving(x0=200.0, y0=150.0, size=0.4))
    assert a.shape == (60, 7, 2)
    assert np.allclose(a, b, atol=0.02)
    # shoulders one unit apart, centred
    assert np.median(np.linalg.norm(a[:, K.R_SHOULDER] - a[:, K.L_SHOULDER], axis=-1)) == pytest.approx(1.0, abs=0.01)
    assert np.abs(np.median(0.5 * (a[:, K.R_SHOULDER] + a[:, K.L_SHOULDER]), 0)).max() < 0.01


def test_missing_keypoints_are_interpolated_and_a_joint_never_seen_sits_at_the_centre():
    seq = waving()
    full, _ = K.joint_proc(seq)
    holed = seq.copy()
    holed[10:14, 4] = 0.0          # OpenPose zeros: right wrist lost for 4 frames
    holed[:3, 3] = np.nan          # right elbow missing at the start
    holed[:, 7] = 0.0              # left wrist never found
    out, valid = K.joint_proc(holed)
    assert np.isfinite(out).all()
    assert not valid[10:14, K.R_WRIST].any() and valid[20, K.R_WRIST]
    # linear interpolation across the gap lies between the neighbours
    lo, hi = full[9, K.R_WRIST], full[14, K.R_WRIST]
    for t in range(10, 14):
        f = (t - 9) / 5
        assert np.allclose(out[t, K.R_WRIST], (1 - f) * lo + f * hi, atol=1e-4)
    assert np.allclose(out[:3, K.R_ELBOW], full[3, K.R_ELBOW], atol=0.05)   # held from the first seen frame
    assert np.allclose(out[:, K.L_WRIST], 0.0)
    # nothing seen at all: zeros, no crash
    empty, v = K.joint_proc(np.zeros((5, 18, 2)))
    assert np.allclose(empty, 0) and not v.any()


def test_mirror_swaps_arms_and_is_an_involution():
    p, _ = K.joint_proc(waving())
    m = K.mirror(p)
    assert np.allclose(m[:, K.L_WRIST, 0], -p[:, K.R_WRIST, 0]) and np.allclose(m[:, K.L_WRIST, 1], p[:, K.R_WRIST, 1])
    assert np.allclose(K.mirror(m), p)
    # mirroring the pixels of a left-handed person gives the same normalised skeleton as mirroring after
    px = waving().copy()
    px[..., 0] = 1920 - px[..., 0]
    px = px[:, list(K.MIRROR18)]
    assert np.allclose(K.joint_proc(px)[0], m, atol=1e-4)
    assert K.mirror_label('move_to_left') == 'move_to_right' and K.mirror_label('hover') == 'hover'


def test_sampling_short_and_long_sequences():
    assert list(K.sample_indices(4, 8)) == [0, 0, 1, 1, 2, 2, 3, 3]      # shorter than the model's frames
    idx = K.sample_indices(1000, 32)
    assert len(idx) == 32 and idx[0] < 32 and idx[-1] > 960 and np.all(np.diff(idx) > 0)
    r = K.sample_indices(100, 10, rng=np.random.default_rng(0))
    assert np.all((r >= np.arange(10) * 10) & (r < np.arange(1, 11) * 10))
    with pytest.raises(ValueError):
        K.sample_indices(10, 4, start=5, stop=5)


def test_recognisers_take_windows_of_any_length():
    torch.manual_seed(0)
    lstm = GestureLSTM(MMGRConfig(velocity=True, skeleton_dim=28)).eval()
    for T in (3, 32, 700):
        p = classify_window(lstm, waving(T=T))
        assert p.shape == (13,) and abs(p.sum() - 1) < 1e-5
    ck = {'kind': 'lstm', 'config': dict(lstm.cfg.__dict__), 'model': lstm.state_dict()}
    assert np.allclose(classify_window(from_checkpoint(ck), waving()), classify_window(lstm, waving()), atol=1e-6)
    dd = DDNet(DDNetConfig(frames=32)).eval()
    assert dd(torch.randn(2, 32, 7, 2)).shape == (2, 13)


def test_ddnet_features_as_the_paper():
    p = torch.randn(1, 8, 7, 2)
    d = jcd(p)
    assert d.shape == (1, 8, 21)
    assert d[0, 3, 0] == pytest.approx(float((p[0, 3, 0] - p[0, 3, 1]).norm()), abs=1e-6)
    slow, fast = pose_motions(p)
    assert slow.shape == (1, 8, 14) and fast.shape == (1, 4, 14)
    assert torch.allclose(slow[0, 2], (p[0, 3] - p[0, 2]).reshape(-1))
    assert torch.allclose(fast[0, 1], (p[0, 4] - p[0, 2]).reshape(-1))
    # JCD does not change when the skeleton moves or turns in the image
    R = torch.tensor([[0.6, -0.8], [0.8, 0.6]])
    assert torch.allclose(jcd(p @ R.T + 5.0), d, atol=1e-5)


MAP = C.parse_mapping(['all_clear=START', 'hover=HOLD', 'land=END'])


def feed(gate, seq, cfg):
    """seq: (t, label, conf, subject) -> the commands sent, as (t, command)."""
    out = []
    for t, label, conf, subj in seq:
        d = gate.update(t, label, conf, subj, cfg)
        if d.command:
            out.append((t, d.command))
    return out


def test_gate_needs_the_hold_time_and_confidence():
    cfg = C.GateConfig(MAP, min_confidence=0.8, hold_s=1.0, refractory_s=5.0, max_gap_s=0.6)
    g = C.CommandGate()
    ts = np.arange(0, 3.01, 0.5)
    assert feed(g, [(t, 'all_clear', 0.9, True) for t in ts], cfg) == [(1.0, 'START')]
    g = C.CommandGate()
    assert feed(g, [(t, 'all_clear', 0.7, True) for t in ts], cfg) == []          # below the threshold
    g = C.CommandGate()
    flicker = [(t, 'all_clear' if i % 2 == 0 else 'hover', 0.9, True) for i, t in enumerate(ts)]
    assert feed(g, flicker, cfg) == []                                              # never held
    g = C.CommandGate()
    gap = [(0.0, 'land', 0.9, True), (0.5, 'land', 0.9, True), (1.4, 'land', 0.9, True), (1.9, 'land', 0.9, True),
           (2.4, 'land', 0.9, True)]
    assert feed(g, gap, cfg) == [(2.4, 'END')]                                     # the 0.9 s gap restarted the hold
    assert C.CommandGate().update(0.0, 'wave_off', 0.99, True, cfg).command is None  # maps to nothing


def test_gate_refractory_and_only_the_subject():
    cfg = C.GateConfig(MAP, min_confidence=0.5, hold_s=0.5, refractory_s=4.0)
    g = C.CommandGate()
    seq = [(t, 'all_clear', 0.9, True) for t in np.arange(0, 3.01, 0.5)] + \
          [(t, 'hover', 0.9, True) for t in np.arange(3.5, 8.01, 0.5)]
    assert feed(g, seq, cfg) == [(0.5, 'START'), (4.5, 'HOLD')]   # hover held at 4.0 waits for the refractory end
    g = C.CommandGate()
    seq = [(t, 'all_clear', 0.99, t != 1.0) for t in np.arange(0, 2.01, 0.25)]
    # a bystander's skeleton at t = 1.0 restarts the hold
    assert feed(g, seq, cfg) == [(0.5, 'START')]
    g = C.CommandGate()
    assert feed(g, [(t, 'all_clear', 0.99, False) for t in np.arange(0, 3, 0.25)], cfg) == []


def test_gate_reads_its_config_at_every_update():
    g = C.CommandGate()
    strict = C.GateConfig(MAP, min_confidence=0.95, hold_s=0.5)
    loose = C.GateConfig(MAP, min_confidence=0.5, hold_s=0.5)
    assert feed(g, [(0.0, 'hover', 0.9, True), (0.5, 'hover', 0.9, True)], strict) == []
    assert feed(g, [(1.0, 'hover', 0.9, True), (1.5, 'hover', 0.9, True)], loose) == [(1.5, 'HOLD')]


def test_mapping_errors_are_one_clear_line():
    with pytest.raises(C.MappingError, match='GESTURE=COMMAND'):
        C.parse_mapping(['all_clear->START'])
    with pytest.raises(C.MappingError, match='unknown gesture'):
        C.parse_mapping(['thumbs_up=START'], labels=('all_clear',))
    assert C.parse_mapping([' hover = HOLD ', '']) == {'hover': 'HOLD'}
    with pytest.raises(C.MappingError, match='not signalling'):
        C.parse_mapping(['none=START'])                 # the no-gesture class can never send a command


def test_ddnet_checkpoints_load_for_the_node_too():
    torch.manual_seed(1)
    dd = DDNet(DDNetConfig(frames=32)).eval()
    half = {k: v.half() if v.is_floating_point() else v for k, v in dd.state_dict().items()}
    m = from_checkpoint({'kind': 'ddnet', 'config': dict(dd.cfg.__dict__), 'model': half})
    assert isinstance(m, DDNet) and next(m.parameters()).dtype == torch.float32
    p = classify_window(m, waving(T=50), np.arange(50) / 10.0)
    assert p.shape == (13,) and abs(p.sum() - 1) < 1e-5
    with pytest.raises(ValueError, match="kind 'resnet'; expected ddnet or lstm or lstm_ensemble"):
        from_checkpoint({'kind': 'resnet', 'config': {}, 'model': {}})


def test_frame_centred_features_ignore_the_body_drifting_in_the_image():
    """--frame-centre: the same arm motion while the whole body drifts (a swaying drone) gives the same features;
    the joint distances (DD-Net's JCD) are the 21 pair distances and do not move with the body either."""
    p7, _ = K.joint_proc(waving(T=60))
    drift = p7 + np.linspace(0, 1.5, 60, dtype=np.float32)[:, None, None] * np.float32([1.0, -0.5])
    cfg = MMGRConfig(velocity=True, distances=True, frame_centre=True, skeleton_dim=49)
    idx = K.sample_indices(60, 32)
    t = np.arange(60) / 25.0
    a, b = window_features(cfg, p7, t, idx), window_features(cfg, drift, t, idx)
    assert a.shape == (32, 49) and np.allclose(a, b, atol=1e-5)
    plain = MMGRConfig(velocity=True, skeleton_dim=28)
    assert not np.allclose(window_features(plain, p7, t, idx), window_features(plain, drift, t, idx), atol=1e-3)
    d = K.joint_distances(p7[:1])[0]
    assert np.isclose(d[0], np.linalg.norm(p7[0, 0] - p7[0, 1]))            # pair (head, right shoulder)
    assert np.isclose(d[-1], np.linalg.norm(p7[0, 5] - p7[0, 6]))           # pair (left elbow, left wrist)
    assert skeleton_dim(True, True) == 49 and skeleton_dim(False, False) == 14


def test_arm_pose_gives_limb_directions_elbow_angles_and_the_head_offset():
    """--angles (skeleton.arm_pose): a right arm bent at 90 deg (upper arm out sideways, forearm up), a straight
    left arm hanging down, the head 0.1 shoulder widths to the right of the shoulder midpoint and 0.8 above it."""
    p = np.zeros((1, 7, 2), np.float32)
    p[0, K.R_SHOULDER], p[0, K.L_SHOULDER] = (-0.5, 0.0), (0.5, 0.0)
    p[0, K.R_ELBOW], p[0, K.R_WRIST] = (-1.5, 0.0), (-1.5, -1.0)
    p[0, K.L_ELBOW], p[0, K.L_WRIST] = (0.5, 1.0), (0.5, 2.0)
    p[0, K.HEAD] = (-0.1, -0.8)
    f = K.arm_pose(p)[0]
    assert f.shape == (K.ARM_POSE_DIM,)
    assert np.allclose(f[0:5], [-1, 0, 0, -1, 0], atol=1e-6)      # right: upper arm out (-x), forearm up (-y), 90 deg
    assert np.allclose(f[5:10], [0, 1, 0, 1, -1], atol=1e-6)      # left: both down, straight (cos 180 deg = -1)
    assert np.allclose(f[10:], [-0.1, -0.8], atol=1e-6)
    scaled = K.arm_pose(3.0 * p + 7.0)[0]                          # limb directions and angles do not see size or place
    assert np.allclose(scaled[:10], f[:10], atol=1e-6)
    p[0, K.R_WRIST] = p[0, K.R_ELBOW]                              # a forearm of zero length: a zero vector, no NaN
    g = K.arm_pose(p)[0]
    assert np.all(np.isfinite(g)) and np.allclose(g[2:5], 0.0)
    assert skeleton_dim(True, False, True) == 28 + K.ARM_POSE_DIM


def test_an_ensemble_checkpoint_averages_its_members_probabilities():
    torch.manual_seed(0)
    cfg = MMGRConfig(velocity=True, skeleton_dim=28, pool='mean')
    ens = GestureEnsemble(cfg, 3).eval()
    x = torch.randn(2, 32, 28)
    with torch.no_grad():
        want = torch.stack([torch.softmax(m(x), -1) for m in ens.members]).mean(0)
        assert torch.allclose(torch.softmax(ens(x), -1), want, atol=1e-6)
        assert not torch.allclose(want, torch.softmax(ens.members[0](x), -1), atol=1e-3)   # members differ
    ck = {'kind': 'lstm_ensemble', 'config': dict(cfg.__dict__), 'members': 3, 'model': ens.state_dict()}
    back = from_checkpoint(ck)
    assert isinstance(back, GestureEnsemble) and len(back.members) == 3
    p = classify_window(back, waving(T=50), np.arange(50) / 10.0)
    assert np.allclose(p, classify_window(ens, waving(T=50), np.arange(50) / 10.0), atol=1e-6)
    assert p.shape == (13,) and abs(p.sum() - 1) < 1e-5


@pytest.mark.parametrize('velocity,distances,centre,angles', [(False, False, False, False), (True, False, False, False),
                                                              (True, True, True, False), (False, True, False, False),
                                                              (True, False, False, True), (True, True, True, True)])
def test_mirrored_features_are_a_fixed_permutation_and_sign(velocity, distances, centre, angles):
    cfg = MMGRConfig(velocity=velocity, distances=distances, frame_centre=centre, angles=angles,
                     skeleton_dim=skeleton_dim(velocity, distances, angles))
    p7, _ = K.joint_proc(waving(T=60))
    idx, t = K.sample_indices(60, 32), np.arange(60) / 25.0
    index, sign = mirrored_features(cfg)
    assert sorted(index) == list(range(cfg.skeleton_dim))
    assert np.allclose(window_features(cfg, K.mirror(p7), t, idx), window_features(cfg, p7, t, idx)[:, index] * sign,
                       atol=1e-5)


def test_mirror_averaging_gives_a_left_handed_signal_the_mirrored_decision():
    """With mirror_tta, classifying the mirrored window gives the same probabilities with move_to_left and
    move_to_right swapped (and, without it, an untrained network does not)."""
    torch.manual_seed(2)
    cfg = MMGRConfig(velocity=True, distances=True, skeleton_dim=49, pool='mean')
    plain = GestureLSTM(cfg).eval()
    tta = GestureLSTM(MMGRConfig(**{**cfg.__dict__, 'mirror_tta': True})).eval()
    tta.load_state_dict(plain.state_dict())                    # same weights: the mirror part is no parameter
    win = waving(T=50)
    mirrored = win.copy()
    mirrored[..., 0] = 1920.0 - mirrored[..., 0]
    mirrored = mirrored[:, list(K.MIRROR18)]
    swap = mirrored_classes(cfg.labels)
    assert cfg.labels[swap[cfg.labels.index('move_to_left')]] == 'move_to_right'
    t = np.arange(50) / 10.0
    a, b = classify_window(tta, win, t), classify_window(tta, mirrored, t)
    assert np.allclose(a, b[swap], atol=1e-5) and abs(a.sum() - 1) < 1e-5
    pa, pb = classify_window(plain, win, t), classify_window(plain, mirrored, t)
    assert not np.allclose(pa, pb[swap], atol=1e-3)
