"""The node model: one node code, two hosts.

A uavcine node is a plain class. It declares its parameters as a dataclass
(defaults, descriptions, ranges), and in ``setup()`` it creates subscriptions,
publishers, services and timers through the same calls rclpy offers. The host
that runs it (the offline host for tests, the demo and bag replay; the rclpy host
on a real ROS 2 install) implements those calls. Nodes never import rclpy or
rosbags: message classes come from the host, and messages are built with
``self.new(type, **fields)`` so that both worlds fill defaults and convert arrays
the way their own message classes need.

Must run on Python 3.8 (Jetson AGX Xavier, JetPack 5).
"""
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from ..errors import UserError

# ----------------------------------------------------------------------------
# Quality of service
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QoS:
    """The subset of ROS 2 QoS that uavcine uses (names as in rclpy)."""

    reliability: str = 'reliable'  # 'reliable' | 'best_effort'
    durability: str = 'volatile'  # 'volatile' | 'transient_local'
    depth: int = 10
    history: str = 'keep_last'  # 'keep_last' | 'keep_all'

    def __post_init__(self):
        if self.reliability not in ('reliable', 'best_effort'):
            raise ValueError('QoS reliability must be reliable or best_effort, not %r' % self.reliability)
        if self.durability not in ('volatile', 'transient_local'):
            raise ValueError('QoS durability must be volatile or transient_local, not %r' % self.durability)
        if self.history not in ('keep_last', 'keep_all'):
            raise ValueError('QoS history must be keep_last or keep_all, not %r' % self.history)

    def compatible_with(self, offered: 'QoS') -> bool:
        """DDS request/offered rule: can this (requested) QoS receive from ``offered``?"""
        if self.reliability == 'reliable' and offered.reliability == 'best_effort':
            return False
        if self.durability == 'transient_local' and offered.durability == 'volatile':
            return False
        return True


#: rclpy.qos.qos_profile_sensor_data: images and telemetry.
SENSOR_DATA = QoS('best_effort', 'volatile', 5)
#: Targets, commands, services.
RELIABLE = QoS('reliable', 'volatile', 10)
#: Latched topics (LabelInfo, CameraInfo of a fixed camera, maps).
LATCHED = QoS('reliable', 'transient_local', 1)


def sensor_qos(reliability: str = 'best_effort', depth: int = 5) -> QoS:
    """Sensor-data profile with a configurable reliability (an image_qos parameter)."""
    return QoS(reliability, 'volatile', depth)


# ----------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------

_PARAM_META = 'uavcine_param'


