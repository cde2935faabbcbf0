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

from ..core.forecasting.constant_velocity import constant_velocity, sampled_constant_velocity
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
    import torch

    def run(past: np.ndarray) -> np.ndarray:
        centre = past[:, -1].mean(0)
        x = torch.as_tensor(past - centre, dtype=torch.float32, device=device)[None]
        with torch.no_grad():
            out = model(x)[0].cpu().numpy()
        return out + centre
    return run


def load_smemo(path: str | Path, device: str = 'cpu'):
    from ..core.forecasting.smemo import SMEMO, SMEMOConfig
    import torch
    ckpt = torch.load(path, map_location=device, weights_only=False)
    model = SMEMO(SMEMOConfig(**ckpt['config']))
    model.load_state_dict({k: v.float() for k, v in ckpt['model'].items()})
    return model.eval().to(device), ckpt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', default=None, help='ETH/UCY root (default: the shared copy)')
    ap.add_argument('--models', default='models', help='folder with smemo_<split>.pt')
    ap.add_argument('--splits', nargs='+', default=['eth', 'hotel', 'univ', 'zara1', 'zara2'])
    ap.add_argument('--out', default=None, help='write the markdown table here too')
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    root = Path(args.data) if args.data else eth_ucy.default_root()
    rows = ['| split | test agents | SMEMO ours ADE/FDE | paper ADE/FDE | ours/paper ADE, FDE | CV ADE/FDE '
            '| sampled CV best-of-20 ADE/FDE (σθ, σs from val) | SMEMO beats CV-20? |',
            '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |']
    for split in args.splits:
        pa, pf = PAPER[split]
        try:
            test = eth_ucy.load(root, split, 'test')
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
    table = '\n'.join(rows)
    print(table)
    if args.out:
        Path(args.out).write_text(table + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
