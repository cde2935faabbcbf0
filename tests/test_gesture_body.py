"""Simulated people who are not signalling (core.gestures.body): kinematics, camera, the plan of motions."""
import numpy as np
import pytest

from uavcine.core.gestures import body as B
from uavcine.core.gestures import skeleton as K


def test_elbow_ik_keeps_the_limb_lengths_and_reaches_a_reachable_target():
    s = np.array([0.0, -0.2, 1.4])
    for target, pole in (([0.1, -0.3, 1.0], [-1, 0, 0]), ([0.3, 0.0, 1.5], [0, -1, -1]), ([0, -0.2, 0.0], [-1, 0, 0])):
        e, w = B.elbow_ik(s, np.array(target, float), 0.32, 0.26, np.array(pole, float))
        assert np.linalg.norm(e - s) == pytest.approx(0.32, abs=1e-6)
        assert np.linalg.norm(w - e) == pytest.approx(0.26, abs=1e-6)
    e, w = B.elbow_ik(s, np.array([0.2, -0.3, 1.2]), 0.32, 0.26, np.array([-1.0, 0, 0]))
    assert np.allclose(w, [0.2, -0.3, 1.2])            # reachable: the wrist is where asked
    assert e[0] < s[0] + 0.1                           # and the elbow is on the pole's (back) side
    _, w = B.elbow_ik(s, np.array([0.0, -0.2, -1.0]), 0.32, 0.26, np.array([-1.0, 0, 0]))
    assert np.linalg.norm(w - s) < 0.58                # out of reach: pulled in to the arm's length


def test_a_person_in_front_faces_the_camera_at_the_size_the_distance_gives():
    rng = np.random.default_rng(0)
    b = B.BodyShape(height_m=1.8)
    w, pelvis = B.pose_sequence(b, [B.Segment('rest', 2.0)], 10.0, rng)
    px = B.project(w, pelvis, B.Camera(distance_m=10.0, elevation_deg=0.0, azimuth_deg=0.0, focal_px=1000.0))
    assert px.shape == (20, 18, 2)
    assert px[0, 2, 0] < px[0, 5, 0]                   # facing us: the right shoulder is on the image's left
    assert px[0, 0, 1] < px[0, 1, 1] < px[0, 8, 1] < px[0, 10, 1]   # nose above neck above hip above ankle
    height_px = px[0, 10, 1] - px[0, 0, 1]
    assert height_px == pytest.approx(1000 * (b.nose_z - 0.04) * 1.8 / 10.0, rel=0.1)
    assert np.allclose(px[:, [8, 11]].mean(1)[:, 0], 960, atol=5)  # the camera keeps the pelvis centred
    behind = B.project(w, pelvis, B.Camera(10.0, 0.0, 180.0))
    assert behind[0, 2, 0] > behind[0, 5, 0]           # seen from behind: mirrored


def test_walking_moves_the_body_and_swings_the_arms_standing_does_not():
    rng = np.random.default_rng(1)
    b = B.BodyShape()
    w, pelvis = B.pose_sequence(b, [B.Segment('walk', 6.0)], 25.0, rng)
    assert np.linalg.norm(pelvis[-1, :2] - pelvis[0, :2]) > 4.0       # >= 1 m/s for most of 6 s
    fwd = np.cross([0.0, 0.0, 1.0], w[:, 11] - w[:, 8])                # the body's forward direction
    fwd /= np.linalg.norm(fwd, axis=1, keepdims=True)
    swing = ((w[:, 4] - w[:, 2]) * fwd).sum(1)                         # right wrist ahead of the shoulder
    assert np.ptp(swing[50:]) > 0.15                                    # swings back and forth
    knee = ((w[:, 9] - w[:, 8]) * fwd).sum(1)
    assert np.corrcoef(swing[50:], knee[50:])[0, 1] < -0.5              # opposite to the leg on its side
    w, pelvis = B.pose_sequence(b, [B.Segment('crossed', 6.0)], 25.0, rng)
    assert np.linalg.norm(pelvis[-1] - pelvis[0]) < 1e-9
    assert np.ptp(w[30:, 4], axis=0).max() < 0.15                     # wrists stay near the posture (fidget)


def test_none_sequences_are_deterministic_and_use_only_the_kinds_asked():
    a = B.none_sequence(np.random.default_rng(5), 20.0, 25.0, B.HELD_OUT_KINDS)
    b = B.none_sequence(np.random.default_rng(5), 20.0, 25.0, B.HELD_OUT_KINDS)
    assert np.array_equal(a.points18, b.points18)
    assert a.points18.shape == (500, 18, 2)
    assert set(a.kinds) <= set(B.HELD_OUT_KINDS)
    assert not set(B.HELD_OUT_KINDS) & set(B.TRAIN_KINDS)
    seen = K.valid_mask(a.points18)
    assert 0.98 < seen.mean() < 1.0                   # OpenPose-like: a few dropped joints, written as (0, 0)
    p7, _ = K.joint_proc(a.points18)                    # normalises like a real skeleton: shoulders 1 apart
    assert np.median(np.abs(p7[:, K.R_SHOULDER, 0] - p7[:, K.L_SHOULDER, 0])) == pytest.approx(1.0, abs=0.35)


def test_every_posture_puts_the_wrists_within_reach():
    b = B.BodyShape()
    for name, (r, l, _, _) in B.postures(b).items():
        for wr, sy in ((r, -b.shoulder_w / 2), (l, b.shoulder_w / 2)):
            d = np.linalg.norm(wr - (0.0, sy, b.shoulder_z))
            assert d <= b.upper_arm + b.forearm + 0.01, name
