"""`ros2 launch` of each launch file from a folder that is not the repository: nodes up on their installed
parameter files and models, no traceback, parameters at run time through `ros2 param`, QoS as documented,
a clean exit on Ctrl-C. Findings 4 (installed files) and 5 (a PC by default, the Jetson by argument)."""
import re
import subprocess
from pathlib import Path

import pytest

from .conftest import READY, Proc, share

#: the nodes launch/onboard.launch.py starts, read from it (a node added there is waited for here too)
_LAUNCH = Path(__file__).resolve().parents[2] / 'launch' / 'onboard.launch.py'
ONBOARD = tuple(re.findall(r"node\('(\w+)'", _LAUNCH.read_text()))
assert {'detector', 'tracker', 'geo', 'mavlink'} <= set(ONBOARD), ONBOARD


@pytest.fixture(scope='module')
def onboard(ros_tmp):
    """onboard.launch.py with its defaults, started once for this module; Ctrl-C at the end."""
    p = Proc(['ros2', 'launch', 'uavcine_ros', 'onboard.launch.py', 'mavlink_url:=udpin:127.0.0.1:14581'],
             ros_tmp / 'onboard_launch.log', cwd=ros_tmp)
    try:
        p.wait_for(READY, count=len(ONBOARD), timeout=240)
    except AssertionError:
        p.interrupt()
        raise
    yield p
    if p.p.poll() is None:
        p.interrupt()


def ros2(*args, timeout=60):
    return subprocess.run(['ros2', *args], capture_output=True, text=True, timeout=timeout)


def test_onboard_launch_runs_on_a_pc_by_default_findings_4_5(onboard):
    text = onboard.text()
    for name in ONBOARD:
        assert '%s %s' % (READY, name) in text
    # finding 5: the detector found its model and runs on onnxruntime (before: tensorrt, no detections on a PC)
    assert 'onnxruntime, input' in text, text[-3000:]
    # finding 4: models and parameter files come from the packages' share folders (the cwd is a temporary one)
    assert 'share/uavcine/models/detr_small.onnx' in text, text[-3000:]
    # finding 4: the installed parameter file was used (before: 'Parameter file path is not a file', defaults)
    assert 'is not a file' not in text and 'not found' not in text and 'Traceback' not in text, text[-3000:]
    got = ros2('param', 'get', '/tracker', 'acquire')
    assert 'centre' in got.stdout, got.stdout + got.stderr
    assert (share('uavcine_ros') / 'config' / 'onboard.yaml').is_file()


def test_parameters_through_ros2_param(onboard):
    ok = ros2('param', 'set', '/detector', 'score_threshold', '0.4')
    assert 'successful' in ok.stdout.lower(), ok.stdout + ok.stderr
    assert '0.4' in ros2('param', 'get', '/detector', 'score_threshold').stdout
    bad = ros2('param', 'set', '/detector', 'score_threshold', '1.5')
    assert 'failed' in (bad.stdout + bad.stderr).lower(), bad.stdout + bad.stderr
    typ = ros2('param', 'set', '/detector', 'score_threshold', 'high')
    assert 'failed' in (typ.stdout + typ.stderr).lower(), typ.stdout + typ.stderr
    desc = ros2('param', 'describe', '/detector', 'score_threshold')
    assert 'Minimum class probability' in desc.stdout and '1.0' in desc.stdout, desc.stdout


def test_qos_as_documented(onboard):
    """Images best effort (sensor data), targets reliable, labels latched."""
    info = ros2('topic', 'info', '-v', '/camera/image_raw').stdout
    assert 'Subscription count: 2' in info and info.count('BEST_EFFORT') >= 2, info
    info = ros2('topic', 'info', '-v', '/target/track').stdout
    assert 'RELIABLE' in info and 'BEST_EFFORT' not in info, info
    info = ros2('topic', 'info', '-v', '/detector/labels').stdout
    assert 'TRANSIENT_LOCAL' in info, info


def test_ctrl_c_stops_every_node_cleanly_finding_7(onboard):
    rc = onboard.interrupt(timeout=60)
    text = onboard.text()
    assert rc == 0, text[-3000:]
    assert text.count('process has finished cleanly') == len(ONBOARD), text[-3000:]
    for bad in ('Traceback', 'KeyboardInterrupt', 'ExternalShutdownException'):
        assert bad not in text, text[-3000:]


def test_airsim_launch_on_the_jetson_backend(ros_tmp):
    """airsim.launch.py against the AirSim test double, with `backend:=tensorrt` (what the Jetson passes): every
    node comes up; here, without TensorRT, the detector says so in one line and keeps running."""
    import airsim_double
    sim = airsim_double.FakeAirSim()
    p = Proc(['ros2', 'launch', 'uavcine_ros', 'airsim.launch.py', 'airsim_port:=%d' % sim.port, 'backend:=tensorrt'],
             ros_tmp / 'airsim_launch.log', cwd=ros_tmp)
    try:
        p.wait_for(READY, count=5, timeout=240)
        assert 'tensorrt' in ros2('param', 'get', '/detector', 'backend').stdout
        assert 'detector model not loaded' in p.text() and 'tensorrt' in p.text(), p.text()[-3000:]
    finally:
        rc = p.interrupt(timeout=60)
        sim.close()
    assert rc == 0 and 'Traceback' not in p.text(), p.text()[-3000:]


def test_sim_launch_runs_the_forecasters(ros_tmp, rclpy_context):
    """sim.launch.py: the embedded simulator with depth and flow, the onboard nodes, the forecast, pointing and
    FLODCAST nodes all come up from the installed files; FLODCAST's forecasts arrive; Ctrl-C stops every node."""
    import time
    import rclpy
    from sensor_msgs.msg import Image
    launch = Path(__file__).resolve().parents[2] / 'launch' / 'sim.launch.py'
    names = re.findall(r"node\('(\w+)'", launch.read_text())
    assert {'sim', 'forecast', 'pointing', 'flodcast'} <= set(names), names
    p = Proc(['ros2', 'launch', 'uavcine_ros', 'sim.launch.py', 'camera_rate_hz:=2.0', 'duration_s:=600.0'],
             ros_tmp / 'sim_launch.log', cwd=ros_tmp)
    probe = rclpy.create_node('sim_launch_probe')
    got = []
    probe.create_subscription(Image, '/forecast/flodcast/depth_1', got.append, 10)
    try:
        p.wait_for(READY, count=len(names), timeout=240)
        end = time.monotonic() + 120
        while time.monotonic() < end and not got:
            rclpy.spin_once(probe, timeout_sec=0.1)
        assert got, 'no FLODCAST forecast\n' + p.text()[-3000:]
    finally:
        probe.destroy_node()
        rc = p.interrupt(timeout=60)
    text = p.text()
    assert rc == 0 and 'Traceback' not in text, text[-3000:]
    assert text.count('process has finished cleanly') == len(names), text[-3000:]
