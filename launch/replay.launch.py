"""Replay a recorded flight through the onboard graph on ROS 2; `uavcine replay` runs the same graph offline.

    ros2 launch uavcine_ros replay.launch.py bag:=runs/demo/orbit/bag out:=runs/ros_replay [rate:=0.5]
    uavcine replay runs/demo/orbit/bag --graph config/graphs/replay.yaml --params config/onboard.yaml \
        --out runs/replay.mcap                                  # the offline twin

What runs is config/graphs/replay.yaml (installed in share/uavcine_ros/config/graphs), the same file the
offline host reads: its nodes, started with the parameter file `params` (the detector's backend from
`backend`). In order:

1. the nodes and `ros2 bag record` of the graph's `outputs` start;
2. once every node has logged that it is ready (models loaded) and the recorder has subscribed to every
   output topic, `ros2 bag play --clock` plays only the graph's `inputs` (outputs recorded in the flight
   stay in the bag, so no topic gets two publishers); every node runs on the bag's clock;
3. `linger` seconds after the player ends, everything stops and the recording in `out` is closed.

The autopilot bridge is not in the graph: a replay never commands a vehicle.
"""
import os
import re

import yaml
from launch import LaunchDescription
from launch.actions import (DeclareLaunchArgument, EmitEvent, ExecuteProcess, LogInfo, OpaqueFunction,
                            RegisterEventHandler, TimerAction)
from launch.event_handlers import OnProcessExit, OnProcessIO
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

READY = 'uavcine node ready:'  # uavcine_ros.host.READY, logged by every node once it is set up


def _graph(context):
    arg = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    with open(arg('graph')) as f:
        graph = yaml.safe_load(f)
    params, out, bag = arg('params'), arg('out'), arg('bag')
    nodes, waiting = [], set()
    for item in graph['nodes']:
        item = {'node': item} if isinstance(item, str) else item
        name = item.get('name') or item['node']
        extra = dict(item.get('params') or {})
        if item['node'] == 'detector':
            extra['backend'] = arg('backend')
        nodes.append(Node(package='uavcine_ros', executable=item['node'], name=name, output='screen',
                          parameters=[params, extra, {'use_sim_time': True}],
                          remappings=list((item.get('remap') or {}).items())))
        waiting.add('node ' + name)
    outputs = list(graph.get('outputs') or [])
    waiting |= {'topic ' + t for t in outputs}
    recorder = ExecuteProcess(cmd=['ros2', 'bag', 'record', '-s', arg('storage'), '-o', out] + outputs,
                              output='screen', sigterm_timeout='10')
    player = ExecuteProcess(cmd=['ros2', 'bag', 'play', bag, '--clock', '--rate', arg('rate'), '--delay', arg('delay'),
                                 '--disable-keyboard-controls', '--topics'] + list(graph['inputs']), output='screen')

    def on_output(event):
        text = event.text.decode(errors='replace')
        for line in text.splitlines():
            if READY in line:
                waiting.discard('node ' + line.split(READY, 1)[1].strip())
            m = re.search(r"Subscribed to topic '([^']+)'", line)
            if m:
                waiting.discard('topic ' + m.group(1))
        if not waiting and not started:
            started.append(True)
            return [LogInfo(msg='replay: nodes ready, recorder subscribed; playing %s' % bag), player]
        return None

    started = []
    watch = [RegisterEventHandler(OnProcessIO(target_action=a, on_stdout=on_output, on_stderr=on_output))
             for a in nodes + [recorder]]
    stop = RegisterEventHandler(OnProcessExit(target_action=player, on_exit=[
        TimerAction(period=float(arg('linger')), actions=[EmitEvent(event=Shutdown(reason='replay done'))])]))
    if os.path.exists(out):
        raise RuntimeError('replay.launch.py: out:=%s exists; give a new folder for the recording' % out)
    return watch + [stop, recorder] + nodes


def generate_launch_description():
    share = FindPackageShare('uavcine_ros')
    return LaunchDescription([
        DeclareLaunchArgument('bag', description='rosbag2 folder to replay (e.g. runs/demo/orbit/bag)'),
        DeclareLaunchArgument('out', description='new rosbag2 folder for the recorded outputs'),
        DeclareLaunchArgument('rate', default_value='1.0',
                              description='playback rate; lower it where the nodes cannot keep up'),
        DeclareLaunchArgument('params', default_value=PathJoinSubstitution([share, 'config', 'onboard.yaml']),
                              description='ROS 2 parameter file for the nodes'),
        DeclareLaunchArgument('graph', default_value=PathJoinSubstitution([share, 'config', 'graphs', 'replay.yaml']),
                              description='graph file: nodes, inputs played, outputs recorded'),
        # launch's own setting, read by every process it starts: time to exit cleanly after Ctrl-C before SIGTERM
        # (the default 5 s is too short for four processes unloading torch and onnxruntime on a busy 2-core PC)
        DeclareLaunchArgument('sigterm_timeout', default_value='20',
                              description='s a node has to exit after SIGINT before it gets SIGTERM'),
        DeclareLaunchArgument('backend', default_value='onnxruntime',
                              description='detector inference: onnxruntime (a PC), tensorrt (the Jetson), torch'),
        DeclareLaunchArgument('storage', default_value='mcap', description='recording storage: mcap or sqlite3'),
        DeclareLaunchArgument('delay', default_value='1.0',
                              description='s between the last subscription and the first message played'),
        DeclareLaunchArgument('linger', default_value='3.0',
                              description='s to keep running after the bag ends (last outputs)'),
        OpaqueFunction(function=_graph),
    ])
