"""A SiamFC search graph from a file (the int8 one of ``train/siamfc_int8.py``), checked against its weights.

The graph holds the backbone's weights, so it must come from the very model file the tracker loads (the exemplar
branch and the quality head come from that file): ``train/siamfc_int8.py`` writes the sha256 of the model file's
bytes into the graph's metadata, and ``load_search_onnx`` refuses a graph made from another file, with one line
that says which.

Python 3.8 (runs onboard).
"""
from pathlib import Path
from typing import Union

from .base import file_sha256

#: ONNX metadata keys written by train/siamfc_int8.py
SOURCE_SHA256 = 'uavcine.siamfc.source_sha256'
SOURCE_NAME = 'uavcine.siamfc.source'


def load_search_onnx(onnx_path: Union[str, Path], model_path: Union[str, Path]) -> bytes:
    """The ONNX bytes of ``onnx_path`` after checking that it was made from ``model_path``; ValueError (one line)
    for a missing or unreadable file or a graph made from other weights."""
    import onnxruntime as ort  # lazy: optional dependency (the onnxruntime backend), which reads the metadata
    try:
        data = Path(onnx_path).read_bytes()
        meta = ort.InferenceSession(data, providers=['CPUExecutionProvider']).get_modelmeta().custom_metadata_map
    except FileNotFoundError:
        raise ValueError('SiamFC search graph not found: %s' % onnx_path) from None
    except Exception as e:  # a truncated or non-ONNX file: onnxruntime raises its own exception types
        raise ValueError('cannot read SiamFC search graph %s: %s' % (onnx_path, str(e).splitlines()[0])) from e
    want = meta.get(SOURCE_SHA256)
    if want is None:
        raise ValueError('SiamFC search graph %s does not say which model file it was made from (make it with '
                         'python -m uavcine.train.siamfc_int8)' % onnx_path)
    try:
        have = file_sha256(model_path)
    except OSError as e:
        raise ValueError('cannot read SiamFC model %s: %s' % (model_path, e)) from e
    if have != want:
        raise ValueError('SiamFC search graph %s was made from %s (sha256 %s...), not from %s (sha256 %s...)'
                         % (onnx_path, meta.get(SOURCE_NAME, 'another model'), want[:12], model_path, have[:12]))
    return data
