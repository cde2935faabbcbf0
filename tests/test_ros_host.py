"""The rclpy host. What can be checked without ROS 2 is checked everywhere; the rest needs rclpy."""
import ast
import importlib.util
import re
from pathlib import Path

import pytest

from uavcine.nodes import REGISTRY, load_node_class
from uavcine.nodes.base import LATCHED, SENSOR_DATA, ParamSpec, param_specs
from uavcine_ros.mapping import PARAMETER_TYPES, descriptor_fields, qos_fields, split_srv_type

REPO = Path(__file__).resolve().parents[1]
HAVE_RCLPY = importlib.util.find_spec('rclpy') is not None
needs_rclpy = pytest.mark.skipif(not HAVE_RCLPY, reason='rclpy is not installed here (no ROS 2 on PyPI/Debian '
                                                        'for this machine); runs on a ROS 2 Humble install')


def setup_node_names():
    tree = ast.parse((REPO / 'src' / 'uavcine_ros' / 'setup.py').read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', '') == 'NODE_NAMES':
            return ast.literal_eval(node.value)
    raise AssertionError('NODE_NAMES not found in setup.py')


def test_every_node_has_a_console_entry_point():
    assert sorted(setup_node_names()) == sorted(REGISTRY)


def test_entry_points_resolve_to_callables():
    from uavcine_ros import entry
    for name in REGISTRY:
        assert callable(getattr(entry, name))
    with pytest.raises(AttributeError):
        getattr(entry, 'no_such_node')


def test_launch_files_run_only_existing_executables():
    names = set(setup_node_names())
    launch = sorted((REPO / 'launch').glob('*.launch.py'))
    assert launch, 'no launch files'
    for path in launch:
        text = path.read_text()
        ast.parse(text)  # valid Python
        for exe in re.findall(r"(?:executable\s*=\s*|\bnode\()'([^']+)'", text):  # Node(...) or launch_common's
            assert exe in names, '%s runs unknown executable %s' % (path.name, exe)
        for pkg in re.findall(r"package\s*=\s*'([^']+)'", text):
            assert pkg in ('uavcine_ros',), '%s uses package %s' % (path.name, pkg)


def test_every_node_declares_described_parameters():
    for name in REGISTRY:
        cls = load_node_class(name)
        for spec in param_specs(cls.Params):
            assert spec.description.strip(), '%s.%s has no description' % (name, spec.name)
            d = descriptor_fields(spec)
            assert d['type'] == PARAMETER_TYPES[spec.type]


def test_descriptor_ranges():
    f = descriptor_fields(ParamSpec('rate', 'float', 10.0, 'Rate', min=0.0, max=30.0))
    assert f['floating_point_range'] == [{'from_value': 0.0, 'to_value': 30.0, 'step': 0.0}]
    assert f['type'] == 3 and f['description'] == 'Rate' and not f['read_only']
    f = descriptor_fields(ParamSpec('n', 'int', 3, 'N', min=1))
    assert f['integer_range'][0]['from_value'] == 1 and f['integer_range'][0]['to_value'] == 2 ** 31 - 1
    f = descriptor_fields(ParamSpec('b', 'str', 'torch', 'Backend', choices=('torch', 'onnxruntime')))
    assert 'torch, onnxruntime' in f['additional_constraints'] and 'floating_point_range' not in f
    assert descriptor_fields(ParamSpec('s', 'float_array', [1.0], 'S'))['type'] == 8


def test_qos_mapping():
    assert qos_fields(SENSOR_DATA) == {'reliability': 'best_effort', 'durability': 'volatile',
                                       'history': 'keep_last', 'depth': 5}
    assert qos_fields(LATCHED)['durability'] == 'transient_local'


def test_service_type_split():
    assert split_srv_type('std_srvs/srv/SetBool_Request') == ('std_srvs/srv/SetBool', 'Request')
    assert split_srv_type('sensor_msgs/msg/Image') == ('sensor_msgs/msg/Image', None)


def test_config_files_are_ros_parameter_files():
    from uavcine.offline.graph import load_params_file
    from uavcine.nodes.base import make_params
    for path in sorted((REPO / 'config').glob('*.yaml')):
        for node, params in load_params_file(path).items():
            if node == '/**':
                continue
            cls = load_node_class(node) if node in REGISTRY else None
            assert cls is not None, '%s configures unknown node %s' % (path.name, node)
            make_params(cls.Params, params, node_name=node)  # raises on unknown names or bad values


@needs_rclpy
def test_relay_runs_as_an_rclpy_node():
    import rclpy
    from uavcine_ros.host import RclpyHost
    rclpy.init()
    try:
        host = RclpyHost(load_node_class('relay'), 'relay_test')
        names = {p.name for p in host.rcl._parameters.values()}
        assert {'msg_type', 'max_rate_hz', 'sensor_data'} <= names
        msg = host.new('sensor_msgs/msg/Image', {'height': 2, 'width': 2, 'encoding': 'mono8', 'step': 2,
                                                 'data': bytes(4)})
        assert msg.height == 2 and len(msg.data) == 4
        host.rcl.destroy_node()
    finally:
        rclpy.shutdown()


class _Strict:
    """Mimics rosidl's generated Python classes: typed slots whose setters assert like rclpy's do."""
    _fields = {}

    def __init__(self):
        for name, slot in self._fields.items():
            object.__setattr__(self, '_' + name, _DEFAULTS.get(slot, lambda: None)())

    @classmethod
    def get_fields_and_field_types(cls):
        return dict(cls._fields)

    def __getattr__(self, name):
        if name in type(self)._fields:
            return object.__getattribute__(self, '_' + name)
        raise AttributeError(name)

    def __setattr__(self, name, value):
        slot = self._fields[name]
        import array as _array
        if slot == 'double':
            assert isinstance(value, float)
        elif slot in ('uint32', 'int32'):
            assert isinstance(value, int) and not isinstance(value, bool)
        elif slot == 'octet':  # a .msg `byte` field, as rclpy Humble names and checks it
            assert isinstance(value, bytes) and len(value) == 1, \
                "The 'level' field must be of type 'bytes' or 'ByteString' with length 1"
        elif slot == 'string':
            assert isinstance(value, str)
        elif slot == 'sequence<uint8>':
            assert isinstance(value, _array.array) and value.typecode == 'B'
        elif slot == 'sequence<double>':
            assert isinstance(value, _array.array) and value.typecode == 'd'
        elif slot.startswith('sequence<'):
            assert isinstance(value, list)
        object.__setattr__(self, '_' + name, value)


_DEFAULTS = {'double': float, 'uint32': int, 'int32': int, 'octet': lambda: b'\x00', 'string': str}


class FakePoint(_Strict):
    _fields = {'x': 'double', 'y': 'double'}


class FakeItem(_Strict):
    _fields = {'level': 'octet', 'name': 'string', 'centre': 'fake_msgs/Point'}

    def __init__(self):
        super().__init__()
        object.__setattr__(self, '_centre', FakePoint())


class FakeArray(_Strict):
    _fields = {'count': 'uint32', 'data': 'sequence<uint8>', 'values': 'sequence<double>',
               'items': 'sequence<fake_msgs/Item>'}


def test_assign_fits_rclpy_strict_setters():
    import numpy as np
    from uavcine_ros.mapping import assign
    classes = {'fake_msgs/msg/Item': FakeItem}
    msg = FakeArray()
    assign(msg, 'count', np.int64(3), classes.get)                 # numpy int -> int
    assign(msg, 'data', np.arange(6, dtype=np.uint8), classes.get)  # numpy -> array('B')
    assign(msg, 'values', np.array([1.5, 2.5]), classes.get)        # numpy -> array('d')
    assign(msg, 'items', [{'level': 2, 'name': 'gps', 'centre': {'x': 1, 'y': np.float32(2.5)}}], classes.get)
    assert msg.count == 3 and list(msg.data) == [0, 1, 2, 3, 4, 5] and list(msg.values) == [1.5, 2.5]
    item = msg.items[0]
    assert isinstance(item, FakeItem) and item.level == b'\x02' and item.name == 'gps'
    assert item.centre.x == 1.0 and isinstance(item.centre.x, float) and item.centre.y == 2.5


def test_replay_graph_declares_its_inputs_and_outputs():
    """config/graphs/replay.yaml (run by both `uavcine replay` and replay.launch.py): its inputs are what its
    nodes subscribe to and no node of it publishes; its outputs are what they publish."""
    from uavcine.offline.graph import load_graph, load_graph_topics, load_params_file, merged_params
    from uavcine.offline.host import OfflineHost
    graph = REPO / 'config' / 'graphs' / 'replay.yaml'
    files = [load_params_file(REPO / 'config' / 'onboard.yaml')]
    host = OfflineHost()
    try:
        for e in load_graph(graph):
            host.add_node(e.cls, merged_params(e, files, {}), name=e.name, remap=e.remap)
        published = {t for t, es in host.pubs.items() if es}
        subscribed = {t for t, es in host.subs.items() if es}
    finally:
        host.close()
    assert set(load_graph_topics(graph, 'inputs')) == subscribed - published
    assert set(load_graph_topics(graph, 'outputs')) == published


def test_launch_files_default_to_onnxruntime_and_take_a_backend():
    """A PC by default (onnxruntime), the Jetson with backend:=tensorrt; the installed parameter file agrees."""
    from uavcine.offline.graph import load_params_file
    backend = r"DeclareLaunchArgument\('backend', default_value='onnxruntime'"
    common = (REPO / 'src' / 'uavcine_ros' / 'uavcine_ros' / 'launch_common.py').read_text()
    assert re.search(backend, common)
    for name in ('onboard', 'airsim', 'sim', 'replay'):
        text = (REPO / 'launch' / ('%s.launch.py' % name)).read_text()
        # replay declares its own; the camera graphs take launch_common's arguments and start the detector on them
        assert re.search(backend, text) or ('*graph_arguments()' in text and
                                            "node('detector', {'backend': LaunchConfiguration('backend')})" in text), name
    assert load_params_file(REPO / 'config' / 'onboard.yaml')['detector']['backend'] == 'onnxruntime'


def test_installed_files_are_links_inside_the_packages():
    """setup.py installs launch/config (uavcine_ros) and models/sim (uavcine) through links inside each package,
    never through '../..' paths (which colcon resolves against its build folder)."""
    for pkg, names in (('uavcine_ros', ('launch', 'config')), ('uavcine', ('models', 'sim'))):
        for n in names:
            link = REPO / 'src' / pkg / n
            assert link.is_symlink() and link.resolve() == (REPO / n).resolve(), link
        assert '../..' not in (REPO / 'src' / pkg / 'setup.py').read_text()


def test_offline_messages_take_the_msg_defaults():
    """geometry_msgs/Quaternion says `float64 w 1`: a Pose built with no fields is the identity in both hosts."""
    from uavcine.offline.messages import new_message, parse_msg_defaults
    from uavcine.offline.typestore import make_typestore
    store = make_typestore()
    assert new_message(store, 'geometry_msgs/msg/Pose', {}).orientation.w == 1.0
    det = new_message(store, 'vision_msgs/msg/ObjectHypothesisWithPose', {})
    assert det.pose.pose.orientation.w == 1.0 and det.pose.pose.orientation.x == 0.0
    assert parse_msg_defaults('float64 w 1\nuint8 A=3\nstring s "hi"  # c\nbool b true\nint32 n\n') == \
        {'w': 1.0, 's': 'hi', 'b': True}
