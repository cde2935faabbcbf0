"""From uavcine's declarations to ROS 2 terms, without importing rclpy (so it is tested everywhere).

Python 3.8 (runs on the Jetson).
"""
from typing import Any, Dict

from uavcine.nodes.base import ParamSpec, QoS

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
    if constraints:
        out['additional_constraints'] = '; '.join(constraints)
    return out


def qos_fields(q: QoS) -> Dict[str, Any]:
    """Keyword arguments of rclpy.qos.QoSProfile, with policy names as strings (host maps them to enums)."""
    return {'reliability': q.reliability, 'durability': q.durability, 'history': q.history, 'depth': q.depth}


def split_srv_type(msg_type: str):
    """'pkg/srv/Name_Response' -> ('pkg/srv/Name', 'Response'); message types -> (msg_type, None)."""
    for part in ('Request', 'Response'):
        if '/srv/' in msg_type and msg_type.endswith('_' + part):
            return msg_type[:-len(part) - 1], part
    return msg_type, None
