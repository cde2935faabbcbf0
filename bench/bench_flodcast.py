"""FLODCAST ms per forecast (T = 3 past depth + flow maps -> K = 3 futures) at 160x120 and 320x240, torch vs
onnxruntime on one CPU thread, and their parity.

The shipped model (``models/flodcast_both.pt``; the network is fully convolutional, so the same weights run at
any size) is exported to ONNX at each size (opset 16, the TensorRT 8.5 operator set: the export fails on
anything else) and timed on random normalised inputs. Printed: median ms per forecast, the speed-up of
onnxruntime, and the largest |torch - onnxruntime| of the normalised outputs (target: within 1e-3).
Run: python bench/bench_flodcast.py [--threads 1] [--repeats 10] [--model models/flodcast_both.pt]
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from bench_forecast import median_ms  # bench/ is the script's folder: one timing rule for both forecasters
from uavcine.core.forecasting.flodcast import TupleOutputs, from_checkpoint
from uavcine.runtime.onnx_export import export_onnx

REPO = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--repeats', type=int, default=10)
    ap.add_argument('--model', default=str(REPO / 'models' / 'flodcast_both.pt'))
    ap.add_argument('--sizes', nargs='+', default=['160x120', '320x240'])
    args = ap.parse_args()
    try:
        import onnxruntime as ort
    except ImportError:
        print('bench_flodcast: onnxruntime is not installed (pip install -e src/uavcine[onnx])', file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    model, _ = from_checkpoint(torch.load(args.model, map_location='cpu', weights_only=False))
    cfg = model.cfg
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    print('FLODCAST %s (width %g, modalities %s), threads %d, %d repeats, median ms per forecast'
          % (Path(args.model).name, cfg.width, '+'.join(cfg.modalities), args.threads, args.repeats))
    print('| input | torch ms | onnxruntime ms | torch/ort | max abs diff |')
    print('| --- | ---: | ---: | ---: | ---: |')
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            w, h = (int(v) for v in size.split('x'))
            x = rng.uniform(-1, 1, (1, cfg.past, cfg.in_channels, h, w)).astype(np.float32)
            x[:, :, -1] = np.abs(x[:, :, -1])
            path = str(Path(tmp) / ('f_%s.onnx' % size))
            export_onnx(TupleOutputs(model), [torch.from_numpy(x)], path, ['past'], list(cfg.modalities))
            sess = ort.InferenceSession(path, opts, providers=['CPUExecutionProvider'])
            xt = torch.from_numpy(x)
            with torch.no_grad():
                ref = [v.numpy() for v in TupleOutputs(model)(xt)]
                t_torch = median_ms(lambda: model(xt), args.repeats)
            got = sess.run(None, {'past': x})
            diff = max(float(np.abs(a - b).max()) for a, b in zip(ref, got))
            t_ort = median_ms(lambda: sess.run(None, {'past': x}), args.repeats)
            print('| %dx%d | %.1f | %.1f | %.2fx | %.1e |' % (w, h, t_torch, t_ort, t_torch / t_ort, diff), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
