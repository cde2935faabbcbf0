"""Console entry points, one per node: ``ros2 run uavcine_ros detector`` calls ``entry.detector()``.

Python 3.8. The names are setup.py's NODE_NAMES; any key of uavcine.nodes.REGISTRY resolves here.
"""


def __getattr__(name):
    from uavcine.nodes import REGISTRY
    if name not in REGISTRY:
        raise AttributeError(name)

    def main(args=None):
        from .host import main as host_main
        return host_main(name, args)

    main.__name__ = name
    return main
