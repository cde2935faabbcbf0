"""What every inference runtime shares: the backend names, the error classes and the ``Runtime`` interface.

Its own module so the backends (``tensorrt_engine``) and the package's ``open_runtime`` import it
without importing each other. Python 3.8 (runs onboard).
"""
import hashlib
from pathlib import Path
from typing import Dict, List, Union

import numpy as np

BACKENDS = ('torch', 'onnxruntime', 'tensorrt')


class RuntimeErrorBase(RuntimeError):
    """Base of the runtime's errors: one clear line for the user."""


class ModelFileError(RuntimeErrorBase):
    """The model file is missing, unreadable or not a model of the expected kind."""


class BackendUnavailable(RuntimeErrorBase):
    """The backend's library (onnxruntime, tensorrt, CUDA) is not installed here."""


class EngineMissing(RuntimeErrorBase):
    """No TensorRT engine in the cache for this ONNX file, TensorRT version, GPU and precision."""


class Runtime:
    """Runs one network: ``run({input_name: array}) -> [output arrays in output_names order]``."""

    backend = ''
    input_names = []  # type: List[str]
    output_names = []  # type: List[str]

    def run(self, feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        pass


def file_sha256(path: Union[str, Path]) -> str:
    """The sha256 of a file's bytes: exported graphs record the weights file they were made from."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_made_from(meta: Dict, model_path: Union[str, Path], graph_path: Union[str, Path], what: str,
                    remedy: str) -> None:
    """Refuse (ValueError, one line) an exported graph whose metadata (``source``, ``source_sha256``: the weights
    file it was exported from) names another file than ``model_path``: the graph holds those weights, and the
    caller's other parts (exemplar branch, quality head, config) come from ``model_path``."""
    want = meta.get('source_sha256')
    if want is None:
        raise ValueError('%s %s does not say which model file it was made from (%s)' % (what, graph_path, remedy))
    try:
        have = file_sha256(model_path)
    except OSError as e:
        raise ValueError('cannot read model %s: %s' % (model_path, e)) from e
    if have != want:
        raise ValueError('%s %s was made from %s, not from %s (sha256 %s... against %s...; %s)'
                         % (what, graph_path, meta.get('source', 'another model'), model_path, want[:12], have[:12],
                            remedy))
