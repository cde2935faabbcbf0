"""Run a uavcine node as an rclpy Node (ROS 2 Humble). Python 3.8.

The node's parameters become declared ROS parameters with descriptors (type,
description, ranges, read-only); its endpoints become rclpy publishers,
subscriptions, services and timers with the declared QoS. Callbacks that raise
are logged and the node stays up (a field robot must not lose its detector to
one bad image).
"""
import signal
import sys
import traceback

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node as RclNode
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosidl_runtime_py.utilities import get_message, get_service

from uavcine.nodes import load_node_class
from uavcine.nodes.base import Host, ParamError, coerce_param, make_params, param_specs

from .mapping import assign, descriptor_fields, qos_fields, set_parameters, split_srv_type

try:
    from rclpy.executors import ExternalShutdownException
except ImportError:  # before Humble
    ExternalShutdownException = KeyboardInterrupt

try:
    from rclpy.signals import SignalHandlerOptions
except ImportError:  # before Humble
    SignalHandlerOptions = None

try:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks
except ImportError:  # Iron and later
    from rclpy.event_handler import SubscriptionEventCallbacks

#: The line each node logs once it is set up (replay.launch.py waits for it from every node).
READY = 'uavcine node ready:'

_RELIABILITY = {'reliable': ReliabilityPolicy.RELIABLE, 'best_effort': ReliabilityPolicy.BEST_EFFORT}
_DURABILITY = {'volatile': DurabilityPolicy.VOLATILE, 'transient_local': DurabilityPolicy.TRANSIENT_LOCAL}
_HISTORY = {'keep_last': HistoryPolicy.KEEP_LAST, 'keep_all': HistoryPolicy.KEEP_ALL}

def qos_profile(q):
    f = qos_fields(q)
    return QoSProfile(reliability=_RELIABILITY[f['reliability']], durability=_DURABILITY[f['durability']],
                      history=_HISTORY[f['history']], depth=f['depth'])


def descriptor(spec):
    f = descriptor_fields(spec)
    d = ParameterDescriptor(name=f['name'], type=f['type'], description=f['description'], read_only=f['read_only'])
    if 'integer_range' in f:
        d.integer_range = [IntegerRange(**r) for r in f['integer_range']]
    if 'floating_point_range' in f:
        d.floating_point_range = [FloatingPointRange(**r) for r in f['floating_point_range']]
    if 'additional_constraints' in f:
        d.additional_constraints = f['additional_constraints']
    return d


def check_overrides(rcl, specs):
    """Check the node's command-line and parameter-file values the way the offline host does, before rclpy
    declares them: an int for a float parameter is accepted (rclpy would raise InvalidParameterTypeException),
    and a wrong or out-of-range value raises ParamError (one line, exit 2) instead of rclpy's traceback."""
    overrides = rcl._parameter_overrides  # Humble has no public accessor for a node's parameter overrides
    for name, spec in specs.items():
        if name in overrides:
            overrides[name] = Parameter(name, value=coerce_param(spec, overrides[name].value))


def message_class(msg_type):
    base, part = split_srv_type(msg_type)
    if part is None:
        return get_message(msg_type)
    return getattr(get_service(base), part)


