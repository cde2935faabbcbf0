"""The SynthesizeShot service on a real ROS 2: `ros2 run uavcine_ros view_synthesis`, called by an rclpy client
with a good request (N views, poses, the planned path) and bad ones (a reason, the node keeps serving)."""
import math
import time

import numpy as np

from .conftest import READY, Proc


def _tiny_model(path):
    from test_view_synthesis import tiny_checkpoint  # lazy: torch only for the tests that need a model
    return tiny_checkpoint(path)


def _request(shot_type='ORBIT', n=3):
    from uavcine_interfaces.srv import SynthesizeShot
    from uavcine.core.camera import PinholeCamera
    req = SynthesizeShot.Request()
    req.shot_type, req.radius_m, req.height_m, req.speed_mps, req.duration_s = shot_type, 30.0, 20.0, 3.0, 6.0
    req.target_velocity.x = 1.0
    img = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    req.source_image.height, req.source_image.width, req.source_image.encoding = 96, 128, 'rgb8'
    req.source_image.step = 128 * 3
    req.source_image.data = img.tobytes()
    cam = PinholeCamera.from_dfov(128, 96, 92.0)
    req.source_camera_info.width, req.source_camera_info.height = 128, 96
    req.source_camera_info.k = [float(v) for v in cam.K.ravel()]
    req.source_pose.header.frame_id = 'map'
    req.source_pose.header.stamp.sec = 1_700_000_000
    req.source_pose.pose.position.y, req.source_pose.pose.position.z = -30.0, 20.0
    req.source_pose.pose.orientation.w = 1.0
    req.n_views = n
    return req


def test_synthesize_shot_service(ros_tmp, rclpy_context):
    import rclpy
    from uavcine_interfaces.srv import SynthesizeShot
    model = _tiny_model(ros_tmp / 'nvs_tiny.pt')
    node = Proc(['ros2', 'run', 'uavcine_ros', 'view_synthesis', '--ros-args', '-p', 'model:=%s' % model],
                ros_tmp / 'view_synthesis.log', cwd=ros_tmp)
    client_node = rclpy.create_node('nvs_client')
    try:
        node.wait_for(READY, timeout=180)
        cli = client_node.create_client(SynthesizeShot, '/view_synthesis/synthesize_shot')
        assert cli.wait_for_service(timeout_sec=30)

        def call(req):
            fut = cli.call_async(req)
            rclpy.spin_until_future_complete(client_node, fut, timeout_sec=120)
            assert fut.done(), node.text()[-2000:]
            return fut.result()
        t0 = time.monotonic()
        res = call(_request(n=3))
        assert res.success, res.message
        assert len(res.images) == 3 and len(res.poses) == 3 and list(res.times_s) == [2.0, 4.0, 6.0]
        assert (res.images[0].width, res.images[0].height) == (64, 48)
        assert len(res.path.poses) == 13 and res.path.header.frame_id == 'map'
        p = res.poses[-1].pose.position
        assert abs(math.hypot(p.x - 6.0, p.y) - 30.0) < 1e-6    # 30 m from the target, moved 6 m east
        assert time.monotonic() - t0 < 120
        bad = call(_request(shot_type='SPIRAL'))
        assert not bad.success and 'unknown shot_type' in bad.message and len(bad.images) == 0
        bad = call(_request(n=9))
        assert not bad.success and 'n_views must be 1..5' in bad.message
        assert call(_request(n=1)).success    # still serving after refusals
    finally:
        client_node.destroy_node()
        rc = node.interrupt()
    assert 'Traceback' not in node.text(), node.text()[-3000:]
    assert rc == 0
