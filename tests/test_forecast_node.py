"""Forecast node: histories from GeoTarget + truth agents, K paths with weights, and its bad-input cases."""
import math

import numpy as np
import pytest

from uavcine.core.forecasting.history import AgentHistory
from uavcine.nodes import msgs
from uavcine.nodes.base import RELIABLE, Node
from uavcine.nodes.forecast import ForecastNode
from uavcine.offline.host import OfflineHost


def test_history_resamples_and_says_why_not():
    h = AgentHistory('person')
    assert h.add(0.0, 0.0, 0.0) is None
    assert h.add(float('nan'), 1.0, 0.0) == 'non-finite position or stamp'
    assert h.add(0.1, float('inf'), 0.0) == 'non-finite position or stamp'
    for k in range(1, 31):                       # 1 m/s east at 10 Hz for 3 s
        assert h.add(k * 0.1, k * 0.1, 0.0) is None
    assert h.add(2.0, 0.0, 0.0).startswith('time went backwards')
    past, why = h.resample(3.0, 8, 0.4, 1.0)
    assert why == 'ok' and np.allclose(past[:, 0], 3.0 - 0.4 * np.arange(7, -1, -1)) and np.allclose(past[:, 1], 0)
    assert h.resample(3.0, 9, 0.4, 1.0)[1].startswith('history too short')
    assert h.resample(5.0, 8, 0.4, 1.0)[1].startswith('vanished')
    # a little after the last sample: extrapolated at the last velocity
    past, why = h.resample(3.2, 8, 0.4, 1.0)
    assert why == 'ok' and past[-1, 0] == pytest.approx(3.2)


class Scene(Node):
    """A walking target (GeoTarget at 10 Hz) with two walking truth distractors and a truth car.

    ``bad`` injects at given ticks: 'nan' (a NaN GeoTarget), 'back' (a stamp 2 s in the past),
    'vanish' (distractor 2 stops after tick 30).
    """
    NAME = 'scene'
    target_class = 'person'
    bad = ()

    def setup(self):
        self.geo = self.create_publisher('uavcine_interfaces/msg/GeoTarget', 'target/geo', RELIABLE)
        self.truth = self.create_publisher('uavcine_interfaces/msg/TargetTruthArray', 'truth/targets', RELIABLE)
        self.create_timer(0.1, self.tick)
        self.k = 0

    def tick(self):
        self.k += 1
        now = self.now_ns()
        t = self.k * 0.1
        x, y = 1.3 * t, 0.2 * t
        stamp = now
        if 'nan' in self.bad and self.k == 50:
            x = float('nan')
        if 'back' in self.bad and self.k == 55:
            stamp = now - int(2e9)
        self.geo.publish(self.new('uavcine_interfaces/msg/GeoTarget', header=msgs.header(self, stamp, 'map'),
                                  track_id=1, class_id=self.target_class, position_enu={'x': x, 'y': y, 'z': 0.0}))
        agents = [(2, 'person', 5.0 - 1.1 * t, 3.0), (4, 'car', 20.0 + 8.0 * t, -10.0)]
        if not ('vanish' in self.bad and self.k > 30):
            agents.append((3, 'person', 2.0, 6.0 - 0.9 * t))
        self.truth.publish(self.new('uavcine_interfaces/msg/TargetTruthArray', header=msgs.header(self, now, 'map'),
                                    targets=[{'id': i, 'class_id': c, 'distractor': True,
                                              'position_enu': {'x': px, 'y': py, 'z': 0.0}} for i, c, px, py in agents]))
        if self.k == 80:
            self.request_shutdown('done')


def run(scene_cls, **params):
    host = OfflineHost()
    host.add_node(scene_cls)
    node = host.add_node(ForecastNode, params)
    caps = {k: host.capture(k) for k in ('/forecast/paths', '/forecast/path', '/diagnostics', '/target/geo')}
    host.run()
    return node, caps


def reasons(diags):
    out = {}
    for _, d in diags:
        for s in d.status:
            out.setdefault(s.name, []).append(s.message)
    return out


