"""The offline host's bag reader for media services: the messages of one topic of a rosbag2, between two stamps.

Registered into ``uavcine.nodes.media_server`` when the offline host is imported (nodes never import rosbags).
Every failure is a ``MediaSourceError`` whose text is the reason the service returns.
"""
from __future__ import annotations

from typing import Any, Iterator, Tuple

from ..nodes import media_server, msgs
from .bag import BagError, BagReader
from .typestore import make_typestore


def bag_messages(path: str, topic: str, msgtype: str, start_ns: int = 0, stop_ns: int = 0) -> Iterator[Tuple[int, Any]]:
    """(header stamp ns, message) of every message on ``topic`` with start <= stamp <= stop (0: open end)."""
    try:
        reader = BagReader(path, make_typestore())
    except BagError as exc:
        raise media_server.MediaSourceError(str(exc)) from None
    t = reader.topics.get(topic)
    if t is None:
        reader.close()
        raise media_server.MediaSourceError('bag %s has no topic %s (it has: %s)'
                                            % (path, topic, ', '.join(sorted(reader.topics)) or 'none'))
    if t.msgtype != msgtype:
        reader.close()
        raise media_server.MediaSourceError('topic %s is a %s, not a %s' % (topic, t.msgtype, msgtype))
    return _messages(reader, topic, start_ns, stop_ns)


def _messages(reader, topic, start_ns, stop_ns):
    try:
        for _, msgtype, _, raw in reader.messages([topic]):
            msg = reader.deserialize(raw, msgtype)
            ns = msgs.stamp_ns(msg.header.stamp)
            if ns < start_ns or (stop_ns and ns > stop_ns):
                continue
            yield ns, msg
    except BagError as exc:
        raise media_server.MediaSourceError(str(exc)) from None
    finally:
        reader.close()


media_server.set_bag_reader(bag_messages)
