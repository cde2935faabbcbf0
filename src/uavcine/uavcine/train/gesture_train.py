"""Train and evaluate the skeleton gesture recognisers on UAV-GESTURE (P-I and P-II, three subject splits).

Models (same data, splits, sampling and augmentation):

- ``lstm``: MMGR's recogniser f_G on the skeleton branch alone (seed §3.8: M = 7 joints,
  per-sequence normalisation, LSTM + 2 FC) — ``core.gestures.mmgr.GestureLSTM``.
- ``ddnet``: the DD-Net peer — ``core.gestures.ddnet.DDNet``.

Recipe (fixed before any test number was seen; no development set was used to tune it):
each step draws ``batch`` training videos; each gives one window covering a random 40-100 %
of the video, with probability 0.5 the end of another training video of the same subject
prefixed (up to 25 % of the window: P-II-like transitions, from training data only), mirrored
with probability 0.5 (left-handed versions; move_to_left <-> move_to_right swap labels),
normalised over the window, randomly scaled (0.9-1.1) and rotated (+-10 deg) about the centre,
and sampled to ``frames`` frames (one random frame per equal segment). Adam, cosine learning
rate, label smoothing 0.1. Evaluation averages the softmax over the whole test sequence and five
evenly spaced windows of 60 % of it, each sampled deterministically (segment centres); the
accuracy of the whole sequence alone is stored beside it. The LSTM's per-frame features are the
7 joints and their full-rate velocities, and its outputs are averaged over time before the FC
layers (``--pool mean``). These choices (velocity features, mean pooling, the averaged windows;
against frames 64 and the last hidden state) were made on development splits (``--dev``: the two
highest-numbered training subjects held out; 48 videos over the three splits), never on the test
subjects: P-I on dev, one window / averaged windows: joints, last 64.6 / 64.6 %; + velocities
68.8 / 79.2 %; + 64 frames 75.0 / 77.1 %; + mean pooling (32 frames) 77.1 / 83.3 % — from
``run --dev --models lstm --steps 2000 --out runs/gesture_dev/X`` with ``--no-velocity --pool last``,
``--pool last``, ``--pool last --frames 64`` and the defaults (the JSON files hold both accuracies).

Round three (issue #16: the recipe, toward P-CNN's 91.9 % P-I): candidate changes to the LSTM recipe with the
``none`` class — joint-pair distances as features (``--distances``), per-frame centring (``--frame-centre``),
extra augmentation (``--aug``: speed, dropped joints, jitter), mirror test-time averaging (``--mirror`` of
``ensemble``/``pack``) and seed ensembles (``ensemble``, ``pack``) — are chosen on the same development splits
(``--dev``), one change at a time against the current recipe, by a criterion fixed before any run: the mean of
dev P-I and P-II with all_clear and not_clear merged (``THUMB_PAIR``: the joints cannot separate them, so
their coin flips would only add noise to the choice), the strict P-I as the tie-break. Only the chosen recipe
is then trained on the full training subjects and measured on the test subjects (``compare`` lists runs).
Outcome (models/MODEL_CARD_gesture.md, round three): no single change beat the spread of three seeds of the
unchanged recipe on dev; their ensemble did, and is shipped (test P-I 88.9 %, P-II 86.9 %):

    python -m uavcine.train.gesture_train run --models lstm --none 0.15 --seed S --out runs/i16/test_sS   # S = 0, 1, 2
    python -m uavcine.train.gesture_train ensemble runs/i16/test_s0 runs/i16/test_s1 runs/i16/test_s2
    python -m uavcine.train.gesture_train pack runs/i16/test_s0 runs/i16/test_s1 runs/i16/test_s2 \
        --dest models/gesture_lstm_none.pt
    python -m uavcine.train.gesture_train export --model models/gesture_lstm_none.pt --onnx models/gesture_lstm_none.onnx

Round four (issue #16, second session; protocol fixed before its first run): since the ensemble is what
ships, every candidate is judged as the ensemble of its seeds 0, 1, 2 on the development splits (``--dev``),
against the ensemble of seeds 0, 1, 2 of the current recipe there (dev criterion 92.7, strict P-I 83.1), by
the same criterion (mean of dev P-I and P-II with the thumb pair merged; strict P-I the tie-break). Candidates:
the LSTM's hidden size (``--hidden 256``), longer training (``--steps 6000``), stronger dropout
(``--dropout 0.5``), five seeds instead of three (seeds 3, 4 added), an ensemble of changed recipes (seeds 0, 1, 2
of the current recipe with seeds 0, 1, 2 of ``--aug``: same network, other training), and a feature aimed at the thumb pair
(``--angles``: limb directions, elbow angles and the head's offset, ``skeleton.arm_pose``; as the merged
criterion cannot see that pair, its dev accuracy on the pair's videos is reported beside it). A candidate goes
to the test subjects only if it beats the current ensemble on dev; every one that does is reported there.
Outcome (models/MODEL_CARD_gesture.md, round four): dev criterion --angles 90.7, --hidden 256 91.2, --aug 91.2,
mixed 92.4, --steps 6000 91.2, five seeds 93.6 (current 92.7; --dropout 0.5 not run); five seeds on test: P-I 89.9 % (shipped 88.9), P-II 85.9 % (86.9), idle
false commands 0.36 / min (0.40), real videos through the gate 121 right / 9 wrong (122 / 9): not shipped
(one right command fewer). The commands are in the card.

Round five (issue #16, third session; protocol fixed before its first run): the pooling over time of the
LSTM's outputs, the one part of the network not varied yet (DD-Net, with a global max pool over time, did not
drop from P-I to P-II while the LSTM drops 2 points). Candidates: ``--pool max`` (the maximum of each of the
LSTM's outputs over the 32 steps) and ``--pool meanmax`` (mean and maximum concatenated, FC 256 -> 64); the rest
of the recipe as shipped (``--none 0.15``, defaults). Round four's protocol unchanged: each candidate is the
ensemble of its seeds 0, 1, 2 on the development splits (``--dev``), against the current ensemble's dev
criterion 92.7 (mean of dev P-I and P-II with the thumb pair merged; strict P-I 83.1 the tie-break); every
candidate's dev row is reported. Only a candidate that beats 92.7 (or ties it with a higher strict P-I) is
trained on the full training subjects (seeds 0, 1, 2) and measured on the test subjects (P-I and P-II per split,
``idle-eval``, ``node-eval``); it replaces the shipped model only if its test P-I mean beats 88.9 % with a P-II
no worse than 86.9 % and no more idle false commands a minute (0.00 seen / 0.40 unseen motions). If no
candidate beats the dev criterion, none is measured on the test subjects.
Outcome (models/MODEL_CARD_gesture.md, round five): dev criterion --pool max 90.0, --pool meanmax 89.2 (strict P-I
80.7 both; the shipped recipe re-run here 93.6, round four's 92.7): neither goes to the test subjects, nothing
changes in what ships. Max pooling did not lessen P-II's prefix effect: as ensembles it broke 3 and 4 dev
videos against mean pooling's 1 (members summed: 5 and 8 broken, 2 and 1 fixed, against 7 and 1).

Commands (one thread; resumable: a finished (model, split) is skipped, an unfinished one
restarts from its last checkpoint; ``--budget-min`` stops cleanly):

    python -m uavcine.train.gesture_train run --data ../shared/data/uav_gesture --out runs/gesture
    python -m uavcine.train.gesture_train card --out runs/gesture   # table -> models/MODEL_CARD_gesture.md
    python -m uavcine.train.gesture_train ship --out runs/gesture   # split-1 LSTM -> models/gesture_lstm.pt
    python -m uavcine.train.gesture_train ship --kind ddnet --half --dest models/gesture_ddnet.pt
    python -m uavcine.train.gesture_train export                    # -> models/gesture_lstm.onnx + parity

A 14th class, ``none`` (``--none P``): each training sample is, with probability P, a simulated person who
is idle or walking (``core.gestures.body``, 300 people, seeds from ``NONE_TRAIN_SEED``), and gesture
windows may start with the end of such a person instead of another gesture. ``idle-eval`` measures the
false commands per minute that people who are not signalling cause through the node's gate (evaluation
seeds from ``NONE_EVAL_SEED``; motions seen in training and ``body.HELD_OUT_KINDS``, never seen):

    python -m uavcine.train.gesture_train run --out runs/gesture_none --models lstm --none 0.15
    python -m uavcine.train.gesture_train ship --out runs/gesture_none --dest models/gesture_lstm_none.pt
    python -m uavcine.train.gesture_train idle-eval runs/gesture_none/lstm_split1.pt models/gesture_lstm.pt
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..core.gestures import body as B
from ..core.gestures import skeleton as K
from ..core.gestures.ddnet import DDNet, DDNetConfig
from ..core.gestures.mmgr import POOLS, UAV_GESTURE_LABELS, GestureLSTM, MMGRConfig, from_checkpoint, skeleton_dim
from ..runtime.onnx_export import export_onnx
from . import gesture_eval as E
from . import gesture_pair
from . import uav_gesture as U
from .gesture_eval import LABEL_INDEX, LABELS_WITH_NONE, NONE, NONE_TRAIN_SEED, eval_windows, evaluate, features

MODELS = ('lstm', 'ddnet')


def make_model(kind: str, frames: int, velocity: bool = False, pool: str = 'last', none: bool = False,
               distances: bool = False, frame_centre: bool = False, hidden: int = 128, angles: bool = False,
               dropout: float = 0.3) -> torch.nn.Module:
    labels = LABELS_WITH_NONE if none else UAV_GESTURE_LABELS
    if kind == 'lstm':
        return GestureLSTM(MMGRConfig(labels=labels, frames=frames, velocity=velocity, distances=distances,
                                      angles=angles, frame_centre=frame_centre,
                                      skeleton_dim=skeleton_dim(velocity, distances, angles),
                                      pool=pool, hidden=hidden, dropout=dropout))
    if kind == 'ddnet':
        return DDNet(DDNetConfig(labels=labels, frames=frames))
    raise ValueError('unknown model %r (choose from %s)' % (kind, ', '.join(MODELS)))


def sampled(p7: np.ndarray, frames: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Full-rate normalised (T, 7, 2) joints -> (frames, 7, 2) joints and velocities (units/s at 25 fps)."""
    idx = K.sample_indices(len(p7), frames, rng=rng)
    return p7[idx].astype(np.float32), K.local_velocity(p7, np.arange(len(p7)) / U.FPS, idx)


