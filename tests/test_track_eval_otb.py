"""Real sequences in the tracking evaluation: the OTB reader (NaN rows, grayscale frames, a missing frame),
the normalised precision, and `track_eval --otb` end to end on a tiny folder (and on the development set
when it is present)."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from uavcine.core import siamfc as S
from uavcine.eval import metrics
from uavcine.eval import track_eval as E
from uavcine.eval.sequences import OTBError, otb_folders, read_otb

from test_siamfc_tracker import synthetic_sequence

DEV = Path('/work/shared/data/aerial_tracking')


def write_otb(folder: Path, n=10, gray=False, nan_rows=(), missing=None, sep=','):
    frames, boxes = synthetic_sequence(n)
    (folder / 'img').mkdir(parents=True)
    for i, f in enumerate(frames):
        if missing is not None and i == missing:
            continue
        img = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) if gray else cv2.cvtColor(f, cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(folder / 'img' / ('%04d.jpg' % (i + 1))), img)
    rows = []
    for i, (x, y, w, h) in enumerate(boxes):
        rows.append('NaN,NaN,NaN,NaN' if i in nan_rows else sep.join(str(v) for v in (x + 1, y + 1, w, h)))
    (folder / 'groundtruth_rect.txt').write_text('\n'.join(rows) + '\n\n')
    return boxes


def test_nan_rows_are_out_of_view_and_not_scored(tmp_path):
    boxes = write_otb(tmp_path / 'a', nan_rows=(4, 5))
    seq = read_otb(tmp_path / 'a')
    assert len(seq) == 10  # the trailing blank line is not a frame
    assert np.isnan(seq.boxes[4]).all() and np.isnan(seq.boxes[5]).all()
    assert seq.visible[4] == 0.0 and seq.visible[3] == 1.0
    assert np.allclose(seq.boxes[0], boxes[0])  # 1-based file -> continuous 0-based
    assert E.in_view(seq).sum() == 10 - 1 - 2
    ious, errs = E.frame_scores(seq, seq.boxes.copy())
    assert len(ious) == 7 and np.allclose(ious, 1.0)
    assert 'OV' in E.attributes(seq)


def test_tab_separated_and_zero_size_rows(tmp_path):
    write_otb(tmp_path / 'a', sep='\t')
    gt = tmp_path / 'a' / 'groundtruth_rect.txt'
    lines = gt.read_text().splitlines()
    lines[2] = '0\t0\t0\t0'  # some datasets mark out-of-view this way
    gt.write_text('\n'.join(lines))
    seq = read_otb(tmp_path / 'a')
    assert np.isfinite(seq.boxes[1]).all() and np.isnan(seq.boxes[2]).all()


def test_grayscale_frames_come_back_rgb(tmp_path):
    write_otb(tmp_path / 'g', gray=True)
    seq = read_otb(tmp_path / 'g')
    img = seq.frame(3)
    assert img.shape == (120, 160, 3) and img.dtype == np.uint8
    assert np.array_equal(img[..., 0], img[..., 1])


def test_missing_frame_is_one_clear_error(tmp_path):
    write_otb(tmp_path / 'm', missing=6)
    with pytest.raises(OTBError, match=r'frame number 7 is missing.*0006\.jpg to 0008\.jpg'):
        read_otb(tmp_path / 'm')
    write_otb(tmp_path / 'e', missing=9)  # the last frame: fewer frames than boxes
    with pytest.raises(OTBError, match='10 boxes but only 9 frames'):
        read_otb(tmp_path / 'e')
    (tmp_path / 'u').mkdir()
    with pytest.raises(OTBError, match='no groundtruth_rect.txt'):
        read_otb(tmp_path / 'u')
    with pytest.raises(OTBError, match='no OTB sequences'):
        otb_folders([tmp_path / 'u'])


def test_bad_groundtruth_line_names_the_line(tmp_path):
    write_otb(tmp_path / 'b')
    gt = tmp_path / 'b' / 'groundtruth_rect.txt'
    gt.write_text(gt.read_text().replace('\n', '\n1,2,3\n', 1))
    with pytest.raises(OTBError, match='line 2: 3 values'):
        read_otb(tmp_path / 'b')


def test_normalised_precision():
    t = np.array([[0, 0, 10, 20], [0, 0, 10, 20]], float)
    p = np.array([[1, 0, 10, 20], [np.nan] * 4])  # 0.1 box widths off; no box
    e = metrics.normalized_centre_error(p, t)
    assert np.isclose(e[0], 0.1) and np.isinf(e[1])
    assert np.isclose(metrics.normalized_precision(e), 0.5 * np.mean(metrics.NORM_PRECISION_THRESHOLDS >= 0.1 - 1e-12))


def test_cli_otb_end_to_end(tmp_path, monkeypatch):
    root = tmp_path / 'seqs'
    write_otb(root / 'one', n=8, nan_rows=(5,))
    write_otb(root / 'two', n=8, gray=True)
    torch.manual_seed(0)
    net = S.SiamFCNet(0.25)
    S.init_weights(net)
    model = tmp_path / 'm.pt'
    torch.save(S.save_checkpoint(net, S.SiamFCConfig(width=0.25)), model)
    out = tmp_path / 'eval.md'
    rc = E.main(['--suite', 'none', '--otb', str(root), '--model', str(model), '--backend', 'torch',
                 '--trackers', 'SiamFC,SiamFC + hold,MIL', '--out', str(out), '--plot-real', str(tmp_path / 'p.png'),
                 '--json', str(tmp_path / 'r.json')])
    assert rc == 0
    text = out.read_text()
    assert '## Real sequences' in text and '| one | 8 |' in text and '| two | 8 |' in text
    res = json.loads((tmp_path / 'r.json').read_text())
    m = res['real']['SiamFC']['mean']
    assert 0.3 < m['auc'] <= 1.0 and m['fps'] > 0 and m['fps_decode'] < m['fps']
    assert [r['frames'] for r in res['real']['MIL']['per_seq']] == [6, 7]  # init frame and the NaN row unscored
    assert len(res['real_calib'][0]['stats']) == 8
    assert (tmp_path / 'p.png').stat().st_size > 1000


def test_cli_otb_missing_frame_exits_2(tmp_path, capsys):
    write_otb(tmp_path / 's', missing=2)
    rc = E.main(['--suite', 'none', '--otb', str(tmp_path / 's'), '--out', str(tmp_path / 'x.md')])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and 'frame number 3 is missing' in err[0]


@pytest.mark.skipif(not DEV.is_dir(), reason='real development set not present (%s)' % DEV)
def test_development_set_reads():
    seqs = [read_otb(f) for f in otb_folders([DEV])]
    assert len(seqs) == 9
    for s in seqs:
        assert np.isfinite(s.boxes[0]).all()
        assert s.frame(len(s) - 1).ndim == 3


def test_leave_one_sequence_out_calibration():
    """The quality head's LOSO fit: each sequence is predicted by a head that never saw it."""
    from uavcine.train import siamfc_train as T  # lazy: the training module is only needed here
    rng = np.random.default_rng(0)
    n = 3 * 60
    iou = rng.uniform(0, 1, n)
    feats = np.c_[iou + rng.normal(0, 0.1, n), rng.normal(0, 1, n)]  # one informative feature, one noise
    seq_of = np.repeat(np.arange(3), 60)
    lo = T.loso(feats, iou, seq_of, ['a', 'b', 'c'], 'on')
    assert set(lo['per_seq']) == {'a', 'b', 'c'} and all(v > 0.8 for v in lo['per_seq'].values())
    assert lo['pooled'] > 0.8 and np.all((lo['q'] >= 0) & (lo['q'] <= 1))
    assert np.array_equal(T.quality_target(np.array([0.1, 0.2, 0.5]), 'on'), [0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match='quality target'):
        T.quality_target(iou, 'psr')


def test_loso_heads_never_see_their_own_sequence():
    """Each sequence's head is fitted on the others (and the extra simulator frames) only: changing a sequence's
    own data leaves its head unchanged and changes the others'."""
    from uavcine.train import siamfc_train as T  # lazy: the training module is only needed here
    rng = np.random.default_rng(1)

    def seq(n, flip=False):
        iou = rng.uniform(0, 1, n)
        f = np.c_[(1 - iou if flip else iou) + rng.normal(0, 0.1, n), rng.normal(0, 1, n)]
        return f, iou

    data = {'a': seq(50), 'b': seq(50), 'c': seq(50)}
    extra = seq(40)
    h = T.loso_heads(data, extra)
    h2 = T.loso_heads(dict(data, a=seq(50, flip=True)), extra)
    assert np.allclose(h['a'], h2['a']) and not np.allclose(h['b'], h2['b'])
    assert all(len(c) == 3 and c[1] > 0 for c in h.values())  # bias + 2 weights; quality rises with the IoU

    # the target: 'iou' (the shipped head's) predicts the IoU itself, 'on' the probability that IoU >= 0.2
    f_mid = np.array([0.5, 0.0])  # a box at IoU ~0.5
    q = {k: 1 / (1 + np.exp(-(c[0] + f_mid @ np.asarray(c[1:])))) for k, c in
         (('iou', T.loso_heads(data, extra, 'iou')['a']), ('on', T.loso_heads(data, extra, 'on')['a']))}
    assert abs(q['iou'] - 0.5) < 0.1 and q['on'] > 0.8


def test_cli_loso_calibration_gates_with_held_out_heads(tmp_path):
    root = tmp_path / 'seqs'
    for name in ('one', 'two', 'three'):
        write_otb(root / name, n=8)
    torch.manual_seed(0)
    net = S.SiamFCNet(0.25)
    S.init_weights(net)
    model = tmp_path / 'm.pt'
    torch.save(S.save_checkpoint(net, S.SiamFCConfig(width=0.25)), model)
    args = ['--suite', 'none', '--otb', str(root), '--model', str(model), '--backend', 'torch', '--loso-calib',
            '--out', str(tmp_path / 'e.md'), '--plot-real', str(tmp_path / 'p.png'), '--json', str(tmp_path / 'r.json')]
    assert E.main(args + ['--trackers', 'SiamFC,SiamFC + hold']) == 0
    res = json.loads((tmp_path / 'r.json').read_text())['real']
    assert list(res) == ['SiamFC', 'SiamFC + hold'] and len(res['SiamFC + hold']['per_seq']) == 3
    text = (tmp_path / 'e.md').read_text()
    assert 'leave-one-sequence-out' in text and 'gate - no gate' in text
    assert E.main(args + ['--trackers', 'SiamFC + hold']) == 2  # the ungated run is the calibration data
    assert E.main(args + ['--calib-extra', str(tmp_path / 'none.npz')]) == 2  # one clear line, no traceback


def test_init_shift_starts_the_trackers_on_a_moved_box(tmp_path):
    """OTB's spatial robustness: --init-shift moves only the start box (frame 0 is not scored), so a tracker that
    follows the patch (CSRT: deterministic) scores less when started 6 px off; a malformed shift is one clear line and exit status 2."""
    write_otb(tmp_path / 's' / 'one', n=8)
    args = ['--suite', 'none', '--otb', str(tmp_path / 's'), '--trackers', 'CSRT', '--out', str(tmp_path / 'e.md'),
            '--plot-real', str(tmp_path / 'p.png'), '--json', str(tmp_path / 'r.json')]
    aucs = []
    for shift in ('0,0', '6,6'):
        assert E.main(args + ['--init-shift', shift]) == 0
        aucs.append(json.loads((tmp_path / 'r.json').read_text())['real']['CSRT']['mean']['auc'])
    assert aucs[1] < aucs[0] and 'shifted by (6,6) px' in (tmp_path / 'e.md').read_text()
    assert E.main(args + ['--init-shift', 'left']) == 2
