"""The live view is a real Foxglove WebSocket server: a client on loopback sees the topics advertised."""
import json
import threading

import pytest

from test_foundation_host import Brightness, Camera
from uavcine.offline.host import OfflineHost

websockets = pytest.importorskip('websockets.sync.client', reason='websockets is installed by make test')


def test_client_sees_advertised_topics_with_ros2msg_schemas():
    from uavcine.offline.live import FoxgloveLive
    host = OfflineHost()
    live = FoxgloveLive(host.typestore, port=0)
    host.sinks.append(live)
    host.add_node(Camera, {'frames': 5})
    host.add_node(Brightness)
    host.run()  # channels exist now; the server advertises them to clients that connect
    port = live.server.port
    adverts = {}
    with websockets.connect('ws://127.0.0.1:%d' % port, subprotocols=['foxglove.sdk.v1'],
                            open_timeout=5) as ws:
        for _ in range(10):
            try:
                msg = ws.recv(timeout=2)
            except TimeoutError:
                break
            if isinstance(msg, str):
                data = json.loads(msg)
                if data.get('op') == 'advertise':
                    adverts.update({c['topic']: c for c in data['channels']})
            if {'/camera/image_raw', '/target/track'} <= set(adverts):
                break
    host.close()
    assert adverts['/target/track']['schemaName'] == 'uavcine_interfaces/msg/Track'
    assert adverts['/target/track']['encoding'] == 'cdr' and adverts['/target/track']['schemaEncoding'] == 'ros2msg'
    assert 'float64 quality' in adverts['/target/track']['schema']