class RclpyHost(Host):
    """Hosts one uavcine node in one rclpy Node."""

    def __init__(self, node_cls, node_name=None):
        self.node_cls = node_cls
        self.rcl = RclNode(node_name or node_cls.NAME)
        self.shutdown_reason = None
        self.specs = {s.name: s for s in param_specs(node_cls.Params)}
        check_overrides(self.rcl, self.specs)
        values = {}
        for s in self.specs.values():
            self.rcl.declare_parameter(s.name, s.default, descriptor(s))
            values[s.name] = self.rcl.get_parameter(s.name).value
        params = make_params(node_cls.Params, values, node_name=self.rcl.get_name())
        self.rcl.add_on_set_parameters_callback(self._on_set_parameters)
        self.node = node_cls(self, params, self.rcl.get_name())
        # what replay.launch.py waits for before it plays a bag (the model is loaded by now)
        self.rcl.get_logger().info('%s %s' % (READY, self.rcl.get_name()))

    def _on_set_parameters(self, parameters):
        node = getattr(self, 'node', None)
        if node is None:  # still declaring (before setup): only check the values
            for prm in parameters:
                spec = self.specs.get(prm.name)
                if spec is None:
                    continue
                try:
                    coerce_param(spec, prm.value)
                except ParamError as exc:
                    return SetParametersResult(successful=False, reason=str(exc))
            return SetParametersResult(successful=True)
        ok, reason = set_parameters(node, [(prm.name, prm.value) for prm in parameters])
        return SetParametersResult(successful=ok, reason=reason)

    def _guard(self, callback):
        def run(*args):
            try:
                return callback(*args)
            except Exception:  # a failing callback is logged; the node stays up
                self.rcl.get_logger().error('callback failed:\n%s' % traceback.format_exc(),
                                            throttle_duration_sec=5.0)
                return args[-1] if len(args) == 2 else None  # services answer with the empty response
        return run

    def create_publisher(self, node, decl):
        return self.rcl.create_publisher(message_class(decl.msg_type), decl.topic, qos_profile(decl.qos))

    def create_subscription(self, node, decl):
        logger = self.rcl.get_logger()
        topic = decl.topic

        def incompatible(event):
            logger.warn('incompatible QoS on %s: this subscription requests %s; a publisher offers something '
                        'weaker (last policy: %s). Set the image_reliability parameter to match.'
                        % (topic, decl.qos.reliability, getattr(event, 'last_policy_kind', '?')),
                        throttle_duration_sec=10.0)

        return self.rcl.create_subscription(message_class(decl.msg_type), decl.topic, self._guard(decl.callback),
                                            qos_profile(decl.qos),
                                            event_callbacks=SubscriptionEventCallbacks(incompatible_qos=incompatible))

    def create_service(self, node, decl):
        return self.rcl.create_service(get_service(decl.srv_type), decl.name, self._guard(decl.callback))

    def create_timer(self, node, decl):
        return self.rcl.create_timer(decl.period_s, self._guard(decl.callback))

    def new(self, msg_type, fields):
        msg = message_class(msg_type)()
        for name, value in fields.items():
            if not hasattr(msg, name):
                raise TypeError('%s has no field %s' % (msg_type, name))
            assign(msg, name, value, message_class)
        return msg

    def now_ns(self):
        return self.rcl.get_clock().now().nanoseconds

    def log(self, node, level, text):
        # rclpy Humble fixes the severity of a log call site (file, function, line) on its first call and
        # raises ValueError when that site logs at another one: one call site per severity.
        logger = self.rcl.get_logger()
        if level == 'error':
            logger.error(text)
        elif level == 'warn':
            logger.warning(text)
        elif level == 'debug':
            logger.debug(text)
        else:
            logger.info(text)

    def request_shutdown(self, node, reason):
        self.shutdown_reason = reason or 'requested'


def main(node_name, args=None):
    """Entry point of ``ros2 run uavcine_ros NODE``: 0 after Ctrl-C or a requested shutdown, 2 for a wrong
    parameter value, 1 for a node that cannot start; one line, never a traceback, for each."""
    if node_name.startswith('media'):
        from . import media_source  # noqa: F401  registers rosbag2_py as the media services' bag reader
    # Ctrl-C and ros2 launch's SIGINT/SIGTERM only set a flag that the loop below reads: rclpy's own handler
    # chains to Python's, whose KeyboardInterrupt can land anywhere, even in a finaliser ("Exception ignored
    # in: Future.__del__ ... KeyboardInterrupt" on stderr at every launch shutdown).
    stop = []
    options = {'signal_handler_options': SignalHandlerOptions.NO} if SignalHandlerOptions is not None else {}
    rclpy.init(args=args if args is not None else sys.argv, **options)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop.append(signum))
    host = None
    try:
        host = RclpyHost.__new__(RclpyHost)  # so that finally can clean up a node that failed in setup
        RclpyHost.__init__(host, load_node_class(node_name), node_name)
        while rclpy.ok() and host.shutdown_reason is None and not stop:
            rclpy.spin_once(host.rcl, timeout_sec=0.1)
    except ParamError as exc:
        print('%s: %s' % (node_name, exc), file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):  # Ctrl-C, or SIGINT/SIGTERM from ros2 launch
        pass
    except Exception as exc:  # a node that cannot start (missing model file, bad scenario): one line
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print('%s: could not start: %s' % (node_name, text), file=sys.stderr)
        return 1
    finally:
        if host is not None:
            if getattr(host, 'node', None) is not None:
                host.node.close()
            if getattr(host, 'rcl', None) is not None:
                host.rcl.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0
