"""Relay: republish a topic under another name, optionally throttled (like topic_tools relay/throttle).

The smallest node: one subscription, one publisher, two parameters. Python 3.8.
"""
from dataclasses import dataclass

from .base import RELIABLE, Node, param, sensor_qos


_ENDPOINTS = 'the topic type and QoS are fixed when the endpoints are created'


@dataclass
class RelayParams:
    msg_type: str = param('sensor_msgs/msg/Image', 'Message type of the relayed topic (pkg/msg/Name)',
        read_only=_ENDPOINTS)
    max_rate_hz: float = param(0.0, 'Publish at most this often in host time (simulated offline; 0 = no limit)', min=0.0)
    sensor_data: bool = param(False, 'Use the best-effort sensor-data QoS (else reliable)',
        read_only=_ENDPOINTS)


class RelayNode(Node):
    NAME = 'relay'
    Params = RelayParams

    def setup(self):
        qos = sensor_qos() if self.p.sensor_data else RELIABLE
        self.pub = self.create_publisher(self.p.msg_type, 'output', qos)
        self.create_subscription(self.p.msg_type, 'input', self.on_msg, qos)
        self.last_ns = None
        self.count = 0

    def on_msg(self, msg):
        if self.p.max_rate_hz > 0:
            now = self.now_ns()
            if self.last_ns is not None and now - self.last_ns < 1e9 / self.p.max_rate_hz:
                return
            self.last_ns = now
        self.count += 1
        self.pub.publish(msg)
