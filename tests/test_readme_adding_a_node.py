"""README's "Adding a node", followed literally: its code, its registration, its offline-host test, its parameters."""
import importlib.util
import re
import sys
from pathlib import Path

import numpy as np

from test_node_params_live import read_where_used
from uavcine.nodes import REGISTRY, load_node_class
from uavcine.nodes.base import SENSOR_DATA, Node, param_specs
from uavcine.offline.host import DEFAULT_START_NS, OfflineHost

REPO = Path(__file__).resolve().parents[1]


def readme_node_code() -> str:
    text = (REPO / 'README.md').read_text()
    section = text[text.index('## Adding a node'):]
    return re.search(r'```python\n(.*?)```', section, re.S).group(1)


class Camera(Node):
    """Two images: one dark, one bright."""
    NAME = 'camera'

    def setup(self):
        self.pub = self.create_publisher('sensor_msgs/msg/Image', 'camera/image_raw', SENSOR_DATA)
        self.create_timer(0.1, self.tick)
        self.n = 0

    def tick(self):
        self.n += 1
        if self.n > 2:
            return self.request_shutdown('done')
        value = 20 if self.n == 1 else 230
        self.pub.publish(self.new('sensor_msgs/msg/Image', header={'stamp': {'sec': self.n, 'nanosec': 0}},
                                  height=4, width=4, encoding='rgb8', step=12,
                                  data=np.full(48, value, np.uint8)))


def test_the_readme_node_works_as_written(tmp_path, monkeypatch):
    # 1. write src/uavcine/uavcine/nodes/my_node.py (here: a temporary copy, loaded as that module)
    path = tmp_path / 'my_node.py'
    path.write_text('\n'.join(line[3:] if line.startswith('   ') else line
                              for line in readme_node_code().splitlines()))
    spec = importlib.util.spec_from_file_location('uavcine.nodes.my_node', path)
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, 'uavcine.nodes.my_node', mod)
    spec.loader.exec_module(mod)
    # 2. register it
    monkeypatch.setitem(REGISTRY, 'my_node', 'uavcine.nodes.my_node:MyNode')
    MyNode = load_node_class('my_node')
    assert all(s.description for s in param_specs(MyNode.Params))
    # 3. test it through the offline host
    host = OfflineHost()
    host.add_node(Camera)
    host.add_node(MyNode)
    tracks = host.capture('target/track')
    host.run(until_ns=DEFAULT_START_NS + 10 ** 9)
    assert len(tracks) == 1 and tracks[0][1].header.stamp.sec == 2  # the dark image was skipped
    # its parameters follow the rules: read where used, or read-only with the reason
    assert host.set_parameters('my_node', {'threshold': 0.1}) == (True, '')
    ok, why = host.set_parameters('my_node', {'topic': 'x'})
    assert not ok and 'the publisher is made at start-up' in why
    assert 'threshold' in read_where_used(MyNode)
    host.close()
