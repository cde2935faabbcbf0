"""SMEMO training throughput: windows per second of one training step (forward, best-of-K loss, backward,
Adam) on real ETH/UCY train windows, one CPU thread.

Batches are built exactly as ``uavcine.train.smemo_train`` builds them (windows padded to the widest,
``--max-agents`` padded agents per batch), from a fixed random sample of the epoch's batches. Compared in
one run, on the same batches and weights: the plain loss (``best_of_k_loss(model(...))``: backward
through all K modes of the decoder), ``winner_takes_all_loss`` (the same gradient, the decoder backward on
the best mode only) and, with ``--compile``, the latter with the memory step and the decoder loop
torch.compile'd (dynamic shapes). Measured here (2026-11-27, zara2, 8 steps): 119 s to compile and no
faster (23.7 vs 23.6 windows per CPU second), so the trainer does not compile.
Printed: windows and agents per CPU second (and windows per wall second) after one warm-up step, and the
padding share.
Run: python bench/bench_smemo_train.py --split zara2 --steps 8 [--max-agents 128] [--compile]
Before (the model code of commit deba7f8, one content addressing per head, no winner-takes-all decoder):
git worktree add /tmp/smemo-before deba7f8 and run this file with PYTHONPATH=/tmp/smemo-before/src/uavcine.
"""
import argparse
import time

import numpy as np
import torch

from uavcine.core.forecasting.smemo import SMEMO, best_of_k_loss
from uavcine.train import eth_ucy
from uavcine.train.smemo_train import OBS, batches, collate

try:   # absent before the faster trainer (commit deba7f8): this bench then times the plain loss only
    from uavcine.core.forecasting.smemo import winner_takes_all_loss
except ImportError:
    winner_takes_all_loss = None


def compile_steps(model):
    """torch.compile the memory step and the decoder loop (weights and results unchanged)."""
    model.memory.step = torch.compile(model.memory.step, dynamic=True)
    model.decode = torch.compile(model.decode, dynamic=True)


def run(model, scenes, bl, loss_fn, seed):
    """windows per CPU second and per wall second, agents per CPU second, padded share over ``bl`` (the first
    batch is a warm-up). CPU time of this process (one thread) is what other jobs on a shared machine disturb
    least; wall time is what a training run sees."""
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n_win = n_ag = n_pad = 0
    t0 = None
    for i, idx in enumerate(bl):
        if i == 1:
            t0, c0 = time.perf_counter(), time.process_time()
        x, mask = collate(scenes, idx, rng, 'cpu')
        loss = loss_fn(model, x, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 1:
            n_win += len(idx)
            n_ag += int(mask.sum())
            n_pad += mask.numel()
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    return n_win / dc, n_win / dt, n_ag / dc, 1 - n_ag / n_pad


def plain(model, x, mask):
    return best_of_k_loss(model(x[:, :, :OBS], mask), x[:, :, OBS:], mask)


def wta(model, x, mask):
    return winner_takes_all_loss(model, x[:, :, :OBS], x[:, :, OBS:], mask)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--split', default='zara2', choices=eth_ucy.SPLITS)
    ap.add_argument('--steps', type=int, default=8)
    ap.add_argument('--max-agents', type=int, default=128)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--compile', action='store_true', help='also time the torch.compile\'d steps')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    scenes = eth_ucy.load(eth_ucy.default_root(), args.split, 'train')
    rng = np.random.default_rng(0)
    bl = batches(scenes, rng.permutation(len(scenes)), args.max_agents)
    bl = [bl[i] for i in sorted(rng.permutation(len(bl))[:args.steps + 1])]
    state = SMEMO().state_dict()
    print('%s, max-agents %d, %d steps after a warm-up, %d thread(s)' % (args.split, args.max_agents, args.steps,
                                                                        args.threads))
    variants = [('plain best_of_k_loss', plain, False)]
    if winner_takes_all_loss is not None:
        variants.append(('winner_takes_all_loss', wta, False))
    if args.compile and winner_takes_all_loss is not None:
        variants.append(('winner_takes_all_loss + compile', wta, True))
    for name, fn, comp in variants:
        model = SMEMO()
        model.load_state_dict(state)
        if comp:
            t = time.perf_counter()
            compile_steps(model)
            run(model, scenes, bl[:1] * 2, fn, 1)   # compiles for the first batch's shapes
            print('  (first compile %.0f s)' % (time.perf_counter() - t))
        w, w_wall, ag, pad = run(model, scenes, bl, fn, 1)
        print('%-34s %6.2f windows/CPU-s (%6.2f per wall s) %7.1f agents/CPU-s (%.0f%% padding)' % (
            name, w, w_wall, ag, 100 * pad))


if __name__ == '__main__':
    main()
