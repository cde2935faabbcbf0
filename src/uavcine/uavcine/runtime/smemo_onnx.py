"""SMEMO on onnxruntime: the export of a trained model and a forecaster that needs no torch (issue #15).

The graph is the whole forecast of one scene (``core/forecasting/smemo.py``: both streams over the past, the social
memory, the K modes' decoder over the 12 future steps, unrolled by the exporter): inputs ``past`` (1, A, T_obs, 2)
scene-centred positions in metres and ``mask`` (1, A) (1 = a real agent; a float, TensorRT takes no bool input),
output ``future`` (1, A, K, T_pred, 2). The agent axis A is the one dynamic axis (a scene has as many agents as it
has; the exported graph gives torch's forecasts for 1 to 50 agents: tested), so a small scene costs what it should;
``max_agents`` (metadata, default 64) is the largest scene the forecaster takes, and the top of the optimisation
profile TensorRT needs for that axis. Every operator is in TensorRT 8.5's set (``runtime/onnx_export.py`` checks it
at export).

The file's metadata holds the model's config, ``mode_prior``, ``max_agents`` and the sha256 of the .pt it was made
from (``SMEMOOnnx(..., model_path=)`` refuses a graph made from another file).

    python -m uavcine.runtime.smemo_onnx --model models/smemo_eth.pt --out models/smemo_eth.onnx

Python 3.8 (the forecaster runs onboard; the export needs torch and onnx and runs offline).
"""
import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Optional, Union

import numpy as np

from .base import check_made_from, file_sha256
from .onnx_export import METADATA_KEY

DEFAULT_MAX_AGENTS = 64


def export(model_path: Union[str, Path], out: Union[str, Path], max_agents: int = DEFAULT_MAX_AGENTS) -> list:
    """Export the SMEMO checkpoint ``model_path`` to ``out`` (the agent axis dynamic, ``max_agents`` in the metadata);
    returns the operator types used."""
    import torch  # lazy: export only (the forecaster below needs no torch)
    from ..core.forecasting.smemo import from_checkpoint  # lazy: needs torch, as above
    from .onnx_export import export_onnx  # lazy: export only (needs onnx)
    if max_agents < 1:
        raise ValueError('max_agents must be at least 1, not %d' % max_agents)
    try:
        net = from_checkpoint(torch.load(str(model_path), map_location='cpu', weights_only=False))
    except FileNotFoundError:
        raise ValueError('SMEMO model not found: %s' % model_path) from None
    except (OSError, RuntimeError, KeyError, TypeError) as e:
        raise ValueError('cannot read SMEMO model %s: %s' % (model_path, e)) from e

    class Scene(torch.nn.Module):
        """The float mask in (TensorRT: no bool inputs), SMEMO's bool mask inside."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, past, mask):
            return self.model(past, mask > 0.5)

    cfg = net.cfg
    past = torch.zeros(1, 4, cfg.obs_len, 2)   # any example scene: the agent axis is dynamic
    past[0, :, :, 0] = torch.arange(cfg.obs_len, dtype=torch.float32) * 0.5
    mask = torch.ones(1, 4)
    meta = {'kind': 'smemo', 'config': dict(vars(cfg)), 'max_agents': int(max_agents),
            'mode_prior': [float(v) for v in net.mode_prior], 'source': Path(model_path).name,
            'source_sha256': file_sha256(model_path)}
    axes = {'past': {1: 'agents'}, 'mask': {1: 'agents'}, 'future': {1: 'agents'}}
    return export_onnx(Scene(net.eval()), (past, mask), str(out), ['past', 'mask'], ['future'], metadata=meta,
                       half_weights=True, dynamic_axes=axes)


class SMEMOOnnx:
    """``forecast(past)`` of a scene on onnxruntime. ``cfg`` (obs_len, pred_len, num_modes, dt_s), ``mode_prior``
    and ``max_agents`` as the export wrote them. ``model_path``: refuse a graph not made from that .pt file."""

    def __init__(self, onnx_path: Union[str, Path], threads: int = 1, model_path: Optional[Union[str, Path]] = None):
        import onnxruntime as ort  # lazy: optional dependency (the onnxruntime backend)
        so = ort.SessionOptions()
        if threads > 0:
            so.intra_op_num_threads = int(threads)
            so.inter_op_num_threads = 1
        if not Path(onnx_path).is_file():
            raise ValueError('SMEMO graph not found: %s' % onnx_path)
        try:
            self.session = ort.InferenceSession(str(onnx_path), so, providers=['CPUExecutionProvider'])
            meta = json.loads(self.session.get_modelmeta().custom_metadata_map[METADATA_KEY])
        except KeyError:
            raise ValueError('%s is not a SMEMO graph of uavcine.runtime.smemo_onnx (no metadata)' % onnx_path) \
                from None
        except Exception as e:  # onnxruntime raises its own exception types for a broken file
            raise ValueError('cannot load SMEMO graph %s: %s' % (onnx_path, str(e).splitlines()[0])) from e
        if meta.get('kind') != 'smemo':
            raise ValueError('%s is not a SMEMO graph (kind %r)' % (onnx_path, meta.get('kind')))
        if model_path is not None:
            check_made_from(meta, model_path, onnx_path, 'SMEMO graph', 'export it again')
        self.cfg = SimpleNamespace(**meta['config'])
        self.max_agents = int(meta['max_agents'])
        self.mode_prior = np.asarray(meta['mode_prior'], dtype=np.float64)

    def forecast(self, past: np.ndarray) -> np.ndarray:
        """past (A, T_obs, 2) scene-centred positions, 1 <= A <= max_agents -> future (A, K, T_pred, 2)."""
        past = np.asarray(past, dtype=np.float32)
        a = past.shape[0]
        if past.ndim != 3 or past.shape[1:] != (self.cfg.obs_len, 2):
            raise ValueError('past must be (agents, %d, 2), not %s' % (self.cfg.obs_len, past.shape))
        if not 1 <= a <= self.max_agents:
            raise ValueError('a scene of %d agents: this graph takes 1 to %d (export with a larger --max-agents)'
                             % (a, self.max_agents))
        return self.session.run(None, {'past': past[None], 'mask': np.ones((1, a), np.float32)})[0][0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog='python -m uavcine.runtime.smemo_onnx', description=__doc__.split('\n')[0])
    ap.add_argument('--model', default='models/smemo_eth.pt', help='SMEMO checkpoint (.pt)')
    ap.add_argument('--out', required=True, help='the ONNX file to write')
    ap.add_argument('--max-agents', type=int, default=DEFAULT_MAX_AGENTS,
                    help='the largest scene (agents) the forecaster takes')
    a = ap.parse_args(argv)
    try:
        ops = export(a.model, a.out, a.max_agents)
    except ValueError as e:
        print('error: %s' % e, file=sys.stderr)
        return 2
    print('%s: 1 to %d agents, %.2f MB, operators: %s' % (a.out, a.max_agents, Path(a.out).stat().st_size / 1e6,
                                                     ' '.join(sorted(set(ops)))))
    return 0


if __name__ == '__main__':
    sys.exit(main())
