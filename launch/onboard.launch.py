"""Onboard graph: camera in, target geoposition, its forecast and camera pointing out.

    ros2 launch uavcine_ros onboard.launch.py                      # a PC: the detector on ONNX Runtime (CPU)
    ros2 launch uavcine_ros onboard.launch.py backend:=tensorrt    # the Jetson: a TensorRT engine built beforehand
    ros2 launch uavcine_ros onboard.launch.py params:=/path/my.yaml mavlink_url:=udpin:0.0.0.0:14550

The camera driver is the user's (any node publishing /camera/image_raw + /camera/camera_info).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from uavcine_ros.launch_common import graph_arguments, uavcine_node as node


def generate_launch_description():
    return LaunchDescription([
        *graph_arguments(),
        DeclareLaunchArgument('mavlink_url', default_value='udpin:0.0.0.0:14550',
                              description='pymavlink connection to the autopilot'),
        node('detector', {'backend': LaunchConfiguration('backend')}),
        node('tracker'),
        node('geo'),
        node('forecast'),
        node('mavlink', {'url': LaunchConfiguration('mavlink_url')}),
    ])
