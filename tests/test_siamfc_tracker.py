"""SiamFC tracking on synthetic images: follows a textured patch, gates weak frames, survives bad input."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from uavcine.core import siamfc as S
from uavcine.core.box_ops import iou
from uavcine.core.manager import ManagerConfig

torch.set_num_threads(1)


def synthetic_sequence(n=16, size=(160, 120), box=(40, 40, 24, 20), velocity=(3.0, 1.5), seed=0):
    """A striped patch moving over a blurred-noise background; returns frames and true (x, y, w, h) boxes."""
    rng = np.random.default_rng(seed)
    w, h = size
    bg = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3)).astype(np.uint8), (0, 0), 3)
    patch = np.zeros((box[3], box[2], 3), np.uint8)
    patch[::6, :] = (255, 40, 40)
    patch[:, ::6] = (40, 255, 40)
    patch[6:-6, 6:-6] = (30, 30, 200)
    frames, boxes = [], []
    for i in range(n):
        img = bg.copy()
        x0, y0 = int(round(box[0] + velocity[0] * i)), int(round(box[1] + velocity[1] * i))
        img[y0:y0 + box[3], x0:x0 + box[2]] = patch
        frames.append(img)
        boxes.append((x0, y0, box[2], box[3]))
    return frames, boxes


@pytest.fixture(scope='module')
def net():
    torch.manual_seed(0)
    n = S.SiamFCNet(0.25)
    S.init_weights(n)  # random features are enough to follow a distinctive patch
    return n.eval()


def tracker(net, **kw):
    return S.SiamFCTracker(net, S.SiamFCConfig(width=0.25, **kw))


def test_follows_a_moving_patch(net):
    frames, boxes = synthetic_sequence()
    t = tracker(net)
    r = t.init(frames[0], boxes[0])
    assert r.ok and r.box is not None and r.quality == 1.0 and r.response.shape == (17, 17)
    ious = []
    for f, b in zip(frames[1:], boxes[1:]):
        r = t.update(f)
        assert r.ok and 0.0 <= r.quality <= 1.0 and r.response.shape == (17, 17)
        ious.append(iou(r.box, b))
    assert np.mean(ious) > 0.75, ious
    assert min(ious) > 0.5, ious


def test_scales_batched_equal_one_by_one(net):
    frames, boxes = synthetic_sequence(2)
    t = tracker(net)
    t.init(frames[0], boxes[0])
    crops = np.stack([S.crop_and_resize(frames[1], t.center, t.x_sz * f, 255, t.avg_color) for f in t.scale_factors])
    batched = t.responses(crops)
    single = np.stack([t.responses(c[None])[0] for c in crops])
    assert np.allclose(batched, single, rtol=1e-4, atol=1e-4 * np.abs(single).max())


def test_the_tracker_keeps_no_track_state_and_hold_undoes_a_move(net):
    """SiamFC is the paper's tracker: it always moves to its best response; judging the frame is the manager's."""
    frames, boxes = synthetic_sequence(8)
    t = tracker(net)
    t.init(frames[0], boxes[0])
    t.quality = lambda stats: 0.05  # every frame weak: the tracker still moves
    held = t.box
    r = t.update(frames[1])
    assert r.ok and r.quality == 0.05 and r.box == t.box and r.box != held
    assert t.hold() == held and t.box == held  # the caller judged it weak: back to the previous box
    assert t.hold() == held  # only the last move is undone
    assert not hasattr(S, 'TRACKING') and not hasattr(r, 'state')


def test_quality_head_is_in_unit_range():
    q = S.QualityHead()
    def stats(p, spread):
        return {'peak_spread': spread, 'psr_ratio': 2 * p, 'template_drift': 1 - p, 'scale_change': 0.0,
                'inside': 1.0, 'age': 0.0}
    for p in (0.0, 0.5, 1.0):
        assert 0.0 <= q(stats(p, 5.0)) <= 1.0
    assert q(stats(0.1, 12.0)) < q(stats(1.0, 4.0))
    with pytest.raises(ValueError, match='coefficients'):
        S.QualityHead([1.0, 2.0])(stats(0.5, 5.0))


def test_second_peak_and_spread_of_a_response():
    r = np.zeros((17, 17), np.float32)
    r[8, 8] = 4.0
    r[8, 9] = 3.0  # inside the peak's neighbourhood: not a distractor
    r[2, 14] = 2.5  # the distractor
    assert S.second_peak(r) == 2.5
    assert S.peak_spread(r) == pytest.approx(np.sqrt(3))  # 4, 3 and 2.5 are above half way from 0 to 4
    broad = np.ones((17, 17), np.float32)  # a plateau: every cell but the minimum is near the peak
    broad[0, 0], broad[8, 8] = 0.0, 1.5
    assert S.peak_spread(broad) == pytest.approx(np.sqrt(17 * 17 - 1)) and S.peak_spread(np.zeros((17, 17))) == 17.0


def test_every_stat_is_declared_and_the_exemplar_pass_equals_the_feature_window(net):
    """``TRACK_STATS`` lists what update() computes (a head may name any); the exemplar-branch appearance
    (``appz_*``, one more forward) agrees with the search-feature window's (``app_*``, free)."""
    frames, boxes = synthetic_sequence(6)
    t = tracker(net)
    t.exemplar_pass = True
    t.init(frames[0], boxes[0])
    for f in frames[1:]:
        r = t.update(f)
        assert set(r.stats) == set(S.TRACK_STATS) | set(S.APPZ_STATS)
        assert all(np.isfinite(v) for v in r.stats.values())
        assert abs(r.stats['appz_init'] - r.stats['app_init']) < 0.15
    t2 = tracker(net)
    t2.quality = S.QualityHead([0.0, 1.0], ('appz_init',))  # a head that needs it turns the pass on
    t2.init(frames[0], boxes[0])
    assert 'appz_init' in t2.update(frames[1]).stats


