"""AirSim/Unreal graph: the AirSim bridge stands in for the camera and the vehicle.

    ros2 launch uavcine_ros airsim.launch.py [airsim_host:=127.0.0.1] [shot:=orbit] \
        [shot_target_object:=Target_1] [target_object:=Target_1] [backend:=onnxruntime|tensorrt]

Start Unreal with the AirSim plugin first, with sim/airsim/settings.json copied to
~/Documents/AirSim/settings.json (640x480, 92 deg diagonal FOV = FOV_Degrees 79.278
horizontal, camera 'cinecam' 15 deg down). The bridge publishes /camera/* and
/vehicle/*; the detector, tracker and geo nodes run as on the drone; the pointing
node leads the target along its velocity (or the forecast node's path, with
lead_source forecast), and its /gimbal/command turns the AirSim camera; with shot:=orbit|flyby|flyover the
bridge flies that shot through the API around shot_target_object.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from uavcine_ros.launch_common import graph_arguments, uavcine_node as node


def generate_launch_description():
    airsim = {'host': LaunchConfiguration('airsim_host'), 'port': LaunchConfiguration('airsim_port'),
              'shot': LaunchConfiguration('shot'), 'shot_target_object': LaunchConfiguration('shot_target_object'),
              'target_object': LaunchConfiguration('target_object')}

    return LaunchDescription([
        *graph_arguments(),
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
