"""How a gesture recogniser is measured: P-I / P-II on UAV-GESTURE (``evaluate``, the windows it averages, the
all_clear / not_clear-merged accuracy), seed ensembles (evaluate, pack for the node), and what the
node's sliding windows and safety gate make of them — on the real test videos (``node_eval``) and on simulated
people who are not signalling (``idle_eval``, false commands per minute).

Commands: ``python -m uavcine.train.gesture_train ensemble | pack | node-eval | idle-eval`` (the argument parsing
lives in ``gesture_train``, which imports this module; see its doc and models/MODEL_CARD_gesture.md).
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..core.gestures import body as B
from ..core.gestures import commands as C
from ..core.gestures import skeleton as K
from ..core.gestures.ddnet import DDNet
from ..core.gestures.mmgr import (UAV_GESTURE_LABELS, GestureEnsemble, classify_window, from_checkpoint,
                                  window_features, window_probs)
from . import uav_gesture as U

NONE = 'none'
LABELS_WITH_NONE = UAV_GESTURE_LABELS + (NONE,)
LABEL_INDEX = {n: i for i, n in enumerate(LABELS_WITH_NONE)}
#: Seeds of the simulated people who are not signalling (``core.gestures.body``): training and
#: evaluation draw from disjoint seed ranges.
NONE_TRAIN_SEED, NONE_EVAL_SEED = 1000, 2000


def features(model: torch.nn.Module, p7: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Full-rate (25 fps) normalised (T, 7, 2) joints -> the model's input for one window sampled evenly over
    them (segment centres; one random frame per segment with ``rng``): the LSTM's (frames, D) features
    (``core.gestures.mmgr.window_features``, as the node), DD-Net's (frames, 7, 2) joints."""
    idx = K.sample_indices(len(p7), model.cfg.frames, rng=rng)
    if isinstance(model, DDNet):
        return p7[idx].astype(np.float32)
    return window_features(model.cfg, p7, np.arange(len(p7)) / U.FPS, idx)

def eval_windows(length: int, frames: int) -> list[tuple[int, int]]:
    """The windows a test sequence is classified on: the whole sequence and five windows of 60 % of it,
    evenly spaced from start to end; the softmax outputs are averaged (chosen on the development split)."""
    n = min(length, max(frames, int(0.6 * length)))
    return [(0, length)] + [(int(a), int(a) + n) for a in np.linspace(0, length - n, 5)]


def predict(model: torch.nn.Module, points18: np.ndarray, frames: int, single: bool = False) -> np.ndarray:
    """Class probabilities of one test sequence (averaged over ``eval_windows``; ``single``: whole sequence only)."""
    p7, _ = K.joint_proc(points18)
    wins = [(0, len(p7))] if single else eval_windows(len(p7), frames)
    return np.mean([window_probs(model, p7[a:b], np.arange(b - a) / U.FPS, K.sample_indices(b - a, model.cfg.frames))
                    for a, b in wins], axis=0)


#: all_clear and not_clear: in UAV-GESTURE both are the right arm held out sideways, the thumb up or down; the seven
#: joints cannot tell them apart (their per-subject median poses overlap), so each such decision is close to a coin
#: flip. ``accuracy_thumb_merged`` counts them as one class: the recipe selection's less noisy criterion.
THUMB_PAIR = ('all_clear', 'not_clear')


def merged_accuracy(pred: list[str], true: list[str]) -> float:
    """Accuracy with all_clear and not_clear counted as one class (``THUMB_PAIR``)."""
    same = [p == t or (p in THUMB_PAIR and t in THUMB_PAIR) for p, t in zip(pred, true)]
    return float(np.mean(same))


