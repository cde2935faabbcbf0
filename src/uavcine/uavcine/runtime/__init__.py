"""Inference runtimes: one interface over torch, ONNX Runtime and TensorRT.

The detector and the tracker run their networks through ``Runtime.run(feeds)``
(numpy in, numpy out) and do their own pre- and post-processing in numpy, so the
three backends see identical inputs and their outputs are post-processed by the
same code. Pick the backend by name with ``open_runtime``.

- ``'torch'``: an ``nn.Module`` in eval mode (CPU, or CUDA where present).
- ``'onnxruntime'``: an ONNX file in an ``onnxruntime.InferenceSession``.
- ``'tensorrt'``: a serialized engine built ahead of time by
  ``python -m uavcine.runtime.tensorrt_engine`` and found in the engine cache by
  its key (ONNX sha256, TensorRT version, GPU compute capability, precision).
  Engines are NEVER built implicitly when a node starts: a missing engine is an
  ``EngineMissing`` error that says the command that builds it.

Python 3.8 (runs onboard).
"""
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .base import (BACKENDS, BackendUnavailable, EngineMissing, ModelFileError, Runtime,  # noqa: F401 (the API)
                   RuntimeErrorBase)


class TorchRuntime(Runtime):
    """An ``nn.Module`` whose forward takes the inputs positionally and returns a tensor or a tuple."""

    backend = 'torch'

    def __init__(self, module: Any, input_names: Sequence[str], output_names: Sequence[str], device: str = 'cpu'):
        import torch  # lazy: torch takes seconds to import; only this path needs it
        self.torch = torch
        self.device = torch.device(device)
        self.module = module.to(self.device).eval()
        self.input_names = list(input_names)
        self.output_names = list(output_names)

    def run(self, feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        torch = self.torch
        args = [torch.from_numpy(np.ascontiguousarray(feeds[n])).to(self.device) for n in self.input_names]
        with torch.no_grad():
            out = self.module(*args)
        if not isinstance(out, (tuple, list)):
            out = (out,)
        return [o.detach().float().cpu().numpy() for o in out]


class OnnxRuntime(Runtime):
    """An ONNX file in ONNX Runtime (CPU provider unless others are asked for and available)."""

    backend = 'onnxruntime'

    def __init__(self, onnx_path: str, providers: Optional[Sequence[str]] = None, threads: int = 0):
        try:
            import onnxruntime as ort  # lazy: optional dependency (onnxruntime backend)
        except ImportError:
            raise BackendUnavailable('backend onnxruntime: the onnxruntime package is not installed') from None
        opts = ort.SessionOptions()
        if threads > 0:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        avail = ort.get_available_providers()
        use = [p for p in (providers or ['CPUExecutionProvider']) if p in avail] or ['CPUExecutionProvider']
        try:
            self.session = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=use)
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ModelFileError('cannot load ONNX model %s: %s' % (onnx_path, str(exc).splitlines()[0][:200])) from exc
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)

    def run(self, feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        return self.session.run(self.output_names, {k: np.ascontiguousarray(v) for k, v in feeds.items()})


def open_runtime(backend: str, module: Any = None, onnx_path: Optional[str] = None,
                 input_names: Sequence[str] = ('images',), output_names: Sequence[str] = ('pred_logits', 'pred_boxes'),
                 device: str = 'cpu', engine_cache_dir: Optional[str] = None, precision: str = 'fp16',
                 threads: int = 0) -> Runtime:
    """The runtime for ``backend``: torch needs ``module``; onnxruntime and tensorrt need ``onnx_path``."""
    if backend == 'torch':
        if module is None:
            raise ValueError('backend torch needs a torch module')
        return TorchRuntime(module, input_names, output_names, device)
    if backend == 'onnxruntime':
        if onnx_path is None:
            raise ValueError('backend onnxruntime needs an ONNX file')
        providers = ['CUDAExecutionProvider', 'CPUExecutionProvider'] if device.startswith('cuda') else None
        return OnnxRuntime(onnx_path, providers, threads)
    if backend == 'tensorrt':
        if onnx_path is None:
            raise ValueError('backend tensorrt needs the ONNX file the engine was built from')
        from .tensorrt_engine import TensorRTRuntime, find_engine  # lazy: start-up time: importing it loads tensorrt
        return TensorRTRuntime(find_engine(onnx_path, precision, engine_cache_dir))
    raise ValueError('unknown backend %r (choose from %s)' % (backend, ', '.join(BACKENDS)))
