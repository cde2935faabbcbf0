"""Trajectory forecasting on ETH/UCY: best-of-K ADE/FDE for SMEMO and its constant-velocity peers.

One evaluation code for every forecaster: a forecaster maps a scene's past (A, 8, 2) to K futures
(A, K, 12, 2); ``best_of_k`` takes, per agent, the mode with the smallest ADE (and, separately, the
smallest FDE, as the released SMEMO test does) and the table averages over agents.

    python -m uavcine.eval.forecast_eval --models models --out docs/smemo_eval.md

writes the table (SMEMO vs the paper vs constant velocity, per split) that models/MODEL_CARD_smemo.md
quotes. The sampled constant-velocity noise is chosen on each split's *val* set (grid below), never on
test. UNIV is not in the shared data copy: its row says so.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..core.forecasting.constant_velocity import constant_velocity, sampled_constant_velocity
from ..core.forecasting.smemo import SMEMO, SMEMOConfig
from ..train import eth_ucy

#: SMEMO (TPAMI 2024), K=20, ADE/FDE in metres.
PAPER = {'eth': (0.39, 0.59), 'hotel': (0.14, 0.20), 'univ': (0.23, 0.41), 'zara1': (0.19, 0.32),
         'zara2': (0.15, 0.26)}
OBS, PRED, K = 8, 12, 20
HEADING_GRID = (0.05, 0.1, 0.2, 0.3, 0.45, 0.6)   # rad
SPEED_GRID = (0.1, 0.2, 0.4, 0.6)            # relative


def best_of_k(pred: np.ndarray, future: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pred (A, K, T, 2), future (A, T, 2) -> per-agent min-over-K ADE and FDE (A,), metres."""
    d = np.linalg.norm(pred - future[:, None], axis=-1)   # (A, K, T)
    return d.mean(-1).min(1), d[:, :, -1].min(1)


def evaluate(forecast: Callable[[np.ndarray], np.ndarray], scenes: list[np.ndarray]) -> dict:
    """Mean best-of-K ADE/FDE over all agents of ``scenes`` (each (A, 20, 2))."""
    ade, fde = [], []
    for sc in scenes:
        pred = forecast(sc[:, :OBS])
        a, f = best_of_k(pred, sc[:, OBS:OBS + PRED])
        ade.append(a)
        fde.append(f)
    ade, fde = np.concatenate(ade), np.concatenate(fde)
    return {'ade': float(ade.mean()), 'fde': float(fde.mean()), 'agents': int(len(ade)), 'scenes': len(scenes)}


def cv_forecaster() -> Callable[[np.ndarray], np.ndarray]:
    return lambda past: constant_velocity(past, PRED)


