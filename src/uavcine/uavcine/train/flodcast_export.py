"""Ship a trained FLODCAST: copy its checkpoint into models/ and export the ONNX beside it (the node's
onnxruntime backend, TensorRT 8.5 operator set, the training resolution).

    python -m uavcine.train.flodcast_export runs/flodcast/both/flodcast_both.pt models/flodcast_both.pt
"""
from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from ..core.forecasting.flodcast import TupleOutputs, from_checkpoint
from ..runtime.onnx_export import export_onnx


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('checkpoint')
    ap.add_argument('out', help='the .pt to write; the .onnx goes beside it')
    a = ap.parse_args(argv)
    out = Path(a.out)
    if out.suffix != '.pt':
        print('flodcast_export: the output must end in .pt (the .onnx goes beside it)', file=sys.stderr)
        return 2
    try:
        ckpt = torch.load(a.checkpoint, map_location='cpu', weights_only=False)
        model, norm = from_checkpoint(ckpt)
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        print('flodcast_export: cannot load %s: %s' % (a.checkpoint, exc), file=sys.stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    if Path(a.checkpoint).resolve() != out.resolve():
        shutil.copy(a.checkpoint, out)
    cfg = model.cfg
    x = torch.zeros(1, cfg.past, cfg.in_channels, cfg.height, cfg.width_px)
    ops = export_onnx(TupleOutputs(model), [x], str(out.with_suffix('.onnx')), ['past'], list(cfg.modalities),
                      metadata={'config': asdict(cfg), 'minmax': asdict(norm)}, half_weights=True)
    print('%s (%.2f MB), %s (%.2f MB, %d op types)' % (out, out.stat().st_size / 1e6, out.with_suffix('.onnx'),
                                                       out.with_suffix('.onnx').stat().st_size / 1e6, len(ops)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
