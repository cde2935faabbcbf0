"""Embedded-simulator graph: the simulator stands in for the camera and the vehicle, and renders the depth and
the optical flow of every image (its truth), so the FLODCAST forecaster runs beside the onboard graph.

    ros2 launch uavcine_ros sim.launch.py [scenario:=sim/walk_person.yaml] [camera_rate_hz:=5.0] \
        [duration_s:=600] [backend:=onnxruntime|tensorrt|torch]

sim -> detector -> tracker -> geo -> forecast (the target's and the people's paths) -> pointing -> the
simulator's gimbal (scenarios whose gimbal mode is ``command``, e.g. sim/chase_car_turn_brake.yaml,
sim/walk_person.yaml); sim /truth/depth + /truth/flow -> flodcast (forecast/flodcast/depth_k, flow_k). The
simulator renders in real time on the CPU: a lower camera rate keeps a small PC up with it.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from uavcine_ros.launch_common import graph_arguments, uavcine_node as node


def generate_launch_description():
    sim = {'scenario': LaunchConfiguration('scenario'), 'camera_rate_hz': LaunchConfiguration('camera_rate_hz'),
           'duration_s': LaunchConfiguration('duration_s'), 'publish_depth': True, 'publish_flow': True}
    # FLODCAST was trained at 10 fps; a simulator rendering depth and flow in real time on a CPU runs slower and
    # late at times: its pairs may come several model steps apart (the forecasts are stamped at their real step)
    flodcast = {'max_gap_steps': 20.0}

    return LaunchDescription([
        *graph_arguments(),
        DeclareLaunchArgument('scenario', default_value='sim/chase_car_turn_brake.yaml',
                              description='simulator scenario YAML (relative: the working directory, then '
                                          'share/uavcine)'),
        DeclareLaunchArgument('camera_rate_hz', default_value='5.0',
                              description='simulator frame rate (0: the scenario\'s)'),
        DeclareLaunchArgument('duration_s', default_value='0.0',
                              description='simulated seconds before the simulator stops (0: the scenario\'s)'),
        node('sim', sim),
        node('detector', {'backend': LaunchConfiguration('backend')}),
        node('tracker'),
        node('geo'),
        node('forecast'),
        node('pointing'),
        node('flodcast', flodcast),
    ])
