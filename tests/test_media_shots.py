"""§3.5 shot boundaries and dynamic keyframes on simulated multi-shot videos with exact truth."""
import numpy as np
import pytest

from uavcine.core.media.shot_boundaries import (Measures, ShotBoundaryDetector, ShotDetectorConfig, detect_shots,
                                                ncc, sampling_structure)
from uavcine.eval.shot_sim import ShotVideoConfig, Transition, make_shot_video, recall_by_kind, score


@pytest.fixture(scope='module')
def video():
    # small and short: 6 shots at 320x240, every transition kind and distractor switched on
    cfg = ShotVideoConfig(n_shots=6, shot_s=(1.0, 1.3), render_size=(256, 192), p_cut=0.34, p_dissolve=0.33,
                          p_flash=1.0, p_exposure_jump=1.0, p_fast_pan=0.0, seed=3)
    return make_shot_video(cfg)


def test_generator_truth_is_exact(video):
    assert len(video.truth) == 5
    for t in video.truth:
        assert t.first > t.last
        if t.kind == 'cut':
            assert t.first == t.last + 1
        if t.kind == 'dissolve':
            assert 2 <= t.first - t.last <= 4
            # a blended frame lies between the two shots' frames (per pixel, up to rounding and noise)
            mid = video.frames[t.last + 1].astype(float)
            a, b = video.frames[t.last].astype(float), video.frames[t.first].astype(float)
            assert np.mean((mid >= np.minimum(a, b) - 8) & (mid <= np.maximum(a, b) + 8)) > 0.95
        if t.kind == 'fade':
            assert min(video.frames[k].mean() for k in range(t.last + 1, t.first)) < 30


def test_finds_every_transition_and_no_flash_or_exposure_jump(video):
    res = detect_shots(video.frames)
    pred = [(b.last, b.first) for b in res.boundaries]
    s = score(pred, [(t.last, t.first) for t in video.truth])
    assert s.fn == 0 and s.fp == 0, (pred, video.truth, video.events)
    assert video.events['flash'] and video.events['exposure_jump']  # the distractors were there
    # boundaries are placed exactly for cuts
    for t in video.truth:
        if t.kind == 'cut':
            assert (t.last, t.first) in pred


def test_fast_check_runs_everywhere_deep_check_rarely(video):
    det = ShotBoundaryDetector()
    for f in video.frames:
        det.push(f)
    det.finish()
    n = len(video.frames)
    # sparse and selective: about one ACT per frame plus a few deep checks around candidates
    assert det.c.computed < 1.6 * n, (det.c.computed, n)


def test_dynamic_keyframes_follow_activity():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (200, 260), dtype=np.uint8)
    base = np.asarray(__import__('cv2').GaussianBlur(base, (0, 0), 3))
    still = [base[:120, :160].copy() for _ in range(60)]
    moving = [base[:120, 2 * s:2 * s + 160].copy() for s in range(50)]  # 2 px/frame pan: 61 % of the width
    cfg = ShotDetectorConfig(analysis_width=160)
    r_still = detect_shots(still, cfg)
    r_move = detect_shots(moving, cfg)
    assert r_still.boundaries == [] and r_move.boundaries == []
    assert r_still.keyframes == [0]
    assert len(r_move.keyframes) >= 3  # the view moved on by ~2 keyframe_motion


def test_ncc_ignores_gain_and_offset():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 200, (40, 50)).astype(np.uint8)
    b = np.clip(a.astype(float) * 1.2 + 10, 0, 255).astype(np.uint8)
    assert ncc(a, b) > 0.99
    assert abs(ncc(a, rng.integers(0, 200, (40, 50)).astype(np.uint8))) < 0.2


def test_score_matching():
    truth = [(10, 11), (50, 53)]
    assert score([(10, 11), (51, 52)], truth).f1 == 1.0
    s = score([(10, 11), (11, 12), (30, 31)], truth)
    assert (s.tp, s.fp, s.fn) == (1, 2, 1)
    assert recall_by_kind([(10, 11)], [Transition(10, 11, 'cut'), Transition(50, 53, 'fade')]) == {'cut': (1, 1), 'fade': (0, 1)}


def test_sampling_structure_progressive_and_interlaced():
    import cv2
    rng = np.random.default_rng(2)
    tex = cv2.GaussianBlur(rng.integers(0, 255, (400, 600), dtype=np.uint8), (0, 0), 2)
    # one image per field time, moving 3 px per field period
    fields_t = [tex[100:340, 3 * k:3 * k + 320] for k in range(24)]
    progressive = [fields_t[2 * k] for k in range(12)]
    tff = []
    for k in range(11):  # top field from time 2k, bottom field from time 2k+1
        f = fields_t[2 * k].copy()
        f[1::2] = fields_t[2 * k + 1][1::2]
        tff.append(f)
    bff = []
    for k in range(11):
        f = fields_t[2 * k + 1].copy()
        f[1::2] = fields_t[2 * k][1::2]
        bff.append(f)
    assert sampling_structure(progressive)[0] == 'progressive'
    assert sampling_structure(tff)[0] == 'interlaced_tff'
    assert sampling_structure(bff)[0] == 'interlaced_bff'


def test_bad_config_is_refused():
    with pytest.raises(ValueError):
        Measures(ShotDetectorConfig(flow_preset='warp9'))
    with pytest.raises(ValueError):
        ShotBoundaryDetector(ShotDetectorConfig(max_dissolve=0))
