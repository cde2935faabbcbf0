"""Onboard graph: camera in, target geoposition, its forecast and camera pointing out.

    ros2 launch uavcine_ros onboard.launch.py                      # a PC: the detector on ONNX Runtime (CPU)
    ros2 launch uavcine_ros onboard.launch.py backend:=tensorrt    # the Jetson: a TensorRT engine built beforehand
    ros2 launch uavcine_ros onboard.launch.py params:=/path/my.yaml mavlink_url:=udpin:0.0.0.0:14550

The camera driver is the user's (any node publishing /camera/image_raw + /camera/camera_info).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    params = LaunchConfiguration('params')
    sim_time = {'use_sim_time': LaunchConfiguration('use_sim_time')}

    def node(executable, *extra):
        return Node(package='uavcine_ros', executable=executable, name=executable, output='screen',
                    parameters=[params, sim_time, *extra])

    return LaunchDescription([
        DeclareLaunchArgument('params', description='ROS 2 parameter file for all uavcine nodes',
                              default_value=PathJoinSubstitution([FindPackageShare('uavcine_ros'), 'config',
                                                                  'onboard.yaml'])),
        # launch's own setting, read by every process it starts: time to exit cleanly after Ctrl-C before SIGTERM
        # (the default 5 s is too short for four processes unloading torch and onnxruntime on a busy 2-core PC)
        DeclareLaunchArgument('sigterm_timeout', default_value='20',
                              description='s a node has to exit after SIGINT before it gets SIGTERM'),
        DeclareLaunchArgument('backend', default_value='onnxruntime',
                              description='detector inference: onnxruntime (a PC), tensorrt (the Jetson), torch'),
        DeclareLaunchArgument('use_sim_time', default_value='false', description='true when replaying a bag'),
        DeclareLaunchArgument('mavlink_url', default_value='udpin:0.0.0.0:14550',
                              description='pymavlink connection to the autopilot'),
        node('detector', {'backend': LaunchConfiguration('backend')}),
        node('tracker'),
        node('geo'),
        node('forecast'),
        node('mavlink', {'url': LaunchConfiguration('mavlink_url')}),
    ])
