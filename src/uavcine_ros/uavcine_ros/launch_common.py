"""What the camera-graph launch files (onboard, sim, airsim) share: their common arguments and how a uavcine node
is started. Imported by the launch files from this installed package, so the arguments are declared once."""
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def graph_arguments():
    """params, sigterm_timeout, backend and use_sim_time: the arguments every camera graph takes."""
    return [
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
    ]


def uavcine_node(executable, *extra):
    """A uavcine node named after its executable, with the graph's parameter file, use_sim_time and `extra`."""
    return Node(package='uavcine_ros', executable=executable, name=executable, output='screen',
                parameters=[LaunchConfiguration('params'), {'use_sim_time': LaunchConfiguration('use_sim_time')},
                            *extra])

