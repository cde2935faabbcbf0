"""Stage 3 of novel-view synthesis: train the residual decoder (core/views/refiner.py) on a trained model.

    python -m uavcine.train.nvs_train --stage refine --base models/nvs_geogpt_sim.pt --train data/nvs/train256.npz \
        --out runs/nvs_ref --inputs tf --max-minutes 20
    python -m uavcine.train.nvs_train --stage pack-refine --base models/nvs_geogpt_sim.pt --out runs/nvs_ref \
        --model models/nvs_geogpt_sim.pt

The tokenizer and the transformer of ``--base`` are frozen. The refiner's input must look like what the
transformer gives at run time, not like the tokenizer's reconstruction of the true view, so each training
episode's decoded views are made once (cached in ``--cache``, default ``runs/nvs_ref_cache``, by base model,
data file and kind) by ``--inputs``:

- ``tf``: one teacher-forced forward of the transformer per episode, the argmax token at every position, decoded
  (cheap: one forward per episode; better than run time, since every token sees the true tokens before it);
- ``sample``: the same forward, tokens sampled from its distribution (temperature 1): noisier, like drift;
- ``greedy``: the run-time path itself (``synthesize``, greedy, token-only) on the first ``--greedy-episodes``
  episodes (costly: a full generation per episode);
- a comma list (``tf,greedy``) mixes them: each batch draws its pairs from every kind.

Model selection: the dev split's *greedy* generations (the real run-time input), mean PSNR over its 500 views;
the best checkpoint is ``<out>/refine_best.pt``. Resumable (``--resume``), tqdm, time budget with a cosine
learning rate, a curve (``<out>/refine_curve.png``), one thread.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..core.views.cameras import shot_features
from ..core.views.geogpt import count_parameters
from ..core.views.plane import central_plane_z
from ..core.views.refiner import Refiner, RefinerConfig, refine_loss
from ..core.views.synthesis import from_checkpoint, plane_warps, refine_views, synthesize, to_images, to_tensor
from .nvs_data import load
from .nvs_loop import budget_steps, resumed, save

KINDS = ('tf', 'sample', 'greedy')


@torch.no_grad()
def decoded_inputs(vq, gpt, data: dict, kind: str, limit: int = 0, batch: int = 32, seed: int = 0) -> dict:
    """The refiner's inputs of the first ``limit`` (0: all) episodes: ``source_rec`` (E, H, W, 3) the source
    through the tokenizer and ``decoded`` (E, 5, H, W, 3) the token-only views of ``kind`` (uint8)."""
    E = len(data['gap']) if not limit else min(limit, len(data['gap']))
    imgs, K = data['images'], data['K']
    H, W = imgs.shape[2:4]
    dec = np.zeros((E, 5, H, W, 3), np.uint8)
    rec = np.zeros((E, H, W, 3), np.uint8)
    gen = torch.Generator().manual_seed(seed)
    for s in tqdm(range(0, E, batch), desc='refiner inputs (%s)' % kind, unit='batch'):
        sl = slice(s, min(E, s + batch))
        B = sl.stop - sl.start
        x = to_tensor(imgs[sl].reshape(-1, H, W, 3))
        toks = vq.encode(x).reshape(B, 6, -1)
        rec[sl] = to_images(vq.decode(toks[:, 0].reshape(B, H // 8, W // 8)))
        if kind == 'greedy':
            dec[sl] = synthesize(vq, gpt, imgs[sl, 0], data['poses'][sl], K)
            continue
        cams = torch.as_tensor(np.stack([shot_features(P, K, W, H) for P in data['poses'][sl]]))
        logits = gpt(toks, cams)                                                     # (B, 5, T, vocab)
        if kind == 'tf':
            t = logits.argmax(-1)
        else:
            t = torch.multinomial(torch.softmax(logits.reshape(-1, logits.shape[-1]), -1), 1,
                                  generator=gen).reshape(logits.shape[:-1])
        dec[sl] = to_images(vq.decode(t.reshape(B * 5, H // 8, W // 8))).reshape(B, 5, H, W, 3)
    return {'source_rec': rec, 'decoded': dec}


def cached_inputs(vq, gpt, data: dict, path: Path, kind: str, limit: int = 0) -> dict:
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    d = decoded_inputs(vq, gpt, data, kind, limit)
    np.savez(path, **d)
    return d


def episode_plane_z(data: dict, limit: int = 0) -> np.ndarray:
    """(E,) the height of the plane the refiner warps each episode's source by: the point of the source's central
    ray at the median simulator depth of its central 4 x 4 pixels (plane.central_plane_z; the data stores no
    target position, the service is given it)."""
    E = len(data['gap']) if not limit else min(limit, len(data['gap']))
    H, W = data['images'].shape[2:4]
    mid = data['depth'][:E, 0, H // 2 - 2:H // 2 + 2, W // 2 - 2:W // 2 + 2].reshape(E, -1)
    mid = np.where(np.isfinite(mid), mid, np.nan)
    depth = np.nan_to_num(np.nanmedian(mid, axis=1), nan=1e4)     # the sky at the centre: a plane far below
    return np.array([central_plane_z(data['poses'][e, 0], data['K'], float(depth[e])) for e in range(E)])


class Pairs:
    """(episode, view) pairs of one split with one kind of decoded input, as arrays for the refiner."""

    def __init__(self, data: dict, inputs: dict):
        E = len(inputs['decoded'])
        self.images = data['images'][:E]
        self.rec, self.dec = inputs['source_rec'], inputs['decoded']
        H, W = self.images.shape[2:4]
        self.cams = np.stack([shot_features(P, data['K'], W, H) for P in data['poses'][:E]])[:, 1:].astype(np.float32)
        self.gap = data['gap'][:E]
        self.plane_z = episode_plane_z(data, E)
        self.warped, self.valid = plane_warps(self.images[:, 0], data['poses'][:E], data['K'], self.plane_z)
        self.valid = self.valid.astype(np.uint8)

    def __len__(self):
        return len(self.dec) * 5

    def batch(self, idx):
        """(source, source through the tokenizer, decoded, warped, valid, camera) arrays and the true views."""
        e, k = np.asarray(idx) // 5, np.asarray(idx) % 5
        return ((self.images[e, 0], self.rec[e], self.dec[e, k], self.warped[e, k], self.valid[e, k], self.cams[e, k]),
                self.images[e, k + 1])


def psnr_uint8(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Per-image PSNR (dB) of (..., H, W, 3) uint8 images, as scikit-image's with data range 255."""
    mse = ((pred.astype(np.float64) - true.astype(np.float64)) ** 2).mean(axis=(-3, -2, -1))
    return np.minimum(10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-10)), 100.0)


