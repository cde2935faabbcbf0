"""AirSim/Unreal graph: the AirSim bridge stands in for the camera and the vehicle.

    ros2 launch uavcine_ros airsim.launch.py [airsim_host:=127.0.0.1] [shot:=orbit] \
        [shot_target_object:=Target_1] [target_object:=Target_1] [backend:=onnxruntime|tensorrt]

Start Unreal with the AirSim plugin first, with sim/airsim/settings.json copied to
~/Documents/AirSim/settings.json (640x480, 92 deg diagonal FOV = FOV_Degrees 79.278
horizontal, camera 'cinecam' 15 deg down). The bridge publishes /camera/* and
/vehicle/*; the detector, tracker and geo nodes run as on the drone; the forecast
node's path of the target lets the pointing node lead it, and the pointing
node's /gimbal/command turns the AirSim camera; with shot:=orbit|flyby|flyover the
bridge flies that shot through the API around shot_target_object.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    params = LaunchConfiguration('params')
    sim_time = {'use_sim_time': LaunchConfiguration('use_sim_time')}
    airsim = {'host': LaunchConfiguration('airsim_host'), 'port': LaunchConfiguration('airsim_port'),
              'shot': LaunchConfiguration('shot'), 'shot_target_object': LaunchConfiguration('shot_target_object'),
              'target_object': LaunchConfiguration('target_object')}

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
        DeclareLaunchArgument('airsim_host', default_value='127.0.0.1', description='machine running Unreal/AirSim'),
        DeclareLaunchArgument('airsim_port', default_value='41451', description='AirSim RPC port'),
        DeclareLaunchArgument('shot', default_value='none', description='none | orbit | flyby | flyover'),
        DeclareLaunchArgument('shot_target_object', default_value='', description='Unreal object to film'),
        DeclareLaunchArgument('target_object', default_value='',
                              description='Unreal object published as /truth/target/fix (evaluation)'),
        node('airsim', airsim),
        node('detector', {'backend': LaunchConfiguration('backend')}),
        node('tracker'),
        node('geo'),
        node('forecast'),
        node('pointing'),
    ])
