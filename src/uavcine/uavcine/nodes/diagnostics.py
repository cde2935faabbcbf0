"""diagnostic_msgs helpers shared by the vehicle bridges. Python 3.8."""
from typing import Iterable, Tuple

from . import msgs

OK, WARN, ERROR, STALE = 0, 1, 2, 3


def diagnostic_status(node, level: int, name: str, message: str, hardware_id: str,
                      values: Iterable[Tuple[str, str]]):
    """A DiagnosticStatus. Its ``level`` is a ROS ``byte``; both hosts' ``new`` take an int for it."""
    return node.new('diagnostic_msgs/msg/DiagnosticStatus', level=int(level), name=name, message=message,
                    hardware_id=hardware_id, values=[{'key': str(k), 'value': str(v)} for k, v in values])


def diagnostic_array(node, now_ns: int, statuses):
    return node.new('diagnostic_msgs/msg/DiagnosticArray', header=msgs.header(node, now_ns, ''), status=list(statuses))
