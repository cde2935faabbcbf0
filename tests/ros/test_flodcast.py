"""The FLODCAST node on ROS 2: `ros2 run` the simulator with depth and flow and the flodcast node; the K forecast
images arrive on forecast/flodcast/*_k, stamped ahead of the images they came from, at the camera's size."""
import time

import numpy as np

from uavcine.nodes import msgs

from .conftest import READY, Proc


def test_flodcast_forecasts_the_simulators_depth_and_flow(ros_tmp, rclpy_context):
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    sim = Proc(['ros2', 'run', 'uavcine_ros', 'sim', '--ros-args', '-r', '__node:=sim_flodcast',
                '-p', 'publish_depth:=true', '-p', 'publish_flow:=true', '-p', 'camera_rate_hz:=5.0',
                '-p', 'duration_s:=600.0'], ros_tmp / 'flodcast_sim.log', cwd=ros_tmp)
    # the simulator renders 640x480 depth and flow in real time: frames may come late, so a generous gap
    fc = Proc(['ros2', 'run', 'uavcine_ros', 'flodcast', '--ros-args', '-p', 'max_gap_steps:=20.0'],
              ros_tmp / 'flodcast_node.log', cwd=ros_tmp)
    probe = rclpy.create_node('flodcast_probe')
    inputs, forecasts, diags = [], [], []
    probe.create_subscription(Image, '/truth/depth', lambda m: inputs.append(msgs.stamp_ns(m.header.stamp)), 10)
    probe.create_subscription(Image, '/forecast/flodcast/depth_3', forecasts.append, 10)
    flows = []
    probe.create_subscription(Image, '/forecast/flodcast/flow_1', flows.append, 10)
    probe.create_subscription(DiagnosticArray, '/diagnostics',
                              lambda m: diags.extend(s.message for s in m.status if s.name == 'flodcast'), 10)
    try:
        sim.wait_for(READY, timeout=180)
        fc.wait_for(READY, timeout=180)
        end = time.monotonic() + 120
        def ok():
            return any(m.startswith('ok: forecast 3 steps') for m in diags)
        # the node reports 'ok' at most once a second (of stamps): wait for one too
        while time.monotonic() < end and (len(forecasts) < 2 or not flows or not ok()):
            rclpy.spin_once(probe, timeout_sec=0.1)
        assert len(forecasts) >= 2 and flows, 'no forecasts; flodcast said %s\n%s' % (diags[-5:], fc.text()[-3000:])
        f = forecasts[-1]
        stamp = msgs.stamp_ns(f.header.stamp)
        assert f.encoding == '32FC1' and (f.width, f.height) == (640, 480)
        # stamped 3 steps after an input image it was made from, i.e. ahead of it
        assert any(0 < stamp - s < 3e9 for s in inputs)
        depth = np.frombuffer(bytes(f.data), np.float32).reshape(480, 640)
        assert np.isfinite(depth).all() and depth.min() > 0
        assert flows[-1].encoding == '32FC2'
        assert ok(), diags[-5:]
    finally:
        probe.destroy_node()
        codes = {'sim': sim.interrupt(), 'flodcast': fc.interrupt()}
    for name, p in (('sim', sim), ('flodcast', fc)):
        assert 'Traceback' not in p.text(), '%s:\n%s' % (name, p.text()[-3000:])
        assert codes[name] == 0, name