@functools.lru_cache(maxsize=4)  # the three splits of a run share one bank (it takes ~20 s to simulate)
def none_bank(n: int, seed: int, seconds: float = 15.0, kinds=B.TRAIN_KINDS) -> list[U.Video]:
    """``n`` simulated people not signalling (idle / walking, ``core.gestures.body``), as 25 fps videos
    labelled ``none``; each its own subject."""
    out = []
    for i in range(n):
        s = B.none_sequence(np.random.default_rng(seed + i), seconds, U.FPS, kinds)
        out.append(U.Video('SIM%d' % (seed + i), 'SIM%d' % (seed + i), NONE, s.points18))
    return out


@dataclass
class Augment:
    """Extra training augmentation (``--aug``), on top of the crop / prefix / mirror / rotation and scale of
    the module doc: ``speed``: the video resampled in time by a factor drawn log-uniformly in
    [1 / speed, speed] (a slower or faster performance); ``drop``: probability that one or two of the 7 joints
    are lost (OpenPose's zeros, filled by ``joint_proc`` as at test time) for a span of 10-40 % of the frames;
    ``jitter``: Gaussian noise on every normalised joint (shoulder widths)."""
    speed: float = 1.0
    drop: float = 0.0
    jitter: float = 0.0


NO_AUGMENT = Augment()
EXTRA_AUGMENT = Augment(speed=1.33, drop=0.3, jitter=0.01)


