"""Train the novel-view synthesis model: stage 1 the VQ tokenizer, stage 2 the camera-conditioned GPT.

    python -m uavcine.train.nvs_train --stage vq  --train data/nvs/train.npz --dev data/nvs/dev.npz --out runs/nvs --max-minutes 18
    python -m uavcine.train.nvs_train --stage gpt --train data/nvs/train.npz --dev data/nvs/dev.npz --out runs/nvs --max-minutes 40
    python -m uavcine.train.nvs_train --stage pack --out runs/nvs --model models/nvs_geogpt_sim.pt

Stage 3, the residual decoder on a packed model (train/nvs_refine.py says how its inputs are made):

    python -m uavcine.train.nvs_train --stage refine --base models/nvs_geogpt_sim.pt --out runs/nvs_ref --inputs tf
    python -m uavcine.train.nvs_train --stage pack-refine --base models/nvs_geogpt_sim.pt --out runs/nvs_ref

Stage 2 with the copy prior on the shipped tokenizer (no stage 1; the card's second round):

    python -m uavcine.train.nvs_train --stage gpt --copy-prior --vq-from models/nvs_geogpt_sim.pt --out runs/nvs_cp --max-minutes 50

Both stages are resumable (``--resume`` goes on from ``<out>/<stage>.pt``: weights, optimiser, step,
elapsed minutes, curve), show progress (tqdm), stop at ``--max-minutes`` and save every few
minutes. The learning rate follows a cosine over the time budget (warm-up 2 %), so a time-boxed run
still anneals. Model selection data: the dev split (scene seeds 200000..), never the test split.
Stage 2 trains on tokens of the frozen stage-1 tokenizer; an episode is used forwards or backwards
(the last view becomes the source; poses are re-expressed relative to it). ``pack`` writes both
stages (fp16) with their configs and curves into one file; ``<out>/curve.png`` plots both curves.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..core.views.cameras import shot_features
from ..core.views.geogpt import GeoGPT, GeoGPTConfig, count_parameters
from ..core.views.synthesis import to_checkpoint, to_tensor
from ..core.views.vqgan import VQConfig, VQModel, reconstruction_loss
from .nvs_data import load
from .nvs_loop import budget_steps, resumed, save
from .nvs_refine import KINDS, pack_refine, train_refine


def train_vq(a, out: Path) -> None:
    tr = load(a.train)['images'].reshape(-1, 48, 64, 3)
    dev = load(a.dev)['images'].reshape(-1, 48, 64, 3)[::3]
    ck = out / 'vq.pt'
    model = VQModel(VQConfig())
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    state = resumed(ck, model, opt, {'step': 0, 'minutes': 0.0, 'curve': []}, a.resume)
    print('VQ tokenizer: %d parameters, %d train / %d dev images' % (count_parameters(model), len(tr), len(dev)))
    rng = np.random.default_rng(state['step'])
    checkpoint = lambda: save(ck, model=model.state_dict(), opt=opt.state_dict(), state=state,  # noqa: E731
                              cfg=asdict(model.cfg))
    for el, eval_due, bar in budget_steps(state, opt, a.lr, a.max_minutes, a.eval_minutes, 'stage 1 VQ', checkpoint):
        model.train()
        x = to_tensor(tr[rng.integers(0, len(tr), a.batch)])
        x_hat, idx, commit = model(x)
        rec = reconstruction_loss(x_hat, x)
        loss = rec + commit
        opt.zero_grad()
        loss.backward()
        opt.step()
        if eval_due:
            model.eval()
            with torch.no_grad():
                xd = to_tensor(dev)
                rd = model.decode(model.encode(xd))
                mse = float(((rd - xd) / 2).pow(2).mean())
                used = int(torch.unique(model.encode(xd)).numel())
            psnr = 10 * math.log10(1.0 / max(mse, 1e-10))
            state['curve'].append({'step': state['step'], 'minutes': el, 'train_loss': float(rec), 'dev_psnr': psnr,
                                   'codes_used': used})
            bar.set_postfix(rec='%.4f' % float(rec), dev_psnr='%.2f' % psnr, codes=used)
    print('stage 1 done: %d steps, dev PSNR %.2f dB, %d codes used' % (
        state['step'], state['curve'][-1]['dev_psnr'], state['curve'][-1]['codes_used']))


def tokenize(vq: VQModel, images: np.ndarray) -> np.ndarray:
    """(E, V, H, W, 3) uint8 -> (E, V, T) int64 tokens."""
    E, V = images.shape[:2]
    flat = images.reshape(E * V, *images.shape[2:])
    out = [vq.encode(to_tensor(flat[i:i + 256])).reshape(-1, 48) for i in range(0, len(flat), 256)]
    return torch.cat(out).reshape(E, V, -1).numpy()


def episode_batch(tokens, poses, K, idx, rng=None):
    """Tokens (B, V, T) and camera features (B, V, 16); forwards or (augmented) backwards."""
    toks, cams = [], []
    for i in idx:
        t, P = tokens[i], poses[i]
        if rng is not None and rng.random() < 0.5:
            t, P = t[::-1], P[::-1]
        toks.append(np.ascontiguousarray(t))
        cams.append(shot_features(P, K, 64, 48))
    return torch.as_tensor(np.stack(toks)), torch.as_tensor(np.stack(cams))


def load_vq(path) -> VQModel:
    s = torch.load(path, map_location='cpu', weights_only=False)
    vq = VQModel(VQConfig(**s['cfg']))
    vq.load_state_dict(s['model'])
    return vq.eval()


def vq_from_model(model_path: Path, out: Path) -> None:
    """Write ``<out>/vq.pt`` (stage 1's checkpoint) from a packed model's tokenizer, so stage 2 reuses a shipped
    tokenizer (same codes, same ceiling) and ``pack`` ships it again: weights as packed (fp16 -> fp32 -> fp16 is
    exact), its curve and minutes kept; no optimiser state (stage 1 is not resumed from it)."""
    ck = torch.load(model_path, map_location='cpu', weights_only=False)
    state = {'step': ck['curves']['vq'][-1]['step'] if ck.get('curves', {}).get('vq') else 0,
             'minutes': ck.get('train_minutes', {}).get('vq', 0.0), 'curve': ck.get('curves', {}).get('vq', []),
             'from': str(model_path)}
    save(out / 'vq.pt', model={k: v.float() for k, v in ck['vq'].items()}, opt=None, state=state, cfg=ck['vq_cfg'])


def train_gpt(a, out: Path) -> None:
    if a.vq_from:
        vq_from_model(Path(a.vq_from), out)
        print('stage 1: the tokenizer of %s' % a.vq_from)
    vq = load_vq(out / 'vq.pt')
    tr, dv = load(a.train), load(a.dev)
    print('tokenizing %d + %d episodes' % (len(tr['gap']), len(dv['gap'])))
    tr_tok, dv_tok = tokenize(vq, tr['images']), tokenize(vq, dv['images'])
    K = tr['K']
    ck = out / 'gpt.pt'
    cfg = GeoGPTConfig(n_layer=a.layers, n_embd=a.width, n_head=a.heads, copy_prior=a.copy_prior)
    model = GeoGPT(cfg)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and 'pos' not in n and 'view' not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and 'pos' not in n and 'view' not in n)]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.05}, {'params': other, 'weight_decay': 0.0}],
                            lr=a.lr, betas=(0.9, 0.95))
    state = resumed(ck, model, opt, {'step': 0, 'minutes': 0.0, 'curve': [], 'best': float('inf')}, a.resume)
    print('GeoGPT: %d layers, width %d, %d parameters, sequence %d, copy prior %s' % (
        cfg.n_layer, cfg.n_embd, count_parameters(model), cfg.block, 'on' if cfg.copy_prior else 'off'))
    dv_x, dv_c = episode_batch(dv_tok, dv['poses'], K, range(0, len(dv_tok), 2))   # half the dev episodes: eval stays cheap
    rng = np.random.default_rng(1000 + state['step'])
    checkpoint = lambda: save(ck, model=model.state_dict(), opt=opt.state_dict(), state=state,  # noqa: E731
                              cfg=asdict(cfg))
    for el, eval_due, bar in budget_steps(state, opt, a.lr, a.max_minutes, a.eval_minutes, 'stage 2 GPT', checkpoint):
        model.train()
        x, c = episode_batch(tr_tok, tr['poses'], K, rng.integers(0, len(tr_tok), a.batch), rng)
        uncond = torch.as_tensor(rng.random(a.batch) < cfg.p_uncond)
        loss = model.loss(x, c, uncond)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if eval_due:
            model.eval()
            with torch.no_grad():
                dl = float(model.loss(dv_x, dv_c))
                du = float(model.loss(dv_x, dv_c, torch.ones(len(dv_x), dtype=torch.bool)))
            state['curve'].append({'step': state['step'], 'minutes': el, 'train_loss': float(loss), 'dev_loss': dl,
                                   'dev_loss_uncond': du})
            bar.set_postfix(loss='%.3f' % float(loss), dev='%.3f' % dl, dev_uncond='%.3f' % du)
            if dl < state['best']:
                state['best'] = dl
                save(out / 'gpt_best.pt', model=model.state_dict(), cfg=asdict(cfg), step=state['step'], dev_loss=dl)
    print('stage 2 done: %d steps, best dev loss %.3f' % (state['step'], state['best']))


def plot_curves(out: Path) -> None:
    import matplotlib  # lazy: only the plot needs it
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: after choosing the Agg backend
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    if (out / 'vq.pt').exists():
        c = torch.load(out / 'vq.pt', map_location='cpu', weights_only=False)['state']['curve']
        ax[0].plot([e['minutes'] for e in c], [e['dev_psnr'] for e in c], label='dev reconstruction PSNR')
        ax[0].set_xlabel('minutes (shared 2-core CPU)')
        ax[0].set_ylabel('dB')
        ax[0].set_title('stage 1: VQ tokenizer')
        ax[0].legend()
    if (out / 'gpt.pt').exists():
        c = torch.load(out / 'gpt.pt', map_location='cpu', weights_only=False)['state']['curve']
        m = [e['minutes'] for e in c]
        ax[1].plot(m, [e['train_loss'] for e in c], label='train', alpha=0.6)
        ax[1].plot(m, [e['dev_loss'] for e in c], label='dev')
        ax[1].plot(m, [e['dev_loss_uncond'] for e in c], label='dev, no camera')
        ax[1].set_xlabel('minutes (shared 2-core CPU)')
        ax[1].set_ylabel('token cross-entropy')
        ax[1].set_title('stage 2: GeoGPT')
        ax[1].legend()
    fig.tight_layout()
    fig.savefig(out / 'curve.png', dpi=80)


def pack(out: Path, model_path: Path) -> None:
    vq = torch.load(out / 'vq.pt', map_location='cpu', weights_only=False)
    best = out / 'gpt_best.pt'
    gpt = torch.load(best if best.exists() else out / 'gpt.pt', map_location='cpu', weights_only=False)
    gstate = torch.load(out / 'gpt.pt', map_location='cpu', weights_only=False)['state']

    def half(sd):
        return {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}
    model_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(to_checkpoint(vq['cfg'], half(vq['model']), gpt['cfg'], half(gpt['model']), image_size=(64, 48),
                             curves={'vq': vq['state']['curve'], 'gpt': gstate['curve']},
                             train_minutes={'vq': vq['state']['minutes'], 'gpt': gstate['minutes']}), model_path)
    plot_curves(out)
    print('%s: %.2f MB' % (model_path, model_path.stat().st_size / 1e6))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--stage', choices=['vq', 'gpt', 'pack', 'plot', 'refine', 'pack-refine'], required=True)
    ap.add_argument('--train', default='data/nvs/train.npz')
    ap.add_argument('--dev', default='data/nvs/dev.npz')
    ap.add_argument('--out', default='runs/nvs')
    ap.add_argument('--model', default='models/nvs_geogpt_sim.pt')
    ap.add_argument('--max-minutes', type=float, default=20.0)
    ap.add_argument('--eval-minutes', type=float, default=1.5)
    ap.add_argument('--batch', type=int, default=None)
    ap.add_argument('--lr', type=float, default=None)
    ap.add_argument('--layers', type=int, default=16)
    ap.add_argument('--width', type=int, default=64)
    ap.add_argument('--heads', type=int, default=4)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--resume', action='store_true')
    ap.add_argument('--copy-prior', action='store_true',
                    help='stage 2: add the previous view\'s token at each predicted position (core/views/geogpt.py)')
    ap.add_argument('--vq-from', default=None,
                    help='stage 2: take the tokenizer from this packed model (writes <out>/vq.pt) instead of stage 1')
    ap.add_argument('--base', default=None, help='refine, pack-refine: the packed model whose stages 1-2 are used')
    ap.add_argument('--inputs', default='tf',
                    help='refine: how its decoded inputs are made, a comma list of %s (train/nvs_refine.py)'
                    % ', '.join(KINDS))
    ap.add_argument('--greedy-episodes', type=int, default=600, help='refine: training episodes generated greedily')
    ap.add_argument('--cache', default='runs/nvs_ref_cache', help='refine: where its decoded inputs are kept')
    ap.add_argument('--refiner-width', type=int, default=16, help='refine: channels at full resolution')
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for f in ([a.train, a.dev] if a.stage in ('vq', 'gpt', 'refine') else []):
        if not Path(f).exists():
            print('error: %s not found (make it with python -m uavcine.train.nvs_data)' % f, file=sys.stderr)
            return 2
    if a.vq_from and not Path(a.vq_from).is_file():
        print('error: --vq-from %s: no such model file' % a.vq_from, file=sys.stderr)
        return 2
    if a.stage in ('refine', 'pack-refine'):
        if not a.base or not Path(a.base).is_file():
            print('error: --base %s: no such model file' % a.base, file=sys.stderr)
            return 2
        bad = [k for k in a.inputs.split(',') if k.strip() not in KINDS]
        if bad:
            print('error: --inputs: unknown %s (one of %s)' % (', '.join(bad), ', '.join(KINDS)), file=sys.stderr)
            return 2
    if a.stage == 'refine':
        a.batch, a.lr = a.batch or 32, a.lr or 1e-3
        train_refine(a, out)
    elif a.stage == 'pack-refine':
        pack_refine(Path(a.base), out, Path(a.model))
    elif a.stage == 'vq':
        a.batch, a.lr = a.batch or 32, a.lr or 1e-3
        train_vq(a, out)
    elif a.stage == 'gpt':
        a.batch, a.lr = a.batch or 8, a.lr or 6e-4
        train_gpt(a, out)
    elif a.stage == 'pack':
        pack(out, Path(a.model))
    else:
        plot_curves(out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
