"""Training for the GPU run (uavcine.train.gpu_run): one configuration per process, bf16 on the GPU, validated after
every pass, the best kept; the batched Hungarian matcher and the in-memory COCO evaluator it uses.

Offline tool (Python 3.10+).
"""
from __future__ import annotations

import json
import math
import os
import pickle
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch.utils.data import DataLoader

from uavcine.core.detr import (DETR, DETRConfig, HungarianMatcher, box_cxcywh_to_xyxy, build_criterion,
                               detr_small_config, postprocess)
from uavcine.core.letterbox import Letterbox
from uavcine.train.detr_eval import coco_eval
from uavcine.train.detr_train import init_from
from uavcine.train.gpu_data import BatchStream, decode, log, set_start, threaded_batches


def normalise(x_u8, cfg, gen=None, jitter: bool = False):
    """B x H x W x 3 uint8 on the device -> normalised B x 3 x H x W float32; ``jitter``: the photometric jitter
    of detr_train.augment (gain 0.75..1.25, offset +-20, per-channel +-8, clipped to 0..255), per image."""
    x = x_u8.permute(0, 3, 1, 2).float()
    if jitter:
        B, dev = x.shape[0], x.device
        u = lambda *s: torch.rand(*s, device=dev, generator=gen)  # noqa: E731
        x = x * (0.75 + 0.5 * u(B, 1, 1, 1)) + (40 * u(B, 1, 1, 1) - 20) + (16 * u(B, 3, 1, 1) - 8)
        x = x.clamp_(0, 255)
    mean = torch.tensor(cfg.pixel_mean, device=x.device).reshape(1, 3, 1, 1) * 255
    std = torch.tensor(cfg.pixel_std, device=x.device).reshape(1, 3, 1, 1) * 255
    return (x - mean) / std


