"""Train FLODCAST on the simulator's depth + flow sequences: resumable, with progress, a time budget and the curve.

    python -m uavcine.train.flodcast_train --data data/flodcast --out runs/flodcast/both --max-minutes 35
    python -m uavcine.train.flodcast_train --data data/flodcast --out runs/flodcast/flow --modalities flow
    python -m uavcine.train.flodcast_train ... --resume                     # goes on from <out>/last.pt

Samples: T + K = 6 consecutive frames of one training scene (train/flodcast_data.py), a random start each
time. Normalisation: min-max over the whole training split (the paper), stored in the checkpoint. Loss:
BerHu per modality (core/forecasting/flodcast.py), Adam. Model selection: the same loss on a fixed set of
validation windows every ``--val-every-min`` minutes (the test split is never read here). The best model
is ``<out>/flodcast_<name>.pt`` (fp16 weights, config, normalisation, curve); ``<out>/curve.png`` its curve.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..core.forecasting.flodcast import (FLODCAST, SKIPS, FlodcastConfig, MinMax, base_forecast, checkpoint,
                                         count_parameters, flodcast_loss, make_input)
from . import flodcast_data


def step_scales(data: dict, starts: np.ndarray, norm: MinMax, skip: str, past: int, future: int, n: int = 2000):
    """Mean |X_{T+k} - base_k| (normalised) over ``n`` training windows, k = 1..K: flow and depth (skip's s_k)."""
    s = starts[np.linspace(0, len(starts) - 1, min(n, len(starts))).astype(int)]
    idx = s[:, None] + np.arange(past + future)[None]
    x = torch.from_numpy(make_input(data['depth'][idx], data['flow'][idx], norm, ('flow', 'depth')))
    change = (x[:, past:] - base_forecast(x[:, :past], future, skip)).abs().numpy()   # (n, K, 3, H, W)
    return (tuple(float(v) for v in change[:, :, :2].mean(axis=(0, 2, 3, 4))),
            tuple(float(v) for v in change[:, :, 2].mean(axis=(0, 2, 3))))


def batch(data: dict, starts: np.ndarray, cfg: FlodcastConfig, norm: MinMax):
    """(input (B, T, C, H, W), target {'flow': (B, K, 2, H, W), 'depth': (B, K, 1, H, W)}) normalised tensors."""
    t, k = cfg.past, cfg.future
    idx = starts[:, None] + np.arange(t + k)[None]
    depth, flow = data['depth'][idx], data['flow'][idx]
    x = make_input(depth[:, :t], flow[:, :t], norm, cfg.modalities)
    y = make_input(depth[:, t:], flow[:, t:], norm, ('flow', 'depth'))
    target = {'flow': torch.from_numpy(y[:, :, :2].copy()), 'depth': torch.from_numpy(y[:, :, 2:].copy())}
    return torch.from_numpy(x), {m: target[m] for m in cfg.modalities}


@torch.no_grad()
def validate(model: FLODCAST, data: dict, starts: np.ndarray, norm: MinMax, batch_size: int) -> dict:
    model.eval()
    total, parts = 0.0, {m: 0.0 for m in model.cfg.modalities}
    n = 0
    for i in range(0, len(starts), batch_size):
        s = starts[i:i + batch_size]
        x, y = batch(data, s, model.cfg, norm)
        loss, p = flodcast_loss(model(x), y, model.cfg)
        total += float(loss) * len(s)
        for m in p:
            parts[m] += float(p[m]) * len(s)
        n += len(s)
    model.train()
    return dict({'loss': total / n}, **{m: v / n for m, v in parts.items()})


def plot_curve(curve: list, path: Path, title: str):
    import matplotlib  # lazy: only for the curve
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # after use('Agg'): no display here
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=90)
    steps = [c['step'] for c in curve]
    ax.plot(steps, [c['train'] for c in curve], label='train (BerHu, running mean)')
    ax.plot(steps, [c['val'] for c in curve], 'o-', label='val (BerHu)')
    ax.set_xlabel('step')
    ax.set_ylabel('loss')
    ax.set_yscale('log')
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--data', default='data/flodcast')
    ap.add_argument('--out', required=True)
    ap.add_argument('--modalities', nargs='+', default=['flow', 'depth'], choices=['flow', 'depth'])
    ap.add_argument('--width', type=float, default=0.125, help='UNet width multiplier (1.0: the paper)')
    ap.add_argument('--skip', default='none', choices=SKIPS,
                    help='heads correct a base forecast: none (the paper), last (copy-last), linear (extrapolation)')
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--max-minutes', type=float, default=30.0)
    ap.add_argument('--max-steps', type=int, default=1000000)
    ap.add_argument('--val-every-min', type=float, default=4.0)
    ap.add_argument('--val-windows', type=int, default=192)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--resume', action='store_true')
    a = ap.parse_args(argv)
    if a.width <= 0 or a.batch < 1 or a.max_minutes <= 0:
        print('flodcast_train: width, batch and max-minutes must be positive', file=sys.stderr)
        return 2
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    try:
        train = flodcast_data.load(Path(a.data) / 'train.npz')
        val = flodcast_data.load(Path(a.data) / 'val.npz')
    except FileNotFoundError as exc:
        print('flodcast_train: %s' % exc, file=sys.stderr)
        return 2
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    name = 'both' if len(a.modalities) == 2 else a.modalities[0]
    h, w = train['depth'].shape[1:]
    norm = MinMax.fit(train['depth'], train['flow'])
    starts = flodcast_data.windows(train['scene'], 6)
    flow_s, depth_s = step_scales(train, starts, norm, a.skip, 3, 3) if a.skip != 'none' else ((), ())
    cfg = FlodcastConfig(width=a.width, modalities=tuple(m for m in ('flow', 'depth') if m in a.modalities),
                         skip=a.skip, flow_step_scale=flow_s, depth_step_scale=depth_s,
                         dt_s=float(1.0 / train['rate_hz']), height=int(h), width_px=int(w))
    model = FLODCAST(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    length = cfg.past + cfg.future
    vstarts = flodcast_data.windows(val['scene'], length)
    vstarts = vstarts[np.linspace(0, len(vstarts) - 1, min(a.val_windows, len(vstarts))).astype(int)]
    state = {'step': 0, 'elapsed_s': 0.0, 'curve': [], 'best': float('inf')}
    last = out / 'last.pt'
    if a.resume and last.is_file():
        ck = torch.load(last, map_location='cpu', weights_only=False)
        model.load_state_dict(ck['model'])
        opt.load_state_dict(ck['opt'])
        state = ck['state']
        rng = np.random.default_rng([a.seed, state['step']])
        print('resumed at step %d (%.1f min)' % (state['step'], state['elapsed_s'] / 60))
    print('FLODCAST %s: %d parameters, %d train windows, %d val windows, minmax %s, step scales %s %s'
          % (name, count_parameters(model), len(starts), len(vstarts), asdict(norm), cfg.flow_step_scale,
             cfg.depth_step_scale))
    budget = a.max_minutes * 60.0
    t0 = time.time() - state['elapsed_s']
    # a first validation at step 0, then every val_every_min
    next_val = 0.0 if state['step'] == 0 else state['elapsed_s'] + a.val_every_min * 60.0
    running = None
    model.train()
    bar = tqdm(total=int(budget), unit='s', desc='flodcast %s' % name, initial=int(state['elapsed_s']))
    while True:
        elapsed = time.time() - t0
        done = elapsed >= budget or state['step'] >= a.max_steps
        if elapsed >= next_val or done:
            v = validate(model, val, vstarts, norm, 32)
            state['curve'].append({'step': state['step'], 'minutes': elapsed / 60,
                                   'train': running if running is not None else v['loss'], 'val': v['loss'],
                                   **{'val_' + m: v[m] for m in cfg.modalities}})
            if v['loss'] < state['best']:
                state['best'] = v['loss']
                torch.save(checkpoint(model, norm, name=name, curve=state['curve'], step=state['step'],
                                      minutes=elapsed / 60), out / ('flodcast_%s.pt' % name))
            state['elapsed_s'] = elapsed
            torch.save({'model': model.state_dict(), 'opt': opt.state_dict(), 'state': state}, last)
            plot_curve(state['curve'], out / 'curve.png', 'FLODCAST %s (width %g, skip %s)' % (name, a.width, a.skip))
            tqdm.write('step %d  %.1f min  val %.5f  best %.5f' % (state['step'], elapsed / 60, v['loss'],
                                                                   state['best']))
            next_val = elapsed + a.val_every_min * 60.0
            if done:
                break
        x, y = batch(train, rng.choice(starts, a.batch), cfg, norm)
        loss, _ = flodcast_loss(model(x), y, cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        state['step'] += 1
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        bar.update(int(time.time() - t0) - bar.n)
        bar.set_postfix(step=state['step'], loss='%.4f' % running)
    bar.close()
    # the shipped file: the best checkpoint, with the whole curve
    best = torch.load(out / ('flodcast_%s.pt' % name), map_location='cpu', weights_only=False)
    best['curve'] = state['curve']
    torch.save(best, out / ('flodcast_%s.pt' % name))
    print('best val %.5f at step %d -> %s' % (state['best'], best['step'], out / ('flodcast_%s.pt' % name)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
