"""Train SMEMO on one ETH/UCY leave-one-out split: resumable, with progress, a time budget and the curve.

    python -m uavcine.train.smemo_train --split zara1 --out runs/smemo/zara1 --budget-min 20
    python -m uavcine.train.smemo_train --split zara1 --out runs/smemo/zara1 --resume   # goes on
    python -m uavcine.train.smemo_train --split zara1 --out runs/smemo/zara1-ft --init models/smemo_zara1.pt --lr 5e-4

``--init`` fine-tunes a shipped model file (its weights and config, a fresh optimiser at ``--lr``): the
file's val ADE, measured by this trainer's ``validate`` on the same val subset, is the curve's first point
and the best to beat, so the run's model is the init file itself unless training beats it on val.

Training data: the split's ``train`` windows (8 + 12 steps, >= 2 agents), augmented as the released
implementation does (a random rotation of the whole scene, a random time reversal), scene-centred on
the mean present position. Loss: the best-of-K (winner-takes-all) ADE. Model selection: best-of-20 ADE
on a fixed subset of the split's ``val`` windows every few minutes (test is never read here). The finished model
(``<out>/smemo_<split>.pt``: fp16 weights, config, curve, the val mode frequencies as ``mode_prior``)
is what models/ ships; ``<out>/curve.png`` is its curve.
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
from tqdm import tqdm

from ..core.forecasting.smemo import SMEMO, SMEMOConfig, count_parameters, from_checkpoint, winner_takes_all_loss
from . import eth_ucy

OBS, PRED = 8, 12


class InitError(Exception):
    """An ``--init`` model file that cannot start this run (one line, for the command's error)."""


def load_init(path: str | Path, split: str, cfg: SMEMOConfig) -> tuple[dict, SMEMO]:
    """The checkpoint dict of a shipped ``smemo_<split>.pt`` to start from, checked against this run, and its
    model (``from_checkpoint``: the weights widened to float32).

    Refused (``InitError``): a missing or unreadable file, one without config/model entries, a config other
    than ``cfg`` (the trainer's), weights that do not fit the model, or another split's model (another
    split's training files include this split's test scene).
    """
    path = Path(path)
    if not path.is_file():
        raise InitError('--init %s: no such file' % path)
    try:
        ck = torch.load(path, map_location='cpu', weights_only=False)
    except Exception as exc:  # torch raises many types for a bad file (pickle, zip, EOF)
        raise InitError('--init %s: unreadable (%s)' % (path, str(exc).splitlines()[0] if str(exc) else
                                                        type(exc).__name__)) from exc
    if not isinstance(ck, dict) or 'config' not in ck or 'model' not in ck:
        raise InitError('--init %s: not a SMEMO model file (needs config and model entries)' % path)
    if ck['config'] != cfg.__dict__:
        diff = sorted(k for k in set(ck['config']) | set(cfg.__dict__) if ck['config'].get(k) != cfg.__dict__.get(k))
        raise InitError('--init %s: its config differs from the trainer\'s in %s' % (path, ', '.join(diff)))
    if ck.get('split') != split:
        raise InitError('--init %s: a model of split %r, not %r' % (path, ck.get('split'), split))
    try:
        net = from_checkpoint(ck)
    except (RuntimeError, AttributeError) as exc:
        raise InitError('--init %s: weights do not fit the model (%s)' % (path, str(exc).splitlines()[0])) from exc
    return ck, net


def batches(scenes: list[np.ndarray], order: np.ndarray, max_agents: int) -> list[list[int]]:
    """Group scenes (in ``order``) into batches of at most ``max_agents`` padded agents, similar sizes together."""
    out: list[list[int]] = []
    # sort within chunks of 512 scenes so a batch pads little but epochs stay shuffled
    for c in range(0, len(order), 512):
        chunk = sorted(order[c:c + 512], key=lambda i: len(scenes[i]))
        cur: list[int] = []
        width = 0
        for i in chunk:
            w = max(width, len(scenes[i]))
            if cur and w * (len(cur) + 1) > max_agents:
                out.append(cur)
                cur, w = [], len(scenes[i])
            cur.append(i)
            width = w
        if cur:
            out.append(cur)
    return out


def collate(scenes: list[np.ndarray], idx: list[int], rng: np.random.Generator | None, device: str):
    """Padded (B, A, 20, 2) positions (scene-centred, augmented when ``rng``) and the (B, A) mask."""
    a = max(len(scenes[i]) for i in idx)
    x = np.zeros((len(idx), a, OBS + PRED, 2), np.float32)
    mask = np.zeros((len(idx), a), bool)
    for j, i in enumerate(idx):
        sc = scenes[i]
        if rng is not None:
            if rng.random() < 0.5:
                sc = sc[:, ::-1]
            th = rng.uniform(0, 2 * np.pi)
            rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]], np.float32)
            sc = sc @ rot.T
        sc = sc - sc[:, OBS - 1].mean(0)
        x[j, :len(sc)] = sc
        mask[j, :len(sc)] = True
    return torch.from_numpy(x).to(device), torch.from_numpy(mask).to(device)


