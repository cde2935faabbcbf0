"""TensorRT engines: build ahead of time, cache by key, load at node start (never build there).

An engine is only valid for the ONNX file, the TensorRT version, the GPU
(compute capability) and the precision it was built with, so its file name is
that key::

    <cache_dir>/<onnx stem>-<sha256[:16] of the ONNX>-trt<version>-sm<major><minor>-<precision>.engine

Build (on the Jetson, once per model/JetPack; takes minutes)::

    python -m uavcine.runtime.tensorrt_engine --onnx models/detr_small.onnx --precision fp16
    python -m uavcine.runtime.tensorrt_engine --onnx models/detr_small.onnx --precision int8 \\
        --calib-dir data/sim_coco/train/images --calib-count 256

Nodes call ``find_engine`` which raises ``EngineMissing`` with that command when
the engine is absent: rebuilding implicitly at launch (minutes of a drone waiting
on the ground, or a different engine than the one tested) is what we avoid.

``tensorrt`` is an optional import (JetPack ships it); device buffers are torch
CUDA tensors, so no pycuda is needed. Works with the TensorRT 8.5 bindings API
and the TensorRT 10 named-tensor API. Python 3.8.
"""
import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .base import BackendUnavailable, EngineMissing, ModelFileError, Runtime

PRECISIONS = ('fp32', 'fp16', 'int8')


def _trt():
    try:
        import tensorrt as trt  # lazy: optional dependency (TensorRT, JetPack only)
    except ImportError:
        raise BackendUnavailable('backend tensorrt: the tensorrt Python package is not installed '
                                 '(it comes with JetPack / NVIDIA TensorRT)') from None
    return trt


def default_cache_dir() -> str:
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'uavcine', 'tensorrt')


def onnx_sha256(onnx_path: str) -> str:
    h = hashlib.sha256()
    try:
        with open(str(onnx_path), 'rb') as f:
            for chunk in iter(lambda: f.read(1 << 20), b''):
                h.update(chunk)
    except OSError as exc:
        raise ModelFileError('cannot read ONNX model %s: %s' % (onnx_path, exc.strerror or exc)) from exc
    return h.hexdigest()


def gpu_compute_capability() -> Tuple[int, int]:
    try:
        import torch  # lazy: torch takes seconds to import; only this path needs it
        if torch.cuda.is_available():
            return tuple(torch.cuda.get_device_capability(0))  # type: ignore
    except ImportError:
        pass
    raise BackendUnavailable('backend tensorrt: no CUDA GPU visible (torch.cuda is not available)')


def engine_key(onnx_path: str, precision: str, trt_version: Optional[str] = None,
               compute_capability: Optional[Tuple[int, int]] = None) -> str:
    """'<sha16>-trt<ver>-sm<XY>-<precision>'; version and capability are queried when not given."""
    if precision not in PRECISIONS:
        raise ValueError('precision must be one of %s, not %r' % (', '.join(PRECISIONS), precision))
    if trt_version is None:
        trt_version = _trt().__version__
    if compute_capability is None:
        compute_capability = gpu_compute_capability()
    return '%s-trt%s-sm%d%d-%s' % (onnx_sha256(onnx_path)[:16], trt_version, compute_capability[0],
                                   compute_capability[1], precision)


def engine_path(onnx_path: str, precision: str, cache_dir: Optional[str] = None, **key_kwargs: Any) -> str:
    stem = Path(str(onnx_path)).stem
    key = engine_key(onnx_path, precision, **key_kwargs)
    return os.path.join(cache_dir or default_cache_dir(), '%s-%s.engine' % (stem, key))


def build_command(onnx_path: str, precision: str, cache_dir: Optional[str] = None) -> str:
    cmd = 'python -m uavcine.runtime.tensorrt_engine --onnx %s --precision %s' % (onnx_path, precision)
    if cache_dir:
        cmd += ' --cache-dir %s' % cache_dir
    if precision == 'int8':
        cmd += ' --calib-dir <simulator images>'
    return cmd


def find_engine(onnx_path: str, precision: str = 'fp16', cache_dir: Optional[str] = None, **key_kwargs: Any) -> str:
    """Path of the cached engine for this ONNX/TensorRT/GPU/precision; EngineMissing (with the build command)."""
    if not os.path.isfile(str(onnx_path)):
        raise ModelFileError('ONNX model %s not found (the TensorRT engine key is its sha256)' % onnx_path)
    path = engine_path(onnx_path, precision, cache_dir, **key_kwargs)
    if not os.path.isfile(path):
        raise EngineMissing('no TensorRT engine %s; build it once with: %s'
                            % (path, build_command(onnx_path, precision, cache_dir)))
    return path


