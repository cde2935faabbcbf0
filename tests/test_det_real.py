"""Masked real supervision (train/det_real.py, issue #21): which queries a partially labelled real frame leaves
out of the class loss, that the rest of DETR's loss is unchanged, the real frames and the folds by sequence."""
import json

import numpy as np
import pytest
import torch

from test_det_eval import write_otb
from test_detr_train import TINY, tiny_coco
from uavcine.core.detr import HungarianMatcher, SetCriterion
from uavcine.eval import det_eval
from uavcine.train import det_real, detr_train

TARGET = [0.5, 0.5, 0.1, 0.1]  # cx, cy, w, h (normalised)
# query 0 on the target (matched), 1 a near copy of it (IoU ~0.9: a duplicate), 2 far away (an unlabelled
# object, perhaps), 3 overlapping the target a little (IoU 0.25: perhaps a neighbour)
QUERIES = [TARGET, [0.505, 0.5, 0.1, 0.1], [0.2, 0.2, 0.1, 0.1], [0.56, 0.5, 0.1, 0.1]]


def criterion(cls=SetCriterion, **kw):
    weights = {'loss_ce': 1.0, 'loss_bbox': 5.0, 'loss_giou': 2.0}
    return cls(3, HungarianMatcher(1, 5, 2), weights, 0.1, **kw)


def outputs(batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = (0.1 * torch.randn(batch, len(QUERIES), 4, generator=g)).requires_grad_()
    boxes = torch.tensor([QUERIES] * batch, dtype=torch.float32)
    return {'pred_logits': logits, 'pred_boxes': boxes}


def targets(partial):
    return [{'labels': torch.tensor([0]), 'boxes': torch.tensor([TARGET]), 'partial': p} for p in partial]


def test_mask_keeps_matched_and_duplicates_drops_the_rest_only_on_partial_frames():
    out = outputs()
    t = targets([True, False])
    indices = HungarianMatcher(1, 5, 2)(out, t)
    assert [int(i[0]) for i, _ in indices] == [0, 0]  # the exact box is the match
    mask = det_real.ignored_queries(out['pred_boxes'], t, indices, dup_iou=0.5)
    assert mask.tolist() == [[False, False, True, True], [False, False, False, False]]
    # a stricter duplicate overlap leaves the near copy alone too
    mask = det_real.ignored_queries(out['pred_boxes'], t, indices, dup_iou=0.95)
    assert mask[0].tolist() == [False, True, True, True]


def test_ignored_queries_get_no_class_gradient_and_the_others_do():
    out = outputs()
    crit = det_real.PartialLabelCriterion.like(criterion(), dup_iou=0.5)
    losses = crit(out, targets([True, False]))
    losses['loss_ce'].backward()
    g = out['pred_logits'].grad.abs().sum(-1)
    assert g[0, 2] == 0 and g[0, 3] == 0          # unlabelled: no no-object push
    assert g[0, 0] > 0 and g[0, 1] > 0            # the target, and its duplicate pushed to no-object
    assert (g[1] > 0).all()                       # the fully labelled (simulator) frame: DETR's loss on every query


def test_without_partial_frames_the_loss_is_detrs():
    t = targets([False, False])
    a = criterion()(outputs(), t)
    b = det_real.PartialLabelCriterion.like(criterion(), dup_iou=0.5)(outputs(), t)
    assert set(a) == set(b)
    for k in a:
        assert torch.allclose(a[k], b[k]), k


def test_partial_frame_with_its_target_cropped_away_gives_zero_not_nan():
    out = outputs(batch=1)
    t = [{'labels': torch.zeros(0, dtype=torch.int64), 'boxes': torch.zeros(0, 4), 'partial': True}]
    loss = det_real.PartialLabelCriterion.like(criterion())(out, t)['loss_ce']
    assert torch.isfinite(loss.detach()) and float(loss.detach()) == 0.0
    loss.backward()  # still part of the graph


def test_folds_hold_out_every_scored_development_sequence_once_balanced_by_class():
    scored = {n for n, c in det_eval.SEQUENCE_CLASSES.items() if c is not None}
    held = [n for f in det_eval.FOLDS.values() for n in f]
    assert sorted(held) == sorted(scored)
    for names in det_eval.FOLDS.values():
        classes = [det_eval.SEQUENCE_CLASSES[n] for n in names]
        assert classes.count('person') == 3 and classes.count('car') == 1


def dev_set(root):
    """Three OTB folders: a person sequence of fold A, a car sequence of fold B, a gull (not scored)."""
    write_otb(root / 'DTB70_BMX3', [[11, 11, 20, 40]] * 4)
    write_otb(root / 'UAVDT_S0601', [[101, 201, 40, 20], None, None, [101, 201, 40, 20], [1, 1, 5, 5]])
    write_otb(root / 'DTB70_Gull1', [[11, 11, 20, 20]] * 2)
    return root


def test_real_frames_leave_the_fold_out_skip_nan_rows_and_box_in_network_pixels(tmp_path):
    from detr_fixtures import tiny_config
    cfg = tiny_config(input_width=96, input_height=64)
    real = det_real.RealFrames(det_real.RealConfig(str(dev_set(tmp_path)), holdout='A', every=2), cfg, progress=False)
    # fold A holds out BMX3; the gull is no class; frames 0, 2, 4 of S0601 with frame 2 NaN -> 0 and 4
    assert real.sequence == ['UAVDT_S0601', 'UAVDT_S0601'] and real.images.shape == (2, 64, 96, 3)
    assert [list(lab) for lab in real.labels] == [[cfg.class_names.index('car')]] * 2
    # 1280x720 -> 96x54 at scale 0.075, 5 rows of padding above; 1-based (101, 201) is 0-based (100, 200)
    np.testing.assert_allclose(real.boxes[0], [[7.5, 20.0, 10.5, 21.5]], atol=1e-5)
    np.testing.assert_allclose(real.boxes[1], [[0.0, 5.0, 0.375, 5.375]], atol=1e-5)
    both = det_real.RealFrames(det_real.RealConfig(str(tmp_path), holdout='none', every=2), cfg, progress=False)
    assert sorted(set(both.sequence)) == ['DTB70_BMX3', 'UAVDT_S0601']
    with pytest.raises(ValueError, match='holdout'):
        det_real.training_sequences(str(tmp_path), 'C')


def test_training_with_real_frames_runs_and_masks(tmp_path):
    torch.set_num_threads(1)
    train = tiny_coco(tmp_path / 'train', 4, 0)
    out = tmp_path / 'run'
    args = ['train', '--train', train, '--val', train, '--out', str(out), '--eval-every', '5', '--warmup', '1',
            '--epochs', '1', '--real-otb', str(dev_set(tmp_path / 'dev')), '--real-holdout', 'B'] + TINY
    assert detr_train.main(args) == 0
    hist = json.loads((out / 'history.json').read_text())
    assert len(hist) == 1 and np.isfinite(hist[0]['loss']) and hist[0]['step'] == 4  # 4 images, 1 simulated per step
    assert detr_train.main(args[:-len(TINY)] + TINY + ['--real-fraction', '1.0', '--restart']) == 2


def test_time_schedule_decays_over_the_wall_clock_budget():
    assert detr_train.lr_at(10, 100, 1e-3, warmup=50, frac=0.9) == pytest.approx(1e-3 * 11 / 50)  # warm-up first
    assert detr_train.lr_at(60, 100, 1e-3, warmup=50, frac=0.0) == pytest.approx(1e-3)
    assert detr_train.lr_at(60, 100, 1e-3, warmup=50, frac=0.5) == pytest.approx(1e-3 * (0.05 + 0.95 * 0.5))
    assert detr_train.lr_at(60, 100, 1e-3, warmup=50, frac=1.0) == pytest.approx(5e-5)
    assert detr_train.lr_at(60, 100, 1e-3, warmup=50) == pytest.approx(1e-3 * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * 0.2))))