@torch.no_grad()
def evaluate(model: Refiner, pairs: Pairs, batch: int = 100) -> dict:
    """Mean PSNR of the refined views per gap and over all, and of the token-only views it starts from."""
    model.eval()
    out = np.zeros(len(pairs))
    base = np.zeros(len(pairs))
    for s in range(0, len(pairs), batch):
        idx = np.arange(s, min(len(pairs), s + batch))
        x, true = pairs.batch(idx)
        out[idx] = psnr_uint8(to_images(refine_views(model, *x)), true)
        base[idx] = psnr_uint8(x[2], true)
    gaps = np.repeat(pairs.gap, 5)
    res = {'psnr': float(out.mean()), 'token_only': float(base.mean())}
    for g in sorted(set(gaps.tolist())):
        res['gap%d' % g] = float(out[gaps == g].mean())
    return res


def train_refine(a, out: Path) -> None:
    torch.manual_seed(0)
    ck = torch.load(a.base, map_location='cpu', weights_only=False)
    vq, gpt = from_checkpoint(ck)
    tr, dv = load(a.train), load(a.dev)
    kinds = [k.strip() for k in a.inputs.split(',')]
    cache = Path(a.cache)
    cache.mkdir(parents=True, exist_ok=True)
    tag = hashlib.sha256(Path(a.base).read_bytes()).hexdigest()[:10]
    train_sets = []
    for k in kinds:
        limit = a.greedy_episodes if k == 'greedy' else 0
        name = '%s_%s_%s%s.npz' % (tag, Path(a.train).stem, k, limit or '')
        train_sets.append(Pairs(tr, cached_inputs(vq, gpt, tr, cache / name, k, limit)))
    dev = Pairs(dv, cached_inputs(vq, gpt, dv, cache / ('%s_%s_greedy.npz' % (tag, Path(a.dev).stem)), 'greedy'))
    model = Refiner(RefinerConfig(width=a.refiner_width))
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    path = out / 'refine.pt'
    state = resumed(path, model, opt, {'step': 0, 'minutes': 0.0, 'curve': [], 'best': -1.0, 'inputs': kinds,
                                       'base': str(a.base)}, a.resume)
    print('refiner: %d parameters; train pairs %s; dev %d greedy views (token-only dev PSNR %.2f dB)' % (
        count_parameters(model), ', '.join('%s %d' % (k, len(p)) for k, p in zip(kinds, train_sets)), len(dev),
        evaluate(model, dev)['token_only']))
    rng = np.random.default_rng(2000 + state['step'])
    checkpoint = lambda: save(path, model=model.state_dict(), opt=opt.state_dict(), state=state,  # noqa: E731
                              cfg=asdict(model.cfg))
    for el, eval_due, bar in budget_steps(state, opt, a.lr, a.max_minutes, a.eval_minutes, 'stage 3 refiner',
                                          checkpoint):
        model.train()
        per = [a.batch // len(train_sets) + (1 if i < a.batch % len(train_sets) else 0) for i in range(len(train_sets))]
        parts = [p.batch(rng.integers(0, len(p), n)) for p, n in zip(train_sets, per) if n]
        x = [np.concatenate(t) for t in zip(*[q[0] for q in parts])]
        loss = refine_loss(refine_views(model, *x), to_tensor(np.concatenate([q[1] for q in parts])))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if eval_due:
            ev = evaluate(model, dev)
            state['curve'].append(dict(step=state['step'], minutes=el, train_loss=loss.item(), **ev))
            bar.set_postfix(loss='%.4f' % loss.item(), dev_psnr='%.2f' % ev['psnr'])
            if ev['psnr'] > state['best']:
                state['best'] = ev['psnr']
                save(out / 'refine_best.pt', model=model.state_dict(), cfg=asdict(model.cfg), step=state['step'],
                     dev=ev)
    best = torch.load(out / 'refine_best.pt', map_location='cpu', weights_only=False)
    print('stage 3 done: %d steps, best dev PSNR %.2f dB at step %d: %s' % (
        state['step'], state['best'], best['step'],
        ' / '.join('%.2f' % v for k, v in sorted(best['dev'].items(), key=lambda kv: len(kv[0])) if k[:3] == 'gap')))
    plot_curve(out)


def plot_curve(out: Path) -> None:
    import matplotlib  # lazy: only the plot needs it
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: after choosing the Agg backend
    c = torch.load(out / 'refine.pt', map_location='cpu', weights_only=False)['state']['curve']
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    m = [e['minutes'] for e in c]
    ax[0].plot(m, [e['train_loss'] for e in c], label='train L1 + MSE')
    ax[0].set_ylabel('loss')
    ax[0].set_title('stage 3: refiner')
    ax[1].plot(m, [e['psnr'] for e in c], label='refined')
    ax[1].plot(m, [e['token_only'] for e in c], '--', label='token-only')
    ax[1].set_ylabel('dev PSNR (dB), greedy generations')
    for a_ in ax:
        a_.set_xlabel('minutes (shared 2-core CPU)')
        a_.legend()
        a_.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / 'refine_curve.png', dpi=80)
    plt.close(fig)


def pack_refine(base: Path, out: Path, model_path: Path) -> None:
    """Add ``<out>/refine_best.pt`` (fp16) and its curve to the packed ``base`` model, written to ``model_path``."""
    ck = torch.load(base, map_location='cpu', weights_only=False)
    best = torch.load(out / 'refine_best.pt', map_location='cpu', weights_only=False)
    st = torch.load(out / 'refine.pt', map_location='cpu', weights_only=False)['state']
    ck['refiner_cfg'] = dict(best['cfg'])
    ck['refiner'] = {k: (v.half() if v.is_floating_point() else v) for k, v in best['model'].items()}
    ck.setdefault('curves', {})['refiner'] = st['curve']
    ck.setdefault('train_minutes', {})['refiner'] = st['minutes']
    ck['refiner_inputs'] = st['inputs']
    model_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ck, model_path)
    print('%s: %.2f MB (refiner from step %d, dev PSNR %.2f dB)' % (model_path, model_path.stat().st_size / 1e6,
                                                                   best['step'], best['dev']['psnr']))
