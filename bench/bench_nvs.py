"""Novel-view synthesis cost: seconds per generated view on 1 and 2 threads (torch with its key/value cache,
onnxruntime with the static-cache step graph), model size and peak memory.

Each configuration runs in its own process (so its peak resident memory, VmHWM, is its own): it loads the
model, generates one warm-up shot, then ``--repeats`` shots of 5 views (ORBIT, greedy) from a test-like
image; the median time of a shot / 5 is the time per view. A model with a refiner (stage 3) runs it in every shot
(``synthesize(..., refiner)``, ``nvs_refiner.onnx``), and its own cost per view is timed apart (median of
``--repeats``; torch: ``refine`` on the shot's 5 token-only views, with its plane warps and the tokenizer's pass
over the source; onnxruntime: the refiner graph alone).
Run: python bench/bench_nvs.py [--model models/nvs_geogpt_sim.pt] [--repeats 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def one(backend: str, threads: int, model: str, onnx_dir: str, repeats: int) -> dict:
    from uavcine.core.camera import PinholeCamera
    from uavcine.core.shot_geometry import ShotPlan, plan_shot
    K = PinholeCamera.from_dfov(64, 48, 92.0).K
    src = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    poses, _ = plan_shot(ShotPlan(type='ORBIT', distance_m=30.0, altitude_m=20.0), [0, 0, 0], [0, 0, 0],
                         [0, 2, 4, 6, 8, 10])
    refine_only = None
    if backend == 'torch':
        import torch
        from uavcine.core.views.synthesis import from_checkpoint, refine, synthesize
        torch.set_num_threads(threads)
        vq, gpt, ref = from_checkpoint(torch.load(model, map_location='cpu', weights_only=False), with_refiner=True)
        run = lambda: synthesize(vq, gpt, src, poses, K, refiner=ref, plane_z=0.0)  # noqa: E731
        if ref is not None:   # the refiner with its plane warps and the source through the tokenizer
            tok = synthesize(vq, gpt, src, poses, K)[None]
            refine_only = lambda: refine(vq, ref, src[None], tok, poses[None], K, [0.0])  # noqa: E731
    else:
        from uavcine.runtime.nvs_onnx import NvsOnnx, _to_net   # no torch in this process
        m = NvsOnnx(onnx_dir, threads)
        run = lambda: m.synthesize(src, poses, K, plane_z=0.0)  # noqa: E731
        if m.refiner is not None:   # the refiner graph alone (its plane warp not counted)
            x = _to_net(src)
            feed = {'source': x, 'source_rec': x, 'decoded': x, 'warped': x,
                    'valid': np.ones((1, 1, 48, 64), np.float32), 'cam': np.zeros((1, 16), np.float32)}
            refine_only = lambda: [m.refiner.run(None, feed) for _ in range(5)]  # noqa: E731
    ref_s = median_s(refine_only, repeats) / 5 if refine_only is not None else None
    return {'backend': backend, 'threads': threads, 's_per_view': median_s(run, repeats) / 5,
            'refiner_s_per_view': ref_s,
            'torch_loaded': 'torch' in sys.modules,
            'peak_rss_mb': peak_rss_mb()}


def median_s(fn, repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls, after one call to warm up."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM (ru_maxrss would also count the parent's peak before exec)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024.0
    return float('nan')


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--model', default='models/nvs_geogpt_sim.pt')
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--one', nargs=3, metavar=('BACKEND', 'THREADS', 'ONNX_DIR'), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if not os.path.isfile(a.model):
        print('error: %s not found' % a.model, file=sys.stderr)
        return 2
    if a.one:
        print(json.dumps(one(a.one[0], int(a.one[1]), a.model, a.one[2], a.repeats)))
        return 0
    import torch
    from uavcine.core.views.synthesis import from_checkpoint
    from uavcine.runtime.nvs_onnx import FILES, REFINER_FILE, export
    onnx_dir = tempfile.mkdtemp(prefix='nvs_onnx_')
    vq, gpt, ref = from_checkpoint(torch.load(a.model, map_location='cpu', weights_only=False), with_refiner=True)
    export(vq, gpt, onnx_dir, refiner=ref)
    files = FILES + ((REFINER_FILE,) if ref is not None else ())
    onnx_mb = sum(os.path.getsize(os.path.join(onnx_dir, f)) for f in files) / 1e6
    sizes = {'torch checkpoint (fp16)': os.path.getsize(a.model) / 1e6, 'onnx (%d graphs, fp32)' % len(files): onnx_mb}
    if ref is not None:
        sizes['of which the refiner graph'] = os.path.getsize(os.path.join(onnx_dir, REFINER_FILE)) / 1e6
    rows = []
    for backend in ('torch', 'onnxruntime'):
        for threads in (1, 2):
            out = subprocess.run([sys.executable, __file__, '--model', a.model, '--repeats', str(a.repeats), '--one',
                                  backend, str(threads), onnx_dir], capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print('model size: ' + ', '.join('%s %.2f MB' % kv for kv in sizes.items()))
    print('| backend | threads | s / generated view | of which the refiner | peak RSS (MB) | torch in the process |')
    print('|---|---:|---:|---:|---:|---|')
    for r in rows:
        rs = '-' if r['refiner_s_per_view'] is None else '%.4f' % r['refiner_s_per_view']
        print('| %s | %d | %.3f | %s | %.0f | %s |' % (r['backend'], r['threads'], r['s_per_view'], rs,
                                                     r['peak_rss_mb'], 'yes' if r['torch_loaded'] else 'no'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
