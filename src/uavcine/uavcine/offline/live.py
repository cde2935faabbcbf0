"""Live view: serve the offline host's topics to Foxglove over WebSocket (foxglove-sdk).

Every message goes out as it is recorded: CDR bytes with the ROS 2 .msg schema, so
Foxglove decodes them exactly as it decodes the bag. Open Foxglove, connect to
``ws://127.0.0.1:8765`` and import ``config/foxglove_layout.json``.
"""
from __future__ import annotations

import logging

log = logging.getLogger('uavcine')


class FoxgloveLive:
    """A host sink (``host.sinks.append(live)``) that forwards every message to a Foxglove WebSocket server."""

    def __init__(self, typestore, host: str = '127.0.0.1', port: int = 8765):
        import foxglove  # lazy: optional dependency (foxglove-sdk, --live only)
        self.foxglove = foxglove
        self.typestore = typestore
        self.server = foxglove.start_server(name='uavcine', host=host, port=port)
        self.channels: dict = {}
        self.port = self.server.port if hasattr(self.server, 'port') else port
        log.info('live view: ws://%s:%d (Foxglove: open connection; layout config/foxglove_layout.json)', host,
                 self.port)

    def __call__(self, topic: str, msgtype: str, t_ns: int, raw: bytes, msgdef: str | None = None):
        ch = self.channels.get(topic)
        if ch is None:
            if msgdef is None:
                msgdef, _ = self.typestore.generate_msgdef(msgtype, ros_version=2)
            schema = self.foxglove.Schema(name=msgtype, encoding='ros2msg', data=msgdef.encode())
            ch = self.channels[topic] = self.foxglove.Channel(topic, schema=schema, message_encoding='cdr')
        ch.log(bytes(raw), log_time=int(t_ns))

    def close(self):
        for ch in self.channels.values():
            try:
                ch.close()
            except Exception:  # the viewer going away must not fail the run
                pass
        self.server.stop()