def param(default: Any, description: str, *, min: Optional[float] = None, max: Optional[float] = None,
          choices: Optional[Sequence[Any]] = None, read_only: Union[bool, str] = False, step: Optional[float] = None):
    """A declared node parameter: a dataclass field with ROS 2 descriptor metadata.

    ``min``/``max`` become the descriptor's floating/integer range, ``choices``
    are checked on every set; list defaults are copied per instance.
    ``read_only``: the reason (a sentence) why the parameter cannot change while
    the node runs (both hosts refuse a change with it); False for a parameter
    that takes effect when set at run time (see ``Node.on_parameters_changed``).
    """
    if read_only is True:
        read_only = 'it is used once, when the node starts'
    meta = {_PARAM_META: {'description': description, 'min': min, 'max': max,
                          'choices': tuple(choices) if choices is not None else None,
                          'read_only': bool(read_only), 'read_only_reason': read_only or '', 'step': step}}
    if isinstance(default, (list, tuple)):
        value = list(default)
        return field(default_factory=lambda: list(value), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ParamSpec:
    """What a host needs to declare one parameter."""

    name: str
    type: str  # bool | int | float | str | bool_array | int_array | float_array | str_array
    default: Any
    description: str
    min: Optional[float] = None
    max: Optional[float] = None
    step: Optional[float] = None
    choices: Optional[Tuple[Any, ...]] = None
    read_only: bool = False
    read_only_reason: str = ''  # why it cannot change at run time (shown when a change is refused)


class ParamError(UserError, ValueError):
    """A parameter value a user gave is wrong (name, type or range)."""


def _type_of(value: Any, name: str) -> str:
    if isinstance(value, bool):
        return 'bool'
    if isinstance(value, int):
        return 'int'
    if isinstance(value, float):
        return 'float'
    if isinstance(value, str):
        return 'str'
    if isinstance(value, list):
        if not value:
            raise TypeError('parameter %s: list defaults must not be empty (the element type is needed)' % name)
        return _type_of(value[0], name) + '_array'
    raise TypeError('parameter %s: unsupported default %r' % (name, value))


def param_specs(params_cls) -> List[ParamSpec]:
    """The declarations of a node's Params dataclass, in field order."""
    specs = []
    if params_cls is None:
        return specs
    inst = params_cls()
    for f in dataclasses.fields(params_cls):
        meta = f.metadata.get(_PARAM_META)
        if meta is None:
            raise TypeError('%s.%s is not declared with param(...)' % (params_cls.__name__, f.name))
        default = getattr(inst, f.name)
        specs.append(ParamSpec(name=f.name, type=_type_of(default, f.name), default=default,
                               description=meta['description'], min=meta['min'], max=meta['max'],
                               step=meta['step'], choices=meta['choices'], read_only=meta['read_only'],
                               read_only_reason=meta.get('read_only_reason', '')))
    return specs


def coerce_param(spec: ParamSpec, value: Any) -> Any:
    """Check and convert a user's value for a parameter; raise ParamError with one clear line."""
    t = spec.type
    try:
        if t == 'bool':
            if isinstance(value, bool):
                out = value
            elif isinstance(value, str) and value.lower() in ('true', 'false'):
                out = value.lower() == 'true'
            else:
                raise ValueError
        elif t == 'int':
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            out = int(value)
        elif t == 'float':
            if isinstance(value, bool):
                raise ValueError
            out = float(value)
        elif t == 'str':
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ValueError
            out = str(value)
        else:
            elem = ParamSpec(spec.name, t[:-len('_array')], None, '')
            if isinstance(value, str) or not isinstance(value, (list, tuple)):
                raise ValueError
            out = [coerce_param(elem, v) for v in value]
    except (ValueError, TypeError):
        raise ParamError('parameter %s: expected %s, got %r' % (spec.name, t, value)) from None
    if t in ('int', 'float'):
        if spec.min is not None and out < spec.min:
            raise ParamError('parameter %s: %r is below the minimum %r' % (spec.name, out, spec.min))
        if spec.max is not None and out > spec.max:
            raise ParamError('parameter %s: %r is above the maximum %r' % (spec.name, out, spec.max))
    if spec.choices is not None and out not in spec.choices:
        raise ParamError('parameter %s: %r is not one of %s' % (spec.name, out, ', '.join(map(repr, spec.choices))))
    return out


def make_params(params_cls, overrides: Optional[Dict[str, Any]] = None, node_name: str = 'node'):
    """Build a Params instance from defaults and user overrides, checking every value."""
    overrides = dict(overrides or {})
    if params_cls is None:
        if overrides:
            raise ParamError('node %s has no parameters, got %s' % (node_name, ', '.join(sorted(overrides))))
        return None
    specs = {s.name: s for s in param_specs(params_cls)}
    unknown = sorted(set(overrides) - set(specs) - {'use_sim_time'})
    if unknown:
        raise ParamError('node %s has no parameter %s (known: %s)' % (node_name, ', '.join(unknown), ', '.join(sorted(specs))))
    kwargs = {k: coerce_param(specs[k], v) for k, v in overrides.items() if k in specs}
    return params_cls(**kwargs)


# ----------------------------------------------------------------------------
# Endpoint declarations (what a node asked its host for)
# ----------------------------------------------------------------------------


@dataclass
class PublisherDecl:
    msg_type: str
    topic: str
    qos: QoS


@dataclass
class SubscriptionDecl:
    msg_type: str
    topic: str
    callback: Callable[[Any], None]
    qos: QoS


@dataclass
class ServiceDecl:
    srv_type: str
    name: str
    callback: Callable[[Any, Any], Any]


@dataclass
class TimerDecl:
    period_s: float
    callback: Callable[[], None]


class Host:
    """What a host gives a node. Implemented by the offline host and the rclpy host."""

    def create_publisher(self, node: 'Node', decl: PublisherDecl):  # -> object with publish(msg)
        raise NotImplementedError

    def create_subscription(self, node: 'Node', decl: SubscriptionDecl):
        raise NotImplementedError

    def create_service(self, node: 'Node', decl: ServiceDecl):
        raise NotImplementedError

    def create_timer(self, node: 'Node', decl: TimerDecl):  # -> object with cancel()
        raise NotImplementedError

    def new(self, msg_type: str, fields: Dict[str, Any]):
        raise NotImplementedError

    def now_ns(self) -> int:
        raise NotImplementedError

    def log(self, node: 'Node', level: str, text: str) -> None:
        raise NotImplementedError

    def request_shutdown(self, node: 'Node', reason: str) -> None:
        raise NotImplementedError


class Node:
    """Base class of every uavcine node.

    Subclasses set ``NAME`` (default node name), ``Params`` (a dataclass of
    ``param(...)`` fields, or None) and implement ``setup()``.
    """

    NAME = 'node'
    Params = None  # type: Any

    def __init__(self, host: Host, params: Any = None, name: Optional[str] = None):
        self.host = host
        self.name = name or self.NAME
        self.p = params if params is not None else make_params(self.Params, node_name=self.name)
        self.publishers = []  # type: List[PublisherDecl]
        self.subscriptions = []  # type: List[SubscriptionDecl]
        self.services = []  # type: List[ServiceDecl]
        self.timers = []  # type: List[TimerDecl]
        self._throttle = {}  # type: Dict[str, float]
        self.setup()

    # --- what subclasses implement -------------------------------------------------
    def setup(self) -> None:
        raise NotImplementedError

    def on_parameters_changed(self, changed: Dict[str, Any]) -> None:
        """The parameters in ``changed`` were just set at run time (``self.p`` holds the new values).

        Rebuild what was built from them; raise ParamError (or ValueError) to refuse the change, and
        ``self.p`` goes back to the old values (and this hook is called again with them). The default rebuilds through ``configure()``: a node
        that builds core configurations from its parameters does it there (and calls it from setup),
        and reads every other parameter from ``self.p`` where it is used. Parameters that cannot
        change live are declared ``read_only`` with the reason; the hosts refuse those before this.
        """
        self.configure()

    def configure(self) -> None:
        """Build the core objects' configurations from ``self.p`` (setup calls it; so does every change)."""

    # --- run-time parameter changes (both hosts call this) --------------------------
    def set_parameters(self, values: Dict[str, Any]) -> Tuple[bool, str]:
        """Set parameters while the node runs: all of ``values`` or none. Returns (successful, reason).

        The one table both hosts use: unknown names, read-only parameters (with their reason), wrong
        types and ranges are refused; the rest go through ``on_parameters_changed``.
        """
        specs = {s.name: s for s in param_specs(self.Params)}
        changed = {}  # type: Dict[str, Any]
        for name, value in values.items():
            spec = specs.get(name)
            if spec is None:
                return False, 'node %s has no parameter %s' % (self.name, name)
            if spec.read_only:
                return False, 'parameter %s is read-only: %s' % (name, spec.read_only_reason or 'set at start-up')
            try:
                changed[name] = coerce_param(spec, value)
            except ParamError as exc:
                return False, str(exc)
        if not changed:
            return True, ''
        # in place: core objects that keep a reference to self.p (and read it where they use it) see the change
        old = {k: getattr(self.p, k) for k in changed}
        for k, v in changed.items():
            setattr(self.p, k, v)
        try:
            self.on_parameters_changed(changed)
        except (ParamError, ValueError) as exc:
            for k, v in old.items():
                setattr(self.p, k, v)
            self.on_parameters_changed(old)
            return False, 'parameter %s: %s' % (', '.join(sorted(changed)), exc)
        return True, ''

    def close(self) -> None:
        """Release resources (files, sockets). Called once by the host at the end."""

    # --- rclpy-like API ------------------------------------------------------------
    def create_publisher(self, msg_type: str, topic: str, qos: QoS = RELIABLE):
        decl = PublisherDecl(msg_type, topic, qos)
        self.publishers.append(decl)
        return self.host.create_publisher(self, decl)

    def create_subscription(self, msg_type: str, topic: str, callback: Callable[[Any], None], qos: QoS = RELIABLE):
        decl = SubscriptionDecl(msg_type, topic, callback, qos)
        self.subscriptions.append(decl)
        return self.host.create_subscription(self, decl)

    def create_service(self, srv_type: str, name: str, callback: Callable[[Any, Any], Any]):
        decl = ServiceDecl(srv_type, name, callback)
        self.services.append(decl)
        return self.host.create_service(self, decl)

    def create_timer(self, period_s: float, callback: Callable[[], None]):
        if not period_s > 0:
            raise ValueError('timer period must be positive, got %r' % period_s)
        decl = TimerDecl(float(period_s), callback)
        self.timers.append(decl)
        return self.host.create_timer(self, decl)

    def new(self, msg_type: str, **fields: Any):
        """A message of ``msg_type`` ('pkg/msg/Name' or 'pkg/srv/Name_Response'); missing fields take defaults.

        Nested messages may be given as dicts; numeric arrays as numpy arrays.
        """
        return self.host.new(msg_type, fields)

    def now_ns(self) -> int:
        """Host time in nanoseconds (simulated time in the offline host)."""
        return self.host.now_ns()

    def request_shutdown(self, reason: str = '') -> None:
        """A source node says the run is over (end of scenario)."""
        self.host.request_shutdown(self, reason)

    # --- logging ---------------------------------------------------------------------
    def info(self, text: str) -> None:
        self.host.log(self, 'info', text)

    def warn(self, text: str) -> None:
        self.host.log(self, 'warn', text)

    def error(self, text: str) -> None:
        self.host.log(self, 'error', text)

    def warn_throttled(self, key: str, text: str, period_s: float = 5.0) -> None:
        """Warn at most once per ``period_s`` of wall time for ``key`` (bad input must not flood logs)."""
        now = time.monotonic()
        last = self._throttle.get(key)
        if last is None or now - last >= period_s:
            self._throttle[key] = now
            self.warn(text)


def declarations(node_cls) -> Dict[str, Any]:
    """Declarations of a node class that can be read without running it (for docs and tests)."""
    return {'name': node_cls.NAME, 'params': param_specs(node_cls.Params)}