# ----------------------------------------------------------------------------
# Build
# ----------------------------------------------------------------------------


def calibration_batches(image_paths: Sequence[str], meta: Dict[str, Any]) -> Iterator[np.ndarray]:
    """Simulator images -> network inputs (1 x 3 x h x w float32), with the detector's own preprocessing."""
    from ..core.detr_io import preprocess  # lazy: start-up time of the engine runtime (numpy only)
    import cv2  # lazy: OpenCV: start-up time, only this path draws or reads images
    for p in image_paths:
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if bgr is None:
            continue
        x, _ = preprocess(np.ascontiguousarray(bgr[:, :, ::-1]), meta)
        yield x


def build_engine(onnx_path: str, precision: str = 'fp16', cache_dir: Optional[str] = None,
                 calib_images: Sequence[str] = (), workspace_mb: int = 2048, force: bool = False) -> str:
    """Build and cache the engine; returns its path (an existing one is kept unless ``force``)."""
    trt = _trt()
    out = engine_path(onnx_path, precision, cache_dir)
    if os.path.isfile(out) and not force:
        return out
    if precision == 'int8' and not calib_images:
        raise ValueError('int8 needs calibration images (--calib-dir with simulator images)')
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    with open(str(onnx_path), 'rb') as f:
        if not parser.parse(f.read()):
            errs = [str(parser.get_error(i)) for i in range(parser.num_errors)]
            raise ModelFileError('TensorRT cannot parse %s: %s' % (onnx_path, '; '.join(errs)[:500]))
    config = builder.create_builder_config()
    if hasattr(config, 'set_memory_pool_limit'):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    else:  # TensorRT < 8.4
        config.max_workspace_size = int(workspace_mb) << 20
    calibrator = None
    if precision in ('fp16', 'int8'):
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == 'int8':
        from .onnx_export import read_metadata  # lazy: start-up time: importing it loads onnx
        config.set_flag(trt.BuilderFlag.INT8)
        calibrator = _make_calibrator(trt, calibration_batches(calib_images, read_metadata(onnx_path)),
                                      out + '.calib')
        config.int8_calibrator = calibrator
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError('TensorRT failed to build an engine from %s (see the log above)' % onnx_path)
    os.makedirs(os.path.dirname(out) or '.', exist_ok=True)
    tmp = out + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(bytes(serialized))
    os.replace(tmp, out)
    try:
        from .onnx_export import read_metadata  # lazy: start-up time: importing it loads onnx
        meta = read_metadata(onnx_path)
    except Exception:  # metadata is optional for generic networks
        meta = {}
    with open(out + '.json', 'w') as f:
        json.dump({'onnx': str(onnx_path), 'onnx_sha256': onnx_sha256(onnx_path), 'precision': precision,
                   'tensorrt': trt.__version__, 'metadata': meta}, f, indent=1, sort_keys=True)
    return out


def _make_calibrator(trt: Any, batches: Iterator[np.ndarray], cache_path: str):
    import torch  # lazy: torch takes seconds to import; only this path needs it

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        """Feeds preprocessed simulator images to TensorRT's INT8 entropy calibration."""

        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.batches = batches
            self.buf = None

        def get_batch_size(self):
            return 1

        def get_batch(self, names):
            x = next(self.batches, None)
            if x is None:
                return None
            self.buf = torch.from_numpy(x).cuda()
            return [int(self.buf.data_ptr())]

        def read_calibration_cache(self):
            if os.path.isfile(cache_path):
                with open(cache_path, 'rb') as f:
                    return f.read()
            return None

        def write_calibration_cache(self, cache):
            with open(cache_path, 'wb') as f:
                f.write(bytes(cache))

    return EntropyCalibrator()


# ----------------------------------------------------------------------------
# Run
# ----------------------------------------------------------------------------


