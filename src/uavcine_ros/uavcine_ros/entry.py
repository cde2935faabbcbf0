"""Console entry points, one per node: ``ros2 run uavcine_ros detector`` calls ``entry.detector()``.

Python 3.8. The names are setup.py's NODE_NAMES; any key of uavcine.nodes.REGISTRY resolves here.
"""
import sys

from uavcine.nodes import REGISTRY


def __getattr__(name):
    if name not in REGISTRY:
        raise AttributeError(name)

    def main(args=None):
        try:
            from .host import main as host_main  # lazy: rclpy, present only on a ROS 2 install
            return host_main(name, args)
        except KeyboardInterrupt:  # Ctrl-C while rclpy and the node's libraries load
            return 0
        except ImportError as exc:  # a dependency missing from the install: one line naming it
            print('%s: cannot start: %s (see requirements-ros.txt)' % (name, exc), file=sys.stderr)
            return 1

    main.__name__ = name
    return main
