"""Hungarian matcher and set criterion (DETR eq. 1 and 2), with Group DETR query groups."""
import torch

from uavcine.core import detr as D


def targets():
    return [{'labels': torch.tensor([0, 2]), 'boxes': torch.tensor([[0.3, 0.4, 0.1, 0.2], [0.7, 0.6, 0.2, 0.3]])},
            {'labels': torch.tensor([1]), 'boxes': torch.tensor([[0.5, 0.5, 0.4, 0.2]])}]


def perfect_outputs(tg, num_queries, num_classes, order):
    """Predictions that equal the targets at query positions ``order[b]``; no-object elsewhere."""
    bs = len(tg)
    logits = torch.full((bs, num_queries, num_classes + 1), -10.0)
    logits[:, :, -1] = 10.0
    boxes = torch.full((bs, num_queries, 4), 0.5)
    boxes[:, :, 2:] = 0.05
    for b, t in enumerate(tg):
        for j, q in enumerate(order[b]):
            logits[b, q] = -10.0
            logits[b, q, t['labels'][j]] = 10.0
            boxes[b, q] = t['boxes'][j]
    return {'pred_logits': logits, 'pred_boxes': boxes}


def test_matcher_finds_the_permutation():
    tg = targets()
    order = [[4, 1], [2]]
    out = perfect_outputs(tg, 5, 3, order)
    idx = D.HungarianMatcher(1, 5, 2)(out, tg)
    for b, (src, tgt) in enumerate(idx):
        got = dict(zip(tgt.tolist(), src.tolist()))
        assert got == {j: q for j, q in enumerate(order[b])}


def test_matcher_and_criterion_with_no_targets():
    tg = [{'labels': torch.zeros(0, dtype=torch.int64), 'boxes': torch.zeros(0, 4)}]
    out = {'pred_logits': torch.randn(1, 4, 4), 'pred_boxes': torch.rand(1, 4, 4)}
    idx = D.HungarianMatcher(1, 5, 2)(out, tg)
    assert len(idx[0][0]) == 0
    crit = D.SetCriterion(3, D.HungarianMatcher(1, 5, 2), {'loss_ce': 1}, eos_coef=0.1)
    losses = crit(out, tg)
    assert torch.isfinite(losses['loss_ce']) and float(losses['loss_bbox']) == 0.0


def test_criterion_is_near_zero_for_perfect_predictions_and_large_otherwise():
    tg = targets()
    cfg = D.DETRConfig(class_names=['a', 'b', 'c'], num_queries=5, dec_layers=2)
    crit = D.build_criterion(cfg)
    assert abs(float(crit.empty_weight[-1]) - cfg.eos_coef) < 1e-6 and float(crit.empty_weight[0]) == 1.0
    good = perfect_outputs(tg, 5, 3, [[4, 1], [2]])
    good['aux_outputs'] = [dict(good)]
    lg = crit(good, tg)
    assert float(lg['loss_bbox']) < 1e-6 and float(lg['loss_giou']) < 1e-6 and float(lg['loss_ce']) < 1e-3
    assert float(lg['class_error']) == 0.0 and 'loss_giou_0' in lg and 'loss_giou_0' in crit.weight_dict
    bad = perfect_outputs(tg, 5, 3, [[4, 1], [2]])
    bad['pred_boxes'] = (bad['pred_boxes'] + 0.2).clamp(max=1.0)
    bad['pred_logits'] = bad['pred_logits'].roll(1, dims=-1)
    lb = crit(bad, tg)
    assert float(lb['loss_bbox']) > 0.1 and float(lb['loss_giou']) > 0.1 and float(lb['loss_ce']) > 1.0


def test_group_loss_is_the_sum_of_independent_group_losses():
    torch.manual_seed(0)
    tg = targets()
    q, groups = 4, 3
    crit = D.SetCriterion(3, D.HungarianMatcher(1, 5, 2), {}, eos_coef=0.1, num_queries=q)
    out = {'pred_logits': torch.randn(2, q * groups, 4), 'pred_boxes': torch.rand(2, q * groups, 4) * 0.5 + 0.25}
    total = crit(out, tg)
    single = D.SetCriterion(3, D.HungarianMatcher(1, 5, 2), {}, eos_coef=0.1, num_queries=q)
    expect = sum(single({k: v[:, g * q:(g + 1) * q] for k, v in out.items()}, tg)['loss_giou'] for g in range(groups))
    assert torch.allclose(total['loss_giou'], expect)


def test_generalized_iou_values():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0], [3.0, 3.0, 4.0, 4.0]])
    g = D.generalized_box_iou(a, b)[0]
    assert abs(float(g[0]) - 1.0) < 1e-6
    assert abs(float(g[1]) - (1 / 7 - 2 / 9)) < 1e-6  # IoU 1/7, hull 9, union 7
    assert abs(float(g[2]) - (0 - 11 / 16)) < 1e-6  # disjoint: -(hull - union)/hull
