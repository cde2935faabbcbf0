"""The detection evaluation on real footage (issue #21): class mapping, boxes in original pixels, NaN rows
skipped, precision on a labelled frame (with its region), clear errors, and the labelled development frames."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from uavcine.eval import det_eval as D
from uavcine.eval.sequences import read_otb
from uavcine.runtime.detector import Detections


def write_otb(folder: Path, boxes_1based, size=(1280, 720)):
    """A tiny OTB folder: grey frames of ``size``, the given 1-based rows (None: a NaN row)."""
    (folder / 'img').mkdir(parents=True)
    for i in range(len(boxes_1based)):
        cv2.imwrite(str(folder / 'img' / ('%04d.jpg' % (i + 1))), np.full((size[1], size[0], 3), 90, np.uint8))
    rows = ['NaN,NaN,NaN,NaN' if b is None else ','.join(str(v) for v in b) for b in boxes_1based]
    (folder / 'groundtruth_rect.txt').write_text('\n'.join(rows) + '\n')
    return folder


def fixed(boxes_xyxy, classes, scores=None):
    """A stand-in detector: the same detections (original pixels) on every frame."""
    b = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    s = np.asarray(scores if scores is not None else [0.9] * len(b), np.float64)
    return lambda rgb: D.Dets(b, s, list(classes))


def test_class_mapping_table_and_names():
    assert D.target_class('DTB70_BMX3') == 'person'
    assert D.target_class('UAVDT_S0601') == 'car'
    assert D.target_class('UAV123_10fps_truck2') == 'car'
    assert D.target_class('DTB70_Gull1') is None
    # unseen sequences, by the words of their names
    assert D.target_class('UAV123_car6') == 'car'
    assert D.target_class('UAV123_person14_2') == 'person'
    assert D.target_class('DTB70_Walking') == 'person'
    assert D.target_class('UAV123_bird1_2') is None
    assert D.target_class('something_else') is None
    assert D.target_class('DTB70_Gull1', {'DTB70_Gull1': 'car'}) == 'car'
    # detector classes: COCO's truck and bus count as vehicles; a tower is neither
    assert D.canonical('truck') == 'car' and D.canonical('person') == 'person' and D.canonical('tower') is None


def test_detr_detect_fn_maps_classes_and_drops_others():
    class Fake:
        def detect(self, rgb, score_threshold, max_detections):
            assert score_threshold == 0.3
            return Detections(np.array([[0, 0, 10, 10], [5, 5, 20, 20], [1, 1, 2, 2]], float),
                              np.array([0.9, 0.5, 0.4]), np.array([2, 1, 0]), ['person', 'truck', 'tower'])  # labels: tower, truck, person
    d = D.detr_detect_fn(Fake(), 0.3)(None)
    assert d.classes == ['car', 'person']
    assert np.allclose(d.boxes_xyxy, [[5, 5, 20, 20], [1, 1, 2, 2]]) and np.allclose(d.scores, [0.5, 0.4])


def test_boxes_compared_in_original_pixels(tmp_path):
    # a 1280x720 sequence, target at 1-based (101, 201) 40x80 -> original pixels [100, 200, 140, 280]
    seq = read_otb(write_otb(tmp_path / 'DTB70_BMX3', [(101, 201, 40, 80)] * 3))
    hit = D.recall_of_targets(fixed([[100, 200, 140, 280]], ['person']), [seq], step=1, progress=False)
    assert np.allclose(hit['DTB70_BMX3']['best_iou'], 1.0)
    # the same box in the network's 384x288 letterbox (scale 0.3) is not where the target is
    net = D.recall_of_targets(fixed([[30, 60 + 36, 42, 84 + 36]], ['person']), [seq], step=1, progress=False)
    assert max(net['DTB70_BMX3']['best_iou']) == 0.0
    # a detection of the other class does not count, however well it overlaps
    car = D.recall_of_targets(fixed([[100, 200, 140, 280]], ['car']), [seq], step=1, progress=False)
    assert D.summarise_recall(car)['per_class']['person']['recall@0.5'] == 0.0


def test_recall_thresholds_and_nan_rows_skipped(tmp_path):
    rows = [None if i in (0, 20) else (101, 201, 40, 80) for i in range(35)]
    seq = read_otb(write_otb(tmp_path / 'UAVDT_S0601', rows, size=(320, 240)))
    assert D.scored_frames(seq.boxes, 10) == [10, 30]   # frames 0 and 20 are NaN rows: skipped
    # a box of IoU 0.4 with the target: counts at 0.3, not at 0.5
    b = [100, 200, 140, 280]
    shifted = [b[0] + 17.1428, b[1], b[2] + 17.1428, b[3]]  # overlap 22.857/40 -> IoU 0.4
    per = D.recall_of_targets(fixed([shifted], ['car']), [seq], step=10, progress=False)
    assert per['UAVDT_S0601']['frames'] == [10, 30]
    s = D.summarise_recall(per)
    assert s['per_class']['car']['frames'] == 2
    assert s['per_class']['car']['recall@0.5'] == 0.0 and s['per_class']['car']['recall@0.3'] == 1.0
    assert s['per_sequence']['UAVDT_S0601']['cls'] == 'car'


def test_unscored_sequence_is_listed_not_counted(tmp_path):
    seq = read_otb(write_otb(tmp_path / 'DTB70_Gull1', [(1, 1, 5, 5)] * 2, size=(64, 48)))
    per = D.recall_of_targets(fixed([], []), [seq], step=1, progress=False)
    assert per['DTB70_Gull1']['cls'] is None and D.summarise_recall(per)['per_class'] == {}


def test_precision_on_a_labelled_frame(tmp_path):
    folder = write_otb(tmp_path / 'OTB_Couple', [(11, 11, 20, 40)] * 2, size=(320, 240))
    labels = {'frames': [{'sequence': 'OTB_Couple', 'frame': 1, 'region': [0, 0, 200, 240],
                          'boxes': [{'cls': 'person', 'xywh': [10, 10, 20, 40]},
                                    {'cls': 'car', 'xywh': [100, 100, 60, 30]}]}]}
    det = fixed([[10, 10, 30, 50],       # the person: matched
                 [11, 11, 31, 51],       # a duplicate of it: a false positive
                 [100, 100, 160, 130],   # the car, called a person: a false positive
                 [250, 100, 300, 130]],  # centred outside the labelled region: not counted
                ['person', 'person', 'person', 'car'], [0.9, 0.8, 0.7, 0.99])
    p = D.precision_on_labels(det, labels, {'OTB_Couple': folder}, progress=False)
    assert (p['matched'], p['detections'], p['boxes']) == (1, 3, 2)
    assert p['precision'] == pytest.approx(1 / 3) and p['recall'] == pytest.approx(0.5)
    car = p['per_class']['car']
    assert (car['boxes'], car['detections'], car['matched'], car['recall']) == (1, 0, 0, 0.0)
    assert np.isnan(car['precision'])  # no car detections: precision undefined, not 0 or 1
    assert p['per_class']['person']['precision'] == pytest.approx(1 / 3)


def test_greedy_matching_takes_the_higher_score_first():
    boxes = [{'cls': 'person', 'xywh': [0, 0, 10, 10]}]
    d = D.Dets(np.array([[0, 0, 10, 10], [0, 0, 10, 9]], float), np.array([0.4, 0.9]), ['person', 'person'])
    assert D.match_frame(d, boxes) == (1, 2, 1)


def test_cli_errors_are_one_line(tmp_path):
    r = run_cli_module('--otb', tmp_path / 'nope')
    assert r.returncode == 2 and r.stderr.strip().count('\n') == 0 and 'no such folder' in r.stderr
    folder = write_otb(tmp_path / 'seqs' / 'DTB70_BMX3', [(1, 1, 5, 5)], size=(64, 48))
    bad = tmp_path / 'labels.json'
    bad.write_text('{"frames": [{"sequence": "DTB70_BMX3", "frame": 0, "boxes": [{"cls": "dog", "xywh": [0,0,1,1]}]}]}')
    r = run_cli_module('--otb', folder.parent, '--labels', bad)
    assert r.returncode == 2 and 'cls (person|car)' in r.stderr and r.stderr.strip().count('\n') == 0
    r = run_cli_module('--otb', folder.parent, '--step', '0')
    assert r.returncode == 2 and '--step' in r.stderr


def run_cli_module(*args):
    import os
    import subprocess
    import sys
    return subprocess.run([sys.executable, '-m', 'uavcine.eval.det_eval', *map(str, args)], capture_output=True,
                          text=True, env=dict(os.environ, PYTHONUNBUFFERED='1'), timeout=120)


def test_labelled_development_frames(shared_data):
    """The shipped labels name real development frames, inside the frame, every box inside its region."""
    labels = D.load_labels(D.LABELS)
    root = shared_data / 'aerial_tracking'
    assert len(labels['frames']) >= 10 and sum(len(f['boxes']) for f in labels['frames']) >= 25
    for f in labels['frames']:
        seq = read_otb(root / f['sequence'])
        h, w = seq.frame(f['frame']).shape[:2]
        assert f['image_size'] == [w, h] and f['frame'] % 10 == 0
        x0, y0, x1, y1 = f['region']
        for b in f['boxes']:
            x, y, bw, bh = b['xywh']
            assert 0 <= x0 <= x + bw / 2 < x1 <= w and 0 <= y0 <= y + bh / 2 < y1 <= h, (f['sequence'], b)
            if b.get('source'):  # the annotated target keeps the dataset's box
                assert np.allclose(b['xywh'], seq.boxes[f['frame']], atol=0.05)


def test_end_to_end_on_one_development_sequence(shared_data, tmp_path):
    out = tmp_path / 'det.md'
    r = run_cli_module('--otb', shared_data / 'aerial_tracking' / 'UAVDT_S0601', '--step', '40', '--out', out,
                       '--json-out', tmp_path / 'd.json')
    assert r.returncode == 0, r.stderr
    d = json.loads((tmp_path / 'd.json').read_text())
    assert d['per_sequence']['UAVDT_S0601']['frames'] == [0, 40, 80]
    assert d['precision']['frames'] == 1   # the labelled frame of this sequence
    assert '| car | 1 | 3 |' in out.read_text()


def test_official_detr_r50_release_runs_through_the_real_evaluation(tmp_path):
    """The command for users who bring facebookresearch/detr's released weights: a file in the release's format
    ({'model': state_dict}, COCO classes; random weights here: none can be downloaded) goes through det_eval with
    COCO's person and car/truck/bus mapped, at a small input so that the test stays fast."""
    import torch
    from uavcine.core import detr as C
    torch.manual_seed(0)
    pth = tmp_path / 'detr-r50-e632da11.pth'
    torch.save({'model': C.DETR(C.detr_r50_config()).state_dict(), 'epoch': 499}, pth)
    seqs = tmp_path / 'seqs'
    write_otb(seqs / 'UAVDT_S0601', [(11, 11, 30, 20)] * 2, size=(160, 120))
    write_otb(seqs / 'DTB70_BMX3', [(41, 31, 10, 30)] * 2, size=(160, 120))
    r = run_cli_module('--otb', seqs, '--model', pth, '--backend', 'torch', '--input-size', '128', '96',
                       '--step', '1', '--labels', 'none', '--score', '0.0', '--json-out', tmp_path / 'd.json',
                       '--out', tmp_path / 'd.md')
    assert r.returncode == 0, r.stderr
    d = json.loads((tmp_path / 'd.json').read_text())
    assert set(d['recall']['per_class']) == {'person', 'car'}
    assert d['per_sequence']['UAVDT_S0601']['frames'] == [0, 1]
    # score 0 keeps every query of a mapped class: with 100 random queries some are person and some car/truck/bus
    assert all(0.0 <= v <= 1.0 for r_ in d['per_sequence'].values() for v in r_['best_iou'])
    assert '(input 128x96)' in (tmp_path / 'd.md').read_text()


