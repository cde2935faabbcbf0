"""The offline host: real messages between nodes, simulated time, QoS, latching, services, errors."""
import logging
from dataclasses import dataclass

import numpy as np
import pytest

from uavcine.nodes import msgs
from uavcine.nodes.base import LATCHED, RELIABLE, SENSOR_DATA, Node, param
from uavcine.nodes.relay import RelayNode
from uavcine.offline.host import DEFAULT_START_NS, GraphError, OfflineHost


@dataclass
class CamParams:
    frames: int = param(10, 'How many images', min=1)
    rate_hz: float = param(10.0, 'Frame rate', min=0.1)
    best_effort: bool = param(True, 'Publish with the sensor-data QoS')


class Camera(Node):
    """A source node: publishes numbered images from a timer, then ends the run."""
    NAME = 'camera'
    Params = CamParams

    def setup(self):
        self.pub = self.create_publisher('sensor_msgs/msg/Image', 'camera/image_raw',
                                         SENSOR_DATA if self.p.best_effort else RELIABLE)
        self.labels = self.create_publisher('vision_msgs/msg/LabelInfo', 'camera/labels', LATCHED)
        self.labels.publish(self.new('vision_msgs/msg/LabelInfo', class_map=[
            {'class_id': 1, 'class_name': 'person'}, {'class_id': 2, 'class_name': 'car'}]))
        self.create_timer(1.0 / self.p.rate_hz, self.tick)
        self.n = 0

    def tick(self):
        self.n += 1
        img = np.full((6, 8, 3), self.n, np.uint8)
        self.pub.publish(msgs.numpy_to_image(self, img, self.now_ns(), 'camera_optical'))
        if self.n == self.p.frames:
            self.request_shutdown('all frames sent')


class Brightness(Node):
    """A consumer: turns each image into a Track whose quality is the mean brightness / 255."""
    NAME = 'brightness'

    def setup(self):
        self.pub = self.create_publisher('uavcine_interfaces/msg/Track', 'target/track', RELIABLE)
        self.create_subscription('sensor_msgs/msg/Image', 'camera/image_raw', self.on_image, SENSOR_DATA)
        self.create_subscription('vision_msgs/msg/LabelInfo', 'camera/labels', self.on_labels, LATCHED)
        self.labels = None

    def on_labels(self, msg):
        self.labels = [c.class_name for c in msg.class_map]

    def on_image(self, msg):
        try:
            rgb = msgs.image_to_numpy(msg)
        except msgs.BadMessage as exc:
            self.warn_throttled('bad', 'dropping image: %s' % exc)
            return
        self.pub.publish(self.new('uavcine_interfaces/msg/Track', header=msg.header, track_id=7,
                                  class_id='car', quality=float(rgb.mean()) / 255.0,
                                  bbox=msgs.bbox_fields(1, 2, 3, 4), state=2))


def test_two_nodes_exchange_real_messages():
    host = OfflineHost()
    cam = host.add_node(Camera)
    bright = host.add_node(Brightness)
    tracks = host.capture('/target/track')
    reason = host.run()
    host.close()
    assert 'all frames sent' in reason
    assert cam.n == 10 and len(tracks) == 10
    assert bright.labels == ['person', 'car']  # the latched LabelInfo reached the subscriber
    qualities = [m.quality for _, m in tracks]
    assert qualities == pytest.approx([n / 255.0 for n in range(1, 11)])
    # simulated time: 10 Hz from the default start, header stamp copied through
    times = [t for t, _ in tracks]
    assert times == [DEFAULT_START_NS + k * 100_000_000 for k in range(1, 11)]
    assert [msgs.stamp_ns(m.header.stamp) for _, m in tracks] == times
    assert msgs.bbox_xywh(tracks[0][1].bbox) == (1.0, 2.0, 3.0, 4.0)


def test_runs_are_deterministic():
    def once():
        host = OfflineHost()
        host.add_node(Camera, {'frames': 5})
        host.add_node(Brightness)
        cap = host.capture('/target/track')
        host.run()
        return [(t, m.quality) for t, m in cap]
    assert once() == once()


