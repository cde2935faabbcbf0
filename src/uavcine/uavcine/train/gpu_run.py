"""One prepared run on a lent GPU machine: render, train (bf16), evaluate, export, time -- in one command.

    PYTHONUNBUFFERED=1 python -m uavcine.train.gpu_run --minutes 7 --out OUT \\
        --init models/detr_small.pt --configs 384x288:48 512x384:48 640x480:32
    python -m uavcine.train.gpu_run --dry-run --out /tmp/gpu_dry     # the same code, tiny, on the CPU

What it does, inside ``--minutes`` of wall time (everything written under OUT as it goes, so a run stopped by
its time limit still leaves its best weights and curves):

1. renders the data with the embedded simulator on all CPU cores (multiprocessing, one scene per task):
   the validation (seeds 5000..5005) and held-out test (10000..10011) scenes exactly as
   ``detr_train data`` does (20 s at 5 Hz, every 4th frame, JPEG quality 92), then training scenes from
   seed ``--train-seed`` on (disjoint from both) until the render budget is spent; frames per second per
   core are measured and logged, so the set is sized to the time;
2. trains one model per ``--configs`` entry (WxH:batch), each in its own process sharing the GPU, from the
   ``--init`` weights (every tensor of the same shape; a new input size only changes the whitened
   attention matrix, which is rebuilt for the new grid): bf16 autocast, the loss in float32, AdamW with
   warm-up and a cosine decay over the remaining wall time, geometric augmentation in DataLoader workers
   and photometric jitter on the GPU; evaluated on the validation split after every pass over the
   training set (or every ``--eval-every-s``), the best kept (OUT/best_WxH.pt, detr_train's checkpoint
   format, so ``detr_train export`` ships it);
3. the best model by validation mAP@0.5 on the held-out test split, its ONNX export (with detr_train's
   parity check), the training curve (OUT/curve.png), the per-class table (in OUT/results.json and the log);
4. CUDA inference latency at batch 1 of the detectors (a 640x480 frame) and of the SiamFC search network
   (models/siamfc_sim.pt, 3 scales of 255x255), fp32 and fp16, network alone and frame to detections.

Model selection uses the validation split only; the test numbers are reported, never tuned on.
Offline tool (Python 3.10+); needs the offline extra (torch, opencv, pycocotools, onnx, onnxruntime).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import multiprocessing as mp
import os
import pickle
import shutil
import statistics
import sys
import time
import traceback
from pathlib import Path

import numpy as np
from torch.utils.data import IterableDataset

REPO = Path(__file__).resolve().parents[4]
T0 = time.time()


def log(text: str) -> None:
    print('[%6.1f s] %s' % (time.time() - T0, text), flush=True)


# ----------------------------------------------------------------------------
# Rendering (worker processes; no torch)
# ----------------------------------------------------------------------------


def _worker_init() -> None:
    os.environ['OMP_NUM_THREADS'] = '1'
    try:
        import cv2
        cv2.setNumThreads(1)
    except ImportError:
        pass


def render_scene(job: tuple) -> dict:
    """One random scene -> its frames as JPEG bytes (quality 92, as the COCO export) with their annotations."""
    import cv2

    from uavcine.sim.export import frame_annotations
    from uavcine.sim.scenario import random_scenario
    from uavcine.sim.simulator import Simulator
    seed, duration, rate, every = job
    t0 = time.time()
    try:
        sim = Simulator(random_scenario(seed, duration_s=duration, camera_rate_hz=rate))
    except Exception as exc:  # a scene the simulator cannot build is left out, and said so (as detr_train data)
        return {'seed': seed, 'error': type(exc).__name__, 'frames': [], 'seconds': time.time() - t0}
    frames = []
    for fr in sim.frames(step=every):
        ok, buf = cv2.imencode('.jpg', fr.rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise OSError('cannot encode frame %d of scene %d' % (fr.index, seed))
        frames.append({'jpg': buf.tobytes(), 'anns': frame_annotations(fr), 'frame': fr.index, 't_ns': fr.t_ns})
    return {'seed': seed, 'name': sim.scenario.name, 'width': sim.camera.width, 'height': sim.camera.height,
            'frames': frames, 'seconds': time.time() - t0}


def assemble(scenes: list) -> tuple:
    """Scene renders -> (COCO ground truth as ``export_coco`` writes it, list of JPEG bytes in image order)."""
    from uavcine.sim.export import CATEGORIES
    images, anns, blobs = [], [], []
    for r in scenes:
        for f in r['frames']:
            image_id = len(images) + 1
            images.append({'id': image_id, 'file_name': '%s_s%d_%06d.jpg' % (r['name'], r['seed'], f['frame']),
                           'width': r['width'], 'height': r['height'], 'scenario': r['name'], 'seed': r['seed'],
                           'frame': f['frame'], 't_ns': f['t_ns']})
            for a in f['anns']:
                anns.append(dict(a, id=len(anns) + 1, image_id=image_id))
            blobs.append(f['jpg'])
    gt = {'info': {'description': 'uavcine embedded simulator', 'version': '1'}, 'licenses': [],
          'images': images, 'annotations': anns, 'categories': CATEGORIES}
    return gt, blobs


def pack_split(gt: dict, blobs: list) -> dict:
    """A split in a few flat arrays (one JPEG buffer + offsets, boxes xyxy in image pixels + labels 0..K-1):
    cheap to pickle, and DataLoader workers share it without copying Python objects."""
    names = [c['name'] for c in sorted(gt['categories'], key=lambda c: c['id'])]
    cat_to_label = {c['id']: names.index(c['name']) for c in gt['categories']}
    by_image = {}
    for a in gt['annotations']:
        by_image.setdefault(a['image_id'], []).append(a)
    boxes, labels, box_off = [], [], [0]
    for im in gt['images']:
        for a in by_image.get(im['id'], []):
            x, y, w, h = a['bbox']
            boxes.append([x, y, x + w, y + h])
            labels.append(cat_to_label[a['category_id']])
        box_off.append(len(boxes))
    off = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    jpg = np.frombuffer(b''.join(blobs), np.uint8) if blobs else np.zeros(0, np.uint8)
    return {'jpg': jpg, 'offsets': off, 'boxes': np.asarray(boxes, np.float32).reshape(-1, 4),
            'labels': np.asarray(labels, np.int64), 'box_offsets': np.asarray(box_off, np.int64),
            'class_names': names, 'n': len(blobs)}


def decode(pack: dict, i: int) -> np.ndarray:
    import cv2
    a, b = int(pack['offsets'][i]), int(pack['offsets'][i + 1])
    bgr = cv2.imdecode(pack['jpg'][a:b], cv2.IMREAD_COLOR)
    return np.ascontiguousarray(bgr[:, :, ::-1])


def render_all(a, deadline: float) -> dict:
    """Val and test scenes first (ordered by seed), then training scenes until ``deadline``; all cores."""
    n_proc = a.render_procs or os.cpu_count() or 1
    ctx = mp.get_context('fork' if sys.platform.startswith('linux') else 'spawn')
    job = lambda s, every: (s, a.duration, a.rate, every)  # noqa: E731
    val_jobs = [job(s, a.every) for s in range(a.val_seed, a.val_seed + a.val_scenes)]
    test_jobs = [job(s, a.every) for s in range(a.test_seed, a.test_seed + a.test_scenes)]
    t_start = time.time()
    stats = {'processes': n_proc}
    with ctx.Pool(n_proc, initializer=_worker_init) as pool:
        held = pool.map_async(render_scene, val_jobs + test_jobs, chunksize=1)
        train_jobs = (job(s, a.train_every) for s in range(a.train_seed, a.train_seed + a.max_train_scenes))
        it = pool.imap_unordered(render_scene, train_jobs, chunksize=1)
        train, busy, n_frames = [], 0.0, 0
        while True:
            left = deadline - time.time()
            if left <= 0:
                break
            try:
                r = it.next(timeout=left)
            except StopIteration:
                break
            except mp.TimeoutError:
                break
            train.append(r)
            busy += r['seconds']
            n_frames += len(r['frames'])
            if len(train) % max(1, n_proc) == 0:
                log('render: %d training scenes, %d frames, %.0f s' % (len(train), n_frames, time.time() - t_start))
        held = held.get()
        pool.terminate()
    wall = time.time() - t_start
    val, test = held[:len(val_jobs)], held[len(val_jobs):]
    skipped = [r['seed'] for r in held + train if r.get('error')]
    train = sorted([r for r in train if not r.get('error')], key=lambda r: r['seed'])
    val = [r for r in val if not r.get('error')]
    test = [r for r in test if not r.get('error')]
    frames = sum(len(r['frames']) for r in train)
    seconds = sum(r['seconds'] for r in train)
    stats.update(wall_s=wall, train_scenes=len(train), train_frames=frames, skipped_seeds=skipped,
                 train_seeds=[train[0]['seed'], train[-1]['seed']] if train else [],
                 frames_per_s_per_core=frames / max(seconds, 1e-9),
                 seconds_per_scene=seconds / max(1, len(train)), frames_per_s_all=frames / max(wall, 1e-9))
    log('render: %d train scenes (seeds %s), %d frames in %.0f s on %d processes: %.1f frames/s per core '
        '(%.1f s per scene of %d frames, scene build included), %.0f frames/s in all; skipped seeds %s'
        % (len(train), stats['train_seeds'], frames, wall, n_proc, stats['frames_per_s_per_core'],
           stats['seconds_per_scene'], frames / max(1, len(train)), stats['frames_per_s_all'], skipped))
    splits = {}
    for name, scenes in (('train', train), ('val', val), ('test', test)):
        gt, blobs = assemble(scenes)
        splits[name] = {'gt': gt, 'pack': pack_split(gt, blobs)}
        log('%s: %d images, %d boxes (%s)' % (name, len(gt['images']), len(gt['annotations']), ', '.join(
            '%s %d' % (c['name'], sum(1 for x in gt['annotations'] if x['category_id'] == c['id']))
            for c in gt['categories'])))
    splits['stats'] = stats
    return splits


# ----------------------------------------------------------------------------
# Training (one process per configuration)
# ----------------------------------------------------------------------------


class BatchStream(IterableDataset):
    """Endless random batches: decode, letterbox, flip + scale/translate (uint8); photometric on the GPU."""

    def __init__(self, pack: dict, cfg, batch: int, aug_scale: float, seed: int, worker: int = -1):
        self.pack, self.cfg, self.batch, self.aug_scale, self.seed = pack, cfg, batch, aug_scale, seed
        self.worker = worker

    def __iter__(self):
        import torch
        from torch.utils.data import get_worker_info

        from uavcine.core.letterbox import Letterbox
        from uavcine.train.detr_train import augment
        info = get_worker_info()
        wid = self.worker if self.worker >= 0 else (info.id if info is not None else 0)
        rng = np.random.default_rng([self.seed, wid])
        p, cfg = self.pack, self.cfg
        W, H = cfg.input_width, cfg.input_height
        pad = np.round(np.asarray(cfg.pixel_mean) * 255).astype(np.uint8)
        scale = torch.tensor([W, H, W, H], dtype=torch.float32)
        while True:
            imgs, targets = [], []
            for i in rng.integers(0, p['n'], self.batch):
                rgb = decode(p, int(i))
                lb = Letterbox.fit(rgb.shape[1], rgb.shape[0], W, H)
                k0, k1 = int(p['box_offsets'][i]), int(p['box_offsets'][i + 1])
                boxes = lb.boxes_to_network(p['boxes'][k0:k1]).astype(np.float32)
                img, boxes, labels = augment(lb.apply(rgb, pad), boxes, p['labels'][k0:k1], rng,
                                             self.aug_scale, pad, photometric=False)
                imgs.append(img)
                b = torch.from_numpy(np.asarray(boxes, np.float32)).reshape(-1, 4) / scale
                targets.append({'labels': torch.from_numpy(np.asarray(labels, np.int64)),
                                'boxes': torch.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2,
                                                      b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)})
            yield torch.from_numpy(np.stack(imgs)), targets


def threaded_batches(pack: dict, cfg, batch: int, aug_scale: float, seed: int, threads: int):
    """BatchStream in threads of this process (OpenCV and numpy release the GIL in decode, resize and warp):
    the fallback where /dev/shm is too small for DataLoader worker processes."""
    import queue
    import threading
    q = queue.Queue(maxsize=4 * threads)

    def run(w):
        for item in BatchStream(pack, cfg, batch, aug_scale, seed, worker=w):
            q.put(item)

    for w in range(threads):
        threading.Thread(target=run, args=(w,), daemon=True).start()
    while True:
        yield q.get()


def _normalise(x_u8, cfg, gen=None, jitter: bool = False):
    """B x H x W x 3 uint8 on the device -> normalised B x 3 x H x W float32; ``jitter``: the photometric jitter
    of detr_train.augment (gain 0.75..1.25, offset +-20, per-channel +-8, clipped to 0..255), per image."""
    import torch
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
    """Generalized IoU of xyxy boxes, per batch: a B x Q x 4, b B x T x 4 -> B x Q x T (core.detr's, batched)."""
    import torch
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


def batched_matcher_class():
    from uavcine.core.detr import HungarianMatcher

    class BatchedHungarianMatcher(HungarianMatcher):
        """The same costs and assignment as core.detr.HungarianMatcher, but each image's cost matrix only
        (B x Q x T_max, targets padded) instead of all queries against all targets of the batch: at batch 48
        with 432 two-stage proposals and targets repeated 6x the full matrix is ~60 M entries copied to the host
        every step. The assignment per image is scipy's linear_sum_assignment, as there."""

        def forward(self, outputs, targets):
            import torch
            from scipy.optimize import linear_sum_assignment

            from uavcine.core.detr import box_cxcywh_to_xyxy
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

    return BatchedHungarianMatcher


class Evaluator:
    """A COCO split kept letterboxed in memory; scores a model with the detector's postprocess + pycocotools
    (all queries, score threshold 0, as detr_eval)."""

    def __init__(self, split: dict, cfg):
        from uavcine.core.letterbox import Letterbox
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
        import torch

        from uavcine.core.detr import postprocess
        from uavcine.train.detr_eval import coco_eval
        name_to_cat = {c['name']: c['id'] for c in self.gt['categories']}
        names = list(self.cfg.class_names)
        was = model.training
        model.eval()
        results = []
        with torch.no_grad():
            for s in range(0, len(self.images), batch):
                x = _normalise(torch.from_numpy(self.images[s:s + batch]).to(device), self.cfg)
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
    from uavcine.core.detr import DETRConfig, detr_small_config
    if spec.get('init'):
        import torch
        base = torch.load(spec['init'], map_location='cpu', weights_only=False)['config']
        return DETRConfig.from_dict(dict(base, input_width=spec['size'][0], input_height=spec['size'][1]))
    return detr_small_config(spec['class_names'], encoder_attention='whitened', input_width=spec['size'][0],
                             input_height=spec['size'][1], **spec.get('overrides', {}))


def train_one(spec: dict) -> dict:
    """Train one configuration until ``spec['deadline']`` (wall clock); returns its summary (also in files)."""
    import torch
    from torch.utils.data import DataLoader

    from uavcine.core.detr import DETR, build_criterion
    from uavcine.train.detr_train import init_from
    global T0
    T0 = spec.get('t0', T0)  # log times from the start of the whole run
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
    criterion.matcher = batched_matcher_class()(cfg.set_cost_class, cfg.set_cost_bbox, cfg.set_cost_giou)
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
        if now - t_train >= budget:
            break
        t0 = time.time()
        x_u8, targets = next(batches)
        t_data += time.time() - t0
        x = _normalise(x_u8.to(device, non_blocking=True), cfg, gen, jitter=True)
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


def _train_entry(spec: dict) -> None:
    try:
        train_one(spec)
    except Exception:
        log('[%s] FAILED:\n%s' % (spec['name'], traceback.format_exc()))
        raise


# ----------------------------------------------------------------------------
# Latency (batch 1)
# ----------------------------------------------------------------------------


def _time_cuda(fn, device, n: int, warmup: int = 10) -> float:
    """Median ms of ``fn`` (CUDA events on a GPU, perf_counter otherwise)."""
    import torch
    for _ in range(min(warmup, n)):
        fn()
    ts = []
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        for _ in range(n):
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record()
            fn()
            e1.record()
            e1.synchronize()
            ts.append(e0.elapsed_time(e1))
    else:
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            ts.append(1000 * (time.perf_counter() - t0))
    return statistics.median(ts)


def _wall(fn, n: int, warmup: int = 10) -> float:
    for _ in range(min(warmup, n)):
        fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(1000 * (time.perf_counter() - t0))
    return statistics.median(ts)


def bench_latency(models: dict, frame: np.ndarray, siamfc_path: str, device, n: int) -> dict:
    """Batch-1 latency: each DETR at fp32 and fp16 (network alone on a device tensor; and the frame's whole
    path: letterbox + normalise on the CPU, copy, network, copy back, postprocess), and SiamFC's per-frame
    network (3 search crops of 255x255 against the exemplar kernel) at fp32 and fp16."""
    import torch

    from uavcine.core.detr import DETRExport, postprocess, preprocess
    out = {'device': torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu', 'frames': n,
           'detector': {}, 'siamfc': {}}
    for name, model in models.items():
        for prec in ('fp32', 'fp16'):
            key = '%s %s' % (name, prec)
            try:
                # fp16: autocast (float16 matrix products and convolutions, fp32 weights and the numerically
                # sensitive ops); a plain .half() model trips on the float32 anchor/position tensors of core.detr
                m = DETRExport(copy.deepcopy(model).float().eval()).to(device)
                dtype = torch.float32
                x_np, lb = preprocess(frame, model.cfg)
                x = torch.from_numpy(x_np).to(device, dtype)
                with torch.inference_mode(), torch.autocast(device.type, dtype=torch.float16, enabled=prec == 'fp16'):
                    net = _time_cuda(lambda: m(x), device, n)

                    def whole():
                        xn, l2 = preprocess(frame, model.cfg)
                        lg, bx = m(torch.from_numpy(xn).to(device, dtype))
                        postprocess(lg[0].float().cpu().numpy(), bx[0].float().cpu().numpy(), l2, 0.5, 20)
                    full = _wall(whole, n)
                    lg32, bx32 = DETRExport(model.float().eval())(torch.from_numpy(x_np))
                    lg, bx = m(x)
                    diff = max(float((lg.float().cpu() - lg32).abs().max()), float((bx.float().cpu() - bx32).abs().max()))
                out['detector'][key] = {'network_ms': net, 'frame_to_detections_ms': full,
                                        'max_abs_diff_vs_cpu_fp32': diff,
                                        'mode': 'autocast float16' if prec == 'fp16' else 'float32'}
                log('latency %s: network %.2f ms, frame -> detections %.2f ms (max |diff| vs CPU fp32 %.1e)'
                    % (key, net, full, diff))
            except Exception as exc:
                out['detector'][key] = {'error': '%s: %s' % (type(exc).__name__, str(exc)[:200])}
                log('latency %s failed: %s' % (key, out['detector'][key]['error']))
    try:
        from uavcine.core import siamfc as S
        net32, cfg, _ = S.load_checkpoint(siamfc_path)
        trk = S.SiamFCTracker(net32, cfg)
        rng = np.random.default_rng(0)
        z = rng.uniform(0, 255, (1, cfg.exemplar_sz, cfg.exemplar_sz, 3)).astype(np.float32)
        xs = rng.uniform(0, 255, (cfg.scale_num, cfg.instance_sz, cfg.instance_sz, 3)).astype(np.float32)
        for prec in ('fp32', 'fp16'):
            dtype = torch.float16 if prec == 'fp16' else torch.float32
            fused = copy.deepcopy(trk._fused).to(device=device, dtype=dtype).to(memory_format=torch.contiguous_format)
            search = S.SearchModel(fused, trk.net.out_scale).to(device=device, dtype=dtype).eval()
            zt = S.to_tensor(z).to(device, dtype)
            xt = S.to_tensor(xs).to(device, dtype)
            with torch.inference_mode():
                kernel = fused(zt)
                net = _time_cuda(lambda: search(xt, kernel), device, n)
                whole = _wall(lambda: search(S.to_tensor(xs).to(device, dtype), kernel).float().cpu().numpy(), n)
            out['siamfc']['siamfc_sim %s' % prec] = {'network_ms': net, 'crops_to_responses_ms': whole,
                                                     'search_input': list(xs.shape)}
            log('latency siamfc_sim %s: search network (%d x %dx%d) %.2f ms, crops -> responses on the host %.2f ms'
                % (prec, cfg.scale_num, cfg.instance_sz, cfg.instance_sz, net, whole))
    except Exception as exc:
        out['siamfc']['error'] = '%s: %s' % (type(exc).__name__, str(exc)[:200])
        log('latency siamfc failed: %s' % out['siamfc']['error'])
    return out


# ----------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------


def plot_curves(summaries: list, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for s in summaries:
        h = s['history']
        if not h:
            continue
        x = [r['images'] / 1000.0 for r in h]
        ax1.plot(x, [r['loss'] for r in h], '-o', ms=3, label=s['name'])
        v0 = s.get('val_start')  # the --init weights before any GPU step, at x = 0
        x0 = [0.0] if v0 else []
        line, = ax2.plot(x0 + x, ([v0['mAP50']] if v0 else []) + [r['val_mAP50'] for r in h], '-o', ms=4,
                         label='%s all' % s['name'])
        for cls, ls in zip(h[0]['val_AP50'], ('--', ':', '-.')):
            ax2.plot(x0 + x, ([v0['per_class'][cls]['AP50']] if v0 else []) + [r['val_AP50'][cls] for r in h], ls,
                     lw=1, color=line.get_color(), label='%s %s' % (s['name'], cls))
    ax1.set_xlabel('training images seen on the GPU (thousands)')
    ax1.set_ylabel('training loss (weighted sum)')
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=7)
    ax2.set_xlabel('training images seen on the GPU (thousands)')
    ax2.set_ylabel('validation AP@0.5')
    ax2.set_ylim(0, 1)
    ax2.axhline(0.9, color='k', lw=0.8, ls=':')
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def table_md(summaries: list, chosen: str) -> str:
    """Per-class AP@0.5: validation before GPU training (the --init weights), at the best pass, and held-out test."""
    lines = ['| model | split | person AP50 | car AP50 | tower AP50 | mAP50 | mAP | images seen on the GPU |',
             '|---|---|---|---|---|---|---|---|']
    for s in summaries:
        rows = []
        if s.get('val_start'):
            v = s['val_start']
            rows.append(('val, start', {k: c['AP50'] for k, c in v['per_class'].items()}, v['mAP50'], None, 0))
        if s.get('history'):
            r = max(s['history'], key=lambda r: r['val_mAP50'])
            rows.append(('val, best pass', r['val_AP50'], r['val_mAP50'], r['val_mAP'], r['images']))
            if s.get('test'):
                t = s['test']
                rows.append(('test (held out)', {k: c['AP50'] for k, c in t['per_class'].items()}, t['mAP50'],
                             t['mAP'], r['images']))
        for split, pc, m50, m, seen in rows:
            lines.append('| %s%s | %s | %s | %.3f | %s | %d |' % (
                s['name'], ' (chosen)' if s['name'] == chosen else '', split,
                ' | '.join('%.3f' % pc.get(c, float('nan')) for c in ('person', 'car', 'tower')), m50,
                '%.3f' % m if m is not None else '', seen))
    return '\n'.join(lines) + '\n'


# ----------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------


def parse_config(text: str) -> tuple:
    try:
        size, batch = text.split(':') if ':' in text else (text, '32')
        w, h = size.lower().split('x')
        return int(w), int(h), int(batch)
    except ValueError:
        raise argparse.ArgumentTypeError('expected WxH:BATCH, e.g. 384x288:48, got %r' % text) from None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog='python -m uavcine.train.gpu_run', description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True, help='output folder (weights, curve, tables, results.json)')
    ap.add_argument('--minutes', type=float, default=7.0, help='wall-time budget of the whole run')
    ap.add_argument('--render-fraction', type=float, default=0.2, help='share of the budget for rendering')
    ap.add_argument('--final-reserve', type=float, default=50.0,
                    help='seconds kept at the end for test evaluation, export and latency')
    ap.add_argument('--init', default=str(REPO / 'models' / 'detr_small.pt'),
                    help="starting weights ('' = from scratch, detr_small layout)")
    ap.add_argument('--configs', type=parse_config, nargs='+', default=[(384, 288, 48), (512, 384, 48), (640, 480, 32)],
                    metavar='WxH:BATCH', help='one model per entry, trained side by side on the one GPU')
    ap.add_argument('--lr', type=float, default=4e-4)
    ap.add_argument('--warmup', type=int, default=100)
    ap.add_argument('--clip', type=float, default=0.1)
    ap.add_argument('--aug-scale', type=float, default=0.25)
    ap.add_argument('--eval-every-s', type=float, default=45.0)
    ap.add_argument('--workers', type=int, default=None, help='data-loading workers per model (default: cores / models - 1)')
    ap.add_argument('--loader', choices=['auto', 'processes', 'threads'], default='auto',
                    help='data loading in DataLoader worker processes or threads (auto: threads if /dev/shm < 4 GB)')
    ap.add_argument('--render-procs', type=int, default=0, help='rendering processes (default: all cores)')
    ap.add_argument('--train-seed', type=int, default=100000, help='first training scene seed')
    ap.add_argument('--max-train-scenes', type=int, default=100000)
    ap.add_argument('--train-every', type=int, default=2, help='keep every K-th frame of a training scene')
    ap.add_argument('--val-seed', type=int, default=5000)
    ap.add_argument('--val-scenes', type=int, default=6)
    ap.add_argument('--test-seed', type=int, default=10000)
    ap.add_argument('--test-scenes', type=int, default=12)
    ap.add_argument('--every', type=int, default=4, help='every K-th frame of the val/test scenes (as detr_train data)')
    ap.add_argument('--duration', type=float, default=20.0)
    ap.add_argument('--rate', type=float, default=5.0)
    ap.add_argument('--latency-frames', type=int, default=50)
    ap.add_argument('--siamfc', default=str(REPO / 'models' / 'siamfc_sim.pt'))
    ap.add_argument('--device', default=None, help='default: cuda if available, else cpu')
    ap.add_argument('--no-amp', action='store_true')
    ap.add_argument('--latency-only', action='store_true', help='only the latency measurements (seconds)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--dry-run', action='store_true',
                    help='tiny everything on whatever device is here (the CPU test of this command)')
    a = ap.parse_args(argv)
    global T0
    T0 = time.time()
    import torch
    device = a.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    overrides = {}
    if a.dry_run:
        a.render_fraction, a.final_reserve, a.duration, a.val_scenes, a.test_scenes = 0.3, 8.0, 1.0, 1, 1
        a.max_train_scenes, a.latency_frames, a.eval_every_s, a.warmup, a.init = 2, 1, 1e9, 2, ''
        a.configs = [(96, 72, 2)]
        a.workers = 1 if a.workers is None else a.workers
        a.render_procs = a.render_procs or 2
        overrides = dict(small_channels=[8, 16, 16, 24], hidden_dim=32, nheads=4, dim_feedforward=64,
                         enc_layers=1, dec_layers=2, num_queries=6, num_groups=2, enc_one_to_many=2)
    if a.init and not os.path.isfile(a.init):
        print('error: --init %s not found' % a.init, file=sys.stderr)
        return 2
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    end = T0 + a.minutes * 60
    cores = os.cpu_count() or 1
    info = {'argv': sys.argv if argv is None else list(argv), 'python': sys.version.split()[0],
            'torch': torch.__version__, 'device': device, 'cores': cores}
    if device == 'cuda':
        info['gpu'] = torch.cuda.get_device_name(0)
    try:
        info['shm_gb'] = shutil.disk_usage('/dev/shm').total / 1e9
    except OSError:
        info['shm_gb'] = 0.0
    loader = a.loader if a.loader != 'auto' else ('processes' if info['shm_gb'] >= 4 or a.dry_run else 'threads')
    info['loader'] = loader
    log('gpu_run: %s' % json.dumps(info))

    if a.latency_only:  # what a few minutes of machine time can still measure: the batch-1 latencies
        from uavcine.runtime.detector import load_detr_checkpoint
        r = render_scene((a.test_seed, a.duration, a.rate, a.every))
        gt, blobs = assemble([r])
        models = {'shipped %s' % Path(a.init).stem: load_detr_checkpoint(a.init)} if a.init else {}
        res = {'info': info, 'latency': bench_latency(models, decode(pack_split(gt, blobs), 0), a.siamfc,
                                                      torch.device(device), a.latency_frames)}
        with open(out / 'results.json', 'w') as f:
            json.dump(res, f, indent=1)
        return 0

    # 1. data
    splits = render_all(a, T0 + a.render_fraction * a.minutes * 60)
    if not splits['train']['pack']['n'] or not splits['val']['pack']['n']:
        log('error: no training or validation frames were rendered')
        return 1
    work = Path(os.environ.get('TMPDIR', '/tmp')) / ('uavcine_gpu_run_%d' % os.getpid())
    work.mkdir(parents=True, exist_ok=True)
    data_path = work / 'splits.pkl'
    with open(data_path, 'wb') as f:
        pickle.dump({k: splits[k] for k in ('train', 'val', 'test')}, f, protocol=pickle.HIGHEST_PROTOCOL)
    results = {'info': info, 'render': splits['stats'], 'splits': {
        k: {'images': len(splits[k]['gt']['images']), 'boxes': len(splits[k]['gt']['annotations'])}
        for k in ('train', 'val', 'test')}, 'models': {}}
    with open(out / 'results.json', 'w') as f:
        json.dump(results, f, indent=1)

    # 2. train, one process per configuration
    n_models = len(a.configs)
    workers = a.workers if a.workers is not None else max(1, cores // n_models - 1)
    tail = 3.0 if a.dry_run else 20.0  # a trainer's last validation, its test evaluation and saving
    specs = []
    for i, (w, h, b) in enumerate(a.configs):
        specs.append({'name': '%dx%d' % (w, h), 'size': (w, h), 'batch': b, 'lr': a.lr, 'warmup': a.warmup,
                      'clip': a.clip, 'aug_scale': a.aug_scale, 'eval_every_s': a.eval_every_s, 'workers': workers,
                      'threads': 1, 'loader': loader, 'seed': a.seed + i, 'device': device,
                      'amp': not a.no_amp, 'data': str(data_path), 'out': str(out), 'init': a.init or None,
                      'deadline': end - a.final_reserve - tail, 'overrides': overrides, 't0': T0})
    ctx = mp.get_context('spawn')
    procs = [ctx.Process(target=_train_entry, args=(s,), name=s['name']) for s in specs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(max(1.0, end - a.final_reserve + (3 if a.dry_run else 15) - time.time()))
        if p.is_alive():
            log('[%s] still running at the deadline: terminated (its best weights so far are kept)' % p.name)
            p.terminate()
            p.join(5)
    summaries = []
    for s in specs:
        hist = out / ('hist_%s.json' % s['name'])
        try:
            h = json.loads(hist.read_text()) if hist.exists() else None
            if isinstance(h, dict):
                summaries.append(h)
            elif h is not None:  # stopped before its summary: the history and best weights so far
                best_val = max([r['val_mAP50'] for r in h] or [-1.0])
                summaries.append({'name': s['name'], 'size': list(s['size']), 'batch': s['batch'], 'history': h,
                                  'incomplete': True, 'images_seen': 0, 'best_val_mAP50': best_val,
                                  'val_start': None, 'best': str(out / ('best_%s.pt' % s['name']))})
        except ValueError:
            log('[%s] unreadable summary/history' % s['name'])
    for s in summaries:
        if s.get('history'):
            s['images_seen'] = s['history'][-1]['images']
        results['models'][s['name']] = s
        hp = out / ('hist_%s.json' % s['name'])
        if hp.exists():
            hp.unlink()
    done = [s for s in summaries if s.get('best_val_mAP50', -1) >= 0 and os.path.isfile(s['best'])]
    chosen = max(done, key=lambda s: s['best_val_mAP50'])['name'] if done else None
    results['chosen'] = chosen
    log('chosen on the validation split: %s' % chosen)
    with open(out / 'results.json', 'w') as f:
        json.dump(results, f, indent=1)
    try:
        plot_curves(summaries, str(out / 'curve.png'))
        results['table_md'] = table_md(summaries, chosen)
        log('per-class table:\n' + results['table_md'])
    except Exception:
        log('plot/table failed:\n%s' % traceback.format_exc())

    # 3. export the chosen model (detr_train's export: float16 .pt + ONNX, parity checked)
    if chosen:
        try:
            from uavcine.train import detr_train
            ns = argparse.Namespace(checkpoint=str(out / ('best_%s.pt' % chosen)), out=str(work / 'detr_gpu.pt'),
                                    onnx=str(out / 'detr_gpu.onnx'), opset=16, fp32=False)
            detr_train.export(ns)
            results['export'] = {'onnx': 'detr_gpu.onnx', 'onnx_mb': os.path.getsize(ns.onnx) / 1e6}
        except Exception:
            results['export'] = {'error': traceback.format_exc()[-400:]}
            log('export failed:\n%s' % traceback.format_exc())

    # 4. latency, batch 1, 640x480 frame
    if time.time() < end - 5:
        try:
            from uavcine.runtime.detector import load_detr_checkpoint
            models = {}
            if a.init:
                models['shipped %s' % Path(a.init).stem] = load_detr_checkpoint(a.init)
            for s in done:
                ck = torch.load(s['best'], map_location='cpu', weights_only=False)
                from uavcine.core.detr import DETR, DETRConfig
                m = DETR(DETRConfig.from_dict(ck['config']))
                m.load_state_dict(ck['model'])
                models['gpu %s' % s['name']] = m.eval()
            frame = decode(splits['test']['pack'], 0)
            results['latency'] = bench_latency(models, frame, a.siamfc, torch.device(device), a.latency_frames)
        except Exception:
            results['latency'] = {'error': traceback.format_exc()[-400:]}
            log('latency failed:\n%s' % traceback.format_exc())
    with open(out / 'results.json', 'w') as f:
        json.dump(results, f, indent=1)
    shutil.rmtree(work, ignore_errors=True)
    log('done: %s' % ', '.join(sorted(os.listdir(out))))
    return 0


if __name__ == '__main__':
    sys.exit(main())
