"""The DETR detector behind any backend: model files, preprocessing, inference, postprocessing.

Files:

- ``*.pt``: ``{'format': 'uavcine-detr', 'config': DETRConfig dict, 'model': state_dict}`` (our trained
  models; float16 weights are accepted and cast up), or a facebookresearch/detr release
  ``{'model': state_dict}`` (DETR-R50, COCO classes).
- ``*.onnx``: exported by ``export_detr_onnx``; the config is in its metadata.
- TensorRT: an engine built from the ``.onnx`` and found in the engine cache.

A ``.pt`` and its ``.onnx`` live side by side (``models/detr_small.pt`` and
``models/detr_small.onnx``); give either path, the backend picks the file it needs.
Every backend gets the same ``preprocess`` input and goes through the same
``postprocess``. Python 3.8.
"""
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from . import open_runtime
from ..core.detr_io import postprocess, preprocess  # numpy only: torch is imported by the torch backend alone
from .base import BACKENDS, ModelFileError

FORMAT = 'uavcine-detr'


@dataclass
class Detections:
    """Detections of one image, boxes in the ORIGINAL image's pixels (x0, y0, x1, y1)."""

    boxes_xyxy: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    class_names: List[str]

    def __len__(self) -> int:
        return len(self.scores)

    def names(self) -> List[str]:
        return [self.class_names[int(i)] for i in self.labels]


def _sibling(path: str, ext: str) -> str:
    return os.path.splitext(str(path))[0] + ext


