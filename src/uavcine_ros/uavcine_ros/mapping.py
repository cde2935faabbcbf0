"""From uavcine's declarations to ROS 2 terms, without importing rclpy (so it is tested everywhere).

Python 3.8 (runs on the Jetson).
"""
import array
from typing import Any, Dict, Iterable, Tuple

import numpy as np

from uavcine.nodes.base import ParamSpec, QoS, param_specs

#: rcl_interfaces/msg/ParameterType constants.
PARAMETER_TYPES = {
    'bool': 1, 'int': 2, 'float': 3, 'str': 4,
    'bool_array': 6, 'int_array': 7, 'float_array': 8, 'str_array': 9,
}


def descriptor_fields(spec: ParamSpec) -> Dict[str, Any]:
    """Fields of an rcl_interfaces/msg/ParameterDescriptor for a declared parameter."""
    out = {'name': spec.name, 'type': PARAMETER_TYPES[spec.type], 'description': spec.description,
           'read_only': bool(spec.read_only)}
    constraints = []
    if spec.type in ('int', 'float') and (spec.min is not None or spec.max is not None):
        big = 2 ** 31 - 1 if spec.type == 'int' else float('inf')
        lo = spec.min if spec.min is not None else -big
        hi = spec.max if spec.max is not None else big
        key = 'integer_range' if spec.type == 'int' else 'floating_point_range'
        rng = {'from_value': int(lo) if spec.type == 'int' else float(lo),
               'to_value': int(hi) if spec.type == 'int' else float(hi),
               'step': int(spec.step or (1 if spec.type == 'int' else 0)) if spec.type == 'int' else float(spec.step or 0.0)}
        out[key] = [rng]
    if spec.choices:
        constraints.append('one of: %s' % ', '.join(str(c) for c in spec.choices))
    if spec.read_only and spec.read_only_reason:
        constraints.append('read-only: %s' % spec.read_only_reason)
    if constraints:
        out['additional_constraints'] = '; '.join(constraints)
    return out


def set_parameters(node, parameters: Iterable[Tuple[str, Any]]) -> Tuple[bool, str]:
    """The rclpy host's on-set-parameters callback, without rclpy: (name, value) pairs -> (successful, reason).

    The node's own table decides (``Node.set_parameters``, the one the offline host uses too); names the
    node did not declare (rclpy's own, e.g. ``use_sim_time``) are left to rclpy.
    """
    declared = {s.name for s in param_specs(type(node).Params)}
    return node.set_parameters({name: value for name, value in parameters if name in declared})


def qos_fields(q: QoS) -> Dict[str, Any]:
    """Keyword arguments of rclpy.qos.QoSProfile, with policy names as strings (host maps them to enums)."""
    return {'reliability': q.reliability, 'durability': q.durability, 'history': q.history, 'depth': q.depth}


def split_srv_type(msg_type: str):
    """'pkg/srv/Name_Response' -> ('pkg/srv/Name', 'Response'); message types -> (msg_type, None)."""
    for part in ('Request', 'Response'):
        if '/srv/' in msg_type and msg_type.endswith('_' + part):
            return msg_type[:-len(part) - 1], part
    return msg_type, None


# ---------------------------------------------------------------------------- building rclpy messages
_TYPECODES = {np.dtype(np.uint8): 'B', np.dtype(np.int8): 'b', np.dtype(np.float64): 'd',
              np.dtype(np.float32): 'f', np.dtype(np.int32): 'i', np.dtype(np.uint32): 'I',
              np.dtype(np.int16): 'h', np.dtype(np.uint16): 'H', np.dtype(np.int64): 'q', np.dtype(np.uint64): 'Q'}
_FLOAT_SLOTS = ('double', 'float')
_INT_SLOTS = ('int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64')
#: A .msg ``byte`` field: rclpy names its slot 'octet' (the IDL type) and wants a 1-byte ``bytes``.
_BYTE_SLOTS = ('byte', 'octet')


def scalar_for_slot(slot, value):
    """What rclpy's strict setters accept for a basic field (the offline host converts the same way)."""
    if isinstance(value, np.generic):
        value = value.item()
    if slot in _FLOAT_SLOTS and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if slot in _INT_SLOTS and isinstance(value, float) and value.is_integer():
        return int(value)
    if slot in _BYTE_SLOTS and isinstance(value, int) and not isinstance(value, bool):
        return bytes([value])
    if slot == 'char' and isinstance(value, int) and not isinstance(value, bool):
        return chr(value)
    if slot == 'boolean':
        return bool(value)
    return value


def assign(msg, name, value, message_class):
    """Set a field of an rclpy message the way the offline host builds messages.

    Nested dicts become messages, numpy arrays and numbers become what rclpy's strict
    setters accept. ``message_class('pkg/msg/Name')`` gives message classes
    (rosidl_runtime_py.utilities.get_message on ROS 2).
    """
    slot = msg.get_fields_and_field_types().get(name, '')
    if isinstance(value, dict):
        sub = type(getattr(msg, name))()
        for k, v in value.items():
            assign(sub, k, v, message_class)
        value = sub
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        cls = sequence_element_class(msg, name, message_class)
        out = []
        for v in value:
            if isinstance(v, dict):
                sub = cls()
                for k, x in v.items():
                    assign(sub, k, x, message_class)
                v = sub
            out.append(v)
        value = out
    elif isinstance(value, np.ndarray):
        try:
            setattr(msg, name, value)
            return
        except (AssertionError, TypeError):
            code = _TYPECODES.get(value.dtype)
            value = array.array(code, value.tobytes()) if code else value.tolist()
    elif isinstance(value, (bytes, bytearray)) and slot not in _BYTE_SLOTS:
        value = array.array('B', bytes(value))
    else:
        value = scalar_for_slot(slot, value)
    setattr(msg, name, value)


def sequence_element_class(msg, name, message_class):
    """The message class of the elements of a sequence field ('sequence<vision_msgs/Detection2D>')."""
    slot_type = msg.get_fields_and_field_types()[name]
    inner = slot_type[slot_type.index('<') + 1:].split(',')[0].rstrip('>')
    pkg, _, cls = inner.partition('/')
    return message_class('%s/msg/%s' % (pkg, cls))