def augmented(v: U.Video, same_subject: list[U.Video], frames: int, rng: np.random.Generator,
              idle: list[U.Video] | None = None, aug: Augment = NO_AUGMENT) -> tuple[np.ndarray, int]:
    """One training window of ``v`` (see the module doc) as full-rate normalised (T, 7, 2) joints, and its label
    index; ``idle``: simulated people not signalling, whose end is prefixed instead of the same subject's other
    gesture with probability 0.5 (a person idles, then signals); ``aug``: the extra augmentation."""
    pts = v.points18
    if aug.speed > 1.0:
        r = math.exp(rng.uniform(-math.log(aug.speed), math.log(aug.speed)))
        pts = pts[np.minimum(np.round(np.arange(0.0, len(pts), r)).astype(int), len(pts) - 1)]
    L = len(pts)
    n = max(frames, int(round(L * rng.uniform(0.4, 1.0))))
    n = min(n, L)
    s = int(rng.integers(0, L - n + 1))
    seq = pts[s:s + n]
    if v.label != NONE and same_subject and rng.random() < 0.5:
        pool = idle if idle and rng.random() < 0.5 else same_subject
        o = pool[int(rng.integers(len(pool)))].points18
        k = int(rng.integers(1, max(2, int(0.25 * n))))
        seq = np.concatenate([o[-k:], seq], axis=0)
    if aug.drop > 0 and rng.random() < aug.drop:
        seq = seq.copy()
        T = len(seq)
        for j in rng.choice(K.UPPER7, size=int(rng.integers(1, 3)), replace=False):
            m = max(1, int(T * rng.uniform(0.1, 0.4)))
            a = int(rng.integers(0, T - m + 1))
            seq[a:a + m, j] = 0.0
    p7, _ = K.joint_proc(seq)
    label = v.label
    if rng.random() < 0.5:
        p7, label = K.mirror(p7), K.mirror_label(label)
    a = math.radians(rng.uniform(-10, 10))
    R = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) * rng.uniform(0.9, 1.1)
    p7 = p7 @ R.T.astype(np.float32)
    if aug.jitter > 0:
        p7 = (p7 + rng.normal(0.0, aug.jitter, p7.shape)).astype(np.float32)
    return p7, LABEL_INDEX[label]