def evaluate(model: torch.nn.Module, videos: dict[str, U.Video], test: list[str], frames: int) -> dict:
    """Accuracy under P-I and P-II (windows averaged, and the whole sequence once; and with all_clear / not_clear
    merged), and the predictions."""
    model.eval()
    out = {}
    for proto in ('P-I', 'P-II'):
        pred, single, ys = [], [], []
        for name in test:
            v = videos[name]
            seq = v.points18 if proto == 'P-I' else U.p2_sequence(videos, v, test)[0]
            pred.append(int(np.argmax(predict(model, seq, frames))))
            single.append(int(np.argmax(predict(model, seq, frames, single=True))))
            ys.append(LABEL_INDEX[v.label])
        pred, single, ys = np.array(pred), np.array(single), np.array(ys)
        out[proto] = {'accuracy': float((pred == ys).mean()), 'accuracy_single_window': float((single == ys).mean()),
                      'n': int(len(ys)), 'pred': [model.cfg.labels[i] for i in pred],
                      'true': [model.cfg.labels[i] for i in ys]}
        out[proto]['accuracy_thumb_merged'] = merged_accuracy(out[proto]['pred'], out[proto]['true'])
    return out

def ensemble_of(run_dirs: list[Path], k: int, mirror_tta: bool = False) -> GestureEnsemble:
    """The split-k LSTMs of several runs (same configuration, other seeds) as one ``GestureEnsemble``;
    ``mirror_tta``: it also classifies the mirrored windows (``core.gestures.mmgr.window_probs``)."""
    members = [from_checkpoint(torch.load(Path(d) / ('lstm_split%d.pt' % k), weights_only=False)) for d in run_dirs]
    cfg = members[0].cfg
    for d, m in zip(run_dirs, members):
        if m.cfg != cfg:
            raise ValueError('%s: its configuration differs from %s\'s; an ensemble needs one' % (d, run_dirs[0]))
    ens = GestureEnsemble(replace(cfg, mirror_tta=mirror_tta), len(members))
    for slot, m in zip(ens.members, members):
        slot.load_state_dict(m.state_dict())
    return ens.eval()


def pack(run_dirs: list[Path], dest: Path, data: Path = Path('../shared/data/uav_gesture'),
         mirror_tta: bool = False, k: int = 1) -> None:
    """The split-k LSTMs of ``run_dirs`` (trained on split k's training subjects only) as one ensemble checkpoint
    (``kind: lstm_ensemble``) for the node (split 1's is shipped)."""
    ens = ensemble_of(run_dirs, k, mirror_tta)
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save({'kind': 'lstm_ensemble', 'config': ens.cfg.__dict__, 'members': len(ens.members),
                'model': ens.state_dict(), 'runs': [str(d) for d in run_dirs], 'split': k}, dest)
    print('packed %d members of %s -> %s (%d bytes)' % (len(run_dirs), ', '.join(map(str, run_dirs)), dest,
                                                        dest.stat().st_size))
    if (data / 'joint_positions').is_dir():
        model = from_checkpoint(torch.load(dest, weights_only=False))
        res = evaluate(model, U.load(data), U.split(data, k)[1], model.cfg.frames)
        print('split %d test accuracy of the packed file: P-I %.3f, P-II %.3f'
              % (k, res['P-I']['accuracy'], res['P-II']['accuracy']))


def ensemble_eval(run_dirs: list[Path], data: Path, mirror_tta: bool = False) -> dict:
    """P-I / P-II of the ensembles of ``run_dirs`` per split, on the videos the runs were evaluated on (their
    test subjects, or their development subjects for ``run --dev`` runs), beside each member's own result."""
    videos = U.load(data)
    res = {'runs': [str(d) for d in run_dirs], 'mirror_tta': mirror_tta, 'splits': {}}
    for k in (1, 2, 3):
        infos = [json.loads((Path(d) / ('lstm_split%d.json' % k)).read_text()) for d in run_dirs]
        if len({tuple(i['test_videos']) for i in infos}) != 1:
            raise ValueError('split %d: the runs were evaluated on different videos (dev and test mixed?)' % k)
        model = ensemble_of(run_dirs, k, mirror_tta)
        r = evaluate(model, videos, infos[0]['test_videos'], model.cfg.frames)
        r['members'] = {proto: [i[proto]['accuracy'] for i in infos] for proto in ('P-I', 'P-II')}
        r['dev'] = infos[0]['dev']
        r['test_videos'] = list(infos[0]['test_videos'])
        res['splits'][k] = r
    for proto in ('P-I', 'P-II'):
        acc = [res['splits'][k][proto]['accuracy'] for k in (1, 2, 3)]
        merged = [res['splits'][k][proto]['accuracy_thumb_merged'] for k in (1, 2, 3)]
        mem = np.mean([res['splits'][k]['members'][proto] for k in (1, 2, 3)], axis=0)
        pair = [(p == t) for k in (1, 2, 3) for p, t in zip(res['splits'][k][proto]['pred'], res['splits'][k][proto]['true'])
                if t in THUMB_PAIR]
        res[proto] = {'ensemble_mean': float(np.mean(acc)), 'per_split': acc, 'member_means': mem.tolist(),
                      'ensemble_mean_thumb_merged': float(np.mean(merged)),
                      'thumb_pair_right': int(sum(pair)), 'thumb_pair_videos': len(pair)}
        print('%s: ensemble %s mean %.1f %% (all_clear/not_clear merged: %.1f %%; of their %d videos %d right); '
              'members alone: %s (mean %%)' % (
                  proto, ' / '.join('%.1f' % (100 * a) for a in acc), 100 * np.mean(acc), 100 * np.mean(merged),
                  len(pair), sum(pair), ' / '.join('%.1f' % (100 * m) for m in mem)))
    res['p2_flips'] = p2_flips(videos, res['splits'])
    print('P-II prefix: %d videos right under P-I turn wrong, %d wrong turn right; turned wrong: %s' % (
        len(res['p2_flips']['broken']), len(res['p2_flips']['fixed']),
        ', '.join('%s -> %s (prefix %s)' % (v['true'], v['pred'], v['prefix']) for v in res['p2_flips']['broken'])
        or 'none'))
    return res


