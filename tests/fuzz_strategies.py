"""Hypothesis strategies for fuzzing: ROS messages from the typestore's own definitions, MAVLink frames.

Messages: every field of the type, recursively, with values from the whole range of its
type (NaN, inf, huge and negative numbers, empty and oversized arrays, any text); camera
images are half the time consistent (so the code behind the decoding is reached) and half
the time anything (zero size, wrong step, wrong encoding, short data).
"""
import numpy as np
from hypothesis import strategies as st

from uavcine.offline.messages import ARRAY, BASE, NAME, NUMPY_DTYPES, SEQUENCE

INT_RANGES = {'int8': (-2**7, 2**7 - 1), 'uint8': (0, 255), 'byte': (0, 255), 'char': (0, 255),
              'int16': (-2**15, 2**15 - 1), 'uint16': (0, 2**16 - 1), 'int32': (-2**31, 2**31 - 1),
              'uint32': (0, 2**32 - 1), 'int64': (-2**63, 2**63 - 1), 'uint64': (0, 2**64 - 1)}
SPECIAL_FLOATS = [0.0, -0.0, 1.0, -1.0, float('nan'), float('inf'), float('-inf'), 1e308, -1e308, 1e-308,
                  3.5e38, 1e12, -1e12]


def scalar(base):
    if base == 'string':
        return st.one_of(st.text(max_size=40), st.sampled_from(['', 'rgb8', 'bgr8', 'mono8', 'base_link', 'map']))
    if base == 'bool':
        return st.booleans()
    if base in ('float32', 'float64'):
        return st.one_of(st.sampled_from(SPECIAL_FLOATS), st.floats(allow_nan=True, allow_infinity=True,
                                                                    width=32 if base == 'float32' else 64))
    lo, hi = INT_RANGES[base]
    return st.one_of(st.sampled_from([lo, hi, 0, 1]), st.integers(lo, hi))


def numeric_array(base, size):
    dtype = NUMPY_DTYPES[base]
    return st.lists(scalar(base), min_size=size[0], max_size=size[1]).map(
        lambda v: np.array(v, dtype=dtype) if v else np.zeros(0, dtype=dtype))


def field_value(store, desc, depth=0):
    kind, detail = desc
    if kind == BASE:
        return scalar(detail[0])
    if kind == NAME:
        return message_fields(store, detail, depth + 1)
    (subkind, subdetail), count = detail
    if kind == ARRAY:
        if subkind == BASE and subdetail[0] in NUMPY_DTYPES:
            return numeric_array(subdetail[0], (count, count))
        return st.lists(field_value(store, (subkind, subdetail), depth + 1), min_size=count, max_size=count)
    # sequences: empty, small, or (rarely) oversized
    if subkind == BASE and subdetail[0] in NUMPY_DTYPES:
        return st.one_of(numeric_array(subdetail[0], (0, 8)),
                         st.integers(0, 20000).map(lambda n: np.zeros(n, dtype=NUMPY_DTYPES[subdetail[0]])))
    if depth > 3:
        return st.just([])
    return st.lists(field_value(store, (subkind, subdetail), depth + 1), max_size=4 if depth else 12)


def message_fields(store, msgtype, depth=0):
    """A dict of fields for ``msgtype`` (nested dicts), every field drawn."""
    _, fielddefs = store.fielddefs[msgtype]
    return st.fixed_dictionaries({name: field_value(store, desc, depth) for name, desc in fielddefs})


def header_fields():
    return st.fixed_dictionaries({
        'stamp': st.fixed_dictionaries({'sec': st.one_of(st.integers(1_700_000_000, 1_700_000_100),
                                                         st.integers(-2**31, 2**31 - 1)),
                                        'nanosec': st.one_of(st.integers(0, 999_999_999), st.integers(0, 2**32 - 1))}),
        'frame_id': st.sampled_from(['camera', 'base_link', '', 'x' * 300])})


@st.composite
def consistent_image(draw):
    enc = draw(st.sampled_from(['rgb8', 'bgr8', 'mono8', 'rgba8', 'bgra8', 'mono16', '32FC1', '16UC1']))
    ch = {'rgb8': 3, 'bgr8': 3, 'mono8': 1, 'rgba8': 4, 'bgra8': 4, 'mono16': 1, '32FC1': 1, '16UC1': 1}[enc]
    size = {'mono16': 2, '32FC1': 4, '16UC1': 2}.get(enc, 1)
    h = draw(st.integers(1, 48))
    w = draw(st.integers(1, 64))
    pattern = draw(st.sampled_from(['zeros', 'ones', 'noise', 'gradient']))
    n = h * w * ch * size
    if pattern == 'zeros':
        data = np.zeros(n, np.uint8)
    elif pattern == 'ones':
        data = np.full(n, 255, np.uint8)
    elif pattern == 'noise':
        data = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(0, 256, n).astype(np.uint8)
    else:
        data = (np.arange(n) % 256).astype(np.uint8)
    return {'header': draw(header_fields()), 'height': h, 'width': w, 'encoding': enc, 'is_bigendian': 0,
            'step': w * ch * size, 'data': data}


def messages(store, msgtype):
    """Fields for a message of ``msgtype``: anything of the type, or (images) a consistent image."""
    anything = message_fields(store, msgtype)
    if msgtype == 'sensor_msgs/msg/Image':
        return st.one_of(consistent_image(), anything)
    if 'header' in dict(store.fielddefs[msgtype][1]):
        # half with a plausible header so the code after the stamp checks is reached too
        return st.one_of(anything, st.tuples(anything, header_fields()).map(lambda fh: dict(fh[0], header=fh[1])))
    return anything