def test_reliable_subscription_gets_nothing_from_best_effort_publisher(caplog):
    class Strict(Brightness):
        NAME = 'strict'

        def setup(self):
            self.got = 0
            self.create_subscription('sensor_msgs/msg/Image', 'camera/image_raw', self.count, RELIABLE)

        def count(self, msg):
            self.got += 1

    host = OfflineHost()
    host.add_node(Camera, {'frames': 3})
    strict = host.add_node(Strict)
    with caplog.at_level(logging.WARNING, logger='uavcine'):
        host.run()
    assert strict.got == 0
    assert sum('incompatible QoS' in r.getMessage() for r in caplog.records) == 1  # said once, not per message
    host2 = OfflineHost()
    host2.add_node(Camera, {'frames': 3, 'best_effort': False})
    strict2 = host2.add_node(Strict)
    host2.run()
    assert strict2.got == 3


def test_until_stops_the_clock():
    host = OfflineHost()
    cam = host.add_node(Camera, {'frames': 100})
    reason = host.run(until_ns=DEFAULT_START_NS + 350_000_000)
    assert cam.n == 3 and reason == 'reached the end time'


def test_type_clash_and_unknown_type_are_graph_errors():
    host = OfflineHost()
    host.add_node(Camera)
    with pytest.raises(GraphError, match='has type sensor_msgs/msg/Image'):
        host.add_node(RelayNode, {'msg_type': 'sensor_msgs/msg/NavSatFix'}, remap={'input': '/camera/image_raw'})
    with pytest.raises(GraphError, match='unknown message type'):
        host.add_node(RelayNode, {'msg_type': 'foo_msgs/msg/Bar'}, name='r2')
    with pytest.raises(GraphError, match='two nodes'):
        host.add_node(Camera)


def test_bad_image_is_dropped_and_node_keeps_running():
    class Garbage(Camera):
        def tick(self):
            self.n += 1
            if self.n == 2:
                msg = self.new('sensor_msgs/msg/Image', height=6, width=8, encoding='rgb8', step=24,
                               data=np.zeros(10, np.uint8))  # too short
            elif self.n == 3:
                msg = self.new('sensor_msgs/msg/Image', height=6, width=8, encoding='yuv422', step=16)
            else:
                msg = msgs.numpy_to_image(self, np.zeros((6, 8, 3), np.uint8), self.now_ns(), 'c')
            self.pub.publish(msg)
            if self.n == 5:
                self.request_shutdown('done')

    host = OfflineHost()
    host.add_node(Garbage)
    host.add_node(Brightness)
    cap = host.capture('/target/track')
    host.run()
    assert len(cap) == 3 and not host.errors


def test_failing_callback_strict_and_lenient():
    class Boom(Brightness):
        def on_image(self, msg):
            raise RuntimeError('boom')

    strict = OfflineHost()
    strict.add_node(Camera, {'frames': 3})
    strict.add_node(Boom)
    with pytest.raises(RuntimeError, match='boom'):
        strict.run()
    lenient = OfflineHost(strict=False)
    cam = lenient.add_node(Camera, {'frames': 3})
    lenient.add_node(Boom)
    lenient.run()
    assert cam.n == 3 and len(lenient.errors) == 3


def test_service_call_between_nodes():
    class Server(Node):
        NAME = 'server'

        def setup(self):
            self.create_service('std_srvs/srv/SetBool', 'enable', self.on_call)

        def on_call(self, request, response):
            response.success = bool(request.data)
            response.message = 'enabled' if request.data else 'disabled'
            return response

    host = OfflineHost()
    host.add_node(Server)
    req = host.new('std_srvs/srv/SetBool_Request', {'data': True})
    resp = host.call_service('/enable', req)
    assert resp.success is True and resp.message == 'enabled'


def test_message_builder_checks_fields():
    from uavcine.offline.messages import MessageError
    host = OfflineHost()
    with pytest.raises(MessageError, match='has no field'):
        host.new('sensor_msgs/msg/Image', {'pixels': 1})
    with pytest.raises(MessageError, match='expected 9 values'):
        host.new('sensor_msgs/msg/CameraInfo', {'k': [1, 2, 3]})
    info = host.new('sensor_msgs/msg/CameraInfo', {'k': np.eye(3).ravel()})
    assert info.k.dtype == np.float64 and info.d.size == 0 and info.header.frame_id == ''


def test_node_that_cannot_start_is_one_graph_error_and_leaves_no_trace():
    class NeedsModel(Node):
        NAME = 'needs_model'

        def setup(self):
            self.create_publisher('sensor_msgs/msg/Image', 'out/image')
            raise ValueError('model not found: models/x.pt\nmore detail')

    host = OfflineHost()
    with pytest.raises(GraphError, match='node needs_model could not start: model not found: models/x.pt$'):
        host.add_node(NeedsModel)
    assert not host.pubs['/out/image'] and '/out/image' not in host.topic_types
