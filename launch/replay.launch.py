"""Replay a recorded flight through the onboard graph on ROS 2 (the offline twin is `uavcine replay`).

    ros2 launch uavcine_ros replay.launch.py bag:=/path/to/bag [rate:=1.0]

`ros2 bag play --clock` publishes /clock and every node uses simulated time. The
autopilot bridge is left out: a replay never commands a vehicle.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    params = LaunchConfiguration('params')
    sim_time = {'use_sim_time': True}

    return LaunchDescription([
        DeclareLaunchArgument('bag', description='rosbag2 directory to replay'),
        DeclareLaunchArgument('rate', default_value='1.0', description='playback rate'),
        DeclareLaunchArgument('params', default_value=PathJoinSubstitution(
            [FindPackageShare('uavcine_ros'), 'config', 'onboard.yaml'])),
        ExecuteProcess(cmd=['ros2', 'bag', 'play', LaunchConfiguration('bag'), '--clock',
                            '--rate', LaunchConfiguration('rate')], output='screen'),
        Node(package='uavcine_ros', executable='detector', name='detector', output='screen',
             parameters=[params, sim_time]),
        Node(package='uavcine_ros', executable='tracker', name='tracker', output='screen',
             parameters=[params, sim_time]),
        Node(package='uavcine_ros', executable='geo', name='geo', output='screen',
             parameters=[params, sim_time]),
    ])