def load_detr_checkpoint(path: str):
    """A ``.pt`` file -> DETR model in eval mode (ours, or an official DETR-R50 release)."""
    import torch  # lazy: torch takes seconds to import; only this path needs it
    from ..core.detr import DETR, DETRConfig, load_official_checkpoint  # lazy: start-up time: importing it loads torch
    if not os.path.isfile(str(path)):
        raise ModelFileError('model file %s not found' % path)
    try:
        ck = torch.load(str(path), map_location='cpu', weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files (pickle, zip, EOF)
        raise ModelFileError('cannot read model file %s (corrupt or not a torch file): %s'
                             % (path, str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__)) from exc
    if not isinstance(ck, dict) or 'model' not in ck:
        raise ModelFileError('%s is not a DETR checkpoint (no "model" entry)' % path)
    try:
        if ck.get('format') == FORMAT:
            cfg = DETRConfig.from_dict(ck['config'])
            model = DETR(cfg)
            sd = {k: (v.float() if v.is_floating_point() else v) for k, v in ck['model'].items()}
            model.load_state_dict(sd, strict=True)
            return model.eval()
        return load_official_checkpoint(ck)
    except (ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise ModelFileError('%s does not match its DETR layout: %s' % (path, str(exc).splitlines()[0][:200])) from exc


def save_detr_checkpoint(path: str, model: Any, half: bool = True, extra: Optional[Dict[str, Any]] = None) -> None:
    """Save weights (float16 by default: half the size, cast back on load) with the config."""
    import torch  # lazy: torch takes seconds to import; only this path needs it
    sd = {k: (v.half() if half and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    ck = {'format': FORMAT, 'config': model.cfg.to_dict(), 'model': sd}
    if extra:
        ck['extra'] = extra
    tmp = str(path) + '.tmp'
    torch.save(ck, tmp)
    os.replace(tmp, str(path))


def export_detr_onnx(model: Any, path: str, opset: int = 16, half_weights: bool = False) -> List[str]:
    """Export the inference graph (images -> pred_logits, pred_boxes) with the config as metadata
    (``half_weights``: float16-stored weights, for models whose weights are float16 values)."""
    import torch  # lazy: torch takes seconds to import; only this path needs it
    from ..core.detr import DETRExport  # lazy: start-up time: importing it loads torch
    from .onnx_export import export_onnx  # lazy: start-up time: importing it loads onnx
    cfg = model.cfg
    x = torch.zeros(1, 3, cfg.input_height, cfg.input_width)
    return export_onnx(DETRExport(model.eval()), [x], path, ['images'], ['pred_logits', 'pred_boxes'], opset,
                       metadata={'format': FORMAT, 'config': cfg.to_dict()}, half_weights=half_weights)


class Detector:
    """Image in, detections in original pixels out, through the chosen backend."""

    def __init__(self, model_path: str, backend: str = 'torch', device: str = 'cpu',
                 engine_cache_dir: Optional[str] = None, precision: str = 'fp16', threads: int = 0,
                 input_size: Optional[Sequence[int]] = None):
        if backend not in BACKENDS:
            raise ValueError('unknown backend %r (choose from %s)' % (backend, ', '.join(BACKENDS)))
        self.backend = backend
        path = str(model_path)
        if backend == 'torch':
            from ..core.detr import DETRExport  # lazy: importing it loads torch; only the torch backend needs it
            pt = path if not path.endswith('.onnx') else _sibling(path, '.pt')
            self.model = load_detr_checkpoint(pt)
            self.config = self.model.cfg.to_dict()
            self.runtime = open_runtime('torch', module=DETRExport(self.model), device=device)
            self.model_file = pt
        else:
            onnx_path = path if path.endswith('.onnx') else _sibling(path, '.onnx')
            if not os.path.isfile(onnx_path):
                raise ModelFileError('ONNX model %s not found (export it: python -m uavcine.train.detr_train '
                                     'export --checkpoint %s)' % (onnx_path, _sibling(onnx_path, '.pt')))
            from .onnx_export import read_metadata  # lazy: start-up time: importing it loads onnx
            try:
                meta = read_metadata(onnx_path)
            except Exception as exc:  # onnx raises DecodeError etc. on corrupt files
                raise ModelFileError('cannot read ONNX model %s: %s' % (onnx_path, str(exc).splitlines()[0][:200]
                                                                        if str(exc) else type(exc).__name__)) from exc
            if meta.get('format') != FORMAT:
                raise ModelFileError('%s is not a uavcine DETR export' % onnx_path)
            self.config = meta['config']
            self.runtime = open_runtime(backend, onnx_path=onnx_path, device=device,
                                        engine_cache_dir=engine_cache_dir, precision=precision, threads=threads)
            self.model_file = onnx_path
        self.class_names = list(self.config['class_names'])
        if input_size is not None and tuple(int(v) for v in input_size) != (
                int(self.config['input_width']), int(self.config['input_height'])):
            w, h = int(input_size[0]), int(input_size[1])
            if w <= 0 or h <= 0:
                raise ValueError('input size must be positive, got %dx%d' % (w, h))
            if backend != 'torch':
                raise ValueError('the %s model has a fixed input size %dx%d (export it again for %dx%d)'
                                 % (backend, self.config['input_width'], self.config['input_height'], w, h))
            if self.config.get('encoder_attention') == 'whitened':
                raise ValueError('a whitened-attention model runs only at its own input size %dx%d'
                                 % (self.config['input_width'], self.config['input_height']))
            self.config = dict(self.config, input_width=w, input_height=h)
        self.input_size = (int(self.config['input_width']), int(self.config['input_height']))

    @classmethod
    def from_model(cls, model: Any, device: str = 'cpu') -> 'Detector':
        """A torch-backend detector around an in-memory DETR (training-time evaluation)."""
        from ..core.detr import DETRExport  # lazy: importing it loads torch; only the torch backend needs it
        self = cls.__new__(cls)
        self.backend, self.model, self.model_file = 'torch', model, '<memory>'
        self.config = model.cfg.to_dict()
        self.runtime = open_runtime('torch', module=DETRExport(model), device=device)
        self.class_names = list(self.config['class_names'])
        self.input_size = (int(self.config['input_width']), int(self.config['input_height']))
        return self

    def label_ids(self, names: Sequence[str]) -> List[int]:
        """Class names -> label indices; ValueError naming the unknown ones."""
        unknown = [n for n in names if n not in self.class_names]
        if unknown:
            raise ValueError('unknown class %s (model classes: %s)' % (', '.join(unknown), ', '.join(
                n for n in self.class_names if n != 'N/A')))
        return [self.class_names.index(n) for n in names]

    def infer(self, rgb: np.ndarray):
        """Raw network outputs for one image: (pred_logits Q x (K+1), pred_boxes Q x 4, letterbox)."""
        x, lb = preprocess(rgb, self.config)
        logits, boxes = self.runtime.run({'images': x})[:2]
        return logits[0], boxes[0], lb

    def detect(self, rgb: np.ndarray, score_threshold: float = 0.5, max_detections: int = 100,
               keep_labels: Optional[Sequence[int]] = None) -> Detections:
        logits, boxes, lb = self.infer(rgb)
        b, s, l = postprocess(logits, boxes, lb, score_threshold, max_detections, keep_labels)
        return Detections(b, s, l, self.class_names)
