"""FLODCAST on held-out simulator sequences: the paper's metrics against copy-last, linear extrapolation and the
single-modality ablations.

    python -m uavcine.eval.flodcast_eval --data data/flodcast --split test \\
        --model both=models/flodcast_both.pt --model flow=models/flodcast_flow.pt \\
        --model depth=models/flodcast_depth.pt --json runs/flodcast/eval_test.json

Every window of T + K = 6 consecutive frames of every scene of the split (stride 1). Depth metrics at
future step k (pixels whose true depth is below the data's ``max_depth_m``, i.e. not sky; predictions
clipped to [0.1 m, max_depth_m]), per window, then averaged over windows: AbsRel, SqRel, RMSE (m),
RMSE log, delta < 1.25 (the share of pixels with max(d/d_hat, d_hat/d) < 1.25). Flow: end-point error
EPE (px, mean over all pixels). Peers: copy-last (X_T for every k) and linear extrapolation
(X_T + k (X_T - X_{T-1})).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..core.forecasting.flodcast import from_checkpoint, make_input, to_metric
from ..train import flodcast_data

DEPTH_METRICS = ('AbsRel', 'SqRel', 'RMSE', 'RMSElog', 'd1.25')
MIN_DEPTH = 0.1


def depth_metrics(pred: np.ndarray, gt: np.ndarray, max_depth: float) -> dict:
    """The paper's depth metrics of one (H, W) forecast; pixels with gt < max_depth (not the sky)."""
    valid = (gt > MIN_DEPTH) & (gt < max_depth - 1e-3)
    if not valid.any():
        return {}
    d = gt[valid].astype(np.float64)
    p = np.clip(pred[valid].astype(np.float64), MIN_DEPTH, max_depth)
    ratio = np.maximum(p / d, d / p)
    return {'AbsRel': float(np.mean(np.abs(p - d) / d)), 'SqRel': float(np.mean((p - d) ** 2 / d)),
            'RMSE': float(np.sqrt(np.mean((p - d) ** 2))),
            'RMSElog': float(np.sqrt(np.mean((np.log(p) - np.log(d)) ** 2))),
            'd1.25': float(np.mean(ratio < 1.25))}


def epe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean end-point error (px) of one (H, W, 2) flow forecast."""
    return float(np.mean(np.linalg.norm(pred.astype(np.float64) - gt, axis=-1)))


def baselines(depth: np.ndarray, flow: np.ndarray, past: int, future: int) -> dict:
    """copy-last and linear extrapolation of one window's past: {name: {'depth': (K,H,W), 'flow': (K,H,W,2)}}."""
    last_d, prev_d = depth[past - 1], depth[past - 2]
    last_f, prev_f = flow[past - 1], flow[past - 2]
    ks = np.arange(1, future + 1, dtype=np.float32)
    return {'copy-last': {'depth': np.repeat(last_d[None], future, 0), 'flow': np.repeat(last_f[None], future, 0)},
            'linear': {'depth': last_d[None] + ks[:, None, None] * (last_d - prev_d)[None],
                       'flow': last_f[None] + ks[:, None, None, None] * (last_f - prev_f)[None]}}


def evaluate(data: dict, models: dict, steps=(1, 3), batch: int = 32, stride: int = 1) -> dict:
    """{method: {'k=1': {metric: mean}, ...}, ...} over every window of ``data``."""
    past, future = 3, 3
    starts = flodcast_data.windows(data['scene'], past + future, stride)
    max_depth = float(data['max_depth_m'])
    sums: dict = {}

    def add(method, k, metrics):
        slot = sums.setdefault(method, {}).setdefault('k=%d' % k, {})
        for name, v in metrics.items():
            slot.setdefault(name, []).append(v)

    for i in tqdm(range(0, len(starts), batch), desc='flodcast eval', unit='batch'):
        s = starts[i:i + batch]
        idx = s[:, None] + np.arange(past + future)[None]
        depth, flow = data['depth'][idx], data['flow'][idx]
        preds = {}
        for name, (model, norm) in models.items():
            x = torch.from_numpy(make_input(depth[:, :past], flow[:, :past], norm, model.cfg.modalities))
            with torch.no_grad():
                out = model(x)
            preds[name] = to_metric({m: v.numpy() for m, v in out.items()}, norm)
        for j in range(len(s)):
            methods = baselines(depth[j], flow[j], past, future)
            for name, p in preds.items():
                methods[name] = {m: v[j] for m, v in p.items()}
            for method, p in methods.items():
                for k in steps:
                    m = {}
                    if 'depth' in p:
                        m.update(depth_metrics(p['depth'][k - 1], depth[j, past + k - 1], max_depth))
                    if 'flow' in p:
                        m['EPE'] = epe(p['flow'][k - 1], flow[j, past + k - 1])
                    add(method, k, m)
    return {method: {k: {n: float(np.mean(v)) for n, v in ms.items()} for k, ms in ks.items()}
            for method, ks in sums.items()}, len(starts)


