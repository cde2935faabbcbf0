"""Tune SiamFC's tracker hyper-parameters (``SiamFCConfig``: window influence, context, scale step / penalty /
damping) on real sequences without selecting on the sequence that is scored (issue #14).

Every setting of a grid runs the ungated tracker over every sequence (frames decoded once per sequence). The
report gives each setting's mean success AUC and, as the honest number, **leave-one-sequence-out selection**: for
each sequence the setting with the best mean AUC on the *other* sequences is chosen and scored on it; the mean of
those held-out scores is what tuning buys on a sequence it never saw. ``--sim SPLIT`` adds the simulator split as a
guard (a setting that helps real footage must not cost the simulator).

    python -m uavcine.eval.track_tune --otb /work/shared/data/aerial_tracking --max-frames 80 \
        --grid window_influence=0.176,0.3,0.45 --grid context=0.5,0.3 --out runs/tune.md
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core import siamfc as S
from . import metrics
from .sequences import REPO, OTBError, Seq, otb_folders, read_otb, sim_sequences
from .track_eval import frame_scores, run_siamfc

TUNABLE = ('window_influence', 'context', 'scale_step', 'scale_penalty', 'scale_lr', 'response_up')


def parse_grid(specs) -> list:
    """['window_influence=0.2,0.3', 'context=0.5'] -> list of override dicts (the Cartesian product)."""
    axes = []
    for spec in specs:
        name, _, vals = spec.partition('=')
        name = name.strip().replace('-', '_')
        if name not in TUNABLE:
            raise ValueError('unknown hyper-parameter %r (tunable: %s)' % (name, ', '.join(TUNABLE)))
        cast = int if name == 'response_up' else float
        axes.append([(name, cast(v)) for v in vals.split(',') if v.strip()])
    return [dict(c) for c in itertools.product(*axes)] if axes else [{}]


def label(over: dict) -> str:
    return ', '.join('%s=%g' % kv for kv in sorted(over.items())) or 'defaults'


def in_memory(seq: Seq) -> Seq:
    """The sequence with its frames decoded once (every setting re-reads them)."""
    return Seq(seq.name, [seq.frame(i) for i in range(len(seq))], seq.boxes, seq.visible, seq.meta)


def run_grid(seqs, net, cfg, quality, grid, progress=True) -> np.ndarray:
    """AUC[setting, sequence] of the ungated tracker; columns in the order of ``seqs`` (an iterable: decoded
    one at a time)."""
    cols = []
    for seq in tqdm(seqs, desc='sequences', unit='seq', disable=not progress):
        seq = in_memory(seq)
        col = []
        for over in grid:
            r = run_siamfc(seq, net, replace(cfg, **over), quality, hold=False, backend='onnxruntime')
            col.append(metrics.success_auc(frame_scores(seq, r.boxes)[0]))
        cols.append(col)
    return np.asarray(cols).T


def loso_select(auc: np.ndarray) -> tuple:
    """For each sequence j, the setting best on the others' mean AUC, and its AUC on j. Returns (choice, scores)."""
    n = auc.shape[1]
    choice, score = [], []
    for j in range(n):
        others = np.delete(auc, j, axis=1).mean(axis=1)
        k = int(np.argmax(others))
        choice.append(k)
        score.append(float(auc[k, j]))
    return choice, score


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog='python -m uavcine.eval.track_tune', description=__doc__.split('\n')[0])
    ap.add_argument('--otb', action='append', required=True, metavar='DIR')
    ap.add_argument('--max-frames', type=int, default=80)
    ap.add_argument('--grid', action='append', default=[], metavar='NAME=V1,V2',
                    help='a hyper-parameter and its values (several --grid: all combinations); tunable: '
                         + ', '.join(TUNABLE))
    ap.add_argument('--sim', default='', help='also score every setting on this simulator split (a guard)')
    ap.add_argument('--model', default=str(REPO / 'models' / 'siamfc_sim.pt'))
    ap.add_argument('--out', default='runs/track_tune.md')
    a = ap.parse_args(argv)
    import torch  # lazy: torch takes seconds to import; only this path needs it
    torch.set_num_threads(1)
    try:
        grid = parse_grid(a.grid)
        folders = otb_folders(a.otb)
        net, cfg, quality = S.load_checkpoint(a.model)  # ValueError: a missing or unreadable file, in one line
    except (ValueError, OTBError) as e:
        print('error: %s' % e, file=sys.stderr)
        return 2
    names = [f.name for f in folders]
    try:
        auc = run_grid((read_otb(f, a.max_frames) for f in folders), net, cfg, quality, grid)
    except OTBError as e:
        print('error: %s' % e, file=sys.stderr)
        return 2
    sim_auc = None
    if a.sim:
        sims = sim_sequences(a.sim)
        sim_auc = run_grid(sims, net, cfg, quality, grid)
    choice, held = loso_select(auc)
    cmd = 'python -m uavcine.eval.track_tune ' + ' '.join(argv if argv is not None else sys.argv[1:])
    lines = ['# SiamFC hyper-parameters on real sequences', '', '`%s`' % cmd, '',
             'Model `%s`, ungated tracker, %s. Mean success AUC over the %d real sequences%s.' % (
                 Path(a.model).name, 'first %d frames' % a.max_frames if a.max_frames > 0 else 'all frames',
                 len(names), ' and over the simulator split `%s`' % a.sim if a.sim else ''), '',
             '| setting | real mean AUC | ' + ' | '.join(names) + (' | sim mean AUC |' if a.sim else ' |'),
             '|---|---|' + '---|' * (len(names) + bool(a.sim))]
    for k, over in enumerate(grid):
        lines.append('| %s | %.3f | %s |%s' % (label(over), auc[k].mean(), ' | '.join('%.3f' % v for v in auc[k]),
                                               ' %.3f |' % sim_auc[k].mean() if sim_auc is not None else ''))
    best = int(np.argmax(auc.mean(axis=1)))
    lines += ['', 'Leave-one-sequence-out selection (each sequence scored with the setting best on the other %d):'
              % (len(names) - 1), '',
              '| sequence | setting chosen without it | its AUC | defaults AUC |', '|---|---|---|---|']
    d0 = next((k for k, o in enumerate(grid) if all(getattr(cfg, n) == v for n, v in o.items())), None)
    for j, n in enumerate(names):
        lines.append('| %s | %s | %.3f | %s |' % (n, label(grid[choice[j]]), held[j],
                                                 '%.3f' % auc[d0, j] if d0 is not None else '-'))
    lines += ['', 'Held-out mean AUC with LOSO-selected settings: **%.3f**%s; best setting on all sequences: %s '
              '(%.3f, selected on the sequences it is scored on).' % (
                  float(np.mean(held)), ' (defaults %.3f)' % auc[d0].mean() if d0 is not None else '',
                  label(grid[best]), auc[best].mean())]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text('\n'.join(lines) + '\n')
    Path(a.out).with_suffix('.json').write_text(json.dumps(
        {'grid': grid, 'names': names, 'auc': auc.tolist(), 'sim_auc': None if sim_auc is None else sim_auc.tolist(),
         'loso_choice': choice, 'loso_auc': held}, indent=1))
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