def test_forecasts_every_agent_with_the_class_model():
    node, caps = run(Scene)
    assert node.smemo is not None, node.smemo_error
    by_agent = {}
    for _, m in caps['/forecast/paths']:
        by_agent.setdefault(m.agent_id, []).append(m)
    assert set(by_agent) == {'target', 'truth/2', 'truth/3', 'truth/4'}
    last = by_agent['target'][-1]
    assert last.model == 'smemo' and len(last.paths) == 20 and len(last.probabilities) == 20
    assert sum(last.probabilities) == pytest.approx(1.0)
    assert last.header.frame_id == 'map' and len(last.paths[0].poses) == 13
    present = msgs.stamp_ns(last.header.stamp)
    p0 = last.paths[last.most_likely].poses
    assert msgs.stamp_ns(p0[0].header.stamp) == present
    assert msgs.stamp_ns(p0[12].header.stamp) - present == pytest.approx(4.8e9, abs=1e3)
    # the path starts at the present position and one of the K ends near where the target walks to
    t0 = (present - msgs.stamp_ns(caps['/target/geo'][0][1].header.stamp)) / 1e9 + 0.1   # scene time
    assert (p0[0].pose.position.x, p0[0].pose.position.y) == pytest.approx((1.3 * t0, 0.2 * t0), abs=0.01)
    ends = np.array([[p.poses[-1].pose.position.x, p.poses[-1].pose.position.y] for p in last.paths])
    truth_end = np.array([1.3, 0.2]) * (t0 + 4.8)
    assert np.linalg.norm(ends - truth_end, axis=1).min() < 2.0
    car = by_agent['truth/4'][-1]
    assert car.model == 'constant_velocity' and len(car.paths) == 1
    end = car.paths[0].poses[-1].pose.position
    t_car = t0 + (msgs.stamp_ns(car.header.stamp) - present) / 1e9
    assert end.x == pytest.approx(20.0 + 8.0 * (t_car + 4.8), abs=0.2)
    # the most likely path of the target on forecast/path
    path = caps['/forecast/path'][-1][1]
    assert len(path.poses) == 13 and path.header.frame_id == 'map'
    assert 'ok: smemo' in reasons(caps['/diagnostics'])['forecast: target'][-1]


def test_short_history_gives_no_forecast_and_says_why():
    node, caps = run(Scene)
    first = min(t for t, m in caps['/forecast/paths'] if m.agent_id == 'target')
    assert (first - caps['/target/geo'][0][0]) / 1e9 >= 2.8 - 1e-6   # 8 positions at 0.4 s need 2.8 s
    car = min(t for t, m in caps['/forecast/paths'] if m.agent_id == 'truth/4')
    assert (car - caps['/target/geo'][0][0]) / 1e9 < 1.7               # constant velocity: 4 points, 1.2 s
    msgs_ = reasons(caps['/diagnostics'])['forecast: target']
    assert any(m.startswith('no forecast: history too short') for m in msgs_)


class BadScene(Scene):
    bad = ('nan', 'back', 'vanish')


def test_bad_input_is_dropped_with_its_reason_and_the_node_stays_up():
    node, caps = run(BadScene)
    r = reasons(caps['/diagnostics'])
    target = r['forecast: target']
    assert any('non-finite' in m for m in target)
    assert any('time went backwards' in m for m in target)
    assert any(m.startswith('no forecast: vanished') for m in r['forecast: truth/3'])
    # forecasts keep coming after every bad message
    start = caps['/target/geo'][0][0]
    assert (caps['/forecast/paths'][-1][0] - start) / 1e9 > 7.0
    assert any(m.agent_id == 'target' and (msgs.stamp_ns(m.header.stamp) - start) / 1e9 > 7.0
               for _, m in caps['/forecast/paths'])


class CarScene(Scene):
    target_class = 'car'


def test_car_target_uses_constant_velocity_and_the_choice_is_a_parameter():
    _, caps = run(CarScene)
    t = [m for _, m in caps['/forecast/paths'] if m.agent_id == 'target']
    assert t and t[-1].model == 'constant_velocity' and len(t[-1].paths) == 1
    _, caps = run(CarScene, car_model='smemo')
    t = [m for _, m in caps['/forecast/paths'] if m.agent_id == 'target']
    assert t[-1].model == 'smemo' and len(t[-1].paths) == 20


def test_missing_model_falls_back_to_constant_velocity_and_reports_it():
    node, caps = run(Scene, smemo_model_path='models/no_such_smemo.pt')
    assert node.smemo is None and 'SMEMO unavailable' in node.smemo_error
    t = [m for _, m in caps['/forecast/paths'] if m.agent_id == 'target']
    assert t and t[-1].model == 'constant_velocity'
    assert 'forecast: model' in reasons(caps['/diagnostics'])


class JumpScene(Scene):
    """The clock jumps 10 s back at tick 40 (a bag loop or a simulator reset) and stays there."""

    def tick(self):
        if self.k == 39:
            self.shift = -int(10e9)
        super().tick()

    def now_ns(self):
        return super().now_ns() + getattr(self, 'shift', 0)


def test_a_clock_jump_restarts_the_history_and_forecasts_resume():
    node, caps = run(JumpScene)
    r = reasons(caps['/diagnostics'])
    assert any('clock jump' in m for m in r['forecast: target'])
    jump = caps['/target/geo'][39][0]
    after = [m for t, m in caps['/forecast/paths'] if m.agent_id == 'target' and t > jump + int(2.9e9)]
    assert after, 'no target forecast after the jump'
    assert msgs.stamp_ns(after[-1].header.stamp) < jump - int(5e9)   # stamped on the new (earlier) clock
