"""ONNX export for the onboard networks, kept to what Xavier's TensorRT 8.5 imports.

- opset 13..17 (default 16: LayerNorm is exported as primitive ops; the ONNX
  ``LayerNormalization`` node of opset 17 is only parsed natively from TensorRT 8.6);
- fixed input shapes (the networks run at one input size; TensorRT builds fastest
  and best for static shapes);
- no ``GridSample`` (so no deformable attention), no other operator outside
  ``TRT85_OPS``; ``check_onnx_for_tensorrt`` lists offenders.

Metadata (class names, input size, normalisation) is stored in the ONNX file's
``metadata_props`` so the onnxruntime and TensorRT paths need no torch file.

Python 3.8.
"""
import inspect
import json
import warnings
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

#: ONNX operators that onnx-tensorrt 8.5 parses (the subset our graphs may use).
TRT85_OPS = frozenset("""
Abs Add And ArgMax ArgMin AveragePool BatchNormalization Cast Ceil Clip Concat Constant ConstantOfShape Conv
ConvTranspose Cos CumSum DepthToSpace Div Einsum Elu Equal Erf Exp Expand Flatten Floor Gather GatherElements
Gemm GlobalAveragePool GlobalMaxPool Greater GreaterOrEqual HardSigmoid Identity InstanceNormalization LeakyRelu
Less LessOrEqual Log LogSoftmax LSTM MatMul Max MaxPool Min Mod Mul Neg Not Or Pad Pow PRelu Range Reciprocal
ReduceL2 ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum Relu Reshape Resize ScatterND Shape Sigmoid Sign Sin
Slice Softmax Softplus Split Sqrt Squeeze Sub Sum Tanh Tile TopK Transpose Unsqueeze Where Xor
""".split())
# LSTM: onnx-tensorrt 8.5's operator matrix lists it (FP32, FP16; bidirectional ones need equal activations).

#: Operators that must never reach the Jetson graph.
FORBIDDEN_OPS = frozenset(['GridSample', 'LayerNormalization', 'NonZero', 'DeformConv'])

OPSET_MIN, OPSET_MAX, OPSET_DEFAULT = 13, 17, 16
METADATA_KEY = 'uavcine'


def export_onnx(module: Any, example_inputs: Sequence[Any], path: str, input_names: Sequence[str],
                output_names: Sequence[str], opset: int = OPSET_DEFAULT,
                metadata: Optional[Dict[str, Any]] = None, half_weights: bool = False,
                dynamic_axes: Optional[Dict[str, Dict[int, str]]] = None) -> List[str]:
    """Export ``module`` (eval mode) with static shapes; store ``metadata`` as JSON; return the op types used.

    ``dynamic_axes`` (torch.onnx's form): only where a size really varies per call (SMEMO's agents of a scene);
    TensorRT then needs an optimisation profile (min/opt/max) for those axes when it builds the engine.

    ``half_weights``: store large float32 weights as float16 followed by a Cast to float32 (half the file;
    exact when the weights already are float16 values, as in our float16 checkpoints).
    Raises ValueError if the graph uses an operator TensorRT 8.5 cannot import.
    """
    import onnx  # lazy: optional dependency (onnx): only for export and parity
    import torch  # lazy: torch takes seconds to import; only this path needs it
    if not OPSET_MIN <= opset <= OPSET_MAX:
        raise ValueError('opset must be in %d..%d for TensorRT 8.5, got %d' % (OPSET_MIN, OPSET_MAX, opset))
    module = module.eval()
    kwargs = dict(input_names=list(input_names), output_names=list(output_names), opset_version=opset,
                  do_constant_folding=True)
    if dynamic_axes:
        kwargs['dynamic_axes'] = dynamic_axes
    if 'dynamo' in inspect.signature(torch.onnx.export).parameters:
        kwargs['dynamo'] = False  # the TorchScript exporter: same graph as torch 2.0 on the Jetson
    with torch.no_grad(), warnings.catch_warnings():
        # shapes are static by design: the tracer's "treated as a constant" notes are expected
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        warnings.simplefilter('ignore', DeprecationWarning)
        warnings.simplefilter('ignore', FutureWarning)
        torch.onnx.export(module, tuple(example_inputs), str(path), **kwargs)
    model = onnx.load(str(path))
    if metadata is not None:
        del model.metadata_props[:]
        entry = model.metadata_props.add()
        entry.key = METADATA_KEY
        entry.value = json.dumps(metadata, sort_keys=True)
    if half_weights:
        store_weights_half(model)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    ops = check_onnx_for_tensorrt(model)
    return ops


def store_weights_half(model: Any, min_elements: int = 1024) -> int:
    """Replace float32 initializers of at least ``min_elements`` by float16 ones + Cast(to float32) nodes.

    The graph computes in float32 as before; only the stored values are rounded to float16.
    Returns the number of initializers converted.
    """
    from onnx import TensorProto, helper, numpy_helper  # lazy: optional dependency (onnx): only for export and parity
    graph = model.graph
    casts, n = [], 0
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        arr = numpy_helper.to_array(init)
        if arr.size < min_elements:
            continue
        name = init.name
        half = numpy_helper.from_array(arr.astype(np.float16), name + '__fp16')
        init.CopyFrom(half)
        casts.append(helper.make_node('Cast', [name + '__fp16'], [name], to=TensorProto.FLOAT,
                                      name=name + '__cast'))
        n += 1
    for node in reversed(casts):
        graph.node.insert(0, node)
    return n


def check_onnx_for_tensorrt(model_or_path: Any) -> List[str]:
    """The sorted op types of the graph; ValueError if any is outside TRT85_OPS or the opset is out of range."""
    import onnx  # lazy: optional dependency (onnx): only for export and parity
    model = onnx.load(str(model_or_path)) if isinstance(model_or_path, str) else model_or_path
    opset = max(o.version for o in model.opset_import if o.domain in ('', 'ai.onnx'))
    ops = sorted({n.op_type for n in model.graph.node})
    bad = [o for o in ops if o in FORBIDDEN_OPS or o not in TRT85_OPS]
    if bad:
        raise ValueError('graph uses operators TensorRT 8.5 cannot import: %s' % ', '.join(bad))
    if not OPSET_MIN <= opset <= OPSET_MAX:
        raise ValueError('graph opset %d is outside %d..%d' % (opset, OPSET_MIN, OPSET_MAX))
    return ops


def read_metadata(onnx_path: str) -> Dict[str, Any]:
    """The uavcine metadata of an exported file (onnx if importable, else onnxruntime)."""
    try:
        import onnx  # lazy: optional dependency (onnx): only for export and parity
        model = onnx.load(str(onnx_path), load_external_data=False)
        props = {p.key: p.value for p in model.metadata_props}
    except ImportError:
        import onnxruntime as ort  # lazy: optional dependency (onnxruntime backend)
        sess = ort.InferenceSession(str(onnx_path), providers=['CPUExecutionProvider'])
        props = dict(sess.get_modelmeta().custom_metadata_map)
    if METADATA_KEY not in props:
        raise ValueError('%s has no uavcine metadata (export it with uavcine.runtime.onnx_export)' % onnx_path)
    return json.loads(props[METADATA_KEY])