@torch.no_grad()
def validate(model: SMEMO, scenes: list[np.ndarray], max_agents: int, device: str) -> dict:
    """Best-of-K ADE/FDE over all agents, and how often each mode was the best (by ADE)."""
    model.eval()
    ade, fde = [], []
    counts = torch.zeros(model.cfg.num_modes)
    for idx in batches(scenes, np.arange(len(scenes)), max_agents):
        x, mask = collate(scenes, idx, None, device)
        pred = model(x[:, :, :OBS], mask)
        d = torch.linalg.norm(pred - x[:, :, None, OBS:], dim=-1)  # (B, A, K, T)
        a = d.mean(-1)
        m = mask.reshape(-1)
        ade.append(a.min(-1).values.reshape(-1)[m].cpu())
        fde.append(d[..., -1].min(-1).values.reshape(-1)[m].cpu())
        counts += torch.bincount(a.argmin(-1).reshape(-1)[m].cpu(), minlength=model.cfg.num_modes).float()
    model.train()
    return {'ade': float(torch.cat(ade).mean()), 'fde': float(torch.cat(fde).mean()),
            'mode_freq': (counts / counts.sum()).tolist()}


def save_model(model: SMEMO, cfg: SMEMOConfig, split: str, best: dict, path: Path) -> None:
    """The shipped form: fp16 weights, config, split, best val."""
    torch.save({'config': cfg.__dict__, 'model': {k: t.half() if t.is_floating_point() else t
                                                  for k, t in model.state_dict().items()},
                'split': split, 'best': best}, path)


