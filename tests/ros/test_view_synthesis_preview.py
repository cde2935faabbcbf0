"""The view_synthesis topic mode on a real ROS 2: `ros2 run uavcine_ros view_synthesis` with preview_rate_hz 2; an
rclpy probe first gives it nothing (a reason on /diagnostics, no preview), then a camera image, CameraInfo, the
camera pose (as geo publishes it) and a GeoTarget: the previews arrive on view_synthesis/preview/*."""
import math
import time

import numpy as np

from uavcine.nodes import msgs

from .conftest import READY, Proc
from .test_view_synthesis_service import _tiny_model


def test_view_synthesis_publishes_previews_of_the_planned_shot(ros_tmp, rclpy_context):
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import PoseStamped
    from nav_msgs.msg import Path
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image
    from transforms3d.quaternions import mat2quat
    from uavcine.core.camera import PinholeCamera
    from uavcine.core.shot_geometry import look_at
    from uavcine_interfaces.msg import GeoTarget
    model = _tiny_model(ros_tmp / 'nvs_tiny_preview.pt')
    node = Proc(['ros2', 'run', 'uavcine_ros', 'view_synthesis', '--ros-args', '-r', '__node:=vs_preview',
                 '-p', 'model:=%s' % model, '-p', 'preview_rate_hz:=2.0', '-p', 'preview_views:=3',
                 '-p', 'shot_type:=ORBIT', '-p', 'shot_radius_m:=30.0', '-p', 'shot_duration_s:=3.0'],
                ros_tmp / 'view_synthesis_preview.log', cwd=ros_tmp)
    probe = rclpy.create_node('preview_probe')
    images, paths, views, diags = [], [], [], []
    probe.create_subscription(Image, '/view_synthesis/preview/image', images.append, 10)
    probe.create_subscription(Path, '/view_synthesis/preview/path', paths.append, 10)
    probe.create_subscription(Path, '/view_synthesis/preview/poses', views.append, 10)
    probe.create_subscription(DiagnosticArray, '/diagnostics', lambda m: diags.extend(
        s.message for s in m.status if s.name == 'view_synthesis: preview'), 10)
    pub_img = probe.create_publisher(Image, '/camera/image_raw', qos_profile_sensor_data)
    pub_info = probe.create_publisher(CameraInfo, '/camera/camera_info', qos_profile_sensor_data)
    pub_pose = probe.create_publisher(PoseStamped, '/camera/pose_enu', 10)
    pub_geo = probe.create_publisher(GeoTarget, '/target/geo', 10)
    cam = PinholeCamera.from_dfov(128, 96, 92.0)
    rng = np.random.default_rng(0)
    try:
        node.wait_for(READY, timeout=180)
        end = time.monotonic() + 60
        while time.monotonic() < end and not diags:
            rclpy.spin_once(probe, timeout_sec=0.1)
        assert diags and diags[-1].startswith('no preview: no camera image yet'), diags[-3:]
        assert not images
        end = time.monotonic() + 120

        def done():   # the three topics and the diagnostics of two previews have arrived
            return len(paths) >= 2 and len(views) >= 2 and len(images) >= 6 and sum(
                m.startswith('3 views of the ORBIT shot') for m in diags) >= 2
        while time.monotonic() < end and not done():
            t = probe.get_clock().now().nanoseconds
            img = Image(height=96, width=128, encoding='rgb8', step=128 * 3,
                        data=rng.integers(0, 255, 96 * 128 * 3, dtype=np.uint8).tobytes())
            img.header.stamp.sec, img.header.stamp.nanosec = t // 10**9, t % 10**9
            info = CameraInfo(width=128, height=96, k=[float(v) for v in cam.K.ravel()])
            pose = PoseStamped()
            pose.header.stamp, pose.header.frame_id = img.header.stamp, 'map'
            pose.pose.position.y, pose.pose.position.z = -30.0, 20.0
            q = mat2quat(look_at([0.0, -30.0, 20.0], [0.0, 0.0, 1.0]))
            pose.pose.orientation.w, pose.pose.orientation.x, pose.pose.orientation.y, pose.pose.orientation.z = q
            geo = GeoTarget()
            geo.header.stamp, geo.header.frame_id = img.header.stamp, 'map'
            for pub, msg in ((pub_info, info), (pub_img, img), (pub_pose, pose), (pub_geo, geo)):
                pub.publish(msg)
            for _ in range(3):
                rclpy.spin_once(probe, timeout_sec=0.05)
        assert done(), 'no previews; it said %s\n%s' % (diags[-3:], node.text()[-3000:])
        assert (images[0].width, images[0].height) == (64, 48)
        v = views[-1]
        src = msgs.stamp_ns(v.header.stamp)
        assert [msgs.stamp_ns(p.header.stamp) - src for p in v.poses] == [10**9, 2 * 10**9, 3 * 10**9]
        for p in v.poses:   # the ORBIT of 30 m around the target at the origin, from the camera's bearing
            assert abs(math.hypot(p.pose.position.x, p.pose.position.y) - 30.0) < 1e-6
        assert paths[-1].header.frame_id == 'map' and len(paths[-1].poses) == 7
    finally:
        probe.destroy_node()
        rc = node.interrupt()
    assert 'Traceback' not in node.text(), node.text()[-3000:]
    assert rc == 0