def test_join_batches_marks_only_the_real_frames_partial():
    sim = (torch.zeros(2, 3, 4, 4), targets([False, False]))
    real = (torch.ones(1, 3, 4, 4), [{'labels': torch.tensor([1]), 'boxes': torch.tensor([TARGET])}])
    x, t = det_real.join_batches(sim, real)
    assert x.shape[0] == 3 and float(x[2].min()) == 1.0
    assert [bool(u.get('partial', False)) for u in t] == [False, False, True]


def test_background_weight_one_is_detrs_loss_and_between_pushes_weakly():
    t = targets([True, False])
    a = criterion()(outputs(), t)
    b = det_real.PartialLabelCriterion.like(criterion(), bg_weight=1.0)(outputs(), t)
    for k in a:
        assert torch.allclose(a[k], b[k]), k
    out = outputs()
    with torch.no_grad():
        out['pred_logits'][1] = out['pred_logits'][0]  # the same predictions on a real and a simulator frame
    loss = det_real.PartialLabelCriterion.like(criterion(), bg_weight=0.25)(out, t)['loss_ce']
    loss.backward()
    g = out['pred_logits'].grad.abs().sum(-1)
    # the far and the neighbouring query of the real frame are pushed to no-object 4x less; the matched and the
    # duplicate queries as on the simulator frame
    assert torch.allclose(g[0, 2:], 0.25 * g[1, 2:]) and torch.allclose(g[0, :2], g[1, :2]) and (g > 0).all()