def p2_flips(videos: dict[str, U.Video], splits: dict) -> dict:
    """What P-II's prefix does, per video: those right under P-I and wrong under P-II ('broken', with the
    prediction and the prefixed video's gesture) and the reverse ('fixed'), over the splits of ``evaluate``
    results that hold 'test_videos' (the order of 'pred' and 'true')."""
    out = {'broken': [], 'fixed': []}
    for r in splits.values():
        test = r['test_videos']
        for i, name in enumerate(test):
            ok1 = r['P-I']['pred'][i] == r['P-I']['true'][i]
            ok2 = r['P-II']['pred'][i] == r['P-II']['true'][i]
            if ok1 != ok2:
                out['broken' if ok1 else 'fixed'].append(
                    {'video': name, 'true': r['P-II']['true'][i], 'pred': r['P-II']['pred'][i],
                     'prefix': U.p2_prefix_source(videos, videos[name], test).label})
    return out


def node_eval(out: Path, data: Path, window_s: float = 5.0, fps: float = 10.0, every_s: float = 0.5,
              threshold: float = 0.8, hold_s: float = 1.0, runs: list[Path] | None = None,
              mirror_tta: bool = False) -> dict:
    """What the gesture node would see on the real test videos: each test video of split k resampled to the
    camera rate ``fps``, classified by that split's LSTM (``runs``: the ensemble of these runs' split-k LSTMs)
    on sliding ``window_s`` windows every ``every_s``
    (as ``nodes/gesture.py`` does), and the node's safety gate run over them with every gesture mapped to a
    command (threshold, hold; refractory 5 s). Reported over the three splits: window accuracy, the share of
    windows at or above the threshold and their accuracy, and the commands the gate would have sent (right
    or wrong gesture)."""
    videos = U.load(data)
    n = right = conf_n = conf_right = 0
    sent_right = sent_wrong = 0
    wrong_sent = []
    for k in (1, 2, 3):
        model = (ensemble_of(runs, k, mirror_tta) if runs else
                 from_checkpoint(torch.load(out / ('lstm_split%d.pt' % k), weights_only=False)))
        _, test = U.split(data, k)
        cfg = C.GateConfig({g: 'HOLD' for g in UAV_GESTURE_LABELS}, threshold, hold_s, 5.0, 2 * every_s)
        for name in test:
            v = videos[name]
            t_all = np.arange(0.0, len(v.points18) / U.FPS, 1.0 / fps)
            idx = np.minimum(np.round(t_all * U.FPS).astype(int), len(v.points18) - 1)
            pts, w = v.points18[idx], int(round(window_s * fps))
            gate = C.CommandGate()
            for end in range(w, len(pts) + 1, max(1, int(round(every_s * fps)))):
                probs = classify_window(model, pts[end - w:end], t_all[end - w:end] - t_all[end - w])
                label = UAV_GESTURE_LABELS[int(np.argmax(probs))]
                ok = label == v.label
                n += 1
                right += ok
                if probs.max() >= threshold:
                    conf_n += 1
                    conf_right += ok
                d = gate.update(t_all[end - 1], label, float(probs.max()), True, cfg)
                if d.command is not None:
                    if ok:
                        sent_right += 1
                    else:
                        sent_wrong += 1
                        wrong_sent.append('%s -> %s' % (name, label))
    res = {'windows': n, 'window_accuracy': right / n, 'confident_share': conf_n / n,
           'confident_accuracy': conf_right / max(conf_n, 1), 'commands_right': sent_right,
           'commands_wrong': sent_wrong, 'wrong_commands': wrong_sent, 'window_s': window_s, 'fps': fps,
           'threshold': threshold, 'hold_s': hold_s, 'models': [str(r) for r in runs] if runs else str(out),
           'mirror_tta': mirror_tta}
    print(json.dumps(res, indent=1))
    return res