class TensorRTRuntime(Runtime):
    """A deserialized engine with static shapes; inputs/outputs through torch CUDA tensors."""

    backend = 'tensorrt'

    def __init__(self, path: str):
        trt = _trt()
        import torch  # lazy: torch takes seconds to import; only this path needs it
        if not torch.cuda.is_available():
            raise BackendUnavailable('backend tensorrt: no CUDA GPU visible')
        self.torch = torch
        self.logger = trt.Logger(trt.Logger.WARNING)
        with open(str(path), 'rb') as f:
            self.engine = trt.Runtime(self.logger).deserialize_cuda_engine(f.read())
        if self.engine is None:
            raise ModelFileError('cannot deserialize TensorRT engine %s (built by another TensorRT or GPU?)' % path)
        self.context = self.engine.create_execution_context()
        self.v10 = hasattr(self.engine, 'num_io_tensors')
        self.buffers = {}  # type: Dict[str, Any]
        self.input_names, self.output_names, names = [], [], []
        if self.v10:
            for i in range(self.engine.num_io_tensors):
                n = self.engine.get_tensor_name(i)
                names.append(n)
                (self.input_names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT
                 else self.output_names).append(n)
                shape, dtype = self.engine.get_tensor_shape(n), self.engine.get_tensor_dtype(n)
                self.buffers[n] = torch.empty(tuple(shape), dtype=_torch_dtype(torch, trt.nptype(dtype)),
                                              device='cuda')
                self.context.set_tensor_address(n, int(self.buffers[n].data_ptr()))
        else:
            for i in range(self.engine.num_bindings):
                n = self.engine.get_binding_name(i)
                names.append(n)
                (self.input_names if self.engine.binding_is_input(i) else self.output_names).append(n)
                shape, dtype = self.engine.get_binding_shape(i), self.engine.get_binding_dtype(i)
                self.buffers[n] = torch.empty(tuple(shape), dtype=_torch_dtype(torch, trt.nptype(dtype)),
                                              device='cuda')
        self.binding_order = names
        self.stream = torch.cuda.Stream()

    def run(self, feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        torch = self.torch
        for n in self.input_names:
            src = torch.from_numpy(np.ascontiguousarray(feeds[n]))
            if tuple(src.shape) != tuple(self.buffers[n].shape):
                raise ValueError('input %s has shape %s, the engine expects %s'
                                 % (n, tuple(src.shape), tuple(self.buffers[n].shape)))
            self.buffers[n].copy_(src.to(self.buffers[n].dtype))
        with torch.cuda.stream(self.stream):
            if self.v10:
                ok = self.context.execute_async_v3(self.stream.cuda_stream)
            else:
                ok = self.context.execute_async_v2([int(self.buffers[n].data_ptr()) for n in self.binding_order],
                                                   self.stream.cuda_stream)
        self.stream.synchronize()
        if not ok:
            raise RuntimeError('TensorRT execution failed')
        return [self.buffers[n].float().cpu().numpy() for n in self.output_names]


def _torch_dtype(torch: Any, np_dtype: Any):
    return {np.dtype(np.float32): torch.float32, np.dtype(np.float16): torch.float16,
            np.dtype(np.int32): torch.int32, np.dtype(np.int64): torch.int64,
            np.dtype(np.int8): torch.int8, np.dtype(np.bool_): torch.bool}[np.dtype(np_dtype)]


# ----------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------


def _images_in(d: str, count: int) -> List[str]:
    exts = ('.png', '.jpg', '.jpeg')
    files = sorted(str(p) for p in Path(d).rglob('*') if p.suffix.lower() in exts)
    if not files:
        raise ValueError('no images (.png/.jpg) under %s' % d)
    step = max(1, len(files) // max(1, count))
    return files[::step][:count]


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog='python -m uavcine.runtime.tensorrt_engine',
                                 description='Build (or locate) the cached TensorRT engine of an ONNX model.')
    ap.add_argument('--onnx', required=True, help='ONNX file exported by uavcine')
    ap.add_argument('--precision', choices=PRECISIONS, default='fp16')
    ap.add_argument('--cache-dir', default=None, help='engine cache (default %s)' % default_cache_dir())
    ap.add_argument('--calib-dir', default=None, help='simulator images for INT8 calibration')
    ap.add_argument('--calib-count', type=int, default=256)
    ap.add_argument('--workspace-mb', type=int, default=2048)
    ap.add_argument('--force', action='store_true', help='rebuild even if the cached engine exists')
    ap.add_argument('--print-path', action='store_true', help='only print the engine path the nodes look for')
    a = ap.parse_args(argv)
    try:
        if a.print_path:
            print(engine_path(a.onnx, a.precision, a.cache_dir))
            return 0
        calib = _images_in(a.calib_dir, a.calib_count) if a.calib_dir else []
        print(build_engine(a.onnx, a.precision, a.cache_dir, calib, a.workspace_mb, a.force))
        return 0
    except (ValueError, RuntimeError, OSError) as exc:
        print('error: %s' % exc, file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
