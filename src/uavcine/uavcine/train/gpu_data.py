"""Data for the GPU run (uavcine.train.gpu_run): simulator scenes rendered on all cores into JPEG bytes + COCO
annotations, packed into flat arrays, and endless augmented batches for the trainer.

Offline tool (Python 3.10+).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import sys
import threading
import time

import cv2
import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from uavcine.core.letterbox import Letterbox
from uavcine.sim.export import CATEGORIES, frame_annotations
from uavcine.sim.scenario import random_scenario
from uavcine.sim.simulator import Simulator
from uavcine.train.detr_train import augment

_START = [time.time()]


def set_start(t: float) -> None:
    """Log times count from ``t`` (the start of the whole run, also in its child processes)."""
    _START[0] = t


def log(text: str) -> None:
    print('[%6.1f s] %s' % (time.time() - _START[0], text), flush=True)


# ----------------------------------------------------------------------------
# Rendering (worker processes; no torch)
# ----------------------------------------------------------------------------


def _worker_init() -> None:
    os.environ['OMP_NUM_THREADS'] = '1'
    cv2.setNumThreads(1)


def render_scene(job: tuple) -> dict:
    """One random scene -> its frames as JPEG bytes (quality 92, as the COCO export) with their annotations."""

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
    a, b = int(pack['offsets'][i]), int(pack['offsets'][i + 1])
    bgr = cv2.imdecode(pack['jpg'][a:b], cv2.IMREAD_COLOR)
    return np.ascontiguousarray(bgr[:, :, ::-1])


def render_all(a, deadline: float) -> dict:
    """Val and test scenes first (ordered by seed), then training scenes until ``deadline``; all cores."""
    n_proc = a.render_procs or os.cpu_count() or 1
    # forkserver: the workers start from a clean process, whatever threads this one has (a test runner's, torch's)
    ctx = mp.get_context('forkserver' if sys.platform.startswith('linux') else 'spawn')
    if ctx.get_start_method() == 'forkserver':
        ctx.set_forkserver_preload(['uavcine.train.gpu_data', 'uavcine.sim.simulator', 'cv2'])  # imported once
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
            if left <= 0 and any(not r.get('error') for r in train):
                break
            try:  # past the deadline: wait (up to a minute) for the first usable training scene
                r = it.next(timeout=left if left > 0 else 60.0)
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


class BatchStream(IterableDataset):
    """Endless random batches: decode, letterbox, flip + scale/translate (uint8); photometric on the GPU."""

    def __init__(self, pack: dict, cfg, batch: int, aug_scale: float, seed: int, worker: int = -1):
        self.pack, self.cfg, self.batch, self.aug_scale, self.seed = pack, cfg, batch, aug_scale, seed
        self.worker = worker

    def __iter__(self):

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
    the fallback where /dev/shm is too small for DataLoader worker processes. Closing the generator stops the
    threads (a process that forks later must not carry threads busy inside locks)."""
    q = queue.Queue(maxsize=4 * threads)
    stop = threading.Event()

    def run(w):
        for item in BatchStream(pack, cfg, batch, aug_scale, seed, worker=w):
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    break
                except queue.Full:
                    pass
            if stop.is_set():
                return

    workers = [threading.Thread(target=run, args=(w,), daemon=True) for w in range(threads)]
    for t in workers:
        t.start()
    try:
        while True:
            yield q.get()
    finally:
        stop.set()
        for t in workers:
            t.join(5.0)
