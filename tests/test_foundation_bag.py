"""Bags: one written with rosbags is replayed by `uavcine replay`, and the output MCAP is read back."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from conftest import run_cli
from uavcine.offline.bag import to_rosbags_qos
from uavcine.offline.messages import new_message
from uavcine.offline.typestore import make_typestore
from uavcine.nodes.base import SENSOR_DATA

T0 = 1_700_000_000_000_000_000
GRAPH = """
nodes:
  - node: relay
    name: image_relay
    remap: {input: /camera/image_raw, output: /relay/image}
    params: {sensor_data: true}
  - node: relay
    name: track_relay
    remap: {input: /target/track, output: /relay/track}
    params: {msg_type: uavcine_interfaces/msg/Track}
"""


def write_input_bag(path: Path, storage=StoragePlugin.MCAP, n=20):
    """An input bag as a real recorder would make it: images at 20 Hz, tracks at 10 Hz, a custom type."""
    ts = make_typestore()
    with Writer(path, version=8, storage_plugin=storage) as w:
        img = w.add_connection('/camera/image_raw', 'sensor_msgs/msg/Image', typestore=ts,
                               offered_qos_profiles=[to_rosbags_qos(SENSOR_DATA)])
        trk = w.add_connection('/target/track', 'uavcine_interfaces/msg/Track', typestore=ts)
        for k in range(n):
            t = T0 + k * 50_000_000
            stamp = {'sec': t // 10**9, 'nanosec': t % 10**9}
            m = new_message(ts, 'sensor_msgs/msg/Image', {
                'header': {'stamp': stamp, 'frame_id': 'camera_optical'}, 'height': 2, 'width': 3,
                'encoding': 'rgb8', 'step': 9, 'data': np.full(18, k % 256, np.uint8)})
            w.write(img, t, ts.serialize_cdr(m, 'sensor_msgs/msg/Image'))
            if k % 2 == 0:
                m = new_message(ts, 'uavcine_interfaces/msg/Track', {
                    'header': {'stamp': stamp, 'frame_id': 'camera_optical'}, 'track_id': k, 'class_id': 'car',
                    'quality': k / 100.0, 'state': 2})
                w.write(trk, t, ts.serialize_cdr(m, 'uavcine_interfaces/msg/Track'))
    return path


def read_bag(path):
    ts = make_typestore()
    out = {}
    with Reader(path) as r:
        conns = {c.topic: c for c in r.connections}
        for conn, t, raw in r.messages():
            out.setdefault(conn.topic, []).append((t, ts.deserialize_cdr(raw, conn.msgtype)))
    return conns, out


@pytest.mark.parametrize('storage', [StoragePlugin.MCAP, StoragePlugin.SQLITE3])
def test_replay_preserves_types_counts_stamps_and_definitions(tmp_path, storage):
    src = write_input_bag(tmp_path / 'in', storage)
    graph = tmp_path / 'g.yaml'
    graph.write_text(GRAPH)
    res = run_cli('replay', src, '--graph', graph, '--out', tmp_path / 'out.mcap', '--no-progress')
    assert res.returncode == 0, res.stderr
    out = tmp_path / 'out'
    assert (out / 'out.mcap').is_file() and (out / 'metadata.yaml').is_file()
    meta = yaml.safe_load((out / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert meta['version'] == 8 and meta['storage_identifier'] == 'mcap'

    conns, msgs = read_bag(out)
    assert {t: len(v) for t, v in msgs.items()} == {
        '/camera/image_raw': 20, '/target/track': 10, '/relay/image': 20, '/relay/track': 10,
        '/diagnostics/latency': 1}  # per-node callback times, written by the host at the end
    assert conns['/relay/track'].msgtype == 'uavcine_interfaces/msg/Track'
    # ROS 2 .msg text (not ROS 1): constants and ROS 2 field types, nested definitions appended
    msgdef = conns['/relay/track'].msgdef.data
    assert 'uint8 STATE_TRACKING=2' in msgdef and 'vision_msgs/BoundingBox2D bbox' in msgdef
    assert 'MSG: builtin_interfaces/Time' in msgdef and 'time stamp' not in msgdef
    # log times and header stamps carried through; payload unchanged
    for (t_in, m_in), (t_out, m_out) in zip(msgs['/target/track'], msgs['/relay/track']):
        assert t_in == t_out and m_out.track_id == m_in.track_id and m_out.quality == m_in.quality
        assert (m_out.header.stamp.sec, m_out.header.stamp.nanosec) == (m_in.header.stamp.sec, m_in.header.stamp.nanosec)
    assert [int(m.data[0]) for _, m in msgs['/relay/image']] == list(range(20))
    # QoS metadata: the image relay offers best effort, the track relay reliable
    qos = {t['topic_metadata']['name']: yaml.safe_load(t['topic_metadata']['offered_qos_profiles'])
           for t in meta['topics_with_message_count']}
    assert qos['/relay/image'][0]['reliability'] == 2 and qos['/relay/track'][0]['reliability'] == 1
    assert qos['/camera/image_raw'][0]['reliability'] == 2  # the recorded publisher's QoS is kept


def test_bag_info(tmp_path):
    src = write_input_bag(tmp_path / 'in')
    res = run_cli('bag', 'info', src / 'in.mcap')
    assert res.returncode == 0, res.stderr
    assert '/target/track' in res.stdout and 'uavcine_interfaces/msg/Track' in res.stdout
    assert 'messages: 30' in res.stdout and 'best_effort/volatile' in res.stdout


def test_replay_is_deterministic(tmp_path):
    src = write_input_bag(tmp_path / 'in')
    graph = tmp_path / 'g.yaml'
    graph.write_text(GRAPH)
    for name in ('a', 'b'):
        assert run_cli('replay', src, '--graph', graph, '--out', tmp_path / name, '--no-progress').returncode == 0
    def raw(path):  # the MCAP header names the file, so compare what is recorded (wall-clock latency aside)
        with Reader(path) as r:
            return [(c.topic, t, bytes(d) if c.topic != '/diagnostics/latency' else b'') for c, t, d in r.messages()]
    assert raw(tmp_path / 'a') == raw(tmp_path / 'b') and len(raw(tmp_path / 'a')) == 61