def _float_outputs(o):
    if isinstance(o, dict):
        return {k: _float_outputs(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_float_outputs(v) for v in o]
    return o.float() if hasattr(o, 'is_floating_point') and o.is_floating_point() else o


def _batched_giou(a, b):
    """Generalized IoU of xyxy boxes, per batch: a B x Q x 4, b B x T x 4 -> B x Q x T
    (core.box_ops.generalized_box_iou, batched)."""
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    lt = torch.max(a[:, :, None, :2], b[:, None, :, :2])
    rb = torch.min(a[:, :, None, 2:], b[:, None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, :, None] + area_b[:, None, :] - inter
    lt = torch.min(a[:, :, None, :2], b[:, None, :, :2])
    rb = torch.max(a[:, :, None, 2:], b[:, None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    area = wh[..., 0] * wh[..., 1]
    return inter / union - (area - union) / area


class BatchedHungarianMatcher(HungarianMatcher):
    """The same costs and assignment as core.detr.HungarianMatcher, but each image's cost matrix only
    (B x Q x T_max, targets padded) instead of all queries against all targets of the batch: at batch 48
    with 432 two-stage proposals and targets repeated 6x the full matrix is ~60 M entries copied to the host
    every step. The assignment per image is scipy's linear_sum_assignment, as there."""

    def forward(self, outputs, targets):
        logits, boxes = outputs['pred_logits'], outputs['pred_boxes']
        bs, nq = logits.shape[:2]
        sizes = [len(t['boxes']) for t in targets]
        tmax = max(sizes) if sizes else 0
        if tmax == 0:
            empty = torch.empty(0, dtype=torch.int64)
            return [(empty, empty) for _ in range(bs)]
        with torch.no_grad():
            dev = logits.device
            ids = torch.zeros(bs, tmax, dtype=torch.int64, device=dev)
            tb = torch.zeros(bs, tmax, 4, device=dev)
            tb[..., 2:] = 0.1  # padding boxes: valid, never read back
            for i, t in enumerate(targets):
                if sizes[i]:
                    ids[i, :sizes[i]] = t['labels']
                    tb[i, :sizes[i]] = t['boxes'].float()
            prob = logits.float().softmax(-1)
            cost_class = -torch.gather(prob, 2, ids[:, None, :].expand(-1, nq, -1))
            cost_bbox = torch.cdist(boxes.float(), tb, p=1)
            cost_giou = -_batched_giou(box_cxcywh_to_xyxy(boxes.float()), box_cxcywh_to_xyxy(tb))
            C = (self.cost_bbox * cost_bbox + self.cost_class * cost_class + self.cost_giou * cost_giou).cpu()
        out = []
        for i, n in enumerate(sizes):
            r, c = linear_sum_assignment(C[i, :, :n]) if n else (np.zeros(0, np.int64), np.zeros(0, np.int64))
            out.append((torch.as_tensor(r, dtype=torch.int64), torch.as_tensor(c, dtype=torch.int64)))
        return out


class Evaluator:
    """A COCO split kept letterboxed in memory; scores a model with the detector's postprocess + pycocotools
    (all queries, score threshold 0, as detr_eval)."""

    def __init__(self, split: dict, cfg):
        self.gt, p = split['gt'], split['pack']
        W, H = cfg.input_width, cfg.input_height
        pad = np.round(np.asarray(cfg.pixel_mean) * 255).astype(np.uint8)
        self.images, self.lbs = [], []
        for i in range(p['n']):
            rgb = decode(p, i)
            lb = Letterbox.fit(rgb.shape[1], rgb.shape[0], W, H)
            self.images.append(lb.apply(rgb, pad))
            self.lbs.append(lb)
        self.images = np.stack(self.images) if self.images else np.zeros((0, H, W, 3), np.uint8)
        self.cfg = cfg

    def __call__(self, model, device, batch: int = 32) -> dict:

        name_to_cat = {c['name']: c['id'] for c in self.gt['categories']}
        names = list(self.cfg.class_names)
        was = model.training
        model.eval()
        results = []
        with torch.no_grad():
            for s in range(0, len(self.images), batch):
                x = normalise(torch.from_numpy(self.images[s:s + batch]).to(device), self.cfg)
                out = model(x)
                lg, bx = out['pred_logits'].float().cpu().numpy(), out['pred_boxes'].float().cpu().numpy()
                for j in range(len(lg)):
                    im = self.gt['images'][s + j]
                    b, sc, lab = postprocess(lg[j], bx[j], self.lbs[s + j], 0.0, 100)
                    for (x0, y0, x1, y1), v, k in zip(b, sc, lab):
                        if names[int(k)] in name_to_cat:
                            results.append({'image_id': im['id'], 'category_id': name_to_cat[names[int(k)]],
                                            'bbox': [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                                            'score': float(v)})
        model.train(was)
        res = coco_eval(self.gt, results, list(name_to_cat))
        res.pop('summary_text', None)
        return res


def build_config(spec: dict):
    if spec.get('init'):
        base = torch.load(spec['init'], map_location='cpu', weights_only=False)['config']
        return DETRConfig.from_dict(dict(base, input_width=spec['size'][0], input_height=spec['size'][1]))
    return detr_small_config(spec['class_names'], encoder_attention='whitened', input_width=spec['size'][0],
                             input_height=spec['size'][1], **spec.get('overrides', {}))


def train_one(spec: dict) -> dict:
    """Train one configuration until ``spec['deadline']`` (wall clock); returns its summary (also in files)."""

    if spec.get('t0'):
        set_start(spec['t0'])  # log times from the start of the whole run
    name = spec['name']
    tag = lambda s: log('[%s] %s' % (name, s))  # noqa: E731
    torch.set_num_threads(spec['threads'])
    torch.manual_seed(spec['seed'])
    with open(spec['data'], 'rb') as f:
        splits = pickle.load(f)
    spec['class_names'] = splits['train']['pack']['class_names']
    cfg = build_config(spec)
    model = DETR(cfg)
    if spec.get('init'):
        init_from(model, spec['init'])
    criterion = build_criterion(cfg)
    criterion.matcher = BatchedHungarianMatcher(cfg.set_cost_class, cfg.set_cost_bbox, cfg.set_cost_giou)
    pack, nw = splits['train']['pack'], spec['workers']
    if spec['loader'] == 'threads':
        batches = threaded_batches(pack, cfg, spec['batch'], spec['aug_scale'], spec['seed'], max(1, nw))
    else:
        stream = BatchStream(pack, cfg, spec['batch'], spec['aug_scale'], spec['seed'])
        loader = DataLoader(stream, batch_size=None, num_workers=nw, persistent_workers=nw > 0,
                            prefetch_factor=4 if nw > 0 else None, pin_memory=spec['device'] == 'cuda',
                            multiprocessing_context='fork' if nw > 0 and sys.platform.startswith('linux') else None)
        batches = iter(loader)  # the workers fork here, before CUDA is initialised
    tag('data loading: %d %s' % (nw, 'threads' if spec['loader'] == 'threads' else 'worker processes'))
    val = Evaluator(splits['val'], cfg)
    test = Evaluator(splits['test'], cfg)
    n_train = splits['train']['pack']['n']
    del splits
    device = torch.device(spec['device'])
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    model.to(device)
    criterion.to(device)
    gen = torch.Generator(device=device)
    gen.manual_seed(spec['seed'])
    opt = torch.optim.AdamW(model.parameters(), lr=spec['lr'], weight_decay=1e-4)
    amp = device.type == 'cuda' and spec['amp']
    out = Path(spec['out'])
    hist_path, best_path = out / ('hist_%s.json' % name), out / ('best_%s.pt' % name)
    history, best, step, seen = [], -1.0, 0, 0
    steps_per_epoch = max(1, n_train // spec['batch'])
    t_train = time.time()
    budget = max(1.0, spec['deadline'] - t_train)
    tag('model %d parameters, input %dx%d, features %dx%d, batch %d, %d training images (%d steps a pass), '
        '%.0f s of training, %s%s' % (sum(p.numel() for p in model.parameters()), cfg.input_width,
                                      cfg.input_height, cfg.feature_size[1], cfg.feature_size[0], spec['batch'],
                                      n_train, steps_per_epoch, budget, device, ', bf16 autocast' if amp else ''))

    def evaluate_and_keep(sums, n, t_epoch, t_data):
        nonlocal best
        t0 = time.time()
        res = val(model, device)
        rec = {k: v / max(1, n) for k, v in sums.items()}
        rec.update(epoch=round(seen / max(1, n_train), 3), step=step, images=seen, seconds=time.time() - t_epoch,
                   data_wait_s=t_data, lr=opt.param_groups[0]['lr'], elapsed_s=time.time() - t_train,
                   val_mAP50=res['mAP50'], val_mAP=res['mAP'],
                   val_AP50={k: v['AP50'] for k, v in res['per_class'].items()}, eval_s=time.time() - t0)
        if device.type == 'cuda':
            rec['gpu_mem_gb'] = torch.cuda.max_memory_allocated(device) / 1e9
        history.append(rec)
        if res['mAP50'] > best:
            best = res['mAP50']
            sd = {k: v.detach().float().cpu() if v.is_floating_point() else v.detach().cpu()
                  for k, v in model.state_dict().items()}
            tmp = str(best_path) + '.tmp'
            torch.save({'format': 'uavcine-detr', 'config': cfg.to_dict(), 'model': sd,
                        'extra': {'epoch': rec['epoch'], 'step': step, 'images_seen': seen, 'val_mAP50': best,
                                  'trained_by': 'uavcine.train.gpu_run', 'init': spec.get('init')}}, tmp)
            os.replace(tmp, best_path)
        with open(str(hist_path) + '.tmp', 'w') as f:
            json.dump(history, f, indent=1)
        os.replace(str(hist_path) + '.tmp', hist_path)
        tag('pass %.2f (step %d, %d images, %.0f img/s, data wait %.0f s): loss %.3f, val mAP50 %.3f (%s) mAP %.3f%s'
            % (rec['epoch'], step, seen, n * spec['batch'] / max(1e-9, rec['seconds'] - rec['eval_s']), t_data,
               rec['loss'], res['mAP50'], ' '.join('%s %.3f' % kv for kv in rec['val_AP50'].items()), res['mAP'],
               ' *' if best == res['mAP50'] else ''))

    model.train()
    res0 = val(model, device)
    tag('val mAP50 at the start (the --init weights at this input size): %.3f (%s)'
        % (res0['mAP50'], ' '.join('%s %.3f' % (k, v['AP50']) for k, v in res0['per_class'].items())))
    sums, n, t_epoch, t_data, t_eval = {}, 0, time.time(), 0.0, time.time()
    while True:
        now = time.time()
        if (now - t_train >= budget and step > 0) or (spec.get('max_steps') and step >= spec['max_steps']):
            break  # (at least one step, so a short run still says something)
        t0 = time.time()
        x_u8, targets = next(batches)
        t_data += time.time() - t0
        x = normalise(x_u8.to(device, non_blocking=True), cfg, gen, jitter=True)
        targets = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets]
        frac = (now - t_train) / budget
        lr = (spec['lr'] * (step + 1) / spec['warmup'] if step < spec['warmup'] else
              spec['lr'] * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))))
        for g in opt.param_groups:
            g['lr'] = lr
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            outputs = model(x)
        losses = criterion(_float_outputs(outputs), targets)
        loss = sum(losses[k] * criterion.weight_dict[k] for k in losses if k in criterion.weight_dict)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), spec['clip'])
        opt.step()
        step += 1
        seen += int(x.shape[0])
        n += 1
        for k in ('loss_ce', 'loss_bbox', 'loss_giou', 'class_error'):
            sums[k] = sums.get(k, 0.0) + float(losses[k].detach())
        sums['loss'] = sums.get('loss', 0.0) + float(loss.detach())
        if n >= steps_per_epoch or time.time() - t_eval >= spec['eval_every_s']:
            evaluate_and_keep(sums, n, t_epoch, t_data)
            sums, n, t_epoch, t_data, t_eval = {}, 0, time.time(), 0.0, time.time()
    if n:
        evaluate_and_keep(sums, n, t_epoch, t_data)
    summary = {'name': name, 'size': list(spec['size']), 'batch': spec['batch'], 'lr': spec['lr'], 'steps': step,
               'images_seen': seen, 'train_images': n_train, 'train_seconds': time.time() - t_train,
               'val_start': {'mAP50': res0['mAP50'], 'per_class': res0['per_class']}, 'best_val_mAP50': best,
               'history': history, 'best': str(best_path)}
    if best_path.exists():
        ck = torch.load(best_path, map_location='cpu', weights_only=False)
        model.load_state_dict(ck['model'])
        summary['best_extra'] = ck['extra']
        summary['test'] = test(model, device)
        tag('best (pass %.2f, val mAP50 %.3f) on the held-out test split: mAP50 %.3f (%s) mAP %.3f'
            % (ck['extra']['epoch'], best, summary['test']['mAP50'], ' '.join(
                '%s %.3f' % (k, v['AP50']) for k, v in summary['test']['per_class'].items()), summary['test']['mAP']))
    # the summary replaces the history file (at most 8 files come back from the lent machine)
    with open(str(hist_path) + '.tmp', 'w') as f:
        json.dump(summary, f, indent=1)
    os.replace(str(hist_path) + '.tmp', hist_path)
    return summary


def train_entry(spec: dict) -> None:
    try:
        train_one(spec)
    except Exception:
        log('[%s] FAILED:\n%s' % (spec['name'], traceback.format_exc()))
        raise
