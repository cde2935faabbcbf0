"""SMEMO forecast time for a scene of 1, 10 and 50 agents on one CPU thread, against its peers in one run.

Ours: ``uavcine.core.forecasting.smemo.SMEMO`` (K = 20 modes, 8 observed + 12 predicted steps) with the
scene's writes summed (``write_merge='sum'``, the default), on torch and on onnxruntime (``runtime/smemo_onnx.py``:
the graph exported for exactly that many agents, so no padding is timed). Peers measured in the same run: the same
model with the released implementation's max-over-agents write merge (``write_merge='max'``), and the
constant-velocity forecaster (numpy) the node uses for cars. Weights: models/smemo_eth.pt's (speed does not depend
on them). Printed: median ms per forecast of the whole scene and ratios to the peers.
Run: python bench/bench_forecast.py [--threads 1] [--repeats 20]
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from uavcine.core.forecasting.constant_velocity import constant_velocity
from uavcine.core.forecasting.smemo import SMEMO, SMEMOConfig, from_checkpoint
from uavcine.runtime.smemo_onnx import SMEMOOnnx, export

MODEL = Path(__file__).resolve().parents[1] / 'models' / 'smemo_eth.pt'


def median_ms(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--repeats', type=int, default=20)
    ap.add_argument('--agents', type=int, nargs='+', default=[1, 10, 50])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ours = from_checkpoint(torch.load(MODEL, map_location='cpu', weights_only=False))
    released = SMEMO(SMEMOConfig(**dict(vars(ours.cfg), write_merge='max'))).eval()
    released.load_state_dict(ours.state_dict())
    tmp = tempfile.TemporaryDirectory()
    print('threads %d, %d repeats, median ms per scene forecast (K=20, 12 steps)' % (args.threads, args.repeats))
    print('| agents | SMEMO sum-merge (ours), torch | ours, onnxruntime | SMEMO max-merge (released), torch '
          '| constant velocity | max/sum | torch/onnxruntime | ours (torch)/CV |')
    print('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
    rng = np.random.default_rng(0)
    for a in args.agents:
        past = np.cumsum(rng.normal(0, 0.4, (a, 8, 2)), axis=1).astype(np.float32)
        x = torch.from_numpy(past)[None]
        with torch.no_grad():
            t_ours = median_ms(lambda: ours(x), args.repeats)
            t_rel = median_ms(lambda: released(x), args.repeats)
        graph = Path(tmp.name) / ('smemo_%d.onnx' % a)
        export(MODEL, graph, max_agents=a)
        onx = SMEMOOnnx(graph, threads=args.threads)
        t_ort = median_ms(lambda: onx.forecast(past), args.repeats)
        t_cv = median_ms(lambda: constant_velocity(past, 12), args.repeats)
        print('| %d | %.2f | %.2f | %.2f | %.3f | %.2fx | %.2fx | %.0fx |' % (
            a, t_ours, t_ort, t_rel, t_cv, t_rel / t_ours, t_ours / t_ort, t_ours / t_cv), flush=True)


if __name__ == '__main__':
    main()
