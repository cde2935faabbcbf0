"""§3.2 thumbnails and §3.3 summaries: rewards, the sampler, REINFORCE, knapsack, crop paths, SumMe/TVSum F-score."""
import numpy as np
import pytest

from uavcine.core.media import summaries as S
from uavcine.core.media import thumbnails as T


def test_knapsack_is_optimal_on_small_cases():
    rng = np.random.default_rng(0)
    import itertools
    for _ in range(20):
        n = 7
        v, w = rng.random(n), rng.integers(1, 10, n)
        cap = int(rng.integers(5, 30))
        best = max((sum(v[list(c)]) for r in range(n + 1) for c in itertools.combinations(range(n), r)
                    if sum(w[list(c)]) <= cap), default=0)
        chosen = S.knapsack(v, w, cap)
        assert sum(w[chosen]) <= cap and abs(sum(v[chosen]) - best) < 1e-9


def test_key_fragments_respect_the_budget_and_prefer_high_scores():
    scores = np.zeros(300)
    scores[100:150] = 1.0
    frags = S.select_key_fragments(scores, [(0, 149), (150, 299)], budget_frames=60, max_fragment=25)
    assert sum(b - a + 1 for a, b in frags) <= 60
    assert all(100 <= a and b < 150 for a, b in frags) and len(frags) == 2


def test_crop_path_keeps_a_moving_target_and_is_smooth():
    W, H = 640, 480
    cw = S.crop_width(W, H, 9, 16)
    assert cw == 270
    t = np.arange(200)
    cx = 320 + 250 * np.sin(t / 30.0)
    boxes = [(c - 10, 200, 20, 40) for c in cx]
    rng = np.random.default_rng(1)
    pts = [c + rng.normal(0, 15) if k % 10 else None for k, c in enumerate(cx)]
    path = S.smooth_crop_path(pts, W, cw)
    inside, jerk = S.crop_metrics(path, cw, boxes)
    follow = np.clip(np.array([W / 2 if p is None else p for p in pts]) - cw / 2, 0, W - cw)
    inside_f, jerk_f = S.crop_metrics(follow, cw, boxes)
    centre_inside, _ = S.crop_metrics(np.full(200, (W - cw) / 2), cw, boxes)
    assert inside >= 0.97 and centre_inside < 0.7
    assert jerk < 0.2 * jerk_f


def test_f_score_protocol():
    users = np.zeros((2, 10), bool)
    users[0, :5] = True
    users[1, 5:] = True
    machine = np.zeros(10, bool)
    machine[:5] = True
    assert S.f_score(machine, users, 'max') == pytest.approx(100.0)
    assert S.f_score(machine, users, 'avg') == pytest.approx(50.0)
    with pytest.raises(ValueError):
        S.f_score(machine[:9], users)


def test_rewards_follow_the_paper():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(20, 5)).astype(np.float32)
    a = rng.random(20).astype(np.float32)
    r_aes, r_rep, r_div = T.reward_terms([0, 5], a, x)
    assert r_aes == pytest.approx((a[0] + a[5]) / 2)
    d = np.linalg.norm(x[:, None] - x[None, [0, 5]], axis=2).min(1)
    assert r_rep == pytest.approx(np.exp(-d.mean()), rel=1e-5)
    assert r_div == pytest.approx(np.linalg.norm(x[0] - x[5]), rel=1e-5)
    # all frames picked: perfectly representative
    assert T.reward_terms(list(range(20)), a, x)[1] == pytest.approx(1.0)


def test_sampler_demotes_similar_frames_and_reinforce_learns():
    torch = pytest.importorskip('torch')
    # three clusters of frames, aesthetics high in A, good in B, poor in C: after a pick in A, the sampler's
    # re-weighting (f_m = N(f_m-1 o (1 - u_p))) moves the next pick out of A, to B
    rng = np.random.default_rng(3)
    centres = [rng.normal(size=8) for _ in range(3)]
    x = np.stack([centres[k] + 0.05 * rng.normal(size=8) for k in range(3) for _ in range(8)])
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    a = np.concatenate([0.9 + 0.01 * rng.random(8), 0.8 + 0.01 * rng.random(8), 0.3 + 0.01 * rng.random(8)]).astype(np.float32)
    s = torch.tensor(a)
    xn = torch.tensor(x)
    picks, logp = T.pick_frames(s, xn @ xn.T, 2, sample=False)
    assert picks[0] < 8 and 8 <= picks[1] < 16, picks
    assert float(logp) < 0
    model = T.RLDiVTS(8, T.RLDiVTSConfig(m=2, epochs=4, episodes=6, hidden=16, seed=0))
    hist = model.train([(a, x)])
    assert len(hist) == 4 and np.isfinite(hist).all()
    p = model.select(a, x)
    assert len(set(p)) == 2


def test_aesthetics_prefer_good_framing():
    frame = (np.random.default_rng(4).random((240, 320, 3)) * 255).astype(np.uint8)
    good, terms = T.cinematic_aesthetics(frame, (320 / 3 - 15, 240 / 3 - 30, 30, 60))
    cut, _ = T.cinematic_aesthetics(frame, (300, 0, 20, 60))
    none, _ = T.cinematic_aesthetics(frame, None)
    assert good > cut > none or good > none > 0
    assert 0 <= good <= 1 and set(terms) >= {'framing', 'size', 'sharpness', 'exposure', 'horizon', 'visibility'}
    f = T.frame_features(frame)
    assert f.shape == (8 * 8 + 16,) and abs(np.linalg.norm(f) - 1) < 1e-5