def train_one(kind: str, k: int, data: Path, out: Path, steps: int, batch: int, frames: int, lr: float, seed: int,
              deadline: float, velocity: bool = False, dev: bool = False, pool: str = 'last',
              none: float = 0.0, distances: bool = False, frame_centre: bool = False, aug: Augment = NO_AUGMENT,
              hidden: int = 128, angles: bool = False, dropout: float = 0.3) -> dict | None:
    """Train one (model, split) and evaluate it; ``none`` > 0: a 14th class, ``none``, drawn with that
    probability per sample from simulated people not signalling (``none_bank``, training seeds)."""
    res_file = out / ('%s_split%d.json' % (kind, k))
    if res_file.is_file():
        return json.loads(res_file.read_text())
    videos = U.load(data)
    train, test = U.dev_split(data, k) if dev else U.split(data, k)
    tv = [videos[n] for n in train]
    by_subject = {v.subject: [o for o in tv if o.subject == v.subject] for v in tv}
    idle = none_bank(300, NONE_TRAIN_SEED) if none > 0 else []
    torch.manual_seed(seed + k)
    model = make_model(kind, frames, velocity, pool, none > 0, distances, frame_centre, hidden, angles, dropout)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    ckpt = out / ('%s_split%d.ckpt' % (kind, k))
    start = 0
    rng = np.random.default_rng(seed * 100 + k)
    if ckpt.is_file():
        st = torch.load(ckpt, weights_only=False)
        model.load_state_dict(st['model']); opt.load_state_dict(st['opt']); sched.load_state_dict(st['sched'])
        start, rng = st['step'], st['rng']
    model.train()
    t0 = time.time()
    bar = tqdm(range(start, steps), initial=start, total=steps, desc='%s split%d' % (kind, k), unit='step',
               mininterval=10, file=sys.stdout)
    loss_ema = None
    for step in bar:
        if idle:
            draw = [idle[int(rng.integers(len(idle)))] if rng.random() < none else tv[int(rng.integers(len(tv)))]
                    for _ in range(batch)]
        else:  # the 13-class recipe's random stream, unchanged (its card's numbers reproduce)
            draw = [tv[i] for i in rng.integers(len(tv), size=batch)]
        windows = (augmented(v, [o for o in by_subject.get(v.subject, []) if o.label != v.label], frames, rng, idle, aug)
                   for v in draw)
        items = [(features(model, p7, rng), y) for p7, y in windows]   # in this order: the random stream of round one
        x = torch.from_numpy(np.stack([a for a, _ in items]))
        y = torch.tensor([c for _, c in items])
        loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
        opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        loss_ema = loss.item() if loss_ema is None else 0.98 * loss_ema + 0.02 * loss.item()
        bar.set_postfix(loss='%.3f' % loss_ema, refresh=False)
        if (step + 1) % 200 == 0 or step + 1 == steps or time.time() > deadline:
            torch.save({'model': model.state_dict(), 'opt': opt.state_dict(), 'sched': sched.state_dict(),
                        'step': step + 1, 'rng': rng}, ckpt)
            if time.time() > deadline and step + 1 < steps:
                print('time budget spent at step %d of %d; rerun to resume' % (step + 1, steps))
                return None
    res = evaluate(model, videos, test, frames)
    res.update(model=kind, split=k, steps=steps, batch=batch, frames=frames, lr=lr, seed=seed, velocity=velocity,
               pool=pool, dev=dev, none=none, distances=distances, frame_centre=frame_centre, aug=aug.__dict__,
               hidden=hidden, angles=angles, dropout=dropout, test_videos=test,
               train_s_this_run=round(time.time() - t0, 1), params=sum(p.numel() for p in model.parameters()))
    torch.save({'kind': kind, 'config': model.cfg.__dict__, 'model': model.state_dict()}, out / ('%s_split%d.pt' % (kind, k)))
    res_file.write_text(json.dumps(res, indent=1))
    print('%s split%d: P-I %.3f  P-II %.3f' % (kind, k, res['P-I']['accuracy'], res['P-II']['accuracy']))
    return res


