"""Gesture control: the tracked person's skeletons -> gestures -> shot commands.

    ros2 launch uavcine_ros gesture.launch.py [params:=/path/onboard.yaml]

Subscribes /target/track (the tracker's) and either /person/skeleton (uavcine_interfaces/Skeleton2D from
an external pose estimator; ``skeleton_source: topic``, the default) or /camera/image_raw (the node's own
pose network on the tracked person's crop, publishing /gesture/skeleton; ``skeleton_source: image``);
publishes /gesture/recognised and /shot/command. Run it beside onboard.launch.py.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    params = LaunchConfiguration('params')
    sim_time = {'use_sim_time': LaunchConfiguration('use_sim_time')}
    return LaunchDescription([
        DeclareLaunchArgument('params', description='ROS 2 parameter file for all uavcine nodes',
                              default_value=PathJoinSubstitution([FindPackageShare('uavcine_ros'), 'config',
                                                                  'onboard.yaml'])),
        DeclareLaunchArgument('use_sim_time', default_value='false', description='true when replaying a bag'),
        Node(package='uavcine_ros', executable='gesture', name='gesture', output='screen',
             parameters=[params, sim_time]),
    ])