def test_a_model_file_of_round_three_features_keeps_loading(net, tmp_path):
    cfg = S.SiamFCConfig(width=0.25)
    old = S.save_checkpoint(net, cfg, None, {'features': list(S.ROUND3_FEATURES)})
    old['quality'] = [0.5] + [0.1] * len(S.ROUND3_FEATURES)
    del old['quality_keys']  # files written before round five have none
    _, _, q = S.load_checkpoint(old)
    assert q.keys == S.ROUND3_FEATURES and len(q.coef) == len(S.ROUND3_FEATURES) + 1
    frames, boxes = synthetic_sequence(3)
    t = S.SiamFCTracker(net, cfg, q)
    t.init(frames[0], boxes[0])
    assert 0.0 < t.update(frames[1]).quality < 1.0
    new = S.save_checkpoint(net, cfg, S.QualityHead())
    assert S.load_checkpoint(new)[2].keys == S.QUALITY_FEATURES
    with pytest.raises(ValueError, match='does not compute'):
        S.load_checkpoint(dict(new, quality_keys=['no_such_stat'], quality=[0.0, 1.0]))
    with pytest.raises(ValueError, match='coefficients'):
        S.load_checkpoint(dict(new, quality=[0.0, 1.0]))


@pytest.mark.parametrize('box, why', [
    ((500, 500, 20, 20), 'outside'),
    ((-50, 10, 20, 20), 'outside'),
    ((40, 40, 0, 20), 'zero'),
    ((40, 40, 20, -3), 'zero'),
    ((40, float('nan'), 20, 20), 'non-finite'),
    ((1, 2, 3), '4 numbers'),
])
def test_bad_init_box_gives_clear_state(net, box, why):
    frames, _ = synthetic_sequence(2)
    t = tracker(net)
    r = t.init(frames[0], box)
    assert r.box is None and why in r.error and not t.initialised
    assert not t.initialised
    r = t.update(frames[1])
    assert r.box is None and "not initialised" in r.error


