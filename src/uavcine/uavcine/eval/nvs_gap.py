"""The gap study of novel-view synthesis (seed section 4.2): how far apart can the previewed views be?

    uavcine eval-nvs --model models/nvs_geogpt_sim.pt --data data/nvs/test.npz --out runs/nvs_eval

For every test episode (train/nvs_data.py: scene seeds 100000..100011, never trained on; the five shot
types; gaps of 1, 5, 10, 25 and 50 positions = seconds at 1 m/s between consecutive views) the model
generates the 5 views from the source view and the 5 camera poses, and each generated view is scored
against the simulator's true view: PSNR and SSIM (scikit-image, RGB, data range 255). Peers on the
same views: copying the source view; reprojecting the source view with the simulator's depth (the
geometric peer, core/views/reprojection.py; the fraction of hole pixels is reported, holes are
inpainted before scoring); the same model with the null camera (trained with camera dropout, so
this is the model without camera conditioning); copying the source *through the tokenizer* (the source
encoded and decoded: what a model that only copies tokens, the copy prior's starting point, would give);
for a model with a refiner (stage 3, core/views/refiner.py) the ``model`` row is the refined views and
``token_only`` the same generated tokens through the tokenizer's decoder alone (the model before stage 3), and two
ablations say what each part of the refined model gives: ``plane_warp``, the source warped by the ground plane alone
(the refiner's geometric input, as it gets it: edges replicated, rays that miss the plane too), and
``refined_source_tokens``, the refiner fed the source's own tokens in place of the transformer's (stage 3
without stage 2: what the transformer's views add is ``model`` minus this row); the refiner's ground plane passes
through the source's central ray at the simulator's depth of its central pixels (the data stores no target
position; the service uses the target's height); and, as a ceiling, the true view through the tokenizer (encode +
decode: no generated view can beat it). LPIPS, the seed's other metric, needs pretrained
network weights (AlexNet/VGG) that cannot be downloaded here: not reported.

Writes ``gap_study.json`` (every number), ``gap_study.md`` (the tables), ``gap_study.png`` (PSNR/SSIM per
gap and per generated view) and ``samples.png`` (source, generated and true views at each gap).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from tqdm import tqdm

from ..core.views.reprojection import reproject
from ..core.views.synthesis import from_checkpoint, plane_warps, refine, synthesize, to_images, to_tensor
from ..errors import UserError
from ..train.nvs_refine import episode_plane_z

METHODS = ('model', 'no_camera', 'copy', 'copy_tokenized', 'reprojection', 'tokenizer_ceiling')
REFINED = ('model', 'token_only', 'no_camera', 'copy', 'copy_tokenized', 'reprojection', 'tokenizer_ceiling',
           'plane_warp', 'refined_source_tokens')
ABLATIONS = ('plane_warp', 'refined_source_tokens')


def methods_of(psnr: dict):
    """The rows of a study: with ``token_only`` when the model has a refiner."""
    return REFINED if 'token_only' in psnr else METHODS
SHOTS = ('ORBIT', 'FLYBY', 'FLYOVER', 'CHASE', 'LATERAL')


def scores(pred: np.ndarray, true: np.ndarray):
    psnr = peak_signal_noise_ratio(true, pred, data_range=255)
    ssim = structural_similarity(true, pred, channel_axis=2, data_range=255)
    return float(min(psnr, 100.0)), float(ssim)


def evaluate(ck: dict, data: dict, batch: int = 20, limit: int = 0, threads: int = 1):
    torch.set_num_threads(threads)
    vq, gpt, refiner = from_checkpoint(ck, with_refiner=True)
    E = len(data['gap']) if not limit else min(limit, len(data['gap']))
    K = data['K']
    methods = METHODS if refiner is None else REFINED
    plane_z = episode_plane_z(data, E)     # the refiner's plane: the target's height, from the source's depth
    preds = {m: np.zeros((E, 5, 48, 64, 3), np.uint8) for m in methods}
    holes = np.zeros((E, 5))
    t0 = time.time()
    for s in tqdm(range(0, E, batch), desc='generating', unit='batch'):
        sl = slice(s, min(E, s + batch))
        src, poses = data['images'][sl, 0], data['poses'][sl]
        preds['model'][sl] = synthesize(vq, gpt, src, poses, K)
        if refiner is not None:   # the same tokens, refined: what synthesize(..., refiner=refiner) gives
            preds['token_only'][sl] = preds['model'][sl]
            preds['model'][sl] = refine(vq, refiner, src, preds['token_only'][sl], poses, K, plane_z[sl])
        preds['no_camera'][sl] = synthesize(vq, gpt, src, poses, K, conditioned=False)
        # the best the model could do: the true view through the tokenizer (encode, decode)
        true = data['images'][sl, 1:]
        with torch.no_grad():
            rec = vq.decode(vq.encode(to_tensor(true.reshape(-1, *true.shape[2:]))))
            src_rec = to_images(vq.decode(vq.encode(to_tensor(src))))            # the source through the tokenizer
        preds['tokenizer_ceiling'][sl] = to_images(rec).reshape(true.shape)
        preds['copy_tokenized'][sl] = src_rec[:, None]
        if refiner is not None:   # the ablations: the plane alone; the refiner without the transformer's tokens
            preds['plane_warp'][sl] = plane_warps(src, poses, K, plane_z[sl])[0]
            preds['refined_source_tokens'][sl] = refine(vq, refiner, src, np.repeat(src_rec[:, None], 5, axis=1),
                                                        poses, K, plane_z[sl])
    gen_s = time.time() - t0
    for e in range(E):
        preds['copy'][e] = data['images'][e, 0]
        for k in range(5):
            preds['reprojection'][e, k], holes[e, k] = reproject(data['images'][e, 0], data['depth'][e, 0], K,
                                                                 data['poses'][e, 0], data['poses'][e, k + 1])
    psnr = {m: np.zeros((E, 5)) for m in methods}
    ssim = {m: np.zeros((E, 5)) for m in methods}
    for m in methods:
        for e in range(E):
            for k in range(5):
                psnr[m][e, k], ssim[m][e, k] = scores(preds[m][e, k], data['images'][e, k + 1])
    return preds, psnr, ssim, holes, gen_s / max(1, 2 * E * 5)


def summarize(data, psnr, ssim, holes) -> dict:
    E = len(psnr['model'])
    gaps, shots = data['gap'][:E], data['shot'][:E]
    out = {'gaps': {}, 'shots': {}}
    for g in sorted(set(gaps.tolist())):
        sel = gaps == g
        row = {'episodes': int(sel.sum()), 'holes': float(holes[sel].mean())}
        for m in methods_of(psnr):
            row[m] = {'psnr': float(psnr[m][sel].mean()), 'ssim': float(ssim[m][sel].mean()),
                      'psnr_per_view': psnr[m][sel].mean(0).round(3).tolist(),
                      'ssim_per_view': ssim[m][sel].mean(0).round(4).tolist()}
        # where disocclusions dominate: the views whose reprojection left the most holes (top quarter)
        h = holes[sel].ravel()
        top = h >= np.quantile(h, 0.75)
        row['disoccluded'] = {'holes': float(h[top].mean()),
                              'model_psnr': float(psnr['model'][sel].ravel()[top].mean()),
                              'reprojection_psnr': float(psnr['reprojection'][sel].ravel()[top].mean())}
        out['gaps'][int(g)] = row
    for i, name in enumerate(SHOTS):
        sel = shots == i
        if sel.any():
            out['shots'][name] = {m: float(psnr[m][sel].mean()) for m in methods_of(psnr)}
    return out


def _cell(row: dict, method: str) -> str:
    """One method's 'PSNR / SSIM' cell of a gap's summary row."""
    return '%.2f / %.3f' % (row[method]['psnr'], row[method]['ssim'])


def table(summary: dict) -> str:
    refined = any('token_only' in r for r in summary['gaps'].values())
    lines = ['| gap | model PSNR / SSIM | %sno camera | copy source | copy through the tokenizer | '
             'depth reprojection (holes) | tokenizer ceiling |' % ('token-only (no refiner) | ' if refined else ''),
             '|---:|---|---|---|---|---|---|' + ('---|' if refined else '')]
    for g, r in summary['gaps'].items():
        cell = lambda m: _cell(r, m)  # noqa: E731
        lines.append('| %s | %s | %s%s | %s | %s | %s (%.1f %%) | %s |' % (
            g, cell('model'), (cell('token_only') + ' | ') if refined else '', cell('no_camera'), cell('copy'),
            cell('copy_tokenized'), cell('reprojection'), 100 * r['holes'], cell('tokenizer_ceiling')))
    lines += ['', 'PSNR (dB) of the model per generated view (1..5):', '',
              '| gap | view 1 | view 2 | view 3 | view 4 | view 5 |', '|---:|---|---|---|---|---|']
    for g, r in summary['gaps'].items():
        lines.append('| %s | %s |' % (g, ' | '.join('%.2f' % v for v in r['model']['psnr_per_view'])))
    lines += ['', 'Views with the most disocclusion (top quarter of reprojection holes at each gap), PSNR (dB):', '',
              '| gap | holes | model | depth reprojection |', '|---:|---|---|---|']
    for g, r in summary['gaps'].items():
        d = r['disoccluded']
        lines.append('| %s | %.1f %% | %.2f | %.2f |' % (g, 100 * d['holes'], d['model_psnr'], d['reprojection_psnr']))
    if refined:
        lines += ['', 'What each part of the refined model gives, PSNR / SSIM (the plane warp alone; the refiner '
                  "fed the source's tokens instead of the transformer's; the model):", '',
                  '| gap | plane warp alone | refiner without the transformer | model | the transformer adds (dB) |',
                  '|---:|---|---|---|---:|']
        for g, r in summary['gaps'].items():
            lines.append('| %s | %s | %s | %s | %+.2f |' % (
                g, _cell(r, 'plane_warp'), _cell(r, 'refined_source_tokens'), _cell(r, 'model'),
                r['model']['psnr'] - r['refined_source_tokens']['psnr']))
    cols = [m for m in ('model', 'token_only', 'no_camera', 'copy', 'copy_tokenized', 'reprojection')
            if refined or m != 'token_only']
    lines += ['', 'PSNR (dB) per shot type, all gaps:', '',
              '| shot | ' + ' | '.join(m.replace('_', ' ') for m in cols) + ' |', '|---|' + '---|' * len(cols)]
    for s, r in summary['shots'].items():
        lines.append('| %s | %s |' % (s, ' | '.join('%.2f' % r[m] for m in cols)))
    return '\n'.join(lines) + '\n'


def figures(summary: dict, data, preds, out: Path) -> None:
    import matplotlib  # lazy: only the figures need it
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: after choosing the Agg backend
    import cv2  # lazy: only the sample strip needs it
    gaps = list(summary['gaps'])
    fig, ax = plt.subplots(1, 3, figsize=(12, 4.2))
    for m in [m for m in REFINED if m in summary['gaps'][gaps[0]]]:
        style = 'k--' if m == 'tokenizer_ceiling' else ('x:' if m in ABLATIONS else 'o-')   # ceiling; ablations
        label = 'refiner without the transformer' if m == 'refined_source_tokens' else m.replace('_', ' ')
        ax[0].plot(gaps, [summary['gaps'][g][m]['psnr'] for g in gaps], style, label=label)
        ax[1].plot(gaps, [summary['gaps'][g][m]['ssim'] for g in gaps], style)
    for g in gaps:
        ax[2].plot(range(1, 6), summary['gaps'][g]['model']['psnr_per_view'], 'o-', label='gap %s' % g)
    for a, t in zip(ax, ('PSNR (dB) per gap', 'SSIM per gap', 'model PSNR (dB) per generated view')):
        a.set_title(t)
        a.grid(alpha=0.3)
    ax[0].set_xscale('log')
    ax[1].set_xscale('log')
    ax[0].set_xlabel('gap (positions)')
    ax[1].set_xlabel('gap (positions)')
    ax[2].set_xlabel('view index')
    ax[2].legend(fontsize=8)
    fig.legend(*ax[0].get_legend_handles_labels(), loc='lower center', ncol=5, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    fig.savefig(out / 'gap_study.png', dpi=72)
    plt.close(fig)
    # one episode per gap (ORBIT of the first test scene): source | generated x5 / (token-only x5) / true x5
    rows = []
    E = len(preds['model'])
    for g in gaps:
        idx = [e for e in range(E) if data['gap'][e] == int(g) and data['shot'][e] == 0]
        if not idx:
            continue
        e = idx[0]
        blank = np.full_like(data['images'][e, 0], 255)
        gen = np.concatenate([data['images'][e, 0]] + list(preds['model'][e]), 1)
        tok = [np.concatenate([blank] + list(preds['token_only'][e]), 1)] if 'token_only' in preds else []
        tru = np.concatenate([blank] + list(data['images'][e, 1:]), 1)
        rows += [gen] + tok + [tru, np.full((4, gen.shape[1], 3), 255, np.uint8)]
    if rows:
        img = cv2.resize(np.concatenate(rows, 0), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
        cv2.imwrite(str(out / 'samples.png'), img[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])


def add_arguments(p) -> None:
    p.add_argument('--model', default='models/nvs_geogpt_sim.pt')
    p.add_argument('--data', default='data/nvs/test.npz', help='made by python -m uavcine.train.nvs_data --split test')
    p.add_argument('--out', default='runs/nvs_eval')
    p.add_argument('--limit', type=int, default=0, help='only the first N episodes (smoke runs)')
    p.add_argument('--batch', type=int, default=20)
    p.add_argument('--threads', type=int, default=1)


def cmd_eval_nvs(args) -> int:
    for f in (args.model, args.data):
        if not Path(f).exists():
            raise UserError('%s not found' % f)
    ck = torch.load(args.model, map_location='cpu', weights_only=False)
    with np.load(args.data) as z:
        data = {k: z[k] for k in z.files}
    if 'depth' not in data or data['depth'].shape[1] < 1 or data['images'].shape[1] != 6:
        raise UserError('%s is not a test split of train/nvs_data.py (6 views and depth per episode)' % args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    preds, psnr, ssim, holes, s_per_view = evaluate(ck, data, args.batch, args.limit, args.threads)
    summary = summarize(data, psnr, ssim, holes)
    summary['seconds_per_view_batched'] = s_per_view
    summary['command'] = 'uavcine eval-nvs --model %s --data %s' % (args.model, args.data)
    (out / 'gap_study.json').write_text(json.dumps(summary, indent=1))
    (out / 'gap_study.md').write_text(table(summary))
    figures(summary, data, preds, out)
    print(table(summary))
    print('-> %s' % out)
    return 0


def register(subparsers) -> None:
    """Hook for the ``uavcine`` command: ``uavcine eval-nvs ...``."""
    p = subparsers.add_parser('eval-nvs', help='gap study of novel-view synthesis (PSNR/SSIM with peers, table, figure)')
    add_arguments(p)
    p.set_defaults(func=cmd_eval_nvs)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog='python -m uavcine.eval.nvs_gap', description=__doc__.split('\n')[0])
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return cmd_eval_nvs(args)
    except UserError as exc:
        print('nvs_gap: error: %s' % exc, file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
