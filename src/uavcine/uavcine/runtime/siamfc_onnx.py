"""A SiamFC search graph from a file (the int8 one of ``train/siamfc_int8.py``), checked against its weights.

The graph holds the backbone's weights, so it must come from the very model file the tracker loads (the exemplar
branch and the quality head come from that file): ``train/siamfc_int8.py`` writes the sha256 of the model file's
bytes into the graph's metadata, and ``load_search_onnx`` refuses a graph made from another file, with one line
that says which.

Python 3.8 (runs onboard).
"""
from pathlib import Path
from typing import Union

from .base import check_made_from
from .onnx_export import read_metadata

KIND = 'siamfc_search'   # the ``kind`` train/siamfc_int8.py writes into the graph's uavcine metadata


def load_search_onnx(onnx_path: Union[str, Path], model_path: Union[str, Path]) -> bytes:
    """The ONNX bytes of ``onnx_path`` after checking that it was made from ``model_path``; ValueError (one line)
    for a missing or unreadable file or a graph made from other weights."""
    try:
        data = Path(onnx_path).read_bytes()
        meta = read_metadata(str(onnx_path))
    except FileNotFoundError:
        raise ValueError('SiamFC search graph not found: %s' % onnx_path) from None
    except ValueError:   # read_metadata: no uavcine metadata (e.g. the float graph exported in memory)
        meta = {}
    except Exception as e:  # a truncated or non-ONNX file: onnx / onnxruntime raise their own exception types
        raise ValueError('cannot read SiamFC search graph %s: %s' % (onnx_path, str(e).splitlines()[0])) from e
    check_made_from(meta, model_path, onnx_path, 'SiamFC search graph',
                    'make it with python -m uavcine.train.siamfc_int8')
    return data