@pytest.mark.parametrize('frame, why', [
    (np.zeros((0, 0, 3), np.uint8), 'empty'),
    (np.zeros((120, 0, 3), np.uint8), 'empty'),
    (np.zeros((120, 160), np.uint8), 'HxWx3'),
    (np.zeros((120, 160, 3), np.float32), 'uint8'),
    (None, 'not an array'),
])
def test_bad_frame_is_skipped_with_clear_state(net, frame, why):
    frames, boxes = synthetic_sequence(4)
    t = tracker(net)
    t.init(frames[0], boxes[0])
    t.update(frames[1])
    before = t.box
    r = t.update(frame)
    assert why in r.error and r.box == before and t.initialised
    r = t.update(frames[2])  # and it goes on
    assert r.ok and iou(r.box, boxes[2]) > 0.5
    r = t.init(frame, boxes[0])
    assert r.box is None and why in r.error and not t.initialised


def test_image_size_change_resets_to_lost(net):
    frames, boxes = synthetic_sequence(3)
    t = tracker(net)
    t.init(frames[0], boxes[0])
    r = t.update(cv2.resize(frames[1], (320, 240)))
    assert 'size changed from 160x120 to 320x240' in r.error and r.box is None
    assert not t.initialised
    assert 'not initialised' in t.update(frames[2]).error
    assert t.init(frames[2], boxes[2]).ok


def test_box_partly_outside_is_kept(net):
    frames, _ = synthetic_sequence(2)
    t = tracker(net)
    r = t.init(frames[0], (-10, -10, 30, 30))
    assert r.ok and r.box == (-10.0, -10.0, 30.0, 30.0)
    assert t.update(frames[1]).ok


def test_appearance_prefers_the_target(net):
    frames, boxes = synthetic_sequence(3)
    t = tracker(net)
    t.init(frames[0], boxes[0])
    same = t.appearance(frames[2], boxes[2])
    other = t.appearance(frames[2], (110, 10, 24, 20))
    assert 0.0 <= other < same <= 1.0
    assert t.appearance(np.zeros((0, 0, 3), np.uint8), boxes[2]) == 0.0


MODELS = Path(__file__).resolve().parents[1] / 'models'


@pytest.mark.parametrize('name, keys', [('siamfc_sim.pt', S.ROUND3_FEATURES),  # the default (round three's head)
                                        ('siamfc_real.pt', S.QUALITY_FEATURES)])  # the real-footage fine-tune
def test_shipped_model_tracks_and_its_quality_sees_the_target_vanish(name, keys):
    net, cfg, q = S.load_checkpoint(str(MODELS / name))
    assert cfg.width == 0.5 and q.keys == keys and len(q.coef) == len(keys) + 1
    assert net.state_dict()['backbone.conv1.0.weight'].dtype == torch.float32  # fp16 file, fp32 model
    frames, boxes = synthetic_sequence()
    t = S.SiamFCTracker(net, cfg, q)
    t.init(frames[0], boxes[0])
    results = [t.update(f) for f in frames[1:]]
    assert np.mean([iou(r.box, b) for r, b in zip(results, boxes[1:])]) > 0.8
    weak = ManagerConfig().quality_threshold
    assert min(r.quality for r in results) > weak
    empty = cv2.GaussianBlur(np.random.default_rng(5).integers(0, 255, frames[0].shape).astype(np.uint8), (0, 0), 3)
    r = t.update(empty)  # the target is gone: a weak frame, the box can be held
    assert r.quality < weak and t.hold() == results[-1].box


@pytest.mark.parametrize('reanchor', [0.7, 0.0])
def test_a_contradicting_detection_reanchors_the_running_loop(net, reanchor):
    """The demo's thin tower, in the detect/track loop with a real tracker: the track started on the top of a tall
    target and follows it at good quality; at the window's end a confident same-class detection of the whole target,
    overlapping the track only partly, re-starts the tracker on it under the same id (not with reanchor_score 0)."""
    from uavcine.core.detect_track import DetectTrackLoop  # lazy: only this test runs the loop
    from uavcine.core.manager import Detection, Manager
    frames, boxes = synthetic_sequence(8, box=(40, 30, 20, 60), velocity=(2.0, 0.0))
    cfg = ManagerConfig(quality_threshold=0.0, track_window_s=0.3, target_classes=['tower'], reanchor_score=reanchor)
    loop = DetectTrackLoop(tracker(net), Manager(cfg), use_appearance=False)
    x, y, w, h = boxes[0]
    top = (x, y, w, 12.0)  # the tracker starts on the top fifth only
    loop.on_image(10**8, frames[0])
    loop.on_detections(10**8, [Detection(top, 0.9, 'tower')])
    for i in range(1, 5):
        out = loop.on_image((i + 1) * 10**8, frames[i])
    assert out.state == 2 and out.request_detections  # TRACKING, the window is over: the detector is asked
    drifted = loop.tracker.box
    assert 0.0 < iou(drifted, boxes[4]) < cfg.reinit_iou  # partly overlapping: not the same box by IoU alone
    res = loop.on_detections(5 * 10**8, [Detection(tuple(map(float, boxes[4])), 0.9, 'tower')])
    if reanchor:
        assert res is not None and res.track_id == 1 and np.allclose(loop.tracker.box, boxes[4])
    else:
        assert res is None and loop.tracker.box == drifted


