"""A user's mistakes give one clear line and a non-zero exit; the output bag is closed and readable."""
import os

import pytest
from rosbags.rosbag2 import Reader

from conftest import run_cli
from test_foundation_bag import GRAPH, write_input_bag


@pytest.fixture
def setup(tmp_path):
    src = write_input_bag(tmp_path / 'in', n=400)
    graph = tmp_path / 'g.yaml'
    graph.write_text(GRAPH)
    return tmp_path, src, graph


def one_error_line(res):
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    errors = [l for l in lines if l.startswith('uavcine: error:')]
    assert len(errors) == 1, res.stderr
    assert 'Traceback' not in res.stderr
    return errors[0]


def assert_readable(path):
    with Reader(path) as r:
        return sum(1 for _ in r.messages())


def test_truncated_bag(setup):
    tmp, src, graph = setup
    mcap = src / 'in.mcap'
    data = mcap.read_bytes()
    mcap.write_bytes(data[:len(data) * 6 // 10])  # a recorder killed mid-write
    res = run_cli('replay', src, '--graph', graph, '--out', tmp / 'out', '--no-progress')
    assert res.returncode == 2
    line = one_error_line(res)
    assert 'in.mcap' in line or str(src) in line
    assert os.path.isfile(tmp / 'out' / 'metadata.yaml')  # closed, whatever was written is readable
    assert_readable(tmp / 'out')


def test_corrupt_bag(setup):
    tmp, src, graph = setup
    mcap = src / 'in.mcap'
    data = bytearray(mcap.read_bytes())
    data[8:4000] = os.urandom(3992)  # garbage over the first records
    mcap.write_bytes(bytes(data))
    res = run_cli('replay', src, '--graph', graph, '--out', tmp / 'out', '--no-progress')
    assert res.returncode == 2
    one_error_line(res)
    assert_readable(tmp / 'out')


def test_missing_bag_and_missing_topic(setup):
    tmp, src, graph = setup
    res = run_cli('replay', tmp / 'nope', '--graph', graph, '--out', tmp / 'o1', '--no-progress')
    assert res.returncode == 2 and 'bag not found' in one_error_line(res)
    res = run_cli('replay', src, '--topics', '/camera/nope', '--graph', graph, '--out', tmp / 'o2', '--no-progress')
    line = one_error_line(res)
    assert res.returncode == 2 and '/camera/nope' in line and '/camera/image_raw' in line
    assert_readable(tmp / 'o2')


def test_unknown_message_type(setup):
    tmp, src, graph = setup
    g = tmp / 'bad.yaml'
    g.write_text('nodes:\n  - node: relay\n    params: {msg_type: foo_msgs/msg/Bar}\n')
    res = run_cli('replay', src, '--graph', g, '--out', tmp / 'o', '--no-progress')
    assert res.returncode == 2 and "unknown message type 'foo_msgs/msg/Bar'" in one_error_line(res)
    assert_readable(tmp / 'o')


def test_malformed_params_yaml(setup):
    tmp, src, graph = setup
    p = tmp / 'p.yaml'
    p.write_text('image_relay:\n  ros__parameters:\n    max_rate_hz: [1, 2\n')
    res = run_cli('replay', src, '--graph', graph, '--params', p, '--out', tmp / 'o', '--no-progress')
    line = one_error_line(res)
    assert res.returncode == 2 and 'malformed YAML' in line and 'p.yaml' in line
    p.write_text('image_relay:\n  max_rate_hz: 3\n')
    res = run_cli('replay', src, '--graph', graph, '--params', p, '--out', tmp / 'o2', '--no-progress')
    assert res.returncode == 2 and 'ros__parameters' in one_error_line(res)


def test_verbose_shows_the_chained_cause(setup):
    """Every user error is a UserError; -v prints the traceback with the cause underneath (raise ... from err)."""
    tmp, src, graph = setup
    p = tmp / 'p.yaml'
    p.write_text('image_relay:\n  ros__parameters:\n    max_rate_hz: [1, 2\n')
    res = run_cli('-v', 'replay', src, '--graph', graph, '--params', p, '--out', tmp / 'o', '--no-progress')
    assert res.returncode == 2 and 'malformed YAML' in res.stderr.splitlines()[-1]
    assert 'direct cause' in res.stderr and 'yaml' in res.stderr.lower() and 'ConfigError' in res.stderr


def test_bad_parameter_values(setup):
    tmp, src, graph = setup
    res = run_cli('replay', src, '--graph', graph, '-p', 'image_relay.max_rate_hz=-3', '--out', tmp / 'o',
                  '--no-progress')
    assert res.returncode == 2 and 'below the minimum' in one_error_line(res)
    res = run_cli('replay', src, '--graph', graph, '-p', 'image_relay.speed=3', '--out', tmp / 'o2', '--no-progress')
    assert res.returncode == 2 and 'has no parameter speed' in one_error_line(res)
    res = run_cli('replay', src, '--graph', graph, '-p', 'ghost.x=3', '--out', tmp / 'o3', '--no-progress')
    assert res.returncode == 2 and 'ghost' in one_error_line(res)


def test_existing_output_is_not_overwritten(setup):
    tmp, src, graph = setup
    (tmp / 'o').mkdir()
    res = run_cli('replay', src, '--graph', graph, '--out', tmp / 'o', '--no-progress')
    assert res.returncode == 2 and 'exists already' in one_error_line(res)


def test_unknown_node_in_graph(setup):
    tmp, src, graph = setup
    g = tmp / 'bad.yaml'
    g.write_text('nodes:\n  - node: teleporter\n')
    res = run_cli('replay', src, '--graph', g, '--no-progress')
    assert res.returncode == 2 and 'teleporter' in one_error_line(res)
