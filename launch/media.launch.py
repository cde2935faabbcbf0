"""The media services on ROS 2: media_server (shots, keyframes, thumbnails, summaries) and, with remote:=true,
the REST link to a remote summariser (docs/media.md).

    ros2 launch uavcine_ros media.launch.py [remote:=true]
    ros2 service call /media/detect_shots uavcine_interfaces/srv/DetectShots "{video_path: /data/shot.mp4}"
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    params = LaunchConfiguration('params')
    return LaunchDescription([
        DeclareLaunchArgument('params', default_value=PathJoinSubstitution(
            [FindPackageShare('uavcine_ros'), 'config', 'media.yaml'])),
        DeclareLaunchArgument('remote', default_value='false', description='also start the REST client'),
        Node(package='uavcine_ros', executable='media_server', name='media_server', output='screen',
             parameters=[params]),
        Node(package='uavcine_ros', executable='media_rest_client', name='media_rest_client', output='screen',
             parameters=[params], condition=IfCondition(LaunchConfiguration('remote'))),
    ])
