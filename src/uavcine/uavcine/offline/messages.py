"""Build rosbags message objects the way rclpy builds messages: missing fields take the .msg defaults.

rosbags' generated dataclasses need every field; rclpy's classes fill defaults.
``new_message`` gives nodes rclpy's behaviour offline, converting nested dicts to
messages and numeric arrays to numpy arrays of the field's dtype (what rosbags'
CDR serializer expects).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from rosbags.typesys.store import Typestore

from ..errors import UserError
from .typestore import interface_files

# rosbags Nodetype values (rosbags.typesys.base.Nodetype)
BASE, NAME, ARRAY, SEQUENCE = 1, 2, 3, 4

NUMPY_DTYPES = {
    'bool': np.bool_, 'byte': np.uint8, 'char': np.uint8, 'int8': np.int8, 'uint8': np.uint8,
    'int16': np.int16, 'uint16': np.uint16, 'int32': np.int32, 'uint32': np.uint32,
    'int64': np.int64, 'uint64': np.uint64, 'float32': np.float32, 'float64': np.float64,
}


#: Default values that Humble's own .msg files give fields (``float64 w 1`` in geometry_msgs/Quaternion): rosbags'
#: typestore drops them, rclpy's classes start from them. These are all of them in the interfaces Humble ships
#: with uavcine's (grep of common_interfaces, rcl_interfaces, vision_msgs 4.1.1); the .msg files of this
#: repository are read for theirs (``msg_defaults``), and tests/ros checks the result against rclpy's classes.
HUMBLE_DEFAULTS = {'geometry_msgs/msg/Quaternion': {'w': 1.0}}

_BASIC = {'bool', 'byte', 'char', 'float32', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32',
          'int64', 'uint64', 'string'}


def parse_msg_defaults(text: str) -> dict:
    """``TYPE NAME DEFAULT`` lines of a .msg file (basic scalar types) -> {field: value}; constants excluded."""
    out = {}
    for line in text.splitlines():
        line = line.split('#', 1)[0].strip()
        parts = line.split(None, 2)
        if len(parts) != 3 or '=' in line or parts[0] not in _BASIC:
            continue
        typ, name, raw = parts
        raw = raw.strip()
        if typ == 'string':
            out[name] = raw[1:-1] if raw[:1] in '"\'' and raw[-1:] == raw[:1] else raw
        elif typ == 'bool':
            out[name] = raw.lower() in ('true', '1')
        elif typ.startswith('float'):
            out[name] = float(raw)
        else:
            out[name] = int(raw, 0)
    return out


def msg_defaults() -> dict:
    """{message type: {field: default}} for the Humble types above and this repository's .msg files."""
    global _DEFAULTS
    if _DEFAULTS is None:
        table = {k: dict(v) for k, v in HUMBLE_DEFAULTS.items()}
        for name, path in interface_files().items():
            if '/msg/' in name:
                found = parse_msg_defaults(path.read_text())
                if found:
                    table[name] = found
        _DEFAULTS = table
    return _DEFAULTS


_DEFAULTS = None


class MessageError(UserError, TypeError):
    """A message was built with an unknown type or field, or a value of the wrong kind."""


def _scalar(base: str, value: Any, where: str) -> Any:
    try:
        if base == 'string':
            if not isinstance(value, str):
                raise TypeError
            return value
        if base == 'bool':
            return bool(value)
        if base in ('float32', 'float64'):
            return float(value)
        if isinstance(value, (bytes, bytearray)) and len(value) == 1:  # rclpy's form of byte/char fields
            return value[0]
        return int(value)
    except (TypeError, ValueError):
        raise MessageError('%s: expected %s, got %r' % (where, base, value)) from None


def _default(store: Typestore, desc: tuple) -> Any:
    kind, detail = desc
    if kind == BASE:
        base = detail[0]
        return '' if base == 'string' else False if base == 'bool' else 0.0 if base.startswith('float') else 0
    if kind == NAME:
        return new_message(store, detail, {})
    (subkind, subdetail), count = detail
    if kind == ARRAY:
        if subkind == BASE and subdetail[0] in NUMPY_DTYPES:
            return np.zeros(count, dtype=NUMPY_DTYPES[subdetail[0]])
        return [_default(store, (subkind, subdetail)) for _ in range(count)]
    if subkind == BASE and subdetail[0] in NUMPY_DTYPES:
        return np.zeros(0, dtype=NUMPY_DTYPES[subdetail[0]])
    return []


def _convert(store: Typestore, desc: tuple, value: Any, where: str) -> Any:
    kind, detail = desc
    if kind == BASE:
        return _scalar(detail[0], value, where)
    if kind == NAME:
        if isinstance(value, dict):
            return new_message(store, detail, value)
        return value
    (subkind, subdetail), count = detail
    if subkind == BASE and subdetail[0] in NUMPY_DTYPES:
        dtype = NUMPY_DTYPES[subdetail[0]]
        if isinstance(value, (bytes, bytearray, memoryview)):
            arr = np.frombuffer(value, dtype=np.uint8).view(dtype) if dtype != np.uint8 else np.frombuffer(value, np.uint8)
        else:
            arr = np.asarray(value)
            if arr.dtype != dtype:
                arr = arr.astype(dtype)
        arr = np.ascontiguousarray(arr).reshape(-1)
        if kind == ARRAY and arr.size != count:
            raise MessageError('%s: expected %d values, got %d' % (where, count, arr.size))
        return arr
    items = list(value)
    if kind == ARRAY and len(items) != count:
        raise MessageError('%s: expected %d values, got %d' % (where, count, len(items)))
    return [_convert(store, (subkind, subdetail), v, '%s[%d]' % (where, i)) for i, v in enumerate(items)]


def new_message(store: Typestore, typename: str, fields: dict) -> Any:
    """An instance of ``typename`` from ``fields``; the rest default as in rclpy."""
    try:
        cls = store.types[typename]
        _, fielddefs = store.fielddefs[typename]
    except KeyError:
        raise MessageError('unknown message type %r' % typename) from None
    names = {name for name, _ in fielddefs}
    unknown = set(fields) - names
    if unknown:
        raise MessageError('%s has no field %s (fields: %s)' % (typename, ', '.join(sorted(unknown)),
                                                               ', '.join(n for n, _ in fielddefs)))
    kwargs = {}
    given = msg_defaults().get(typename, {})
    for name, desc in fielddefs:
        if name in fields:
            kwargs[name] = _convert(store, desc, fields[name], '%s.%s' % (typename, name))
        elif name in given:
            kwargs[name] = _convert(store, desc, given[name], '%s.%s' % (typename, name))
        else:
            kwargs[name] = _default(store, desc)
    return cls(**kwargs)
