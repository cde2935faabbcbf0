"""One prepared run on a lent GPU machine: render, train (bf16), evaluate, export, time -- in one command.

    PYTHONUNBUFFERED=1 python -m uavcine.train.gpu_run --minutes 7 --out OUT \\
        --init models/detr_small.pt --configs 384x288:48 512x384:48 640x480:32
    python -m uavcine.train.gpu_run --dry-run --out /tmp/gpu_dry     # the same code, tiny, on the CPU

What it does, inside ``--minutes`` of wall time (everything written under OUT as it goes, so a run stopped by
its time limit still leaves its best weights and curves):

1. renders the data with the embedded simulator on all CPU cores (multiprocessing, one scene per task):
   the validation (seeds 5000..5011) and held-out test (10000..10011) scenes exactly as
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
Modules: gpu_data (rendering, packing, batches), gpu_train (one configuration's training and evaluation),
gpu_latency (batch-1 timings); this one orchestrates them and writes the outputs.
Offline tool (Python 3.10+); needs the offline extra (torch, opencv, pycocotools, onnx, onnxruntime).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import pickle
import shutil
import sys
import time
import traceback
from pathlib import Path

import torch

from uavcine.core.detr import DETR, DETRConfig
from uavcine.runtime.detector import load_detr_checkpoint
from uavcine.train import detr_train
from uavcine.train.gpu_data import assemble, decode, log, pack_split, render_all, render_scene, set_start
from uavcine.train.gpu_latency import bench_latency
from uavcine.train.gpu_train import train_entry

REPO = Path(__file__).resolve().parents[4]
T0 = time.time()


# ----------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------


def plot_curves(summaries: list, path: str) -> None:
    import matplotlib  # lazy: start-up time; only the curve needs it
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: after the Agg backend is chosen
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
    ap.add_argument('--val-scenes', type=int, default=12,
                    help='validation scenes from --val-seed (12: 5000..5011; 5000..5005 render no tower today)')
    ap.add_argument('--test-seed', type=int, default=10000)
    ap.add_argument('--test-scenes', type=int, default=12)
    ap.add_argument('--every', type=int, default=4, help='every K-th frame of the val/test scenes (as detr_train data)')
    ap.add_argument('--duration', type=float, default=20.0)
    ap.add_argument('--rate', type=float, default=5.0)
    ap.add_argument('--latency-frames', type=int, default=50)
    ap.add_argument('--siamfc', default=str(REPO / 'models' / 'siamfc_sim.pt'))
    ap.add_argument('--device', default=None, help='default: cuda if available, else cpu')
    ap.add_argument('--no-amp', action='store_true')
    ap.add_argument('--max-steps', type=int, default=0, help='stop each model after this many steps (0: time only)')
    ap.add_argument('--latency-only', action='store_true', help='only the latency measurements (seconds)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--dry-run', action='store_true',
                    help='tiny everything on whatever device is here (the CPU test of this command)')
    a = ap.parse_args(argv)
    global T0
    T0 = time.time()
    set_start(T0)
    device = a.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    overrides = {}
    if a.dry_run:
        # sized by work, not by the clock (a loaded CPU stays inside it): 2 one-second scenes, 6 steps
        a.minutes, a.max_steps = max(a.minutes, 3.0), a.max_steps or 6
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
                      'deadline': end - a.final_reserve - tail, 'overrides': overrides, 't0': T0,
                      'max_steps': a.max_steps})
    ctx = mp.get_context('spawn')
    procs = [ctx.Process(target=train_entry, args=(s,), name=s['name']) for s in specs]
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
            models = {}
            if a.init:
                models['shipped %s' % Path(a.init).stem] = load_detr_checkpoint(a.init)
            for s in done:
                ck = torch.load(s['best'], map_location='cpu', weights_only=False)
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
