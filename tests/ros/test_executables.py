"""Every executable of uavcine_ros starts with `ros2 run`, declares its parameters with descriptors, takes
command-line values as the offline host does, refuses wrong ones in one line, and exits cleanly on Ctrl-C."""
import struct
import time

import pytest

from uavcine.nodes import REGISTRY, load_node_class
from uavcine.nodes.base import param_specs

from .conftest import READY, REPO, Proc


def _tiny_tlog(path):
    """A .tlog of 20 HEARTBEAT + GLOBAL_POSITION_INT packets (8-byte big-endian microseconds before each)."""
    from pymavlink.dialects.v20 import ardupilotmega as mavlink
    mav = mavlink.MAVLink(None, srcSystem=1, srcComponent=1)
    out = bytearray()
    for i in range(20):
        t = 1_700_000_000_000_000 + i * 100_000
        for msg in (mavlink.MAVLink_heartbeat_message(2, 3, 0, 0, 4, 3),
                    mavlink.MAVLink_global_position_int_message(i * 100, 473977420, 85455940, 500000, 30000,
                                                                0, 0, 0, 9000)):
            out += struct.pack('>Q', t) + msg.pack(mav)
    path.write_bytes(bytes(out))
    return path


def _describe(names):
    """{node: {param: descriptor}} through each node's own parameter services, as `ros2 param` does."""
    import rclpy
    from rcl_interfaces.srv import DescribeParameters, ListParameters
    probe = rclpy.create_node('uavcine_param_probe')
    out = {}
    try:
        for name in names:
            lst = probe.create_client(ListParameters, '/%s/list_parameters' % name)
            dsc = probe.create_client(DescribeParameters, '/%s/describe_parameters' % name)
            assert lst.wait_for_service(timeout_sec=20) and dsc.wait_for_service(timeout_sec=20), name
            fut = lst.call_async(ListParameters.Request())
            rclpy.spin_until_future_complete(probe, fut, timeout_sec=20)
            pnames = list(fut.result().result.names)
            fut = dsc.call_async(DescribeParameters.Request(names=pnames))
            rclpy.spin_until_future_complete(probe, fut, timeout_sec=20)
            out[name] = {d.name: d for d in fut.result().descriptors}
    finally:
        probe.destroy_node()
    return out


def test_all_nine_executables_start_and_declare_their_parameters(ros_tmp, rclpy_context):
    import airsim_double
    airsim = airsim_double.FakeAirSim()
    extra = {
        'airsim': ['-p', 'port:=%d' % airsim.port],
        'tlog': ['-p', 'path:=%s' % _tiny_tlog(ros_tmp / 'tiny.tlog'), '-p', 'shutdown_at_end:=false'],
        'sim': ['-p', 'camera_rate_hz:=1.0', '-p', 'duration_s:=600.0'],
        'mavlink': ['-p', 'url:=udpin:127.0.0.1:14571'],
    }
    procs = {}
    try:
        for name in sorted(REGISTRY):
            procs[name] = Proc(['ros2', 'run', 'uavcine_ros', name, '--ros-args', '-r', '__node:=%s' % name]
                               + extra.get(name, []), ros_tmp / ('run_%s.log' % name), cwd=ros_tmp)
        for name, p in procs.items():
            p.wait_for(READY, timeout=180)
        described = _describe(sorted(procs))
        total = 0
        for name in sorted(REGISTRY):
            specs = param_specs(load_node_class(name).Params)
            got = described[name]
            assert set(got) == {s.name for s in specs} | {'use_sim_time'}, name
            for s in specs:
                d = got[s.name]
                assert d.description == s.description and d.read_only == s.read_only, (name, s.name)
                if s.type == 'float' and s.max is not None:
                    assert d.floating_point_range[0].to_value == s.max, (name, s.name)
                if s.type == 'int' and s.min is not None:
                    assert d.integer_range[0].from_value == s.min, (name, s.name)
            total += len(specs)
        assert total >= 140  # 144 when the issue was filed
    finally:
        codes = {name: p.interrupt() for name, p in procs.items()}
        airsim.close()
    for name, p in procs.items():
        text = p.text()
        assert 'Traceback' not in text, '%s:\n%s' % (name, text[-3000:])
        assert codes[name] == 0, '%s exited %s after Ctrl-C:\n%s' % (name, codes[name], text[-2000:])


def test_command_line_mistakes_give_one_line_finding_7(ros_tmp):
    """Finding 7: `-p score_threshold:=1` is a float 1.0 (as offline); `:=1.5` and a wrong type are one line
    and exit 2; Ctrl-C is a clean exit 0. Before: InvalidParameter*Exception and KeyboardInterrupt tracebacks."""
    base = ['ros2', 'run', 'uavcine_ros', 'relay', '--ros-args', '-r', '__node:=relay_cli']
    for args, needle in ((['-p', 'max_rate_hz:=-1.5'], 'below the minimum'),
                         (['-p', 'max_rate_hz:=fast'], 'expected float'),
                         (['-p', 'sensor_data:=3'], 'expected bool')):
        p = Proc(base + args, ros_tmp / 'cli_bad.log', cwd=ros_tmp)
        rc = p.wait(60)
        text = p.text()
        assert rc == 2 and 'Traceback' not in text and needle in text, (args, rc, text)
        assert len([ln for ln in text.splitlines() if ln.startswith('relay:')]) == 1, text
    p = Proc(base + ['-p', 'max_rate_hz:=1'], ros_tmp / 'cli_int.log', cwd=ros_tmp)
    p.wait_for(READY, timeout=60)
    time.sleep(0.5)
    rc = p.interrupt()
    assert rc == 0 and 'Traceback' not in p.text() and 'Exception' not in p.text(), p.text()


def test_detector_on_onnxruntime_runs_without_torch_finding_3(ros_tmp):
    """Finding 3: with torch absent (an import of it fails), the detector on onnxruntime loads its model and
    runs; before, it crashed at start importing torch for every backend."""
    from .conftest import python
    code = ("import sys; sys.modules['torch'] = None; sys.argv[0] = 'detector'\n"
            "from uavcine_ros.entry import detector; sys.exit(detector())")
    p = Proc([python(), '-c', code, '--ros-args', '-r', '__node:=detector_notorch', '-p', 'backend:=onnxruntime',
              '-p', 'model_path:=models/detr_small.onnx'], ros_tmp / 'notorch.log', cwd=ros_tmp)
    p.wait_for(READY, timeout=120)
    assert 'loaded ' in p.text() and 'onnxruntime' in p.text(), p.text()
    assert p.interrupt() == 0 and 'Traceback' not in p.text(), p.text()


def test_requirements_file_covers_what_ros_does_not_package():
    """Finding 3: the README's install names requirements-ros.txt; it pins what package.xml cannot name."""
    req = (REPO / 'requirements-ros.txt').read_text()
    lock = (REPO / 'requirements-lock.txt').read_text()
    pins = [ln.split('#')[0].strip() for ln in req.splitlines() if ln.split('#')[0].strip()]
    assert {p.split('==')[0] for p in pins} >= {'onnxruntime', 'torch', 'pymap3d', 'pymavlink'}
    for p in pins:
        assert p in lock.splitlines(), '%s is not the version of requirements-lock.txt' % p
    assert 'requirements-ros.txt' in (REPO / 'README.md').read_text()
