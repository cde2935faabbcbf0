"""Which tracking-quality features rank the box's IoU, within a sequence and across sequences (issue #14).

Two subcommands (offline tool, Python >= 3.10):

``collect``: run the ungated SiamFC over sequences (as ``siamfc_train collect``) and keep every candidate feature of
the tracker's ``stats`` (``CANDIDATES``, the ``appz_*`` exemplar-branch ones included) with the box's IoU (npz).

``report``: per candidate, Spearman with the IoU within each real sequence (median over sequences), pooled over all
real frames, and across sequences (the sequences' mean feature against their mean IoU); the leave-one-sequence-out
(LOSO) Spearman of a head fitted on a feature set (``siamfc_train.loso``: pooled over the real sequences, and over the
simulator ones, each held out in turn while the head fits all the others, real and simulated); a greedy forward
selection by that LOSO Spearman with the simulator's as a guard; and a scatter sheet (PNG) of each feature against
the IoU, one colour per real sequence.

    python -m uavcine.eval.quality_diag collect otb:/work/shared/data/aerial_tracking --ckpt models/siamfc_real.pt \\
        --out runs/qd_real.npz
    python -m uavcine.eval.quality_diag collect sim:calib --max-frames 150 --ckpt models/siamfc_real.pt \\
        --out runs/qd_sim.npz
    python -m uavcine.eval.quality_diag report --real runs/qd_real.npz --sim runs/qd_sim.npz --plot runs/qd.png
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from ..core import siamfc as S
from ..train import siamfc_train as T

#: Every per-frame statistic of ``SiamFCTracker.update`` a quality head may use (bounded, domain-relative or
#: geometric; the absolute peak logit is left out: its scale differs between scenes and domains).
CANDIDATES = ('peak_med_ratio', 'peak_ratio', 'peak_run_ratio', 'apce_ratio', 'apce_run_ratio', 'apce_ratio_recent',
              'psr', 'psr_ratio', 'psr_run_ratio', 'psr_min_recent', 'app_init', 'app_recent', 'app_slow',
              'appz_init', 'appz_recent', 'template_drift', 'second_ratio', 'peak_margin', 'peak_spread',
              'scale_change', 'scale_rate', 'jump', 'jump_rel', 'size_px', 'aspect', 'inside', 'age')


def load(path: str) -> dict:
    if not Path(path).is_file():
        raise SystemExit('error: no such file: %s (make it with the collect subcommand)' % path)
    d = np.load(path)
    return {'f': d['features'], 'y': d['iou'], 's': d['seq_of'], 'names': [str(n) for n in d['names']],
            'keys': [str(k) for k in d['keys']]}


def first_frames(d: dict, n: int) -> dict:
    """Only the first ``n`` tracked frames of each sequence (``track_eval --max-frames``' window)."""
    keep = np.zeros(len(d['y']), bool)
    for q in np.unique(d['s']):
        keep[np.flatnonzero(d['s'] == q)[:n]] = True
    return dict(d, f=d['f'][keep], y=d['y'][keep], s=d['s'][keep])


def columns(d: dict, keys) -> np.ndarray:
    missing = [k for k in keys if k not in d['keys']]
    if missing:
        raise SystemExit('error: the npz lacks %s; collect again' % ', '.join(missing))
    return d['f'][:, [d['keys'].index(k) for k in keys]]


def _rho(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float('nan')
    return float(spearmanr(a, b).statistic)


LOST_IOU, ON_IOU = 0.05, 0.3  # the feature table's lost frames (IoU below) and on-target frames (IoU above)


def feature_table(real: dict, keys) -> list[dict]:
    """Per feature: median within-sequence Spearman, pooled Spearman and across-sequence Spearman of the means; its
    10th-90th percentiles on the lost frames and on the on-target frames."""
    rows = []
    for k in keys:
        x = columns(real, [k])[:, 0]
        seqs = np.unique(real['s'])
        within = [_rho(x[real['s'] == q], real['y'][real['s'] == q]) for q in seqs]
        means = [(x[real['s'] == q].mean(), real['y'][real['s'] == q].mean()) for q in seqs]
        lost, on = x[real['y'] < LOST_IOU], x[real['y'] > ON_IOU]
        rows.append({'feature': k, 'within_median': float(np.nanmedian(within)), 'within': within,
                     'pooled': _rho(x, real['y']), 'across': _rho(*zip(*means)),
                     'lost_p10_90': np.percentile(lost, [10, 90]) if len(lost) else np.full(2, np.nan),
                     'on_p10_90': np.percentile(on, [10, 90]) if len(on) else np.full(2, np.nan)})
    return rows


def loso_score(real: dict, sim: dict | None, keys, target: str = 'iou', l2: float = 1e-3) -> dict:
    """LOSO Spearman of a head on ``keys`` over the real and simulator sequences together (each held out in turn);
    pooled per domain and per real sequence."""
    fs, ys, ss, names = [columns(real, keys)], [real['y']], [real['s']], list(real['names'])
    if sim is not None:
        fs.append(columns(sim, keys))
        ys.append(sim['y'])
        ss.append(sim['s'] + len(names))
        names += sim['names']
    f, y, s = np.concatenate(fs), np.concatenate(ys), np.concatenate(ss)
    lo = T.loso(f, y, s, names, target, l2)
    nr = len(real['y'])
    out = {'real': _rho(lo['q'][:nr], y[:nr]),
           'per_seq': {n: lo['per_seq'].get(n, float('nan')) for n in real['names']}}
    out['sim'] = _rho(lo['q'][nr:], y[nr:]) if sim is not None else float('nan')
    return out


def forward_select(real: dict, sim: dict | None, pool, start=(), sim_floor: float = 0.6, steps: int = 8,
                   target: str = 'iou') -> list[tuple]:
    """Greedy forward selection by the real LOSO Spearman, keeping the simulator's >= ``sim_floor``."""
    chosen, path = list(start), []
    best = loso_score(real, sim, chosen, target)['real'] if chosen else -1.0
    for _ in range(steps):
        cands = []
        for k in pool:
            if k in chosen:
                continue
            sc = loso_score(real, sim, chosen + [k], target)
            if np.isnan(sc['sim']) or sc['sim'] >= sim_floor:
                cands.append((sc['real'], k, sc))
        if not cands:
            break
        r, k, sc = max(cands, key=lambda c: c[0])
        if r <= best + 0.002:
            break
        chosen.append(k)
        best = r
        path.append((tuple(chosen), sc))
    return path


def scatter_sheet(real: dict, keys, path: str) -> None:
    import matplotlib  # lazy: matplotlib: start-up time, only for the figure
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: matplotlib: start-up time, only for the figure
    n = len(keys)
    cols = 6
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.3 * rows), squeeze=False)
    cmap = plt.get_cmap('tab10')
    for ax, k in zip(axes.flat, keys):
        x = columns(real, [k])[:, 0]
        for q in np.unique(real['s']):
            m = real['s'] == q
            ax.scatter(x[m], real['y'][m], s=3, color=cmap(int(q) % 10), alpha=0.5,
                       label=real['names'][int(q)].split('_', 1)[-1] if k == keys[0] else None)
        ax.set_title('%s  rho %.2f' % (k, _rho(x, real['y'])), fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[n:]:
        ax.axis('off')
    fig.legend(loc='lower right', fontsize=6, markerscale=3, ncol=2)
    fig.supylabel('IoU (real development set)', fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=50)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog='python -m uavcine.eval.quality_diag', description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    c = sub.add_parser('collect', help='every candidate feature and the IoU of the ungated tracker (npz)')
    c.add_argument('seqs', help="'otb:DIR' or 'sim:SPLIT', several joined by '+'")
    c.add_argument('--ckpt', default='models/siamfc_real.pt')
    c.add_argument('--out', required=True)
    c.add_argument('--max-frames', type=int, default=0)
    c.add_argument('--backend', default='onnxruntime', choices=['torch', 'onnxruntime'])
    c.add_argument('--threads', type=int, default=1)
    r = sub.add_parser('report', help='feature table, LOSO Spearman of feature sets, forward selection, scatter PNG')
    r.add_argument('--real', required=True)
    r.add_argument('--sim', default='')
    r.add_argument('--sets', default='', help="feature sets to score, ';'-separated, each comma-separated "
                   "('head' = QUALITY_FEATURES, 'round3' = ROUND3_FEATURES)")
    r.add_argument('--select', action='store_true', help='greedy forward selection from the head or empty')
    r.add_argument('--target', default='iou', choices=['iou', 'on'])
    r.add_argument('--plot', default='')
    r.add_argument('--max-frames', type=int, default=0, help='only the first N tracked frames of each real sequence')
    r.add_argument('--pool', default='', help='candidates of the selection (comma-separated; default all)')
    r.add_argument('--start', default='', help="the selection's starting set ('head', 'round3' or comma-separated)")
    a = ap.parse_args(argv)
    if a.cmd == 'collect':
        torch.set_num_threads(a.threads)
        if not Path(a.ckpt).is_file():
            print('error: model not found: %s' % a.ckpt, file=sys.stderr)
            return 2
        net, cfg, _ = T.load_net(a.ckpt)
        seqs = T.load_seqs(a.seqs)
        f, y, s = T.collect_quality_data(net, cfg, seqs, a.backend, a.threads, a.max_frames, keys=CANDIDATES,
                                         exemplar_pass=True)
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        np.savez(a.out, features=f, iou=y, seq_of=s, names=np.array([q.name for q in seqs]), keys=np.array(CANDIDATES))
        print('%d frames of %d sequences -> %s' % (len(y), len(seqs), a.out))
        return 0
    real = load(a.real)
    if a.max_frames > 0:
        real = first_frames(real, a.max_frames)
    sim = load(a.sim) if a.sim else None
    keys = [k for k in CANDIDATES if k in real['keys']]
    print('| feature | within-sequence rho (median of %d) | pooled rho | across-sequence rho (means) | p10-p90, '
          'IoU < %.2f (%d frames) | p10-p90, IoU > %.1f |' % (len(np.unique(real['s'])), LOST_IOU,
                                                            int(np.sum(real['y'] < LOST_IOU)), ON_IOU))
    print('|---|---|---|---|---|---|')
    for row in feature_table(real, keys):
        print('| %s | %.2f | %.2f | %.2f | %.3g-%.3g | %.3g-%.3g |' % (
            row['feature'], row['within_median'], row['pooled'], row['across'], *row['lost_p10_90'], *row['on_p10_90']))
    sets = [[k.strip() for k in st.split(',') if k.strip()] for st in a.sets.split(';') if st.strip()]
    alias = {'head': list(S.QUALITY_FEATURES), 'round3': list(S.ROUND3_FEATURES)}
    sets = [[k for tok in st for k in alias.get(tok, [tok])] for st in sets]  # 'head,second_ratio' = head + one
    for st in sets:
        sc = loso_score(real, sim, st, a.target)
        print('LOSO real %.3f sim %.3f | %s | per seq %s' % (sc['real'], sc['sim'], ','.join(st),
                                                            ' '.join('%.2f' % v for v in sc['per_seq'].values())))
    if a.select:
        pool = [k for k in a.pool.split(',') if k] or keys
        start = alias.get(a.start) or [k for k in a.start.split(',') if k]
        for chosen, sc in forward_select(real, sim, pool, start, target=a.target):
            print('select: real %.3f sim %.3f | %s' % (sc['real'], sc['sim'], ','.join(chosen)))
    if a.plot:
        scatter_sheet(real, keys, a.plot)
        print('scatter -> %s' % a.plot)
    return 0


if __name__ == '__main__':
    sys.exit(main())