def table(out: Path) -> str:
    rows = ['| model | params | evaluation | P-I split 1 | P-I split 2 | P-I split 3 | **P-I mean** | P-II split 1 | '
            'P-II split 2 | P-II split 3 | **P-II mean** |',
            '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
    for kind in MODELS:
        name = {'lstm': 'skeleton LSTM + 2 FC (MMGR skeleton branch)', 'ddnet': 'DD-Net (re-implemented)'}[kind]
        rs = [out / ('%s_split%d.json' % (kind, k)) for k in (1, 2, 3)]
        if not all(r.is_file() for r in rs):
            rows.append('| %s | | (not finished) | | | | | | | | |' % name)
            continue
        rs = [json.loads(r.read_text()) for r in rs]
        for key, how in (('accuracy', 'windows averaged'), ('accuracy_single_window', 'whole sequence once')):
            cells = []
            for proto in ('P-I', 'P-II'):
                acc = [r[proto][key] * 100 for r in rs]
                cells += ['%.1f' % a for a in acc] + ['**%.1f**' % np.mean(acc)]
            rows.append('| %s | %d | %s | %s |' % (name, rs[0]['params'], how, ' | '.join(cells)))
    rows.append('| P-CNN (published) | | | | | | 91.9 | | | | |')
    return '\n'.join(rows)


def compare(run_dirs: list[Path], kind: str = 'lstm') -> str:
    """A markdown row per run directory: P-I per split and mean, P-II mean (windows averaged), the same with
    all_clear / not_clear merged, and the whole-sequence-once P-I (for recipe comparisons on dev or test)."""
    rows = ['| run | evaluated on | P-I split 1 / 2 / 3 | **P-I mean** | P-II mean | P-I, P-II merged | P-I once |',
            '| --- | --- | --- | ---: | ---: | ---: | ---: |']
    for d in run_dirs:
        fs = [Path(d) / ('%s_split%d.json' % (kind, k)) for k in (1, 2, 3)]
        if not all(f.is_file() for f in fs):
            rows.append('| %s | (not finished) | | | | | |' % d)
            continue
        rs = [json.loads(f.read_text()) for f in fs]
        m = {(proto, key): 100 * np.mean([r[proto].get(key, np.nan) for r in rs])
             for proto in ('P-I', 'P-II') for key in ('accuracy', 'accuracy_thumb_merged', 'accuracy_single_window')}
        rows.append('| %s | %s (%d videos) | %s | **%.1f** | %.1f | %.1f, %.1f | %.1f |' % (
            d, 'dev' if rs[0]['dev'] else 'test', sum(r['P-I']['n'] for r in rs),
            ' / '.join('%.1f' % (100 * r['P-I']['accuracy']) for r in rs), m['P-I', 'accuracy'],
            m['P-II', 'accuracy'], m['P-I', 'accuracy_thumb_merged'], m['P-II', 'accuracy_thumb_merged'],
            m['P-I', 'accuracy_single_window']))
    return '\n'.join(rows)


def confusions(out: Path, kind: str, proto: str) -> str:
    """Misclassified test videos over the three splits: 'true -> predicted (count)'."""
    c = Counter()
    for k in (1, 2, 3):
        f = out / ('%s_split%d.json' % (kind, k))
        if f.is_file():
            r = json.loads(f.read_text())[proto]
            c.update('%s -> %s' % (t, p) for t, p in zip(r['true'], r['pred']) if t != p)
    return ', '.join('%s (%d)' % kv for kv in c.most_common()) or 'none'


def ship(out: Path, dest: Path, kind: str = 'lstm', half: bool = False,
         data: Path = Path('../shared/data/uav_gesture')) -> None:
    """The split-1 model of ``kind`` (trained on split 1's training subjects only) becomes a node model;
    ``half``: float16 weights (the loader makes them float32 again), and split 1's test accuracy of the
    shipped file is printed."""
    src = out / ('%s_split1.pt' % kind)
    ck = torch.load(src, weights_only=False)
    if half:
        ck['model'] = {k: v.half() if v.is_floating_point() else v for k, v in ck['model'].items()}
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ck, dest)
    print('shipped %s -> %s (%d bytes)' % (src, dest, dest.stat().st_size))
    if (data / 'joint_positions').is_dir():
        model = from_checkpoint(torch.load(dest, weights_only=False))
        res = evaluate(model, U.load(data), U.split(data, 1)[1], model.cfg.frames)
        print('split 1 test accuracy of the shipped file: P-I %.3f, P-II %.3f'
              % (res['P-I']['accuracy'], res['P-II']['accuracy']))