def plot_curve(curve: list[dict], path: Path, title: str, n_agents: int, before: list[dict] | None = None) -> None:
    """Train/val curves against epochs counted as agents seen / train agents (a resumed run goes on).

    ``before``: the curve of the ``--init`` file's own run, drawn faded up to its best point (the weights this
    run started from), this run's curve after it.
    """
    import matplotlib  # only when a curve is drawn (start-up time)
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # after choosing the Agg backend
    fig, ax = plt.subplots(figsize=(6, 3.5))
    x0 = 0.0
    if before:
        b = before[:before.index(min(before, key=lambda c: c['val_ade'])) + 1]
        eb = [c['agents_seen'] / n_agents for c in b]
        for key, col in (('train_loss', 'C0'), ('val_ade', 'C1'), ('val_fde', 'C2')):
            ax.plot(eb, [c[key] for c in b], color=col, alpha=0.35, lw=1)
        x0 = eb[-1]
        ax.axvline(x0, color='k', lw=0.8, ls='--', label='start of this run (--init): before it, faded, the init\'s run')
    ep = [x0 + c['agents_seen'] / n_agents for c in curve]
    ax.plot(ep, [c['train_loss'] for c in curve], color='C0', label='train best-of-20 ADE (augmented)')
    ax.plot(ep, [c['val_ade'] for c in curve], color='C1', label='val best-of-20 ADE')
    ax.plot(ep, [c['val_fde'] for c in curve], color='C2', label='val best-of-20 FDE')
    if curve and curve[0].get('init'):
        ax.axhline(curve[0]['val_ade'], color='C1', ls=':', lw=1, label='val ADE of the init file (%s)'
                   % Path(curve[0]['init']).name)
    ax.set_xlabel('epoch (passes over the train windows)')
    ax.set_ylabel('metres')
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def curve_title(split: str, curve: list[dict], best: dict, n_agents: int, init: dict | None) -> str:
    t = 'SMEMO %s (best val ADE %.3f at epoch %.2f%s, %.0f min)' % (
        split, best['val_ade'], best['agents_seen'] / n_agents, ' of this run' if init else '', curve[-1]['minutes'])
    if init:
        t += '\nfine-tuned from %s (val ADE %.3f), after the run that made it' % (
            Path(init['path']).name, init['val_ade'])
    return t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--split', required=True, choices=eth_ucy.SPLITS)
    ap.add_argument('--data', default=None, help='ETH/UCY root (default: the shared copy)')
    ap.add_argument('--out', required=True, help='run folder (checkpoint, curve, final model)')
    ap.add_argument('--budget-min', type=float, default=20.0, help='stop after this many minutes of training')
    ap.add_argument('--epochs', type=int, default=200)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--max-agents', type=int, default=128, help='padded agents per batch')
    ap.add_argument('--val-every-min', type=float, default=3.0, help='validate (and checkpoint) this often')
    ap.add_argument('--max-val-scenes', type=int, default=150, help='validate on a fixed random subset (0: all)')
    ap.add_argument('--max-train-scenes', type=int, default=0, help='use a random subset (0: all)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--resume', action='store_true', help='go on from <out>/last.pt')
    ap.add_argument('--init', default=None, metavar='MODEL',
                    help='start from this shipped smemo_<split>.pt (weights, config; fresh optimiser at --lr)')
    ap.add_argument('--plot-only', action='store_true', help='redraw <out>/curve.png from <out>/last.pt and stop')
    args = ap.parse_args(argv)
    if args.init and args.resume:
        ap.error('--init starts a new run and --resume goes on with one: give one of them')
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(args.data) if args.data else eth_ucy.default_root()
    try:
        train = eth_ucy.load(root, args.split, 'train')
        val = eth_ucy.load(root, args.split, 'val')
    except eth_ucy.DataError as exc:
        print('error: %s' % exc, file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    if args.max_train_scenes:
        train = [train[i] for i in rng.permutation(len(train))[:args.max_train_scenes]]
    if args.max_val_scenes:
        val = [val[i] for i in sorted(np.random.default_rng(1234).permutation(len(val))[:args.max_val_scenes])]
    if args.plot_only:
        ck = torch.load(out / 'last.pt', weights_only=False)
        curve, init = ck['curve'], ck.get('init') or {}
        before = init.get('curve')
        if args.init and before is None:   # a run that did not keep its init's curve: take it from the file
            before = torch.load(args.init, map_location='cpu', weights_only=False).get('curve')
        n_agents = sum(len(s) for s in train)
        best = min(curve, key=lambda c: c['val_ade'])
        plot_curve(curve, out / 'curve.png', curve_title(args.split, curve, best, n_agents, init), n_agents, before)
        return 0
    cfg = SMEMOConfig()
    init = None
    if args.init:
        try:
            init, init_net = load_init(args.init, args.split, cfg)
        except InitError as exc:
            print('error: %s' % exc, file=sys.stderr)
            return 2
    model = SMEMO(cfg).to(args.device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=4)
    start_epoch, curve, best, spent = 0, [], None, 0.0
    last = out / 'last.pt'
    if args.resume and last.is_file():
        ck = torch.load(last, map_location=args.device, weights_only=False)
        model.load_state_dict(ck['model'])
        opt.load_state_dict(ck['opt'])
        sched.load_state_dict(ck['sched'])
        start_epoch, curve, best, spent = ck['epoch'], ck['curve'], ck['best'], ck['spent_s']
        rng = np.random.default_rng(args.seed + start_epoch)
        init = ck.get('init')
        print('resumed at epoch %d (%.1f min spent)' % (start_epoch, spent / 60))
    elif init is not None:
        model.load_state_dict(init_net.state_dict())
        v = validate(model, val, args.max_agents * 2, args.device)
        init = {'path': str(args.init), 'val_ade': v['ade'], 'val_fde': v['fde'], 'recorded_best': init.get('best'),
                'command': init.get('command'), 'curve': init.get('curve')}
        curve = [{'epoch': 0.0, 'agents_seen': 0, 'windows_seen': 0, 'windows_per_s': 0.0, 'train_loss': float('nan'),
                  'val_ade': v['ade'], 'val_fde': v['fde'], 'modes_used': sum(f > 0.01 for f in v['mode_freq']),
                  'lr': args.lr, 'minutes': 0.0, 'init': str(args.init)}]
        best = {'epoch': 0.0, 'val_ade': v['ade'], 'val_fde': v['fde'], 'init': True}
        model.mode_prior.copy_(torch.tensor(v['mode_freq']))
        save_model(model, cfg, args.split, best, out / 'best.pt')
        print('init %s: val ADE/FDE %.3f/%.3f (recorded in the file: %s)' % (
            args.init, v['ade'], v['fde'], init['recorded_best']), flush=True)
    print('SMEMO %d parameters; %s: %d train scenes (%d agents), %d val scenes' % (
        count_parameters(model), args.split, len(train), sum(len(s) for s in train), len(val)), flush=True)
    t0 = time.time() - spent
    last_val = time.time()
    seen = int(sum(c.get('agents_seen', 0) for c in curve[-1:]))
    seen_windows = int(sum(c.get('windows_seen', 0) for c in curve[-1:]))
    t_rate, w_rate = time.time(), 0   # training windows per second since the last validation
    done = False
    for epoch in range(start_epoch, args.epochs):
        bl = batches(train, rng.permutation(len(train)), args.max_agents)
        tot, n = 0.0, 0
        bar = tqdm(bl, desc='%s epoch %d' % (args.split, epoch + 1), mininterval=10, file=sys.stdout)
        for bi, idx in enumerate(bar):
            x, mask = collate(train, idx, rng, args.device)
            loss = winner_takes_all_loss(model, x[:, :, :OBS], x[:, :, OBS:], mask)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            tot += loss.item() * int(mask.sum())
            n += int(mask.sum())
            seen += int(mask.sum())
            seen_windows += len(idx)
            w_rate += len(idx)
            bar.set_postfix(loss='%.3f' % (tot / n))
            over = time.time() - t0 > args.budget_min * 60
            last_batch = bi == len(bl) - 1
            if not (over or last_batch or time.time() - last_val > args.val_every_min * 60):
                continue
            # validation, curve, checkpoints
            rate = w_rate / max(time.time() - t_rate, 1e-9)
            v = validate(model, val, args.max_agents * 2, args.device)
            last_val = time.time()
            sched.step(v['ade'])
            used = sum(f > 0.01 for f in v['mode_freq'])
            curve.append({'epoch': round(epoch + (bi + 1) / len(bl), 3), 'agents_seen': seen,
                          'windows_seen': seen_windows, 'windows_per_s': round(rate, 2),
                          'train_loss': tot / max(n, 1), 'val_ade': v['ade'], 'val_fde': v['fde'],
                          'modes_used': used, 'lr': opt.param_groups[0]['lr'], 'minutes': (time.time() - t0) / 60})
            tqdm.write(json.dumps(curve[-1]), file=sys.stdout)
            tot, n = 0.0, 0
            t_rate, w_rate = time.time(), 0
            if best is None or v['ade'] < best['val_ade']:
                best = {'epoch': curve[-1]['epoch'], 'val_ade': v['ade'], 'val_fde': v['fde']}
                model.mode_prior.copy_(torch.tensor(v['mode_freq']))
                save_model(model, cfg, args.split, best, out / 'best.pt')
            torch.save({'model': model.state_dict(), 'opt': opt.state_dict(), 'sched': sched.state_dict(),
                        'epoch': epoch + 1 if last_batch else epoch, 'curve': curve, 'best': best,
                        'spent_s': time.time() - t0, 'init': init}, last)
            if over:
                print('time budget of %.1f min reached' % args.budget_min)
                done = True
                break
        if done:
            break
    final = torch.load(out / 'best.pt', weights_only=False)
    final['curve'] = curve
    if init is not None:
        final['init'] = init
    final['command'] = 'python -m uavcine.train.smemo_train ' + ' '.join(argv if argv is not None else sys.argv[1:])
    torch.save(final, out / ('smemo_%s.pt' % args.split))
    n_agents = sum(len(s) for s in train)
    plot_curve(curve, out / 'curve.png', curve_title(args.split, curve, min(curve, key=lambda c: c['val_ade']),
                                                     n_agents, init), n_agents, (init or {}).get('curve'))
    print('best val ADE/FDE %.3f/%.3f at epoch %.2f -> %s' % (best['val_ade'], best['val_fde'], best['epoch'],
                                                            out / ('smemo_%s.pt' % args.split)))
    if init is not None:
        print('init %s val ADE %.3f: %s' % (init['path'], init['val_ade'], 'beaten' if not best.get('init') else
                                            'not beaten (the run\'s model is the init file\'s weights)'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
