"""Batch-1 latency for the GPU run (uavcine.train.gpu_run) and bench/bench_gpu.py: the detector and SiamFC's
search network, fp32 and fp16, on CUDA (CUDA events) or the CPU.

Offline tool (Python 3.10+).
"""
from __future__ import annotations

import copy
import statistics
import time

import numpy as np
import torch

from uavcine.core import siamfc as S
from uavcine.core.detr import DETRExport, postprocess, preprocess
from uavcine.train.gpu_data import log


def _time_cuda(fn, device, n: int, warmup: int = 10) -> float:
    """Median ms of ``fn`` (CUDA events on a GPU, perf_counter otherwise)."""
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