def export(model_path: Path, onnx_path: Path, data: Path | None) -> dict:
    """ONNX export (static shape, TensorRT 8.5 ops) of the shipped recogniser, and its parity with torch on
    every evaluation window of split 1's test videos (P-I and P-II), or on random windows without the data."""
    import onnxruntime as ort  # lazy: an optional backend, only for this subcommand
    model = from_checkpoint(torch.load(model_path, weights_only=False))
    cfg = model.cfg
    d = cfg.skeleton_dim + cfg.appearance_dim
    ops = export_onnx(model, [torch.zeros(1, cfg.frames, d)], str(onnx_path), ['features'], ['logits'],
                      metadata={'labels': list(cfg.labels), 'frames': cfg.frames, 'velocity': cfg.velocity,
                                'distances': cfg.distances, 'frame_centre': cfg.frame_centre,
                                'angles': cfg.angles})
    sess = ort.InferenceSession(str(onnx_path), providers=['CPUExecutionProvider'])
    xs = []
    if data is not None and (data / 'joint_positions').is_dir():
        videos = U.load(data)
        _, test = U.split(data, 1)
        for name in test:
            for seq in (videos[name].points18, U.p2_sequence(videos, videos[name], test)[0]):
                p7, _ = K.joint_proc(seq)
                for a, b in eval_windows(len(p7), cfg.frames):
                    xs.append(torch.from_numpy(features(model, p7[a:b]))[None])
    else:
        xs = [torch.randn(1, cfg.frames, d) for _ in range(100)]
    diffs, agree = [], 0
    for x in xs:
        with torch.no_grad():
            pt = torch.softmax(model(x), -1).numpy()
        po = torch.softmax(torch.from_numpy(sess.run(None, {'features': x.numpy()})[0]), -1).numpy()
        diffs.append(float(np.abs(pt - po).max()))
        agree += int(pt.argmax() == po.argmax())
    res = {'ops': ops, 'windows': len(xs), 'max_abs_prob_diff': max(diffs), 'argmax_agree': agree,
           'bytes': onnx_path.stat().st_size}
    print(json.dumps(res))
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    r = sub.add_parser('run', help='train and evaluate every (model, split)')
    r.add_argument('--data', default='../shared/data/uav_gesture')
    r.add_argument('--out', default='runs/gesture')
    r.add_argument('--models', nargs='+', default=list(MODELS), choices=MODELS)
    r.add_argument('--splits', nargs='+', type=int, default=[1, 2, 3], choices=[1, 2, 3])
    r.add_argument('--steps', type=int, default=3000)
    r.add_argument('--batch', type=int, default=32)
    r.add_argument('--frames', type=int, default=32)
    r.add_argument('--lr', type=float, default=1e-3)
    r.add_argument('--seed', type=int, default=0)
    r.add_argument('--threads', type=int, default=1)
    r.add_argument('--no-velocity', dest='velocity', action='store_false',
                   help='LSTM features: the joints only (default: the joints and their full-rate velocities)')
    r.add_argument('--pool', default='mean', choices=list(POOLS),
                   help="LSTM output the FC layers see: the last state, or the outputs' mean / max / both over time")
    r.add_argument('--none', type=float, default=0.0, metavar='P',
                   help='add a "none" class: each sample is, with probability P, a simulated person not signalling '
                   '(idle / walking, core.gestures.body; 0: the 13 UAV-GESTURE classes only)')
    r.add_argument('--distances', action='store_true', help="LSTM features: also DD-Net's 21 joint-pair distances")
    r.add_argument('--frame-centre', action='store_true',
                   help="LSTM features: joints relative to each frame's shoulder midpoint (no body drift)")
    r.add_argument('--aug', action='store_true', help='extra augmentation: speed resampling, dropped joints, '
                   'jitter (Augment / EXTRA_AUGMENT)')
    r.add_argument('--hidden', type=int, default=128, help='LSTM hidden size')
    r.add_argument('--dropout', type=float, default=0.3, help='dropout between the two FC layers')
    r.add_argument('--angles', action='store_true', help="LSTM features: also the arms' limb directions, elbow "
                   'angles and the head offset (skeleton.arm_pose; aimed at all_clear vs not_clear)')
    r.add_argument('--dev', action='store_true', help='hold out the two highest-numbered training subjects of each '
                   'split and evaluate on them (recipe selection; never the test subjects)')
    r.add_argument('--budget-min', '--max-minutes', dest='budget_min', type=float, default=60.0,
                   help='stop (resumable) after this many minutes')
    for name in ('card', 'table'):
        c = sub.add_parser(name, help='print the results table' + (' into the model card' if name == 'card' else ''))
        c.add_argument('--out', default='runs/gesture')
    sh = sub.add_parser('ship', help='copy the split-1 LSTM to the node\'s model path')
    sh.add_argument('--out', default='runs/gesture')
    sh.add_argument('--dest', default='models/gesture_lstm.pt')
    sh.add_argument('--kind', default='lstm', choices=MODELS)
    sh.add_argument('--half', action='store_true', help='store float16 weights (half the file)')
    sh.add_argument('--data', default='../shared/data/uav_gesture', help='to print the shipped file\'s split-1 accuracy')
    cp = sub.add_parser('compare', help='one table row per run directory (P-I, P-II, all_clear/not_clear merged)')
    cp.add_argument('runs', nargs='+')
    en = sub.add_parser('ensemble', help='P-I / P-II of the probability-averaged ensemble of several runs '
                        '(same recipe, other seeds), per split, on the videos the runs were evaluated on')
    en.add_argument('runs', nargs='+', help='run directories (each with lstm_split{1,2,3}.pt and .json)')
    en.add_argument('--data', default='../shared/data/uav_gesture')
    en.add_argument('--json', default='', help='also write the result here')
    en.add_argument('--mirror', action='store_true', help='also classify the mirrored windows and average')
    pk = sub.add_parser('pack', help='the split-1 LSTMs of several runs -> one ensemble checkpoint for the node')
    pk.add_argument('runs', nargs='+')
    pk.add_argument('--dest', default='models/gesture_lstm_none.pt')
    pk.add_argument('--mirror', action='store_true', help='the node also classifies the mirrored windows')
    pk.add_argument('--split', type=int, default=1, choices=[1, 2, 3],
                    help='pack this split\'s models (1 ships; 2 and 3 are for idle-eval of every split)')
    pk.add_argument('--data', default='../shared/data/uav_gesture', help="to print the packed file's split-1 accuracy")
    ex = sub.add_parser('export', help='ONNX export of the shipped recogniser and its parity with torch')
    ex.add_argument('--model', default='models/gesture_lstm.pt')
    ex.add_argument('--onnx', default='models/gesture_lstm.onnx')
    ex.add_argument('--data', default='../shared/data/uav_gesture')
    ne = sub.add_parser('node-eval', help='sliding windows at the camera rate on the real test videos, with the '
                        'safety gate (what the gesture node would do)')
    ne.add_argument('--out', default='runs/gesture')
    ne.add_argument('--data', default='../shared/data/uav_gesture')
    ne.add_argument('--window-s', type=float, default=5.0)
    ne.add_argument('--fps', type=float, default=10.0)
    ne.add_argument('--threshold', type=float, default=0.8)
    ne.add_argument('--hold-s', type=float, default=1.0)
    ne.add_argument('--runs', nargs='+', default=None, help='evaluate the ensemble of these runs\' LSTMs (per split) '
                    'instead of --out\'s')
    ne.add_argument('--mirror', action='store_true', help='with --runs: also classify the mirrored windows')
    ie = sub.add_parser('idle-eval', help='false commands per minute from simulated people who are not signalling '
                        '(idle / walking), through the node\'s windows and safety gate')
    ie.add_argument('models', nargs='+', help='recogniser checkpoints (.pt)')
    ie.add_argument('--people', type=int, default=30, help='people per motion set')
    ie.add_argument('--seconds', type=float, default=60.0)
    ie.add_argument('--json', default='', help='also write the result here')
    ie.add_argument('--threshold', type=float, default=0.8, help="the gate's min_confidence")
    ps = sub.add_parser('pair-stats', help='what the joints keep of all_clear vs not_clear, per subject')
    ps.add_argument('--data', default='../shared/data/uav_gesture')
    ps.add_argument('--png', default='', help='also plot the right wrist height and elbow angle per subject')
    a = ap.parse_args(argv)
    if a.cmd == 'pair-stats':
        if not (Path(a.data) / 'joint_positions').is_dir():
            print('error: no UAV-GESTURE keypoints at %s' % a.data, file=sys.stderr)
            return 2
        videos = U.load(Path(a.data))
        gesture_pair.pair_stats(videos)
        if a.png:
            gesture_pair.plot(videos, Path(a.png))
        return 0
    if a.cmd == 'compare':
        print(compare([Path(d) for d in a.runs]))
        return 0
    if a.cmd in ('ensemble', 'pack'):
        torch.set_num_threads(1)
        k_need = (1, 2, 3) if a.cmd == 'ensemble' else (a.split,)
        missing = [str(Path(d) / ('lstm_split%d.pt' % k)) for d in a.runs for k in k_need
                   if not (Path(d) / ('lstm_split%d.pt' % k)).is_file()]
        if missing:
            print('error: no trained model at %s' % missing[0], file=sys.stderr)
            return 2
        try:
            if a.cmd == 'ensemble':
                res = E.ensemble_eval([Path(d) for d in a.runs], Path(a.data), a.mirror)
                if a.json:
                    Path(a.json).write_text(json.dumps(res, indent=1))
            else:
                E.pack([Path(d) for d in a.runs], Path(a.dest), Path(a.data), a.mirror, a.split)
        except ValueError as e:
            print('error: %s' % e, file=sys.stderr)
            return 2
        return 0
    if a.cmd == 'idle-eval':
        torch.set_num_threads(1)
        missing = [m for m in a.models if not Path(m).is_file()]
        if missing:
            print('error: no model at %s' % missing[0], file=sys.stderr)
            return 2
        res = E.idle_eval([Path(m) for m in a.models], a.people, a.seconds, threshold=a.threshold)
        if a.json:
            Path(a.json).write_text(json.dumps(res, indent=1))
        return 0
    if a.cmd == 'node-eval':
        torch.set_num_threads(1)
        E.node_eval(Path(a.out), Path(a.data), a.window_s, a.fps, threshold=a.threshold, hold_s=a.hold_s,
                  runs=[Path(r) for r in a.runs] if a.runs else None, mirror_tta=a.mirror)
        return 0
    if a.cmd == 'ship':
        ship(Path(a.out), Path(a.dest), a.kind, a.half, Path(a.data))
        return 0
    if a.cmd == 'export':
        export(Path(a.model), Path(a.onnx), Path(a.data))
        return 0
    out = Path(a.out)
    if a.cmd == 'run':
        data = Path(a.data)
        if not (data / 'joint_positions').is_dir():
            print('error: no UAV-GESTURE keypoints at %s' % data, file=sys.stderr)
            return 2
        torch.set_num_threads(a.threads)
        out.mkdir(parents=True, exist_ok=True)
        deadline = time.time() + 60 * a.budget_min
        for kind in a.models:
            for k in a.splits:
                if train_one(kind, k, data, out, a.steps, a.batch, a.frames, a.lr, a.seed, deadline,
                             a.velocity, a.dev, a.pool, a.none, a.distances, a.frame_centre,
                             EXTRA_AUGMENT if a.aug else NO_AUGMENT, a.hidden, a.angles, a.dropout) is None:
                    return 1
        print(table(out))
        return 0
    print(table(out))
    for kind in MODELS:
        for proto in ('P-I', 'P-II'):
            print('%s %s errors: %s' % (kind, proto, confusions(out, kind, proto)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
