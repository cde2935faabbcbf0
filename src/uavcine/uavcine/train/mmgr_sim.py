"""MMGR's ablation on simulated people: skeleton-only (MMGR_D~) vs MMGR (skeleton + FMoD hand patches) vs
MMGR_CNN (skeleton + a learnable hand-patch CNN), on the same simulated windows (seed §3.8's claim: MMGR
beats both).

Data (``gesture_sim_data.gesture_windows``): simulated people performing split 1's training-subject
UAV-GESTURE gestures (arms retargeted onto varied bodies, clothes, views and grounds, rendered at the
project camera's 640x480); training windows: ``--per-video`` people per video of the training subjects,
each a random 40-100 % of the video; test windows: ``--test-per-video`` new people per video of the two
held-out subjects, the whole video each (P-I). Skeletons are the projected true joints with 1 % keypoint
noise (not the pose network's output: this compares the recognisers, not the pose estimates).

Training, the same for the three: the LSTM recipe of ``gesture_train`` (32 frames, joints + velocities,
mean pooling, LSTM 128, FC 64, dropout 0.3), Adam 1e-3 with cosine decay, label smoothing 0.1, batch
32, ``--steps`` steps, one thread; ``--seeds`` repeats with other initialisations and batch orders.

    python -m uavcine.train.mmgr_sim run --out runs/mmgr_sim
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..core.gestures.fmod import MMGR, FMoD, HandPatchCNN
from ..core.gestures.mmgr import UAV_GESTURE_LABELS, GestureLSTM, MMGRConfig
from . import gesture_sim_data as D
from . import uav_gesture as U

VARIANTS = ('skeleton', 'mmgr', 'mmgr_cnn')
TRAIN_SEED, TEST_SEED = 31, 42


def data(out: Path, root: Path, per_video: int, test_per_video: int):
    f = out / 'windows.npz'
    if f.is_file():
        z = np.load(f)
        return [z[k] for k in ('Str', 'Htr', 'Ytr', 'Ste', 'Hte', 'Yte')]
    videos = U.load(root)
    tr, te = D.subject_split(root)
    bar = lambda it: tqdm(it, desc='render windows', mininterval=10, file=sys.stdout)  # noqa: E731
    Str, Htr, Ytr = D.gesture_windows([videos[n] for n in tr], per_video, TRAIN_SEED, progress=bar)
    Ste, Hte, Yte = D.gesture_windows([videos[n] for n in te], test_per_video, TEST_SEED, crop=(1.0, 1.0),
                                      progress=bar)
    np.savez(f, Str=Str, Htr=Htr, Ytr=Ytr, Ste=Ste, Hte=Hte, Yte=Yte)
    return Str, Htr, Ytr, Ste, Hte, Yte


def make(variant: str) -> torch.nn.Module:
    if variant == 'skeleton':
        return GestureLSTM(MMGRConfig(velocity=True, skeleton_dim=28, pool='mean'))
    ext = FMoD() if variant == 'mmgr' else HandPatchCNN()
    return MMGR(ext, GestureLSTM(MMGRConfig(velocity=True, skeleton_dim=28, pool='mean', appearance_dim=2 * ext.dim)))


def logits(model, S, H):
    """``H``: hand patches (uint8) or, for MMGR, their precomputed FMoD features (float)."""
    if isinstance(model, MMGR) and H.dtype != torch.uint8:
        return model.recogniser(torch.cat([S, H.flatten(2)], -1))
    if isinstance(model, MMGR):
        return model(S, H.float() / 255.0)
    return model(S)


def fmod_features(H: np.ndarray) -> np.ndarray:
    """FMoD is a fixed layer: computed once for all windows (N, T, hands, dim) instead of at every step."""
    f = FMoD()
    with torch.no_grad():
        return np.concatenate([f(torch.from_numpy(H[a:a + 64]).float() / 255.0).numpy() for a in range(0, len(H), 64)])


def train_eval(variant: str, seed: int, arrays, steps: int, deadline: float) -> dict:
    Str, Htr, Ytr, Ste, Hte, Yte = arrays
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = make(variant)
    if variant == 'mmgr':
        Htr, Hte = fmod_features(Htr), fmod_features(Hte)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    model.train()
    t0 = time.time()
    done = 0
    for step in tqdm(range(steps), desc='%s seed %d' % (variant, seed), mininterval=10, file=sys.stdout):
        i = rng.integers(len(Ytr), size=32)
        S = torch.from_numpy(Str[i])
        H = torch.from_numpy(Htr[i]) if variant != 'skeleton' else None
        loss = F.cross_entropy(logits(model, S, H), torch.from_numpy(Ytr[i]), label_smoothing=0.1)
        opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        done = step + 1
        if time.time() > deadline:
            break
    model.eval()
    pred = []
    with torch.no_grad():
        for a in range(0, len(Yte), 64):
            H = torch.from_numpy(Hte[a:a + 64]) if variant != 'skeleton' else None
            pred.append(logits(model, torch.from_numpy(Ste[a:a + 64]), H).argmax(-1).numpy())
    pred = np.concatenate(pred)
    return {'variant': variant, 'seed': seed, 'accuracy': float((pred == Yte).mean()), 'n_test': int(len(Yte)),
            'n_train': int(len(Ytr)), 'steps': done, 'train_s': round(time.time() - t0, 1),
            'params': sum(p.numel() for p in model.parameters()),
            'errors': sorted('%s -> %s' % (UAV_GESTURE_LABELS[t], UAV_GESTURE_LABELS[p])
                             for t, p in zip(Yte, pred) if t != p)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    r = sub.add_parser('run')
    r.add_argument('--data', default='../shared/data/uav_gesture')
    r.add_argument('--out', default='runs/mmgr_sim')
    r.add_argument('--per-video', type=int, default=16)
    r.add_argument('--test-per-video', type=int, default=10)
    r.add_argument('--steps', type=int, default=1500)
    r.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    r.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=VARIANTS)
    r.add_argument('--max-minutes', type=float, default=30.0, help='per training run')
    t = sub.add_parser('table')
    t.add_argument('--out', default='runs/mmgr_sim')
    a = ap.parse_args(argv)
    out = Path(a.out)
    if a.cmd == 'table':
        rows = [json.loads(f.read_text()) for f in sorted(out.glob('result_*.json'))]
        print('| variant | params | accuracy per seed, % | mean, % |\n| --- | ---: | --- | ---: |')
        for v in VARIANTS:
            rs = [r for r in rows if r['variant'] == v]
            if rs:
                print('| %s | %d | %s | %.1f |' % (v, rs[0]['params'], ', '.join('%.1f' % (100 * r['accuracy']) for r in rs),
                                                 100 * np.mean([r['accuracy'] for r in rs])))
        return 0
    if not (Path(a.data) / 'joint_positions').is_dir():
        print('error: no UAV-GESTURE keypoints at %s' % a.data, file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    arrays = data(out, Path(a.data), a.per_video, a.test_per_video)
    for seed in a.seeds:
        for v in a.variants:
            f = out / ('result_%s_seed%d.json' % (v, seed))
            if f.is_file():
                continue
            res = train_eval(v, seed, arrays, a.steps, time.time() + 60 * a.max_minutes)
            f.write_text(json.dumps(res, indent=1))
            print('%s seed %d: %.3f (%d steps)' % (v, seed, res['accuracy'], res['steps']))
    return main(['table', '--out', str(out)])


if __name__ == '__main__':
    sys.exit(main())