def idle_eval(model_paths: list[Path], people: int = 30, seconds: float = 60.0, fps: float = 10.0,
              window_s: float = 5.0, every_s: float = 0.5, threshold: float = 0.8, hold_s: float = 1.0,
              refractory_s: float = 5.0, seed: int = NONE_EVAL_SEED) -> dict:
    """False commands from people who are not signalling: ``people`` simulated people per motion set
    (``core.gestures.body``; seeds from ``seed``, disjoint from the training bank's), ``seconds`` each at the
    camera rate ``fps``, classified on sliding ``window_s`` windows every ``every_s`` as the gesture node does,
    through its safety gate with the node's default mapping (and with every gesture mapped). Two motion sets:
    the motions the none class was trained on, and motions it never saw (``body.HELD_OUT_KINDS``)."""
    from ..nodes.gesture import GestureParams  # the node's default mapping is the one that flies
    default_map = C.parse_mapping(GestureParams().gesture_commands)
    streams = {}
    for name, kinds, s0 in (('seen motions', B.TRAIN_KINDS, seed), ('unseen motions', B.HELD_OUT_KINDS, seed + 10000)):
        streams[name] = [B.none_sequence(np.random.default_rng(s0 + i), seconds, fps, kinds).points18
                         for i in range(people)]
    res = {'people_per_set': people, 'seconds': seconds, 'fps': fps, 'window_s': window_s, 'every_s': every_s,
           'threshold': threshold, 'hold_s': hold_s, 'refractory_s': refractory_s, 'models': {}}
    w, step = int(round(window_s * fps)), max(1, int(round(every_s * fps)))
    for mp in model_paths:
        model = from_checkpoint(torch.load(mp, weights_only=False))
        all_map = {g: 'HOLD' for g in model.cfg.labels if g != NONE}
        per = {}
        for name, seqs in tqdm(streams.items(), desc=Path(mp).name, file=sys.stdout, mininterval=10):
            n = n_none = 0
            sent = {'default mapping': Counter(), 'every gesture mapped': Counter()}
            for pts in seqs:
                t = np.arange(len(pts)) / fps
                gates = {'default mapping': (C.CommandGate(), C.GateConfig(default_map, threshold, hold_s, refractory_s,
                                                                            2 * every_s)),
                         'every gesture mapped': (C.CommandGate(), C.GateConfig(all_map, threshold, hold_s,
                                                                                 refractory_s, 2 * every_s))}
                for end in range(w, len(pts) + 1, step):
                    probs = classify_window(model, pts[end - w:end], t[end - w:end] - t[end - w])
                    label = model.cfg.labels[int(np.argmax(probs))]
                    n += 1
                    n_none += label == NONE
                    for key, (gate, cfg) in gates.items():
                        if gate.update(t[end - 1], label, float(probs.max()), True, cfg).command is not None:
                            sent[key][label] += 1
            minutes = people * seconds / 60.0
            per[name] = {'windows': n, 'none_share': n_none / n, 'minutes': minutes}
            for key, c in sent.items():
                per[name][key] = {'commands': sum(c.values()), 'per_min': sum(c.values()) / minutes,
                                  'gestures': dict(c.most_common())}
        res['models'][str(mp)] = per
    print(json.dumps(res, indent=1))
    return res
