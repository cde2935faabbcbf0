"""The pooled held-out table of fold models (eval/det_folds.py, issue #21)."""
import json

import pytest
import torch

from test_det_real import dev_set
from uavcine.eval import det_folds


def fold_result(seq, cls, best_iou, matched, detections, boxes):
    """A det_eval JSON result with one scored sequence and its labelled frames' counts."""
    b = best_iou
    return {'per_sequence': {seq: {'cls': cls, 'frames': list(range(len(b))), 'best_iou': b},
                             'DTB70_Gull1': {'cls': None, 'frames': [], 'best_iou': []}},
            'recall': {'per_sequence': {seq: {'cls': cls, 'frames': len(b),
                                              'recall@0.5': sum(x >= 0.5 for x in b) / len(b),
                                              'recall@0.3': sum(x >= 0.3 for x in b) / len(b)}}},
            'precision': {'frames': 1, 'detections': detections, 'matched': matched, 'boxes': boxes,
                          'per_class': {cls: {'detections': detections, 'matched': matched, 'boxes': boxes}}}}


def test_pool_pools_frames_not_sequence_means_and_sums_detections():
    a = fold_result('DTB70_BMX3', 'person', [0.6, 0.0, 0.0, 0.0], 1, 4, 3)    # 1 of 4 frames at 0.5
    b = fold_result('OTB_Couple', 'person', [0.6, 0.4], 2, 2, 6)             # 1 of 2 at 0.5, 2 of 2 at 0.3
    p = det_folds.pool([a, b])
    assert p['per_class']['person']['frames'] == 6
    assert p['per_class']['person']['recall@0.5'] == pytest.approx(2 / 6)   # not the mean of 1/4 and 1/2
    assert p['per_class']['person']['recall@0.3'] == pytest.approx(3 / 6)
    assert p['precision']['precision'] == pytest.approx(3 / 6) and p['precision']['frames'] == 2
    assert set(p['per_sequence']) == {'DTB70_BMX3', 'OTB_Couple'}  # the gull is not a row


def test_cli_scores_each_fold_model_on_its_own_held_out_sequences(tmp_path):
    from detr_fixtures import tiny_config
    from uavcine.core.detr import DETR
    from uavcine.runtime.detector import save_detr_checkpoint
    torch.manual_seed(0)
    model = tmp_path / 'm.pt'
    save_detr_checkpoint(model, DETR(tiny_config()).eval())
    dev = dev_set(tmp_path / 'dev')
    args = ['--otb', str(dev), '--fold', 'A=%s' % model, '--fold', 'B=%s' % model, '--control', str(model),
            '--backend', 'torch', '--labels', 'none', '--step', '1', '--json-out', str(tmp_path / 'f.json'),
            '--out', str(tmp_path / 'f.md')]
    assert det_folds.main(args) == 0
    d = json.loads((tmp_path / 'f.json').read_text())
    # BMX3 (4 frames) is fold A's, UAVDT_S0601 (3 finite rows of 5) fold B's; the same weights as control agree
    assert d['fold models']['per_class']['person']['frames'] == 4 and d['fold models']['per_class']['car']['frames'] == 3
    assert d['fold models']['per_class'] == d[str(model)]['per_class']
    assert '| DTB70_BMX3 | A | 4 |' in (tmp_path / 'f.md').read_text()
    assert det_folds.main(['--otb', str(dev), '--fold', 'C=%s' % model]) == 2
    assert det_folds.main(['--otb', str(dev), '--fold', 'x:A=%s' % model, '--fold', 'y:A=%s' % model,
                           '--fold', 'y:B=%s' % model]) == 2  # recipe x lacks fold B
    assert det_folds.main(['--otb', str(dev), '--fold', 'A=%s' % (tmp_path / 'missing.pt')]) == 2
