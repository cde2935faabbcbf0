"""Train SiamFC on simulator tracking pairs, calibrate its quality score, and pack the shipped model.

Three steps (each a subcommand; offline tool, Python >= 3.10):

1. ``bank``: turn tracking sequences (the embedded simulator's, or OTB-layout
   folders) into a bank of search-region crops around the true target (263 px:
   the 255 search crop plus 8 px of shift), one per usable frame.
2. ``train``: exemplar/search pairs from two frames of one sequence, the
   balanced logistic loss of SiamFC (positives within ``r_pos`` = 16 px of the
   centre, positives and negatives weighted to equal total weight), progress
   with tqdm, a resumable checkpoint (``--resume``).
3. ``calibrate``: run the tracker over calibration sequences, collect the
   response features of ``QualityHead`` and the IoU of each box with the truth,
   fit the logistic head to predict that IoU, report the Spearman correlation
   on held-out sequences, and write the model file (fp16 weights, config,
   quality coefficients).

Sequences: ``Seq(frames, boxes, visible)``; ``frames`` is a list of HxWx3 RGB
arrays (or a callable returning one by index), ``boxes`` (N, 4) x, y, w, h,
``visible`` (N,) fraction of the target visible (0 when out of view).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import minimize
from scipy.stats import spearmanr
from tqdm import tqdm

from ..core import siamfc as S
from ..core.box_ops import iou
from ..eval.sequences import Seq, read_otb, sim_sequences
from .siamfc_augment import AugmentConfig, Augmenter

BANK_SZ = 263  # 255 + 8: room for the random shift of the search crop (siamfc-pytorch's RandomCrop)


def usable(seq: Seq, i: int, min_visible: float = 0.7, min_px: float = 4.0) -> bool:
    b = seq.boxes[i]
    return bool(np.all(np.isfinite(b)) and b[2] >= min_px and b[3] >= min_px and seq.visible[i] >= min_visible)


def build_bank(seqs: Sequence[Seq], cfg: S.SiamFCConfig, every: int = 1, min_visible: float = 0.7) -> dict:
    """Search-region crops (BANK_SZ px) centred on the target of every ``every``-th usable frame."""
    crops, seq_id, frame_id = [], [], []
    for k, seq in enumerate(tqdm(seqs, desc='bank', unit='seq')):
        avg = None
        for i in range(0, len(seq), every):
            if not usable(seq, i, min_visible):
                continue
            img = seq.frame(i)
            if avg is None:
                avg = img.reshape(-1, 3).mean(axis=0)
            x, y, w, h = seq.boxes[i]
            x_sz = S.exemplar_size((w, h), cfg.context) * cfg.instance_sz / cfg.exemplar_sz
            crops.append(S.crop_and_resize(img, (x + w / 2, y + h / 2), x_sz * BANK_SZ / cfg.instance_sz, BANK_SZ, avg))
            seq_id.append(k)
            frame_id.append(i)
    return {'crops': np.stack(crops) if crops else np.zeros((0, BANK_SZ, BANK_SZ, 3), np.uint8),
            'seq': np.asarray(seq_id, np.int32), 'frame': np.asarray(frame_id, np.int32)}


class PairSampler:
    """Exemplar/search pairs from two frames of one sequence at most ``max_gap`` frames apart.

    Augmentation as siamfc-pytorch's SiamFCTransforms: a random stretch (+-5%) and a random
    shift of up to 4 px of the search crop; the exemplar is the bank crop's central 127 px.
    ``augment``: domain randomisation on top (``siamfc_augment``: photometric, geometric, distractors).
    ``seq_weight``: sequence index -> sampling weight (e.g. real sequences half of the pairs); default equal.
    """

    def __init__(self, bank: dict, cfg: S.SiamFCConfig, max_gap: int = 60, seed: int = 0,
                 augment: AugmentConfig | None = None, seq_weight: dict | None = None):
        self.crops, self.seq, self.frame = bank['crops'], bank['seq'], bank['frame']
        self.cfg = cfg
        self.max_gap = max_gap
        self.rng = np.random.default_rng(seed)
        self.augment = augment
        self.by_seq = {}
        for idx, s in enumerate(self.seq):
            self.by_seq.setdefault(int(s), []).append(idx)
        self.by_seq = {k: np.asarray(v) for k, v in self.by_seq.items() if len(v) >= 2}
        if not self.by_seq:
            raise ValueError('the crop bank has no sequence with two usable frames')
        self.keys = sorted(self.by_seq)
        w = np.array([float((seq_weight or {}).get(k, 1.0)) for k in self.keys])
        self.p = None if seq_weight is None else w / w.sum()  # None: uniform, the original recipe's random stream

    def _stretch_crop(self, img: np.ndarray, out: int, max_shift: int) -> np.ndarray:
        s = 1.0 + self.rng.uniform(-0.05, 0.05)
        c = (BANK_SZ - 1) / 2.0 + self.rng.integers(-max_shift, max_shift + 1, size=2)
        size = out * s
        return S.crop_and_resize(img, (c[0] + 0.5, c[1] + 0.5), size, out, img.reshape(-1, 3).mean(axis=0))

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        zs, xs = [], []
        aug = Augmenter(self.augment, self.rng) if self.augment is not None else None
        for _ in range(batch):
            key = self.keys[self.rng.integers(len(self.keys)) if self.p is None else self.rng.choice(len(self.keys), p=self.p)]
            idx = self.by_seq[key]
            i = self.rng.integers(len(idx))
            frames = self.frame[idx]
            near = np.flatnonzero((np.abs(frames - frames[i]) <= self.max_gap) & (np.arange(len(idx)) != i))
            j = near[self.rng.integers(len(near))] if len(near) else i
            z = self._stretch_crop(self.crops[idx[i]], self.cfg.exemplar_sz, 0)
            x = self._stretch_crop(self.crops[idx[j]], self.cfg.instance_sz, 4)
            if aug is not None:
                other_key = self.keys[self.rng.integers(len(self.keys))]
                other = None
                if other_key != key:
                    o = self.by_seq[other_key]
                    other = self._stretch_crop(self.crops[o[self.rng.integers(len(o))]], self.cfg.instance_sz, 0)
                z, x = aug.pair(z, x, other)
            zs.append(z)
            xs.append(x)
        return S.to_tensor(np.stack(zs)), S.to_tensor(np.stack(xs))


def merge_banks(banks: Sequence[dict]) -> dict:
    """One bank from several (sequence indices renumbered, names concatenated)."""
    out = {'crops': [], 'seq': [], 'frame': [], 'names': []}
    for b in banks:
        out['seq'].append(np.asarray(b['seq']) + len(out['names']))
        out['crops'].append(b['crops'])
        out['frame'].append(b['frame'])
        out['names'] += [str(n) for n in b['names']]
    return {'crops': np.concatenate(out['crops']), 'seq': np.concatenate(out['seq']),
            'frame': np.concatenate(out['frame']), 'names': np.array(out['names'])}


def drop_sequences(bank: dict, names: Sequence[str]) -> dict:
    """The bank without the crops of the named sequences (k-fold: a fold's held-out sequences)."""
    bad = [k for k, n in enumerate(bank['names']) if str(n) in set(names)]
    keep = ~np.isin(bank['seq'], bad)
    return dict(bank, crops=bank['crops'][keep], seq=bank['seq'][keep], frame=bank['frame'][keep])


# ----------------------------------------------------------------------------
# Loss
# ----------------------------------------------------------------------------


def logistic_labels(size: int, r_pos: float, total_stride: int) -> torch.Tensor:
    """1 within block distance r_pos/total_stride cells of the centre, else 0 (siamfc-pytorch, r_neg = 0)."""
    x = np.arange(size) - (size - 1) / 2
    xx, yy = np.meshgrid(x, x)
    return torch.from_numpy((np.abs(xx) + np.abs(yy) <= r_pos / total_stride).astype(np.float32))


def balanced_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """SiamFC's balanced logistic loss: positives and negatives each carry half of the total weight."""
    labels = labels.expand_as(logits)
    pos = labels == 1
    weight = torch.where(pos, 0.5 / pos.sum().clamp(min=1), 0.5 / (~pos).sum().clamp(min=1))
    return F.binary_cross_entropy_with_logits(logits, labels, weight, reduction='sum')


def lr_at(step: int, steps: int, lr: float, warmup: int = 100, frac: float | None = None) -> float:
    """Linear warm-up, then cosine decay to 1% (a function of the step: resuming with other --steps works).
    ``frac``: the share of the budget spent (steps or minutes, whichever runs out first) instead of step / steps."""
    if step < warmup:
        return lr * (step + 1) / warmup
    f = min(1.0, (step - warmup) / max(1, steps - warmup)) if frac is None else min(1.0, frac)
    return lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * f)))


