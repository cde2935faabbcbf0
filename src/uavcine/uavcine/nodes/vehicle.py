"""The vehicle contract: the topics every vehicle source publishes and every consumer subscribes to, declared once.

Sources: the embedded simulator (``sim/node.py``), AirSim (``airsim_bridge``), a live MAVLink link
(``mavlink_bridge``) and a recorded .tlog (``tlog_source``); consumers: geopositioning (``geo``) and
camera pointing (``pointing``); the detector and the tracker take the camera topics. Names are
relative (a namespace or remap moves them together), types are ROS 2 interface names, QoS is the
sensor-data profile (REP-2003), frame ids follow REP-103/105:

- ``vehicle/fix`` NavSatFix of ``base_link`` (WGS84; covariance in m^2, ENU)
- ``vehicle/imu`` Imu: orientation of ``base_link`` (FLU) in ENU
- ``vehicle/gimbal`` QuaternionStamped: the gimbal (FLU) relative to ``base_link``
- ``vehicle/agl`` Range: height above the ground under ``base_link``, m
- ``camera/image_raw`` Image and ``camera/camera_info`` CameraInfo of ``camera_optical`` (z forward)
  (MAVLink and .tlog carry no images: they publish the telemetry only)

Python 3.8.
"""
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

from .base import SENSOR_DATA, Node, QoS


@dataclass(frozen=True)
class Topic:
    name: str
    msg_type: str
    frame_id: str
    qos: QoS = SENSOR_DATA

    def publisher(self, node: Node):
        return node.create_publisher(self.msg_type, self.name, self.qos)

    def subscribe(self, node: Node, callback: Callable[[Any], None], qos: Optional[QoS] = None):
        """Subscribe ``node``; ``qos``: a reliability the user chose (e.g. image_reliability), else the contract's."""
        return node.create_subscription(self.msg_type, self.name, callback, qos or self.qos)


FIX = Topic('vehicle/fix', 'sensor_msgs/msg/NavSatFix', 'base_link')
IMU = Topic('vehicle/imu', 'sensor_msgs/msg/Imu', 'base_link')
GIMBAL = Topic('vehicle/gimbal', 'geometry_msgs/msg/QuaternionStamped', 'base_link')
AGL = Topic('vehicle/agl', 'sensor_msgs/msg/Range', 'base_link')
IMAGE = Topic('camera/image_raw', 'sensor_msgs/msg/Image', 'camera_optical')
CAMERA_INFO = Topic('camera/camera_info', 'sensor_msgs/msg/CameraInfo', 'camera_optical')

#: What every vehicle source publishes, by the kind names MavlinkTelemetry's outputs use.
TELEMETRY = {'fix': FIX, 'imu': IMU, 'gimbal': GIMBAL, 'agl': AGL}  # type: Dict[str, Topic]
#: What a camera source (simulator, AirSim) publishes besides.
CAMERA = {'image': IMAGE, 'camera_info': CAMERA_INFO}  # type: Dict[str, Topic]


def telemetry_publishers(node: Node) -> Dict[str, Any]:
    """One publisher per telemetry topic of the contract, by kind."""
    return {kind: t.publisher(node) for kind, t in TELEMETRY.items()}


def camera_source_publishers(node: Node) -> Dict[str, Any]:
    """One publisher per topic of the contract (telemetry and camera), by kind: what the simulator and AirSim
    publish."""
    return {kind: t.publisher(node) for kind, t in dict(CAMERA, **TELEMETRY).items()}
