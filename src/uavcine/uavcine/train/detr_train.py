"""Train the small DETR on the simulator's COCO export; export it for the detector node.

The commands behind the shipped model (v2; models/MODEL_CARD_detr_small.md has the v1 ones and the results):

    # data: train (seeds 0..59), val (5000..5005) and held-out test (10000..10011) scenes, every 4th frame;
    # then the larger v2 training split (seeds 0..299)
    python -m uavcine.train.detr_train data --out data/detr
    python -m uavcine.train.detr_train data --out data/detr_big --train-scenes 300 --val-scenes 0 --test-scenes 0

    # train (resumable: run the same command again to continue from runs/.../last.pt; --restart to start over)
    python -m uavcine.train.detr_train train --train data/detr_big/train/annotations/instances.json \\
        --val data/detr/val/annotations/instances.json --out runs/detr_small_v2 --attention whitened \\
        --init runs/detr_small_whitened/best.pt --epochs 12 --eval-every 1 --eval-limit 156 --threads 2 \\
        --lr 4e-4 --warmup 200 --max-minutes 125

    # ship: float16 .pt (a few MB) + ONNX with metadata, checked against torch
    python -m uavcine.train.detr_train export --checkpoint runs/detr_small_v2/best.pt --out models/detr_small.pt

Recipe (DETR's 500-epoch schedule is out of reach on 2 CPU cores; what makes it learn within
hours, documented with its measured curve in models/MODEL_CARD_detr_small.md):

- small input (384x288 letterbox of 640x480), a stride-16 CNN trained from scratch (BatchNorm);
- d_model 128, 3 encoder + 3 decoder layers, 30 queries;
- two-stage query selection: every encoder token proposes a box, supervised one-to-many (each target
  matched to 6 tokens, H-DETR); the 30 best proposals are the decoder's anchors (query position = sine
  embedding of the anchor, the box head predicts an offset to it) and their encoder features its content
  queries (``--query-content encoder``, RT-DETR; ``learned`` is the v1 layout);
- Group DETR: 4 query groups at training time, each matched one-to-one (4x the matching signal),
  only the first group at inference;
- the DETR loss (class CE with eos_coef 0.1, L1 5, GIoU 2, auxiliary decoder losses), AdamW 4e-4,
  weight decay 1e-4, gradient clipping 0.1, linear warm-up then cosine decay, batch 8;
- preloaded, letterboxed images; flips, photometric jitter and random scale/translation.

Offline tool (Python 3.10+).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from uavcine.sim.scenario import random_scenario


def log(text: str) -> None:
    tqdm.write(text)


# ----------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------


class CocoDetection:
    """A COCO split, letterboxed to the network input and kept in memory as uint8."""

    def __init__(self, ann_path: str, image_dir: str | None, cfg, progress: bool = True):

        from uavcine.core.letterbox import Letterbox  # lazy: start-up time: importing it loads cv2
        from uavcine.train.detr_eval import load_rgb, resolve_image_dir  # lazy: start-up time: importing it loads torch
        with open(ann_path) as f:
            self.gt = json.load(f)
        self.image_dir = resolve_image_dir(ann_path, image_dir)
        names = list(cfg.class_names)
        cat_to_label = {}
        for c in self.gt['categories']:
            if c['name'] in names:
                cat_to_label[c['id']] = names.index(c['name'])
        by_image = {}
        for a in self.gt['annotations']:
            if a['category_id'] in cat_to_label and not a.get('iscrowd', 0):
                by_image.setdefault(a['image_id'], []).append(a)
        W, H = cfg.input_width, cfg.input_height
        pad = np.round(np.asarray(cfg.pixel_mean) * 255).astype(np.uint8)
        self.images = np.zeros((len(self.gt['images']), H, W, 3), np.uint8)
        self.boxes, self.labels = [], []
        for i, im in enumerate(tqdm(self.gt['images'], desc='load %s' % Path(ann_path).parent.name,
                                    disable=not progress, leave=False)):
            rgb = load_rgb(self.image_dir / im['file_name'])
            lb = Letterbox.fit(rgb.shape[1], rgb.shape[0], W, H)
            self.images[i] = lb.apply(rgb, pad)
            anns = by_image.get(im['id'], [])
            xyxy = np.array([[a['bbox'][0], a['bbox'][1], a['bbox'][0] + a['bbox'][2], a['bbox'][1] + a['bbox'][3]]
                             for a in anns], np.float64).reshape(-1, 4)
            self.boxes.append(lb.boxes_to_network(xyxy).astype(np.float32))
            self.labels.append(np.array([cat_to_label[a['category_id']] for a in anns], np.int64))
        self.W, self.H = W, H

    def __len__(self) -> int:
        return len(self.images)


def augment(img: np.ndarray, boxes: np.ndarray, labels: np.ndarray, rng: np.random.Generator, scale: float,
            pad_value: np.ndarray, photometric: bool = True):
    """Flip, random scale/translation (cv2.warpAffine) and photometric jitter; boxes follow, tiny ones drop.
    ``photometric=False``: geometry only, the image stays uint8 (the GPU run jitters on the device)."""
    import cv2  # lazy: OpenCV: start-up time, only this path draws or reads images
    H, W = img.shape[:2]
    boxes = boxes.copy()
    if rng.random() < 0.5:
        img = img[:, ::-1]
        boxes[:, [0, 2]] = W - boxes[:, [2, 0]]
    if scale > 0:
        s = float(np.exp(rng.uniform(-scale, scale)))
        tx = rng.uniform(-0.1, 0.1) * W + (1 - s) * W / 2
        ty = rng.uniform(-0.1, 0.1) * H + (1 - s) * H / 2
        M = np.array([[s, 0, tx], [0, s, ty]], np.float32)
        img = cv2.warpAffine(np.ascontiguousarray(img), M, (W, H), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=tuple(int(v) for v in pad_value))
        b = boxes * s + np.array([tx, ty, tx, ty], np.float32)
        area0 = np.maximum(b[:, 2] - b[:, 0], 0) * np.maximum(b[:, 3] - b[:, 1], 0)
        b[:, [0, 2]] = b[:, [0, 2]].clip(0, W)
        b[:, [1, 3]] = b[:, [1, 3]].clip(0, H)
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        keep = (area > 0.3 * np.maximum(area0, 1e-6)) & (b[:, 2] - b[:, 0] >= 1) & (b[:, 3] - b[:, 1] >= 1)
        boxes, labels = b[keep], labels[keep]
    if not photometric:
        return np.ascontiguousarray(img), boxes, labels
    img = img.astype(np.float32)
    img = img * rng.uniform(0.75, 1.25) + rng.uniform(-20, 20) + rng.uniform(-8, 8, size=3)
    return np.clip(img, 0, 255), boxes, labels


def make_batch(ds: CocoDetection, idx, cfg, rng, aug_scale: float, train: bool, transfer_aug: float = 0.0):
    """``transfer_aug`` > 0: also degrade each image as real video is (train/transfer_aug.py), each step
    with that probability."""
    import torch  # lazy: torch takes seconds to import; only this path needs it
    from uavcine.train.transfer_aug import TransferAugConfig, degrade  # lazy: start-up time: importing it loads cv2
    tcfg = TransferAugConfig(p=transfer_aug)
    mean = np.asarray(cfg.pixel_mean, np.float32) * 255
    std = np.asarray(cfg.pixel_std, np.float32) * 255
    imgs, targets = [], []
    for i in idx:
        img, boxes, labels = ds.images[i], ds.boxes[i], ds.labels[i]
        if train:
            img, boxes, labels = augment(img, boxes, labels, rng, aug_scale, np.round(mean).astype(np.uint8))
            if transfer_aug > 0:
                img = degrade(img, rng, tcfg)
        imgs.append((np.asarray(img, np.float32) - mean) / std)
        b = torch.from_numpy(np.asarray(boxes, np.float32)).reshape(-1, 4)
        b = b / torch.tensor([ds.W, ds.H, ds.W, ds.H], dtype=torch.float32)
        cxcywh = torch.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)
        targets.append({'labels': torch.from_numpy(np.asarray(labels, np.int64)), 'boxes': cxcywh})
    x = torch.from_numpy(np.ascontiguousarray(np.stack(imgs).transpose(0, 3, 1, 2)))
    return x, targets


# ----------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------


def lr_at(step: int, total: int, base: float, warmup: int, frac: float | None = None) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 5 % over the remaining steps, or, given
    ``frac`` (the fraction of a wall-clock budget spent), over the budget."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = frac if frac is not None else (step - warmup) / max(1, total - warmup)
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def init_from(model, path: str) -> None:
    """Start from another checkpoint's weights: tensors of the same shape are copied; a two-stage model's
    per-query content embeddings (older layout) become one per group (their mean)."""
    import torch  # lazy: torch takes seconds to import; only this path needs it
    src = torch.load(path, map_location='cpu', weights_only=False)['model']
    own = model.state_dict()
    copied, skipped = 0, []
    for k, v in src.items():
        if k in own and own[k].shape == v.shape:
            own[k] = v.float() if v.is_floating_point() else v
            copied += 1
        elif (k == 'query_embed.weight' and model.cfg.two_stage and model.cfg.query_content == 'learned'
              and v.shape[0] % own[k].shape[0] == 0):
            own[k] = v.float().reshape(own[k].shape[0], -1, v.shape[1]).mean(1)
            copied += 1
        else:
            skipped.append(k)
    model.load_state_dict(own)
    log('initialised from %s: %d tensors copied, %d skipped %s' % (path, copied, len(skipped), skipped[:5]))


def evaluate_model(model, ann_path: str, limit: int | None) -> dict:
    from uavcine.runtime.detector import Detector  # lazy: start-up time: importing it loads torch
    from uavcine.train.detr_eval import evaluate_detector, resolve_image_dir  # lazy: start-up time: importing it loads torch
    with open(ann_path) as f:
        gt = json.load(f)
    was_training = model.training
    res = evaluate_detector(Detector.from_model(model.eval()), gt, resolve_image_dir(ann_path, None), limit)
    model.train(was_training)
    return res


def train(a) -> int:
    import torch  # lazy: torch takes seconds to import; only this path needs it

    from uavcine.core.detr import DETR, DETRConfig, build_criterion, detr_small_config  # lazy: start-up time: importing it loads torch
    if a.time_schedule and not a.max_minutes > 0:
        raise ValueError('--time-schedule needs --max-minutes')
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    last = out / 'last.pt'
    ck = None
    if last.exists() and not a.restart:
        ck = torch.load(last, map_location='cpu', weights_only=False)
        cfg = DETRConfig.from_dict(ck['config'])
        log('resuming %s at epoch %d' % (last, ck['epoch']))
    else:
        with open(a.train) as f:
            names = [c['name'] for c in sorted(json.load(f)['categories'], key=lambda c: c['id'])]
        overrides = dict(encoder_attention=a.attention, num_queries=a.queries, num_groups=a.groups,
                         input_width=a.input_size[0], input_height=a.input_size[1], hidden_dim=a.hidden_dim,
                         dim_feedforward=a.ffn, enc_layers=a.enc_layers, dec_layers=a.dec_layers,
                         query_content=a.query_content, small_stride=a.small_stride)
        if a.channels:
            overrides['small_channels'] = a.channels
        cfg = detr_small_config(names, **overrides)
    model = DETR(cfg)
    criterion = build_criterion(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.weight_decay)
    history, epoch0, step, best = [], 0, 0, -1.0
    if ck is None and a.init:
        init_from(model, a.init)
    if ck is not None:
        model.load_state_dict(ck['model'])
        opt.load_state_dict(ck['optimizer'])
        history, epoch0, step, best = ck['history'], ck['epoch'], ck['step'], ck.get('best', -1.0)
        history = [h for h in history if h['epoch'] <= epoch0]  # an interrupted epoch is run again
    log('model: %d parameters, input %dx%d, features %dx%d, %s encoder attention, %d queries x %d groups'
        % (sum(p.numel() for p in model.parameters()), cfg.input_width, cfg.input_height, cfg.feature_size[1],
           cfg.feature_size[0], cfg.encoder_attention, cfg.num_queries, cfg.num_groups))
    ds = CocoDetection(a.train, a.train_images, cfg)
    log('train: %d images, %d boxes' % (len(ds), sum(len(b) for b in ds.boxes)))
    real, n_real = None, 0
    if a.real_otb:  # masked real supervision (train/det_real.py): part of every batch is real frames
        from uavcine.train import det_real  # lazy: start-up time: importing it loads torch, cv2
        rcfg = det_real.RealConfig(a.real_otb, a.real_holdout, a.real_every, a.real_fraction, a.real_dup_iou,
                                   a.real_bg_weight)
        real = det_real.RealFrames(rcfg, cfg)
        criterion = det_real.PartialLabelCriterion.like(criterion, rcfg.dup_iou, rcfg.bg_weight)
        n_real = int(round(a.batch_size * a.real_fraction))
        if not 0 < n_real < a.batch_size:
            raise ValueError('--real-fraction %.2f leaves no real or no simulator image in a batch of %d'
                             % (a.real_fraction, a.batch_size))
        log('real (holdout %s, one annotated target per frame, the rest masked): %d frames: %s; %d of %d per batch'
            % (a.real_holdout, len(real), det_real.summary(real), n_real, a.batch_size))
    n_sim = a.batch_size - n_real
    steps_per_epoch = len(ds) // n_sim
    total = steps_per_epoch * a.epochs
    rng = np.random.default_rng(a.seed + epoch0)
    real_stream = det_real.real_indices(len(real), rng) if real is not None else None
    t_start = time.time()
    stop = False
    for epoch in range(epoch0, a.epochs):
        model.train()
        order = rng.permutation(len(ds))
        sums, n = {}, 0
        bar = tqdm(range(steps_per_epoch), desc='epoch %d/%d' % (epoch + 1, a.epochs), leave=False)
        t_epoch = time.time()
        for it in bar:
            idx = order[it * n_sim:(it + 1) * n_sim]
            if real is None:
                x, targets = make_batch(ds, idx, cfg, rng, a.aug_scale, True, a.transfer_aug)
            else:
                ridx = [next(real_stream) for _ in range(n_real)]
                x, targets = det_real.join_batches(
                    make_batch(ds, idx, cfg, rng, a.aug_scale, True, a.transfer_aug),
                    make_batch(real, ridx, cfg, rng, a.aug_scale, True, a.transfer_aug))
            for g in opt.param_groups:
                g['lr'] = lr_at(step, total, a.lr, a.warmup,
                                (time.time() - t_start) / (a.max_minutes * 60) if a.time_schedule else None)
            outputs = model(x)
            losses = criterion(outputs, targets)
            loss = sum(losses[k] * criterion.weight_dict[k] for k in losses if k in criterion.weight_dict)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            opt.step()
            step += 1
            for k in ('loss_ce', 'loss_bbox', 'loss_giou', 'class_error'):
                sums[k] = sums.get(k, 0.0) + float(losses[k].detach())
            sums['loss'] = sums.get('loss', 0.0) + float(loss.detach())
            n += 1
            bar.set_postfix(loss='%.3f' % (sums['loss'] / n), ce='%.3f' % (sums['loss_ce'] / n),
                            giou='%.3f' % (sums['loss_giou'] / n))
            if a.max_minutes and (time.time() - t_start) > a.max_minutes * 60:
                stop = True
                break
        rec = {k: v / max(1, n) for k, v in sums.items()}
        rec.update(epoch=epoch + 1, step=step, seconds=time.time() - t_epoch, lr=opt.param_groups[0]['lr'])
        if stop:
            rec['interrupted_after_steps'] = n
        if not stop and (epoch + 1) % a.eval_every == 0 or epoch + 1 == a.epochs:
            res = evaluate_model(model, a.val, a.eval_limit)
            rec.update(val_mAP50=res['mAP50'], val_mAP=res['mAP'],
                       val_AP50={k: v['AP50'] for k, v in res['per_class'].items()})
            if res['mAP50'] > best:
                best = res['mAP50']
                torch.save({'format': 'uavcine-detr', 'config': cfg.to_dict(), 'model': model.state_dict(),
                            'extra': {'epoch': epoch + 1, 'val_mAP50': best}}, out / 'best.pt')
        history.append(rec)
        log('epoch %d: loss %.3f (ce %.3f, l1 %.3f, giou %.3f), class error %.1f%%, %.0f s%s'
            % (epoch + 1, rec['loss'], rec['loss_ce'], rec['loss_bbox'], rec['loss_giou'], rec['class_error'],
               rec['seconds'], ', val mAP50 %.3f mAP %.3f %s' % (rec['val_mAP50'], rec['val_mAP'], ' '.join(
                   '%s=%.3f' % kv for kv in rec['val_AP50'].items())) if 'val_mAP50' in rec else ''))
        state = {'config': cfg.to_dict(), 'model': model.state_dict(), 'optimizer': opt.state_dict(),
                 'epoch': epoch + 1 if not stop else epoch, 'step': step, 'history': history, 'best': best,
                 'args': vars(a)}
        torch.save(state, str(last) + '.tmp')
        os.replace(str(last) + '.tmp', last)
        with open(out / 'history.json', 'w') as f:
            json.dump(history, f, indent=1)
        if stop:
            log('time budget of %.0f min reached; run the same command again to continue' % a.max_minutes)
            break
    if not (out / 'best.pt').exists():
        torch.save({'format': 'uavcine-detr', 'config': cfg.to_dict(), 'model': model.state_dict()}, out / 'best.pt')
    return 0


# ----------------------------------------------------------------------------
# Data: the simulator's COCO export, three splits from disjoint random scenes and seeds
# ----------------------------------------------------------------------------


def make_data(a) -> int:
    from uavcine.sim.export import export_coco  # lazy: start-up time: importing it loads cv2, the renderer
    from uavcine.sim.simulator import Simulator  # lazy: start-up time: importing it loads cv2, the renderer
    splits = [('train', a.train_seed, a.train_scenes), ('val', a.val_seed, a.val_scenes),
              ('test', a.test_seed, a.test_scenes)]
    for name, seed0, n in splits:
        sims, skipped = [], []
        for seed in range(seed0, seed0 + n):
            try:
                sims.append(Simulator(random_scenario(seed, duration_s=a.duration, camera_rate_hz=a.rate)))
            except Exception as exc:  # a scene the simulator cannot build is left out, and said so
                skipped.append('%d (%s)' % (seed, type(exc).__name__))
        if skipped:
            log('%s: skipped scenes the simulator could not build: %s' % (name, ', '.join(skipped)))
        res = export_coco(sims, Path(a.out) / name, every=a.every, progress=not a.no_progress)
        log('%s: seeds %d..%d, %d scenes, %d images, %d boxes -> %s' % (
            name, seed0, seed0 + n - 1, len(sims), res['images'], res['annotations'], res['path']))
    return 0


# ----------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------


def export(a) -> int:
    import torch  # lazy: torch takes seconds to import; only this path needs it

    from uavcine.core.detr import DETR, DETRConfig  # lazy: start-up time: importing it loads torch
    from uavcine.runtime.detector import Detector, export_detr_onnx, save_detr_checkpoint  # lazy: start-up time: importing it loads torch
    ck = torch.load(a.checkpoint, map_location='cpu', weights_only=False)
    model = DETR(DETRConfig.from_dict(ck['config']))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ck['model'].items()})
    model.eval()
    save_detr_checkpoint(a.out, model, half=not a.fp32, extra=ck.get('extra'))
    onnx_path = a.onnx or os.path.splitext(a.out)[0] + '.onnx'
    # export from the weights as shipped (float16 rounded) so torch and ONNX agree on the shipped model
    shipped = Detector(a.out, 'torch').model
    ops = export_detr_onnx(shipped, onnx_path, a.opset, half_weights=not a.fp32)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 3, model.cfg.input_height, model.cfg.input_width)).astype(np.float32)
    dt = Detector(a.out, 'torch')
    do = Detector(onnx_path, 'onnxruntime')
    lt, bt = dt.runtime.run({'images': x})
    lo, bo = do.runtime.run({'images': x})
    print('%s (%.2f MB), %s (%.2f MB); ONNX ops: %s' % (a.out, os.path.getsize(a.out) / 1e6, onnx_path,
                                                        os.path.getsize(onnx_path) / 1e6, ' '.join(ops)))
    print('ONNX vs torch: max |d logits| %.2e, max |d boxes| %.2e' % (np.abs(lt - lo).max(), np.abs(bt - bo).max()))
    return 0


def plot(a) -> int:
    """Training curve(s): loss and validation mAP@0.5 against training images seen, from history.json files
    (runs with different dataset sizes share one axis)."""
    import matplotlib  # lazy: matplotlib: start-up time, only for the figures
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: matplotlib: start-up time, only for the figures
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for path, label in zip(a.history, a.labels or [str(p) for p in a.history]):
        with open(path) as f:
            hist = json.load(f)
        seen = lambda h: h.get('images', h['step'] * a.batch_size) / 1000.0  # noqa: E731
        ax1.plot([seen(h) for h in hist], [h['loss'] for h in hist], '-o', ms=3, label=label)
        ev = [h for h in hist if 'val_mAP50' in h]
        line, = ax2.plot([seen(h) for h in ev], [h['val_mAP50'] for h in ev], '-o', ms=4, label=label + ' (all)')
        for cls, ls in zip(ev[0]['val_AP50'] if ev else {}, ('--', ':', '-.')):
            ax2.plot([seen(h) for h in ev], [h['val_AP50'][cls] for h in ev], ls, lw=1, color=line.get_color(),
                     label=label + ' ' + cls)
    ax1.set_xlabel('training images seen (thousands)')
    ax1.set_ylabel('training loss (weighted sum)')
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=7)
    ax2.set_xlabel('training images seen (thousands)')
    ax2.set_ylabel('validation AP@0.5')
    ax2.set_ylim(0, 1)
    ax2.axhline(0.9, color='k', lw=0.8, ls=':')
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    os.makedirs(os.path.dirname(a.out) or '.', exist_ok=True)
    fig.savefig(a.out, dpi=110)
    print('wrote %s' % a.out)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog='python -m uavcine.train.detr_train', description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    t = sub.add_parser('train', help='train (resumes from OUT/last.pt when it exists)')
    t.add_argument('--train', required=True, help='COCO annotations JSON of the training split')
    t.add_argument('--train-images', default=None)
    t.add_argument('--val', required=True, help='COCO annotations JSON of the validation split')
    t.add_argument('--out', default='runs/detr_small')
    t.add_argument('--restart', action='store_true', help='ignore OUT/last.pt and start again')
    t.add_argument('--init', default=None, help='start from the weights of this checkpoint (fine-tuning)')
    t.add_argument('--epochs', type=int, default=40)
    t.add_argument('--batch-size', type=int, default=8)
    t.add_argument('--lr', type=float, default=2e-4)
    t.add_argument('--weight-decay', type=float, default=1e-4)
    t.add_argument('--clip', type=float, default=0.1)
    t.add_argument('--warmup', type=int, default=200)
    t.add_argument('--aug-scale', type=float, default=0.25, help='log-scale jitter (0 = none)')
    t.add_argument('--transfer-aug', type=float, default=0.0,
                   help='probability of each real-video degradation (haze, blur, colour, noise, JPEG; 0 = none)')
    t.add_argument('--real-otb', default=None, metavar='DIR',
                   help='masked real supervision (train/det_real.py): the development sequences (OTB layout)')
    t.add_argument('--real-holdout', default='none',
                   help="leave this fold's sequences out (uavcine.eval.det_eval.FOLDS: A, B) or none")
    t.add_argument('--real-every', type=int, default=2, help='every K-th annotated frame of each real sequence')
    t.add_argument('--real-fraction', type=float, default=0.5, help='share of each batch that is real frames')
    t.add_argument('--real-dup-iou', type=float, default=0.5,
                   help='on real frames an unmatched box overlapping the annotated target this much still gets '
                        'the no-object loss (a duplicate); other unmatched boxes get none')
    t.add_argument('--real-bg-weight', type=float, default=0.0,
                   help='on real frames the other unmatched boxes get the no-object loss at this fraction of its '
                        'weight (0: none, the mask; 1: as if the frame were fully labelled)')
    t.add_argument('--attention', choices=['standard', 'whitened'], default='standard')
    t.add_argument('--queries', type=int, default=30)
    t.add_argument('--groups', type=int, default=4)
    t.add_argument('--query-content', choices=['encoder', 'learned'], default='encoder',
                   help="two-stage content queries: the selected encoder features (order-independent) or learned")
    t.add_argument('--hidden-dim', type=int, default=128)
    t.add_argument('--ffn', type=int, default=256)
    t.add_argument('--enc-layers', type=int, default=3)
    t.add_argument('--dec-layers', type=int, default=3)
    t.add_argument('--channels', type=int, nargs=4, default=None, help='small backbone stage widths')
    t.add_argument('--input-size', type=int, nargs=2, default=[384, 288], metavar=('W', 'H'))
    t.add_argument('--small-stride', type=int, choices=[8, 16], default=16,
                   help='output stride of the small backbone (8: a finer feature map for small targets)')
    t.add_argument('--eval-every', type=int, default=5)
    t.add_argument('--eval-limit', type=int, default=200, help='validation images per evaluation')
    t.add_argument('--max-minutes', type=float, default=0, help='stop (resumably) after this long')
    t.add_argument('--time-schedule', action='store_true',
                   help='cosine decay over --max-minutes of wall time instead of over --epochs (on a shared CPU '
                        'the steps that fit in a budget are not known in advance; a resumed run restarts the clock)')
    t.add_argument('--threads', type=int, default=1)
    t.add_argument('--seed', type=int, default=0)
    d = sub.add_parser('data', help='export train/val/test COCO splits from disjoint random simulator scenes')
    d.add_argument('--out', default='data/detr')
    d.add_argument('--train-seed', type=int, default=0)
    d.add_argument('--train-scenes', type=int, default=60)
    d.add_argument('--val-seed', type=int, default=5000)
    d.add_argument('--val-scenes', type=int, default=6)
    d.add_argument('--test-seed', type=int, default=10000)
    d.add_argument('--test-scenes', type=int, default=12)
    d.add_argument('--every', type=int, default=4, help='keep every K-th frame')
    d.add_argument('--duration', type=float, default=20.0, help='seconds per scene')
    d.add_argument('--rate', type=float, default=5.0, help='camera rate (Hz)')
    d.add_argument('--no-progress', action='store_true')
    e = sub.add_parser('export', help='ship a checkpoint: float16 .pt + ONNX, with a parity check')
    e.add_argument('--checkpoint', required=True)
    e.add_argument('--out', default='models/detr_small.pt')
    e.add_argument('--onnx', default=None, help='default: OUT with .onnx')
    e.add_argument('--opset', type=int, default=16)
    e.add_argument('--fp32', action='store_true', help='keep float32 weights in the .pt')
    pl = sub.add_parser('plot', help='plot training curves from history.json files')
    pl.add_argument('history', nargs='+')
    pl.add_argument('--labels', nargs='+', default=None)
    pl.add_argument('--batch-size', type=int, default=8, help='batch size of the runs (images per step)')
    pl.add_argument('--out', default='docs/detr_small_training.png')
    a = ap.parse_args(argv)
    try:
        return {'train': train, 'export': export, 'data': make_data, 'plot': plot}[a.cmd](a)
    except (OSError, ValueError, KeyError) as exc:
        print('error: %s' % exc, file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
