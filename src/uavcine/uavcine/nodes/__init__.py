"""Layer 2: host-agnostic nodes. They never import rclpy or rosbags. Python 3.8.

REGISTRY maps a node's short name (its console entry point under ROS 2 and its
name in offline graph files) to 'module:Class'. Add one line per node.
"""
import importlib
REGISTRY = {
    'sim': 'uavcine.sim.node:SimNode',
    'relay': 'uavcine.nodes.relay:RelayNode',
    'geo': 'uavcine.nodes.geo:GeoNode',
    'detector': 'uavcine.nodes.detector:DetectorNode',
    'pointing': 'uavcine.nodes.pointing:PointingNode',
    'tracker': 'uavcine.nodes.tracker:TrackerNode',
    'mavlink': 'uavcine.nodes.mavlink_bridge:MavlinkBridgeNode',
    'tlog': 'uavcine.nodes.tlog_source:TlogSourceNode',
    'airsim': 'uavcine.nodes.airsim_bridge:AirSimBridgeNode',
    'forecast': 'uavcine.nodes.forecast:ForecastNode',
    'gesture': 'uavcine.nodes.gesture:GestureNode',
    'media_server': 'uavcine.nodes.media_server:MediaServerNode',
    'media_rest_client': 'uavcine.nodes.media_rest_client:MediaRestClientNode',
    'flodcast': 'uavcine.nodes.flodcast:FlodcastNode',
    'view_synthesis': 'uavcine.nodes.view_synthesis:ViewSynthesisNode',
}


def load_node_class(name_or_path: str):
    """'detector' or 'package.module:Class' -> the node class."""
    path = REGISTRY.get(name_or_path, name_or_path)
    if ':' not in path:
        raise KeyError('unknown node %r (known: %s)' % (name_or_path, ', '.join(sorted(REGISTRY))))
    mod, _, cls = path.partition(':')
    return getattr(importlib.import_module(mod), cls)
