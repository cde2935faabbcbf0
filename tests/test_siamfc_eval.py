"""The tracking evaluation's pieces on a synthetic sequence: runners, scores, attributes, simulated detector."""
import numpy as np
import pytest
import torch

from uavcine.core import manager as M
from uavcine.core import siamfc as S
from uavcine.eval import track_eval as E
from uavcine.eval.sequences import Seq

from test_siamfc_tracker import synthetic_sequence

torch.set_num_threads(1)


@pytest.fixture(scope='module')
def seq():
    frames, boxes = synthetic_sequence(12)
    b = np.array(boxes, dtype=float)
    vis = np.ones(len(b))
    b[8:10] = np.nan  # "out of view": not scored
    vis[8:10] = 0.0
    objects = [[{'id': 1, 'cls': 'car', 'box': list(bb), 'visible': 1.0, 'target': True}] for bb in boxes]
    return Seq('synthetic', frames, b, vis, {'cls': 'car', 'rate_hz': 10.0, 'objects': objects, 'distractors': 0})


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    net = S.SiamFCNet(0.25)
    S.init_weights(net)
    return net.eval(), S.SiamFCConfig(width=0.25), S.QualityHead()


def test_scores_skip_out_of_view_and_init_frame(seq):
    ious, errs = E.frame_scores(seq, seq.boxes.copy())
    assert len(ious) == len(seq) - 1 - 2 and np.allclose(ious, 1.0) and np.allclose(errs, 0.0)
    assert E.attributes(seq) == ['OV']


def test_siamfc_and_loop_runners(seq, model):
    net, cfg, q = model
    r = E.run_siamfc(seq, net, cfg, q, hold=False)
    ious, _ = E.frame_scores(seq, r.boxes)
    assert ious[:6].mean() > 0.6 and len(r.seconds) == len(seq) - 1
    calls = []

    def detector(seq_, i, img):
        calls.append(i)
        return [M.Detection(tuple(seq_.meta['objects'][i][0]['box']), 0.9, 'car')]

    r = E.run_loop(seq, net, cfg, q, detector, M.ManagerConfig(track_window_s=0.5))
    ious, _ = E.frame_scores(seq, r.boxes)
    assert ious.mean() > 0.6
    assert calls and calls[0] == 5  # the time window (0.5 s at 10 Hz) asks the detector again
    assert r.states[0] == M.TRACKING  # the first frame's true box starts the track


def test_opencv_peer_runs(seq):
    r = E.run_opencv(seq, 'MIL')
    ious, _ = E.frame_scores(seq, r.boxes)
    assert ious[:6].mean() > 0.3


def test_simulated_detector_is_noisy_truth():
    det = E.SimulatedDetector(seed=0, miss=0.0, jitter=0.0, fp=0.0)
    objs = [{'id': 1, 'cls': 'car', 'box': [10, 20, 30, 40], 'visible': 1.0},
            {'id': 2, 'cls': 'car', 'box': [100, 20, 30, 40], 'visible': 0.2}]
    out = det(objs, (640, 480), 'car')
    assert len(out) == 1 and out[0].box == (10, 20, 30, 40) and out[0].class_id == 'car'
    det = E.SimulatedDetector(seed=0, miss=1.0, fp=0.0)
    assert det(objs, (640, 480), 'car') == []