def figure(data: dict, models: dict, path: str, scene: int = 0, k: int = 3):
    """Depth and flow magnitude k steps ahead in the middle window of one scene: truth, the peers, the models."""
    import matplotlib  # lazy: only for the figure
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # after use('Agg'): no display here
    starts = flodcast_data.windows(data['scene'], 6)
    starts = starts[data['scene'][starts] == scene]
    s = int(starts[len(starts) // 2])
    depth, flow = data['depth'][s:s + 6], data['flow'][s:s + 6]
    methods = {'truth': {'depth': depth[2 + k], 'flow': flow[2 + k]}}
    methods.update({n: {m: v[k - 1] for m, v in p.items()} for n, p in baselines(depth, flow, 3, 3).items()})
    for name, (model, norm) in models.items():
        x = torch.from_numpy(make_input(depth[None, :3], flow[None, :3], norm, model.cfg.modalities))
        with torch.no_grad():
            out = to_metric({m: v.numpy()[0] for m, v in model(x).items()}, norm)
        methods[name] = {m: v[k - 1] for m, v in out.items()}
    fig, axes = plt.subplots(2, len(methods), figsize=(2.1 * len(methods), 3.4), dpi=80)
    vmax_d = float(np.percentile(depth[2 + k], 98))
    vmax_f = float(np.percentile(np.linalg.norm(flow[2 + k], axis=-1), 98)) + 1e-3
    for j, (name, p) in enumerate(methods.items()):
        for i, m in enumerate(('depth', 'flow')):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if m not in p:
                ax.set_axis_off()
                continue
            img = p[m] if m == 'depth' else np.linalg.norm(p[m], axis=-1)
            ax.imshow(img, cmap='magma_r' if m == 'depth' else 'viridis', vmin=0, vmax=vmax_d if m == 'depth' else vmax_f)
            if m in p and name != 'truth':
                err = (depth_metrics(p[m], depth[2 + k], float(data['max_depth_m'])).get('AbsRel', float('nan'))
                       if m == 'depth' else epe(p[m], flow[2 + k]))
                ax.set_title('%s\n%s %.3f' % (name, 'AbsRel' if m == 'depth' else 'EPE', err), fontsize=7)
            else:
                ax.set_title('%s %s' % (name, m), fontsize=7)
    fig.suptitle('k=%d (%.1f s ahead), scene %d (%s): depth 0-%.0f m, |flow| 0-%.1f px'
                 % (k, k / float(data['rate_hz']), scene, data['shot'][scene], vmax_d, vmax_f), fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def table(res: dict, steps=(1, 3)) -> str:
    cols = ['%s k=%d' % (m, k) for k in steps for m in DEPTH_METRICS + ('EPE',)]
    lines = ['| method | ' + ' | '.join(cols) + ' |', '|---' * (len(cols) + 1) + '|']
    for method, ks in res.items():
        row = []
        for k in steps:
            for m in DEPTH_METRICS + ('EPE',):
                v = ks.get('k=%d' % k, {}).get(m)
                row.append('-' if v is None else ('%.4f' % v if m != 'RMSE' else '%.3f' % v))
        lines.append('| %s | %s |' % (method, ' | '.join(row)))
    return '\n'.join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--data', default='data/flodcast')
    ap.add_argument('--split', default='test', choices=['train', 'val', 'test'])
    ap.add_argument('--model', action='append', default=[], metavar='NAME=PATH',
                    help='a FLODCAST checkpoint to evaluate under NAME (repeat)')
    ap.add_argument('--stride', type=int, default=1, help='every stride-th window')
    ap.add_argument('--json', help='also write the numbers here (JSON)')
    ap.add_argument('--figure', help='also draw one window (depth and |flow| at k=3) to this PNG')
    ap.add_argument('--figure-scene', type=int, default=0)
    ap.add_argument('--threads', type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    models = {}
    for spec in a.model:
        name, sep, path = spec.partition('=')
        if not sep or not name or not path:
            print('flodcast_eval: --model takes NAME=PATH, got %r' % spec, file=sys.stderr)
            return 2
        try:
            models[name] = from_checkpoint(torch.load(path, map_location='cpu', weights_only=False))
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            print('flodcast_eval: cannot load %s: %s' % (path, exc), file=sys.stderr)
            return 2
    try:
        data = flodcast_data.load(Path(a.data) / ('%s.npz' % a.split))
    except FileNotFoundError as exc:
        print('flodcast_eval: %s' % exc, file=sys.stderr)
        return 2
    if a.figure:
        figure(data, models, a.figure, a.figure_scene)
    res, n = evaluate(data, models, stride=max(1, a.stride))
    text = table(res)
    print('%d windows of %d %s scenes' % (n, len(data['shot']), a.split))
    print(text)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps({'windows': n, 'split': a.split, 'models': a.model, 'results': res},
                                           indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
