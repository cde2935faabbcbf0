"""SiamFC's search forward in int8 for onnxruntime on CPU (static quantization, QDQ format).

The search forward is ~90 % of a SiamFC update at 1280x720 on this CPU (bench/bench_tracker_720p.py); the five
backbone convolutions are quantized to int8 (weights per output channel, activations per tensor, ranges from
calibration crops), which onnxruntime runs with the CPU's VNNI integer dot products. The cross-correlation with
the exemplar (a convolution whose weight is the 'kernel' input) stays float32, as does the exemplar branch: the
kernel still comes from the float model. onnxruntime's own quantizer does the work
(``onnxruntime.quantization.quantize_static``); this tool only feeds it the crops SiamFC would see.

Calibration crops: the three search crops of every ``--every``-th frame of the first ``--frames`` frames of each
sequence, tracked by the float model from the first true box (real OTB folders with ``--otb``, and/or the simulator
suite's calibration split with ``--sim``). Only activation ranges are fitted: the weights are the model file's.

The graph records the sha256 of the model file it was made from (``runtime/siamfc_onnx.py`` refuses it with any
other), then a check against the float graph on the calibration crops is printed.

    python -m uavcine.train.siamfc_int8 --model models/siamfc_real.pt --otb /work/shared/data/aerial_tracking \\
        --out models/siamfc_real_int8.onnx

Then ``search_onnx: models/siamfc_real_int8.onnx`` in the tracker node's parameters (backend onnxruntime), or
``--search-onnx`` of eval/track_eval.py and bench/bench_tracker_720p.py. TensorRT builds its own int8 or fp16
engine from the float graph; this file is for CPUs.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core import siamfc as S
from ..runtime.base import file_sha256
from ..runtime.onnx_export import METADATA_KEY
from ..runtime.siamfc_onnx import KIND


def calibration_feeds(seqs, net, cfg, frames: int, every: int) -> list:
    """Feeds {'x': (S, 3, 255, 255) float32, 'kernel'} of the float tracker following each sequence from its first
    true box."""
    feeds = []
    for seq in tqdm(seqs, desc='calibration crops', unit='seq'):
        n = min(len(seq), frames)
        t = S.SiamFCTracker(net, cfg, backend='torch')
        box0 = seq.boxes[0]
        if not np.isfinite(box0).all():
            continue
        t.init(seq.frame(0), tuple(float(v) for v in box0))
        for i in range(1, n):
            img = seq.frame(i)
            if i % every == 0:
                crops = t.search_crops(img)
                feeds.append({'x': np.ascontiguousarray(crops.transpose(0, 3, 1, 2), np.float32),
                              'kernel': t.kernel.numpy()})
            t.update(img)
    return feeds


def quantize(model_path: Path, feeds: list, out: Path, method: str = 'percentile', skip_first: bool = False) -> dict:
    """Write the int8 search graph of ``model_path`` to ``out``; returns its agreement with the float graph.
    ``method``: how activation ranges are fitted ('minmax', 'percentile', 'entropy': onnxruntime's calibrators);
    ``skip_first``: keep the first convolution (raw 0-255 RGB in) in float."""
    import onnx  # lazy: optional dependency (the onnx extra), only this tool needs it
    import onnxruntime as ort  # lazy: optional dependency (the onnxruntime backend)
    from onnxruntime.quantization import (  # lazy: as onnxruntime above
        CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static)

    net, cfg, _ = S.load_checkpoint(str(model_path))
    search = S.SearchModel(S.fuse_backbone(net.float().eval().backbone), net.out_scale, with_features=True).eval()
    float_onnx = S.export_onnx(search, cfg)
    model = onnx.load_from_string(float_onnx)
    backbone = [n.name for n in model.graph.node if n.op_type == 'Conv' and 'kernel' not in n.input]
    backbone = backbone[1:] if skip_first else backbone
    calib = {'minmax': CalibrationMethod.MinMax, 'percentile': CalibrationMethod.Percentile,
             'entropy': CalibrationMethod.Entropy}[method]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(feeds)

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / 'search.onnx'
        src.write_bytes(float_onnx)
        q = Path(tmp) / 'search_int8.onnx'
        quantize_static(str(src), str(q), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_quantize=backbone,
                        calibrate_method=calib)
        qm = onnx.load(str(q))
    p = qm.metadata_props.add()   # the project's metadata entry (runtime/onnx_export.py), as the other graphs
    p.key = METADATA_KEY
    p.value = json.dumps({'kind': KIND, 'source': Path(model_path).name, 'source_sha256': file_sha256(model_path),
                          'calibration': '%d crops of 3 scales, %s ranges%s' % (
                              len(feeds), method, ', first convolution in float' if skip_first else '')},
                         sort_keys=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(qm, str(out))

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    f32 = ort.InferenceSession(float_onnx, so, providers=['CPUExecutionProvider'])
    i8 = ort.InferenceSession(str(out), so, providers=['CPUExecutionProvider'])
    corr, same = [], []
    for f in feeds:
        a, b = f32.run(None, f)[0][:, 0], i8.run(None, f)[0][:, 0]
        corr.append(np.corrcoef(a.ravel(), b.ravel())[0, 1])
        same.append(np.mean([np.argmax(a[k]) == np.argmax(b[k]) for k in range(len(a))]))
    return {'convs': len(backbone), 'crops': len(feeds), 'response_corr_min': float(np.min(corr)),
            'response_corr_median': float(np.median(corr)), 'same_peak': float(np.mean(same)),
            'bytes': out.stat().st_size}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', default='models/siamfc_real.pt', help='our SiamFC checkpoint (.pt)')
    ap.add_argument('--otb', action='append', default=[], metavar='DIR', help='real OTB-layout sequences '
                    '(a sequence folder or a folder of them; several allowed)')
    ap.add_argument('--sim', action='store_true', help="also the simulator suite's calibration split")
    ap.add_argument('--frames', type=int, default=40, help='first N frames of each sequence')
    ap.add_argument('--every', type=int, default=4, help='crops of every N-th frame')
    ap.add_argument('--method', default='percentile', choices=['minmax', 'percentile', 'entropy'],
                    help="how activation ranges are fitted (onnxruntime's calibrators)")
    ap.add_argument('--skip-first', action='store_true', help='keep the first convolution in float')
    ap.add_argument('--out', required=True, help='the int8 ONNX file to write')
    a = ap.parse_args(argv)
    try:
        if not a.otb and not a.sim:
            raise ValueError('give calibration sequences: --otb DIR and/or --sim')
        if a.frames < 2 or a.every < 1:
            raise ValueError('--frames must be at least 2 and --every at least 1')
        net, cfg, _ = S.load_checkpoint(a.model)
        from ..eval.sequences import OTBError, otb_folders, read_otb, sim_sequences  # lazy: eval tools' data
        try:
            seqs = [read_otb(p, a.frames) for p in otb_folders(a.otb)]
        except OTBError as e:
            raise ValueError(str(e)) from e
        if a.sim:
            seqs += sim_sequences('calib')
    except ValueError as e:
        print('error: %s' % e, file=sys.stderr)
        return 2
    feeds = calibration_feeds(seqs, net, cfg, a.frames, a.every)
    if not feeds:
        print('error: no calibration crops (sequences shorter than --every frames?)', file=sys.stderr)
        return 2
    r = quantize(Path(a.model), feeds, Path(a.out), a.method, a.skip_first)
    print('%s: %d backbone convolutions in int8, calibrated on %d crops of %d sequences, %.2f MB' % (
        a.out, r['convs'], r['crops'], len(seqs), r['bytes'] / 1e6))
    print('against the float graph on those crops: response correlation median %.4f (min %.4f), same peak cell %.1f %%'
          % (r['response_corr_median'], r['response_corr_min'], 100 * r['same_peak']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
