"""Training, resuming, exporting and evaluating end to end on a tiny COCO split (seconds, tiny network)."""
import json

import cv2
import numpy as np
import pytest
import torch

from uavcine.train import detr_eval, detr_train


def tiny_coco(root, n, seed):
    rng = np.random.default_rng(seed)
    (root / 'images').mkdir(parents=True)
    (root / 'annotations').mkdir()
    images, anns = [], []
    for i in range(n):
        img = np.full((120, 160, 3), 90, np.uint8)
        x, y = int(rng.integers(10, 100)), int(rng.integers(10, 70))
        cv2.rectangle(img, (x, y), (x + 30, y + 20), (40, 40, 200), -1)
        cv2.imwrite(str(root / 'images' / ('%d.jpg' % i)), img)
        images.append({'id': i + 1, 'file_name': '%d.jpg' % i, 'width': 160, 'height': 120})
        anns.append({'id': i + 1, 'image_id': i + 1, 'category_id': 2, 'bbox': [x, y, 31, 21], 'area': 651,
                     'iscrowd': 0})
    cats = [{'id': 1, 'name': 'person'}, {'id': 2, 'name': 'car'}, {'id': 3, 'name': 'tower'}]
    path = root / 'annotations' / 'instances.json'
    path.write_text(json.dumps({'images': images, 'annotations': anns, 'categories': cats}))
    return str(path)


TINY = ['--channels', '8', '16', '16', '24', '--hidden-dim', '32', '--ffn', '64', '--enc-layers', '1',
        '--dec-layers', '2', '--queries', '6', '--groups', '2', '--input-size', '96', '64', '--batch-size', '2']


@pytest.mark.slow
def test_train_resume_export_evaluate(tmp_path, capsys):
    torch.set_num_threads(1)
    train = tiny_coco(tmp_path / 'train', 4, 0)
    val = tiny_coco(tmp_path / 'val', 2, 1)
    out = tmp_path / 'run'
    args = ['train', '--train', train, '--val', val, '--out', str(out), '--eval-every', '1', '--warmup', '2'] + TINY
    assert detr_train.main(args + ['--epochs', '1']) == 0
    assert (out / 'last.pt').exists() and (out / 'best.pt').exists()
    assert len(json.loads((out / 'history.json').read_text())) == 1
    assert detr_train.main(args + ['--epochs', '2']) == 0  # resumes from last.pt
    hist = json.loads((out / 'history.json').read_text())
    assert [h['epoch'] for h in hist] == [1, 2] and 'val_mAP50' in hist[-1]
    model = tmp_path / 'm.pt'
    assert detr_train.main(['export', '--checkpoint', str(out / 'best.pt'), '--out', str(model)]) == 0
    assert model.exists() and (tmp_path / 'm.onnx').exists()
    assert 'ONNX vs torch' in capsys.readouterr().out
    for backend in ('torch', 'onnxruntime'):
        res_path = tmp_path / ('eval_%s.json' % backend)
        assert detr_eval.main(['--model', str(model), '--ann', val, '--backend', backend,
                               '--json-out', str(res_path)]) == 0
        res = json.loads(res_path.read_text())
        assert set(res['per_class']) == {'person', 'car', 'tower'} and 0.0 <= res['mAP50'] <= 1.0
    assert detr_eval.main(['--model', str(tmp_path / 'missing.pt'), '--ann', val]) == 2


def test_coco_eval_scores_perfect_detections_as_one():
    gt = {'images': [{'id': 1, 'width': 100, 'height': 100}, {'id': 2, 'width': 100, 'height': 100}],
          'annotations': [{'id': 1, 'image_id': 1, 'category_id': 1, 'bbox': [10, 10, 20, 30], 'area': 600,
                           'iscrowd': 0},
                          {'id': 2, 'image_id': 2, 'category_id': 2, 'bbox': [50, 40, 30, 20], 'area': 600,
                           'iscrowd': 0}],
          'categories': [{'id': 1, 'name': 'person'}, {'id': 2, 'name': 'car'}]}
    dets = [{'image_id': 1, 'category_id': 1, 'bbox': [10, 10, 20, 30], 'score': 0.9},
            {'image_id': 2, 'category_id': 2, 'bbox': [52, 41, 30, 20], 'score': 0.8},
            {'image_id': 2, 'category_id': 1, 'bbox': [0, 0, 5, 5], 'score': 0.1}]
    res = detr_eval.coco_eval(gt, dets, ['person', 'car'])
    assert abs(res['per_class']['person']['AP50'] - 1.0) < 1e-9 and abs(res['per_class']['car']['AP50'] - 1.0) < 1e-9
    assert res['per_class']['car']['AP'] < 1.0  # the shifted box loses at high IoU thresholds