def sampled_cv_forecaster(sigma_heading: float, sigma_speed: float, seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    return lambda past: sampled_constant_velocity(past, PRED, K, sigma_heading, sigma_speed, rng)


def tune_sampled_cv(val: list[np.ndarray]) -> tuple[float, float]:
    """The (heading, speed) noise with the lowest val ADE + FDE."""
    best = None
    for sh in HEADING_GRID:
        for ss in SPEED_GRID:
            r = evaluate(sampled_cv_forecaster(sh, ss), val)
            score = r['ade'] + r['fde']
            if best is None or score < best[0]:
                best = (score, sh, ss)
    return best[1], best[2]


def smemo_forecaster(model, device: str = 'cpu') -> Callable[[np.ndarray], np.ndarray]:
    """Wrap a SMEMO model: scene-centred input (the mean present position), one scene per call."""

    def run(past: np.ndarray) -> np.ndarray:
        centre = past[:, -1].mean(0)
        x = torch.as_tensor(past - centre, dtype=torch.float32, device=device)[None]
        with torch.no_grad():
            out = model(x)[0].cpu().numpy()
        return out + centre
    return run


def load_smemo(path: str | Path, device: str = 'cpu'):
    ckpt = torch.load(path, map_location=device, weights_only=False)
    model = SMEMO(SMEMOConfig(**ckpt['config']))
    model.load_state_dict({k: v.float() for k, v in ckpt['model'].items()})
    return model.eval().to(device), ckpt


def attention_figure(model, scene: np.ndarray, path: Path, title: str) -> None:
    """The memory read attention of one scene: whose memory entries each mode of agent 0 reads.

    Slot n's owner share: agent j's total write weight on n over the scene's steps, normalised over the
    agents. Mode k's attention on agent j: sum over the future steps and slots of k's read weight times
    j's share of the slot. Left: the scene (observed, true future, agent 0's 20 modes, the best bold).
    Middle: agent 0's read weights over the slots and future steps for its best mode. Right: modes x agents.
    """
    import matplotlib  # only when the figure is drawn (start-up time)
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # after choosing the Agg backend
    centre = scene[:, OBS - 1].mean(0)
    x = torch.as_tensor(scene[:, :OBS] - centre, dtype=torch.float32)[None]
    with torch.no_grad():
        pred, att = model(x, return_attention=True)
    pred = pred[0].numpy() + centre                         # (A, K, T, 2)
    read = att['read'][0, 0].numpy()                        # agent 0: (K, T, N)
    write = att['write'][0].sum(2).sum(1).numpy()           # (A, N): over modes and steps
    share = write / np.clip(write.sum(0, keepdims=True), 1e-9, None)
    attn = read.sum(1) @ share.T                            # (K, A)
    attn = attn / attn.sum(1, keepdims=True)
    ade = np.linalg.norm(pred[0] - scene[0, OBS:][None], axis=-1).mean(-1)
    best = int(ade.argmin())
    fig, ax = plt.subplots(1, 3, figsize=(16, 4.8), gridspec_kw={'width_ratios': [1.1, 1.2, 1.0]})
    colors = plt.cm.tab10(np.arange(len(scene)) % 10)
    for j, c in enumerate(colors):
        ax[0].plot(scene[j, :OBS, 0], scene[j, :OBS, 1], '-o', color=c, ms=2, label='agent %d' % j)
        ax[0].plot(scene[j, OBS - 1:, 0], scene[j, OBS - 1:, 1], '--', color=c, lw=1)
    for k in range(pred.shape[1]):
        ax[0].plot(pred[0, k, :, 0], pred[0, k, :, 1], color=colors[0], alpha=0.9 if k == best else 0.25,
                   lw=2.2 if k == best else 0.8)
    ax[0].set_aspect('equal')
    ax[0].set_title('scene: observed (dots), true future (dashed),\nagent 0: 20 modes (best bold, ADE %.2f m)' % ade[best])
    ax[0].legend(fontsize=7)
    im = ax[1].imshow(read[best].T, aspect='auto', cmap='viridis', origin='lower',
                      extent=[0.5, read.shape[1] + 0.5, -0.5, read.shape[2] - 0.5])
    ax[1].set_xlabel('future step (0.4 s)')
    ax[1].set_ylabel('memory slot')
    ax[1].set_title('agent 0, mode %d: read weights over the memory' % best)
    fig.colorbar(im, ax=ax[1])
    im = ax[2].imshow(attn, aspect='auto', cmap='magma', vmin=0)
    ax[2].set_xlabel("whose entries (agent)")
    ax[2].set_ylabel('mode of agent 0')
    ax[2].set_xticks(range(len(scene)))
    ax[2].set_title('which agents each mode reads')
    fig.colorbar(im, ax=ax[2])
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', default=None, help='ETH/UCY root (default: the shared copy)')
    ap.add_argument('--models', default='models', help='folder with smemo_<split>.pt')
    ap.add_argument('--splits', nargs='+', default=['eth', 'hotel', 'univ', 'zara1', 'zara2'])
    ap.add_argument('--out', default=None, help='write the markdown table here too')
    ap.add_argument('--subset', default='test', choices=('test', 'val'),
                    help='windows to measure on: test (the table) or val (to compare models; never used to tune)')
    ap.add_argument('--attention-png', default=None, help='plot the memory read attention of one test scene here')
    ap.add_argument('--attention-split', default='zara1')
    ap.add_argument('--attention-scene', type=int, default=-1, help='test scene index (-1: the first with 4+ agents)')
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    root = Path(args.data) if args.data else eth_ucy.default_root()
    rows = ['| split | %s agents | SMEMO ours ADE/FDE | paper ADE/FDE | ours/paper ADE, FDE | CV ADE/FDE '
            '| sampled CV best-of-20 ADE/FDE (σθ, σs from val) | SMEMO beats CV-20? |' % args.subset,
            '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |']
    for split in args.splits:
        pa, pf = PAPER[split]
        try:
            test = eth_ucy.load(root, split, args.subset)
            val = eth_ucy.load(root, split, 'val')
        except eth_ucy.DataError as exc:
            rows.append('| %s | — | not measured: %s | %.2f/%.2f | — | — | — | — |' % (split, exc, pa, pf))
            continue
        cv = evaluate(cv_forecaster(), test)
        sh, ss = tune_sampled_cv(val)
        scv = evaluate(sampled_cv_forecaster(sh, ss), test)
        mpath = Path(args.models) / ('smemo_%s.pt' % split)
        if mpath.is_file():
            model, _ = load_smemo(mpath)
            sm = evaluate(smemo_forecaster(model), test)
            ours = '%.3f/%.3f' % (sm['ade'], sm['fde'])
            ratio = '%.2f, %.2f' % (sm['ade'] / pa, sm['fde'] / pf)
            beats = ('ADE %s, FDE %s' % ('yes' if sm['ade'] < scv['ade'] else 'no',
                                         'yes' if sm['fde'] < scv['fde'] else 'no'))
        else:
            ours, ratio, beats = 'no model (%s)' % mpath, '—', '—'
        rows.append('| %s | %d | %s | %.2f/%.2f | %s | %.3f/%.3f | %.3f/%.3f (%.2f, %.2f) | %s |' % (
            split, cv['agents'], ours, pa, pf, ratio, cv['ade'], cv['fde'], scv['ade'], scv['fde'], sh, ss, beats))
        print(rows[-1], flush=True)
    if args.attention_png:
        model, _ = load_smemo(Path(args.models) / ('smemo_%s.pt' % args.attention_split))
        test = eth_ucy.load(root, args.attention_split, 'test')
        i = args.attention_scene if args.attention_scene >= 0 else next(j for j, s in enumerate(test) if len(s) >= 4)
        attention_figure(model, test[i], Path(args.attention_png),
                         'SMEMO %s test scene %d: memory read attention' % (args.attention_split, i))
    table = '\n'.join(rows)
    print(table)
    if args.out:
        Path(args.out).write_text(table + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