def test_search_feature_window_is_the_exemplar_embedding_of_that_box(net):
    """The appearance features read the search features of the chosen response cell instead of embedding the new box
    again: with valid convolutions and total stride 8, the window (r, c) of the search features is exactly the
    embedding of the 127 px sub-crop starting at (8 r, 8 c) of the search crop, i.e. the box that cell stands for."""
    frames, boxes = synthetic_sequence(2)
    t = tracker(net)
    t.init(frames[0], boxes[0])
    crop = S.crop_and_resize(frames[1], t.center, t.x_sz, 255, t.avg_color)
    _, feats = t.search(crop[None])
    k = t.kernel0.shape[-1]
    assert feats.shape[-1] == 22 and k == 6
    for r, c in ((0, 0), (8, 8), (3, 14), (16, 16)):
        sub = crop[8 * r:8 * r + 127, 8 * c:8 * c + 127]
        emb = t.embed(sub).numpy()[0]
        win = S.feature_window(feats[0], r, c, k)
        assert np.allclose(win, emb, rtol=1e-4, atol=1e-4 * np.abs(emb).max()), (r, c)
    # and their correlation is the response at that cell: the appearance cosine is the normalised response
    raw = t.responses(crop[None])[0]
    win = S.feature_window(feats[0], 5, 9, k)
    assert raw[5, 9] == pytest.approx(t.net.out_scale * float((win * t.kernel0).sum()), rel=1e-4)


def test_running_median_of_peaks_and_hold_forgets_the_weak_frame(net):
    frames, boxes = synthetic_sequence(6)
    t = tracker(net)
    t.init(frames[0], boxes[0])
    peaks = list(t.peaks)
    for f in frames[1:4]:
        r = t.update(f)
        med = 1 / (1 + np.exp(-np.median(peaks)))
        assert r.stats['peak_med_ratio'] == pytest.approx(min(2.0, r.stats['peak_prob'] / med))
        assert r.stats['psr_min_recent'] <= r.stats['psr'] and r.stats['scale_change'] >= 0.0
        peaks.append(r.stats['peak'])
        assert t.peaks == peaks
    psrs, avg = list(t.psrs), t.apce_avg
    t.update(frames[4])
    t.hold()  # a weak frame teaches neither the running median nor the recent template and statistics
    assert t.peaks == peaks and t.psrs == psrs and t.apce_avg == avg
    assert len(S.SiamFCTracker(net, S.SiamFCConfig(width=0.25)).peaks) == 0


def test_crops_into_the_reused_buffer_equal_fresh_crops(net):
    frames, boxes = synthetic_sequence(3)
    t = tracker(net)
    t.init(frames[0], boxes[0])
    t.update(frames[1])  # fills t._crops for frames[1] around the previous centre
    c0 = np.array(t.center)
    r = t.update(frames[2])
    fresh = np.stack([S.crop_and_resize(frames[2], c0, t._before[3] * f, 255, t.avg_color) for f in t.scale_factors])
    assert r.ok and np.array_equal(t._crops, fresh)
    buf = np.zeros((255, 255, 3), np.uint8)
    S.crop_and_resize(frames[2], c0, 90.0, 255, t.avg_color, out=buf)
    assert np.array_equal(buf, S.crop_and_resize(frames[2], c0, 90.0, 255, t.avg_color)) and buf.any()
