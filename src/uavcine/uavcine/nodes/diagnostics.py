"""diagnostic_msgs helpers shared by the vehicle bridges. Python 3.8."""
from typing import Iterable, Tuple

from . import msgs

OK, WARN, ERROR, STALE = 0, 1, 2, 3


def diagnostic_status(node, level: int, name: str, message: str, hardware_id: str,
                      values: Iterable[Tuple[str, str]]):
    """A DiagnosticStatus. Its ``level`` is a ROS ``byte``: an int offline, a 1-byte bytes in rclpy."""
    fields = dict(name=name, message=message, hardware_id=hardware_id,
                  values=[{'key': str(k), 'value': str(v)} for k, v in values])
    try:
        return node.new('diagnostic_msgs/msg/DiagnosticStatus', level=level, **fields)
    except (AssertionError, TypeError, ValueError):
        return node.new('diagnostic_msgs/msg/DiagnosticStatus', level=bytes([level]), **fields)


def diagnostic_array(node, now_ns: int, statuses):
    return node.new('diagnostic_msgs/msg/DiagnosticArray', header=msgs.header(node, now_ns, ''), status=list(statuses))