def train(bank: dict, out: Path, cfg: S.SiamFCConfig, steps: int, batch: int, lr: float, seed: int,
          resume: bool, threads: int, save_every: int = 100, max_gap: int = 60, init: str = '',
          augment: AugmentConfig | None = None, seq_weight: dict | None = None, max_minutes: float = 0.0,
          warmup: int = 100) -> Path:
    """Train (or, with ``init``, fine-tune from a model file's weights) on pairs of ``bank``. ``max_minutes`` > 0:
    stop when the wall-clock budget is spent; the learning rate then decays over the budget (minutes or steps,
    whichever runs out first)."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    net = S.SiamFCNet(cfg.width, cfg.out_scale)
    S.init_weights(net)
    if init:
        net0, cfg0, _ = load_net(init)
        if cfg0.width != cfg.width:
            raise SystemExit('error: --init %s has width %g, not --width %g' % (init, cfg0.width, cfg.width))
        net.load_state_dict(net0.state_dict())
    # Adam instead of the paper's SGD (1e-2 -> 1e-5 over 50 epochs): converges in the few thousand
    # steps a shared 2-core CPU allows.
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    sampler = PairSampler(bank, cfg, max_gap=max_gap, seed=seed, augment=augment, seq_weight=seq_weight)
    start, history, spent = 0, [], 0.0
    last = out / 'last.pt'
    if resume and last.is_file():
        ck = torch.load(last, map_location='cpu', weights_only=False)
        net.load_state_dict(ck['net'])
        opt.load_state_dict(ck['opt'])
        start, history, spent = ck['step'], ck['history'], ck.get('seconds', 0.0)
        sampler.rng = np.random.default_rng(seed + start)
        print('resumed at step %d' % start)
    labels = None
    net.train()
    t0 = time.monotonic() - spent
    budget = max_minutes * 60.0
    bar = tqdm(range(start, steps), initial=start, total=steps, desc='train', unit='step')
    for step in bar:
        elapsed = time.monotonic() - t0
        frac = max(step / max(1, steps), elapsed / budget) if budget > 0 else None
        if frac is not None and frac >= 1.0:
            print('time budget of %.0f min spent at step %d' % (max_minutes, step))
            break
        for g in opt.param_groups:
            g['lr'] = lr_at(step, steps, lr, warmup, frac)
        z, x = sampler.sample(batch)
        logits = net(z, x)
        if labels is None:
            labels = logistic_labels(logits.size(-1), 16, cfg.total_stride)[None, None]
        loss = balanced_loss(logits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
        bar.set_postfix(loss='%.4f' % np.mean(history[-50:]))
        if (step + 1) % save_every == 0 or step + 1 == steps:
            _save(out, net, opt, step + 1, history, cfg, time.monotonic() - t0)
    _save(out, net, opt, len(history), history, cfg, time.monotonic() - t0)
    net.eval()
    return last


def _save(out: Path, net, opt, step: int, history: list, cfg: S.SiamFCConfig, seconds: float) -> None:
    tmp = out / 'last.pt.tmp'
    torch.save({'net': net.state_dict(), 'opt': opt.state_dict(), 'step': step, 'history': history,
                'config': asdict(cfg), 'seconds': seconds}, tmp)
    os.replace(tmp, out / 'last.pt')


# ----------------------------------------------------------------------------
# Quality calibration
# ----------------------------------------------------------------------------


def run_sequence(tracker: S.SiamFCTracker, seq: Seq, start: int = 0, end: int | None = None):
    """Track ``seq`` from ``start`` (init on the truth); yields (frame index, TrackResult, true box or None)."""
    end = len(seq) if end is None else end
    r = tracker.init(seq.frame(start), seq.boxes[start])
    if not r.ok:
        return
    for i in range(start + 1, end):
        truth = seq.boxes[i] if np.all(np.isfinite(seq.boxes[i])) else None
        yield i, tracker.update(seq.frame(i)), truth


def collect_quality_data(net: S.SiamFCNet, cfg: S.SiamFCConfig, seqs: Sequence[Seq], backend: str = 'torch',
                         threads: int = 1, max_frames: int = 0, keys: Sequence[str] = (), exemplar_pass: bool = False):
    """Features of every tracked frame and the IoU of the candidate box with the truth (0 when out of view).
    ``keys``: the stats to keep (default the head's features); ``exemplar_pass``: compute the ``appz_*`` features.

    The tracker never holds here (the ungated run): its trajectory, hence the data, does not depend on the head."""
    head = S.QualityHead()
    feats, target, seq_of = [], [], []
    for k, seq in enumerate(tqdm(seqs, desc='calibrate', unit='seq')):
        t = S.SiamFCTracker(net, cfg, head, backend=backend, num_threads=threads)
        t.exemplar_pass = exemplar_pass
        first = next((i for i in range(len(seq)) if usable(seq, i)), None)
        if first is None:
            continue
        end = min(len(seq), first + max_frames) if max_frames > 0 else None
        for i, r, truth in run_sequence(t, seq, first, end):
            if not r.ok:
                continue
            feats.append(np.array([r.stats[k] for k in keys]) if keys else head.features(r.stats))
            target.append(iou(r.box, truth))  # the tracker never holds: the box is the response's
            seq_of.append(k)
    return np.asarray(feats), np.asarray(target), np.asarray(seq_of)


def quality_target(iou_: np.ndarray, kind: str = 'iou') -> np.ndarray:
    """What the head predicts: 'iou' (the box's IoU with the truth, soft target) or 'on' (the probability that the
    box is on the target, IoU >= ON_TARGET_IOU: a failure detector; its rank order still follows the IoU)."""
    if kind == 'iou':
        return np.asarray(iou_, dtype=np.float64)
    if kind == 'on':
        return (np.asarray(iou_) >= ON_TARGET_IOU).astype(np.float64)
    raise ValueError("quality target must be 'iou' or 'on', not %r" % kind)


ON_TARGET_IOU = 0.2


def loso(feats: np.ndarray, iou_: np.ndarray, seq_of: np.ndarray, names: Sequence[str], kind: str = 'iou',
         l2: float = 1e-3) -> dict:
    """Leave-one-sequence-out: fit on all sequences but one, Spearman(quality, IoU) on the one left out, and
    the pooled Spearman of all held-out predictions."""
    q = np.full(len(iou_), np.nan)
    per = {}
    for k in np.unique(seq_of):
        tr, te = seq_of != k, seq_of == k
        c = np.asarray(fit_quality(feats[tr], quality_target(iou_[tr], kind), l2))
        q[te] = 1 / (1 + np.exp(-np.clip(c[0] + feats[te] @ c[1:], -60, 60)))
        per[str(names[k])] = float(spearmanr(q[te], iou_[te]).statistic) if te.sum() > 2 else float('nan')
    return {'per_seq': per, 'pooled': float(spearmanr(q, iou_).statistic), 'q': q}


def loso_heads(data: dict, extra: tuple | None = None, kind: str = 'on', l2: float = 1e-3) -> dict:
    """Leave-one-sequence-out heads: ``data`` maps a sequence name to its (features, IoU) of the ungated tracker;
    the head of each sequence is fitted on all the others (plus ``extra`` = (features, IoU), e.g. simulator
    sequences), so a gated run with it never saw the sequence it is judged on. Returns name -> coefficients."""
    heads = {}
    for name in data:
        fs = [f for k, (f, _) in data.items() if k != name and len(f)]
        ys = [y for k, (_, y) in data.items() if k != name and len(y)]
        if extra is not None and len(extra[0]):
            fs.append(extra[0])
            ys.append(extra[1])
        heads[name] = fit_quality(np.concatenate(fs), quality_target(np.concatenate(ys), kind), l2)
    return heads


def fit_quality(feats: np.ndarray, target: np.ndarray, l2: float = 1e-3) -> list:
    """Logistic regression with soft targets: minimise BCE(sigmoid(b + w.f), target) (target = IoU or on/off)."""
    X = np.hstack([np.ones((len(feats), 1)), feats])

    def f(c):
        z = X @ c
        p = 1 / (1 + np.exp(-np.clip(z, -40, 40)))
        eps = 1e-9
        loss = -np.mean(target * np.log(p + eps) + (1 - target) * np.log(1 - p + eps)) + l2 * np.sum(c[1:] ** 2)
        grad = X.T @ (p - target) / len(X) + 2 * l2 * np.r_[0, c[1:]]
        return loss, grad

    res = minimize(f, np.zeros(X.shape[1]), jac=True, method='L-BFGS-B')
    return [float(v) for v in res.x]


# ----------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------


def load_seqs(spec: str) -> list[Seq]:
    """'otb:DIR' (every sub-folder with groundtruth_rect.txt) or 'sim:SPLIT' (the embedded simulator's suite);
    several joined by '+' (e.g. 'otb:/data/aerial_tracking+sim:smoke')."""
    if '+' in spec:
        return [s for part in spec.split('+') for s in load_seqs(part)]
    kind, _, arg = spec.partition(':')
    if kind == 'otb':
        root = Path(arg)
        if not root.is_dir():
            raise SystemExit('error: no such folder: %s' % root)
        return [read_otb(p) for p in sorted(root.iterdir()) if (p / 'groundtruth_rect.txt').is_file()]
    if kind == 'sim':
        return sim_sequences(arg)
    raise SystemExit("error: sequences must be 'otb:DIR' or 'sim:SPLIT', got %r" % spec)


def load_net(path: str):
    """(net, config, metadata) from a training checkpoint (train subcommand) or a model file (``S.load_checkpoint``)."""
    ck = torch.load(path, map_location='cpu', weights_only=False)
    if isinstance(ck, dict) and 'net' in ck and 'step' in ck:
        cfg = S.SiamFCConfig(**ck['config'])
        net = S.SiamFCNet(cfg.width, cfg.out_scale)
        net.load_state_dict(ck['net'])
        return net.eval(), cfg, {'trained_steps': ck['step'], 'final_loss': float(np.mean(ck['history'][-100:]))}
    net, cfg, _ = S.load_checkpoint(dict(ck, quality=None))  # the network only: its head is refitted
    meta = {k: v for k, v in dict(ck.get('meta') or {}).items() if k in ('trained_steps', 'final_loss')}
    return net.eval(), cfg, meta


def load_quality_data(paths: Sequence[str]):
    """Concatenate npz files of the collect subcommand (their features must be this version's)."""
    fs, ys, ss, names = [], [], [], []
    for p in paths:
        if not Path(p).is_file():
            raise SystemExit('error: no such file: %s (make it with the collect subcommand)' % p)
        d = np.load(p)
        if tuple(d['keys']) != tuple(S.QUALITY_FEATURES):
            raise SystemExit('error: %s holds other quality features (%s); collect again' % (p, ', '.join(d['keys'])))
        fs.append(d['features'])
        ys.append(d['iou'])
        ss.append(d['seq_of'] + len(names))
        names += list(d['names'])
    return np.concatenate(fs), np.concatenate(ys), np.concatenate(ss), names


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog='python -m uavcine.train.siamfc_train', description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    b = sub.add_parser('bank', help='crop bank from sequences')
    b.add_argument('seqs', help="'sim:train' or 'otb:DIR'")
    b.add_argument('--out', default='data/siamfc/bank_train.npz')
    b.add_argument('--every', type=int, default=1)
    t = sub.add_parser('train', help='train on a crop bank (resumable)')
    t.add_argument('--bank', default='data/siamfc/bank_train.npz', help='crop bank(s), comma-separated')
    t.add_argument('--bank-share', default='', help='share of the pairs from each bank (comma-separated, e.g. '
                   '0.5,0.5; default: every sequence equally likely)')
    t.add_argument('--exclude', default='', help='sequence names to leave out of the banks (k-fold: the fold held '
                   'out), comma-separated')
    t.add_argument('--init', default='', help='fine-tune from this model file or training checkpoint')
    t.add_argument('--augment', type=float, default=0.0, help='domain randomisation strength (siamfc_augment; '
                   '0 = the plain siamfc-pytorch pairs, 1 = the full ranges)')
    t.add_argument('--max-minutes', type=float, default=0.0, help='wall-clock budget (0 = none); the learning '
                   'rate decays over it')
    t.add_argument('--warmup', type=int, default=100, help='warm-up steps')
    t.add_argument('--out', default='runs/siamfc')
    t.add_argument('--width', type=float, default=0.5)
    t.add_argument('--steps', type=int, default=3000)
    t.add_argument('--batch', type=int, default=8)
    t.add_argument('--lr', type=float, default=3e-3)
    t.add_argument('--seed', type=int, default=0)
    t.add_argument('--threads', type=int, default=1)
    t.add_argument('--resume', action='store_true')
    k = sub.add_parser('collect', help='quality features and IoU of the ungated tracker over sequences (npz)')
    k.add_argument('seqs', help="'sim:SPLIT', 'otb:DIR', several joined by '+'")
    k.add_argument('--ckpt', default='models/siamfc_sim.pt', help='a training checkpoint or a model file')
    k.add_argument('--out', default='runs/siamfc_quality_data.npz')
    k.add_argument('--backend', default='onnxruntime', choices=['torch', 'onnxruntime'])
    k.add_argument('--max-frames', type=int, default=0, help='frames per sequence (0 = all)')
    k.add_argument('--threads', type=int, default=1)
    c = sub.add_parser('calibrate', help='fit the quality head, write the model file')
    c.add_argument('--ckpt', default='runs/siamfc/last.pt', help='a training checkpoint or a model file')
    c.add_argument('--calib', default='sim:calib', help="sequences to fit on ('+' joins several)")
    c.add_argument('--data', default='', help='fit on the npz of the collect subcommand(s) instead (comma-separated)')
    c.add_argument('--target', default='iou', choices=['iou', 'on'],
                   help="what quality predicts: the IoU, or the probability that the box is on the target "
                        "(IoU >= %.1f)" % ON_TARGET_IOU)
    c.add_argument('--l2', type=float, default=1e-3)
    c.add_argument('--heldout', default='', help="sequences to report Spearman on ('' = none; track_eval reports it)")
    c.add_argument('--backend', default='onnxruntime', choices=['torch', 'onnxruntime'])
    c.add_argument('--max-frames', type=int, default=0, help='frames per sequence (0 = all)')
    c.add_argument('--out', default='models/siamfc_sim.pt')
    c.add_argument('--threads', type=int, default=1)
    a = ap.parse_args(argv)

    if a.cmd == 'bank':
        seqs = load_seqs(a.seqs)
        bank = build_bank(seqs, S.SiamFCConfig(), every=a.every)
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        np.savez(a.out, **bank, names=np.array([s.name for s in seqs]))
        print('%d crops from %d sequences -> %s' % (len(bank['crops']), len(seqs), a.out))
        return 0
    if a.cmd == 'train':
        files = [f for f in a.bank.split(',') if f]
        for f in files:
            if not Path(f).is_file():
                print('error: crop bank not found: %s (make it with the bank subcommand)' % f, file=sys.stderr)
                return 2
        if a.init and not Path(a.init).is_file():
            print('error: --init model not found: %s' % a.init, file=sys.stderr)
            return 2
        banks = [dict(np.load(f)) for f in files]
        for f, b in zip(files, banks):
            if 'names' not in b:
                b['names'] = np.array(['%s#%d' % (Path(f).stem, i) for i in range(int(b['seq'].max()) + 1)])
        try:
            shares = [float(v) for v in a.bank_share.split(',')] if a.bank_share else []
        except ValueError:
            shares = None
        if shares is None or (shares and (len(shares) != len(files) or min(shares) <= 0)):
            print('error: --bank-share needs one positive number per bank (%d), got %r' % (len(files), a.bank_share),
                  file=sys.stderr)
            return 2
        bank = drop_sequences(merge_banks(banks), [n for n in a.exclude.split(',') if n])
        weight = None
        if shares:  # each bank's sequences share its part of the pairs equally
            weight, start = {}, 0
            for b, sh in zip(banks, shares):
                n = len(b['names'])
                present = [k for k in range(start, start + n) if np.any(bank['seq'] == k)]
                weight.update({k: sh / max(1, len(present)) for k in present})
                start += n
        cfg = S.SiamFCConfig(width=a.width)
        aug = AugmentConfig(strength=a.augment) if a.augment > 0 else None
        last = train(bank, Path(a.out), cfg, a.steps, a.batch, a.lr, a.seed, a.resume, a.threads, init=a.init,
                     augment=aug, seq_weight=weight, max_minutes=a.max_minutes, warmup=a.warmup)
        print('checkpoint: %s (%d sequences: %s)' % (last, len(np.unique(bank['seq'])),
                                                      ', '.join(sorted({str(bank['names'][k]) for k in np.unique(bank['seq'])
                                                                        if not str(bank['names'][k]).startswith('sim_')}))))
        return 0
    if a.cmd in ('collect', 'calibrate'):
        torch.set_num_threads(a.threads)
        if not Path(a.ckpt).is_file():
            print('error: checkpoint not found: %s' % a.ckpt, file=sys.stderr)
            return 2
        net, cfg, meta0 = load_net(a.ckpt)
    if a.cmd == 'collect':
        seqs = load_seqs(a.seqs)
        f, y, seq_of = collect_quality_data(net, cfg, seqs, a.backend, a.threads, a.max_frames)
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        np.savez(a.out, features=f, iou=y, seq_of=seq_of, names=np.array([s.name for s in seqs]),
                 keys=np.array(S.QUALITY_FEATURES))
        print('%d frames of %d sequences -> %s' % (len(y), len(seqs), a.out))
        return 0
    if a.cmd == 'calibrate':
        if a.data:
            f_cal, y_cal, seq_of, names = load_quality_data(a.data.split(','))
            calib = a.data
        else:
            seqs = load_seqs(a.calib)
            f_cal, y_cal, seq_of = collect_quality_data(net, cfg, seqs, a.backend, a.threads, a.max_frames)
            names, calib = [s.name for s in seqs], a.calib
        coef = fit_quality(f_cal, quality_target(y_cal, a.target), a.l2)
        head = S.QualityHead(coef)
        q_cal = np.array([head(dict(zip(S.QUALITY_FEATURES, f))) for f in f_cal])
        lo = loso(f_cal, y_cal, seq_of, names, a.target, a.l2)
        if a.data:  # pooled held-out Spearman of each file's sequences (real and simulated apart)
            files, start = {}, 0
            for p in a.data.split(','):
                n = len(np.load(p)['names'])
                m = (seq_of >= start) & (seq_of < start + n)
                files[p] = float(spearmanr(lo['q'][m], y_cal[m]).statistic)
                start += n
            lo['per_file'] = files
        meta = dict(meta0, calib=calib, calib_frames=int(len(y_cal)), quality_target=a.target,
                    calib_spearman_quality_iou=float(spearmanr(q_cal, y_cal).statistic),
                    loso_spearman_quality_iou=lo['pooled'], loso_spearman_per_seq=lo['per_seq'],
                    loso_spearman_per_file=lo.get('per_file', {}),
                    features=list(S.QUALITY_FEATURES))
        if a.heldout:
            f_te, y_te, _ = collect_quality_data(net, cfg, load_seqs(a.heldout), a.backend, a.threads,
                                                   a.max_frames)
            q_te = np.array([head(dict(zip(S.QUALITY_FEATURES, f))) for f in f_te])
            meta.update(heldout=a.heldout, heldout_frames=int(len(y_te)),
                        heldout_spearman_quality_iou=float(spearmanr(q_te, y_te).statistic))
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        torch.save(S.save_checkpoint(net, cfg, head, meta, half=True), a.out)
        print(json.dumps({'coef': coef, **meta}, indent=1))
        print('model -> %s (%.1f MB)' % (a.out, os.path.getsize(a.out) / 1e6))
        return 0
    return 1


if __name__ == '__main__':
    sys.exit(main())
