"""The ROS host's bag reader for media_server: rosbag2_py (part of ROS 2 Humble). Python 3.8.

Checked by hand on the Humble built from ../shared/ros2 (an MCAP bag of the demo, images and Track topic).

Registered into ``uavcine.nodes.media_server`` when the ROS host starts a media node. Errors become
``MediaSourceError`` with the reason the service returns.
"""
import os

from uavcine.nodes import media_server, msgs

def bag_messages(path, topic, msgtype, start_ns=0, stop_ns=0):
    """(header stamp ns, message) of every message on ``topic`` with start <= stamp <= stop (0: open end)."""
    try:  # ROS 2's bag API: imported when a bag is read (a clear reason where it is missing)
        import rosbag2_py
        from rclpy.serialization import deserialize_message  # ROS 2 (as above)
        from rosidl_runtime_py.utilities import get_message  # ROS 2 (as above)
    except ImportError as exc:
        raise media_server.MediaSourceError('cannot read bags here: %s' % exc) from None
    if not os.path.exists(path):
        raise media_server.MediaSourceError('bag not found: %s' % path)
    reader = rosbag2_py.SequentialReader()
    try:
        storage = 'mcap' if any(f.endswith('.mcap') for f in os.listdir(path)) else 'sqlite3'
        reader.open(rosbag2_py.StorageOptions(uri=path, storage_id=storage),
                    rosbag2_py.ConverterOptions(input_serialization_format='cdr', output_serialization_format='cdr'))
    except Exception as exc:  # rosbag2_py raises RuntimeError with its own text
        raise media_server.MediaSourceError('cannot open bag %s: %s' % (path, exc)) from None
    types = {t.name: t.type for t in reader.get_all_topics_and_types()}
    if topic not in types:
        raise media_server.MediaSourceError('bag %s has no topic %s (it has: %s)' % (path, topic, ', '.join(sorted(types)) or 'none'))
    if types[topic] != msgtype:
        raise media_server.MediaSourceError('topic %s is a %s, not a %s' % (topic, types[topic], msgtype))
    reader.set_filter(rosbag2_py.StorageFilter(topics=[topic]))
    cls = get_message(msgtype)

    def gen():
        while reader.has_next():
            _, raw, _ = reader.read_next()
            msg = deserialize_message(raw, cls)
            ns = msgs.stamp_ns(msg.header.stamp)
            if ns < start_ns or (stop_ns and ns > stop_ns):
                continue
            yield ns, msg
    return gen()


media_server.set_bag_reader(bag_messages)
