"""The simulated director: a UAV-GESTURE training-split skeleton retargeted into a person's box, and the
simulator obeying the ShotCommand it leads to (skipped without the real keypoints where they are needed)."""
import numpy as np
import pytest
import yaml

from test_gesture_data import DATA
from uavcine.core.gestures import skeleton as K
from uavcine.nodes import msgs
from uavcine.nodes.base import RELIABLE, Node
from uavcine.offline.host import OfflineHost

needs_data = pytest.mark.skipif(not (DATA / 'joint_positions').is_dir(),
                                reason='real UAV-GESTURE keypoints not present (shared/data/uav_gesture)')
BOX = (300.0, 180.0, 30.0, 100.0)


class Truth(Node):
    """Publishes the person's truth box at 10 Hz for 3 s."""
    NAME = 'truth'

    def setup(self):
        self.pub = self.create_publisher('uavcine_interfaces/msg/TargetTruthArray', 'truth/targets', RELIABLE)
        self.create_timer(0.1, self.tick)
        self.k = 0

    def tick(self):
        self.k += 1
        if self.k > 30:
            self.request_shutdown('done')
            return
        self.pub.publish(self.new('uavcine_interfaces/msg/TargetTruthArray', header=msgs.header(self, self.now_ns(), 'map'),
                                  targets=[{'id': 1, 'class_id': 'person', 'in_view': True,
                                            'bbox': msgs.bbox_fields(*BOX)}]))


@needs_data
def test_actor_performs_a_training_video_inside_the_box():
    from uavcine.apps.gesture_actor import GestureActorNode
    host = OfflineHost()
    host.add_node(Truth)
    host.add_node(GestureActorNode, {'data_dir': str(DATA), 'video': 'S1_allClear_HD', 'start_s': 1.0,
                                     'duration_s': 1.5, 'noise_px': 0.0})
    sk = host.capture('/person/skeleton')
    truth = host.capture('/truth/gesture')
    host.run()
    assert len(sk) == 30 and [m.data for _, m in truth][::10] == ['idle', 'all_clear', 'all_clear']
    assert [m.data for _, m in truth].count('all_clear') == 15
    x, y, w, h = BOX
    for _, m in sk:
        pts = np.stack([m.x, m.y], 1)
        torso = pts[[1, 2, 5, 8, 11]]
        assert np.all((torso[:, 0] > x - 0.1 * w) & (torso[:, 0] < x + 1.1 * w))
        body = pts[[0, 1, 2, 5, 8, 9, 10, 11, 12, 13]][np.array(m.score)[[0, 1, 2, 5, 8, 9, 10, 11, 12, 13]] > 0]
        assert np.all((body[:, 1] > y - 0.05 * h) & (body[:, 1] < y + 1.1 * h))   # (a raised hand may leave the box)
    idle = np.stack([sk[0][1].x, sk[0][1].y], 1)
    assert np.all(idle[[4, 7], 1] > idle[[2, 5], 1])            # standing: wrists below the shoulders


@needs_data
def test_actor_refuses_a_test_split_video():
    from uavcine.apps.gesture_actor import GestureActorNode
    host = OfflineHost()
    from uavcine.offline.host import GraphError
    with pytest.raises(GraphError, match='not in the training part'):
        host.add_node(GestureActorNode, {'data_dir': str(DATA), 'video': 'S13_allClear_HD', 'split': 1})


def test_sim_node_obeys_shot_commands(tmp_path):
    from sim_fixtures import small_scenario
    from uavcine.sim.node import SimNode

    class Director(Node):
        NAME = 'director'

        def setup(self):
            self.pub = self.create_publisher('uavcine_interfaces/msg/ShotCommand', 'shot/command', RELIABLE)
            self.create_timer(1.0, self.tick)
            self.k = 0

        def tick(self):
            self.k += 1
            if self.k == 1:
                self.pub.publish(self.new('uavcine_interfaces/msg/ShotCommand', header=msgs.header(self, self.now_ns(), ''),
                                          command=1, command_name='START', source='test'))
            if self.k == 2:
                self.pub.publish(self.new('uavcine_interfaces/msg/ShotCommand', command=99, source='garbage'))

    sc = small_scenario(duration_s=4.0, targets=[{'id': 1, 'cls': 'person', 'position': [0.0, 0.0]}],
                        gimbal={'mode': 'lock'},
                        shot={'type': 'ORBIT', 'target': 1, 'point': None, 'distance_m': 10.0, 'speed_mps': 5.0,
                              'altitude_m': 5.0, 'start_on_command': True, 'command_blend_s': 0.5})
    path = tmp_path / 'sc.yaml'
    path.write_text(yaml.safe_dump(sc.to_dict()))
    host = OfflineHost()
    sim = host.add_node(SimNode, {'scenario': str(path), 'noise_scale': 0.0, 'camera_rate_hz': 2.0})
    host.add_node(Director)
    poses = host.capture('/truth/vehicle_pose')
    host.run()
    assert [c for _, c in sim.shot_commands] == ['START']          # the bad command was dropped, the node stayed up
    t_start = sim.shot_commands[0][0]
    xy = {round((t - poses[0][0]) / 1e9, 1): (m.pose.position.x, m.pose.position.y) for t, m in poses}
    before = [v for t, v in xy.items() if t < t_start]
    after = [v for t, v in xy.items() if t > t_start + 1.0]
    assert np.allclose(before, before[0], atol=1e-6)                 # hovering until START
    assert np.linalg.norm(np.subtract(after[-1], before[0])) > 5.0   # then orbiting


@needs_data
@pytest.mark.slow
def test_gesture_demo_starts_the_orbit_with_the_node_default_model(tmp_path):
    """`uavcine gesture-demo` with no --model runs the gesture node's default recogniser (with the none class):
    the standing person sends nothing, all_clear starts the ORBIT, and the timeline shows the model's classes."""
    import json

    from uavcine import cli
    from uavcine.nodes.gesture import GestureParams
    assert cli.main(['gesture-demo', '--out', str(tmp_path), '--data', str(DATA), '--no-progress']) == 0
    s = json.loads((tmp_path / 'summary.json').read_text())
    assert [c[1] for c in s['commands']][:1] == ['START'] and s['commands'][0][2] == 'gesture:all_clear'
    assert s['gesture_start_s'] < s['commands'][0][0] < s['gesture_end_s']     # sent while the person signals
    assert (tmp_path / 'gesture_timeline.png').stat().st_size > 10000
    assert GestureParams().model_path.endswith('_none.pt') and 'none' in s['recognised']
    assert s['min_confidence'] == GestureParams().min_confidence               # the node's own threshold