def test_opencv_hog_peer_finds_a_walker_in_original_pixels(shared_data):
    """The pretrained peer (OpenCV's HOG people detector) on a ground-level development frame: a person box on
    the annotated walker of OTB Couple's first frame, in the original image's pixels whatever the upscale; on a
    flat grey frame nothing."""
    seq = read_otb(shared_data / 'aerial_tracking' / 'OTB_Couple')
    rgb = seq.frame(0)
    gt = D.xywh_to_xyxy(seq.boxes[0])
    for upscale in (2.0, 3.0):
        d = D.hog_detect_fn(0.3, upscale)(rgb)
        assert set(d.classes) == {'person'} and len(d.scores) == len(d.boxes_xyxy)
        assert D.iou_xyxy(d.boxes_xyxy, gt).max() >= 0.3, upscale
        assert (d.boxes_xyxy[:, 2:] <= np.array(rgb.shape[1::-1]) + 16).all()
    assert len(D.hog_detect_fn(0.3)(np.full_like(rgb, 90)).scores) == 0


def test_opencv_hog_cli_writes_its_table_and_refuses_a_bad_upscale(tmp_path):
    folder = write_otb(tmp_path / 'seqs' / 'OTB_Crossing', [(1, 1, 5, 5)], size=(64, 48))
    r = run_cli_module('--otb', folder.parent, '--model', D.HOG_MODEL, '--hog-upscale', '0', '--labels', 'none')
    assert r.returncode == 2 and '--hog-upscale' in r.stderr and r.stderr.strip().count('\n') == 0
    out = tmp_path / 'hog.md'
    r = run_cli_module('--otb', folder.parent, '--model', D.HOG_MODEL, '--labels', 'none', '--out', out)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    # 64 x 48 frames (128 x 96 enlarged): no 64 x 128 window fits; no detection, and no crash (OpenCV 5 segfaults)
    assert 'Model `opencv-hog` (the frame enlarged 2x)' in text and '| person | 1 | 1 | 0.000 | 0.000 |' in text
