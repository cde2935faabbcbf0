"""Forecasting node: where the target (and the agents around it) will be in the next seconds.

Keeps per-agent histories in the local ENU frame: the filmed target from ``target/geo`` (GeoTarget) and,
where present, other agents from the simulator's ``truth/targets`` (later: other geolocated detections).
At ``rate_hz`` it resamples every live agent to the model's step at one common present (the newest
GeoTarget stamp) and forecasts by class: pedestrians with SMEMO (a scene of all pedestrians, K futures
weighted by how often each mode was the best on the model's validation set), cars and the rest with
constant velocity (one path). Publishes, per agent, ``forecast/paths`` (uavcine_interfaces/ForecastPaths:
K nav_msgs/Path with probabilities) and, for the target, its most likely path on ``forecast/path``
(nav_msgs/Path), both stamped at the present and in the GeoTarget's frame; every path starts at the
present position. Bad input (NaN, time going backwards, agents vanishing, too short a history) gives
no forecast for that agent and its reason in /diagnostics; the node stays up. Python 3.8.
"""
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..core.forecasting.constant_velocity import constant_velocity
from ..core.forecasting.history import Histories
from ..runtime.smemo_onnx import SMEMOOnnx
from . import msgs, paths
from .base import RELIABLE, Node, param
from .diagnostics import OK, WARN, diagnostic_array, diagnostic_status

MODELS = ('smemo', 'constant_velocity')


@dataclass
class ForecastParams:
    rate_hz: float = param(2.5, 'Forecasts per second', min=0.1, max=50.0,
                           read_only='the forecast timer is created with its period when the node starts')
    smemo_model_path: str = param('models/smemo_eth.pt', 'SMEMO checkpoint for pedestrians (relative paths: see '
                                  'uavcine.nodes.paths); the one trained without ETH by default',
                                  read_only='the model is loaded once, on first use')
    person_model: str = param('smemo', 'Forecaster for class person', choices=MODELS)
    car_model: str = param('constant_velocity', 'Forecaster for class car (no vehicle-trained model ships yet)',
                           choices=MODELS)
    other_model: str = param('constant_velocity', 'Forecaster for any other class', choices=MODELS)
    step_s: float = param(0.4, 'Step of constant-velocity paths (SMEMO uses its own, 0.4 s)', min=0.01, max=5.0)
    cv_fit_points: int = param(4, 'Constant velocity: velocity fitted (least squares) over this many of the last '
                               'positions at step_s (2: the last displacement); geolocated positions are noisy',
                               min=2, max=64)
    horizon_steps: int = param(12, 'Forecast steps of constant-velocity paths (SMEMO: its own 12)', min=1, max=200)
    max_gap_s: float = param(1.0, 'An agent not seen for this long before the present has vanished', min=0.01)
    use_truth_agents: bool = param(True, 'Also forecast the simulator truth agents (truth/targets) around the target')
    agent_classes: str = param('person,car', 'Truth classes that are agents (comma separated)')
    num_threads: int = param(1, 'threads for SMEMO, torch or onnxruntime (0: the library default)', min=0, max=64,
                             read_only='threads are set once, when the model is loaded')
    smemo_onnx_path: str = param('', "SMEMO on onnxruntime: the graph of smemo_model_path's weights "
                                 '(python -m uavcine.runtime.smemo_onnx; no torch needed); empty = torch',
                                 read_only='the model is loaded once, on first use')


class ForecastNode(Node):
    NAME = 'forecast'
    Params = ForecastParams

    def setup(self):
        self.histories = Histories(keep_s=30.0)
        self.frame_id = 'map'
        self.present_ns = None   # newest GeoTarget stamp
        self.reasons = {}        # type: Dict[str, str]  # agent -> why no forecast (or 'ok ...')
        self.dropped = {}        # type: Dict[str, str]  # agent -> the last input dropped since the last diagnostics
        self.backwards = {}      # type: Dict[str, int]  # agent -> backwards stamps in a row
        self.classes = {}        # type: Dict[str, str]
        self.smemo = None
        self.smemo_error = None  # type: Optional[str]
        self.forecasts = 0
        self.pub_paths = self.create_publisher('uavcine_interfaces/msg/ForecastPaths', 'forecast/paths', RELIABLE)
        self.pub_path = self.create_publisher('nav_msgs/msg/Path', 'forecast/path', RELIABLE)
        self.pub_diag = self.create_publisher('diagnostic_msgs/msg/DiagnosticArray', '/diagnostics', RELIABLE)
        self.create_subscription('uavcine_interfaces/msg/GeoTarget', 'target/geo', self.on_geo, RELIABLE)
        self.create_subscription('uavcine_interfaces/msg/TargetTruthArray', 'truth/targets', self.on_truth, RELIABLE)
        self.create_timer(1.0 / self.p.rate_hz, self.on_timer)

    # --- the model, loaded on first use (its path is read-only) -------------------------------------
    def _smemo(self):
        if self.smemo is None and self.smemo_error is None:
            try:
                if self.p.smemo_onnx_path:
                    self.smemo = SMEMOOnnx(paths.resolve(self.p.smemo_onnx_path), self.p.num_threads,
                                           model_path=paths.resolve(self.p.smemo_model_path))
                    return self.smemo
                # torch (and the model) only once a pedestrian is forecast: start-up time, and a graph of cars
                # only needs no torch at all
                import torch
                from ..core.forecasting.smemo import from_checkpoint  # needs torch: lazy as torch
                if self.p.num_threads > 0:
                    torch.set_num_threads(self.p.num_threads)
                path = paths.resolve(self.p.smemo_model_path)
                self.smemo = from_checkpoint(torch.load(path, map_location='cpu', weights_only=False))
            except (OSError, ValueError, KeyError, RuntimeError, ImportError) as exc:
                self.smemo_error = 'SMEMO unavailable (%s): constant velocity instead' % exc
                self.host.log(self, 'error', self.smemo_error)
        return self.smemo

    # --- input ---------------------------------------------------------------------------------------
    def _add(self, agent: str, class_id: str, stamp_ns: int, x: float, y: float) -> bool:
        """Add a sample to an agent's history; False (and the reason noted) when it was dropped."""
        why = self.histories.add(agent, class_id, stamp_ns / 1e9, x, y)
        self.classes[agent] = class_id
        if why is None:
            self.backwards[agent] = 0
            return True
        if why.startswith('time went backwards'):
            # one late message is dropped; several in a row are a clock jump (bag loop, simulator reset):
            # then this agent's history starts again
            self.backwards[agent] = self.backwards.get(agent, 0) + 1
            if self.backwards[agent] >= 3:
                self.histories.reset(agent)
                self.histories.add(agent, class_id, stamp_ns / 1e9, x, y)
                self.backwards[agent] = 0
                self.dropped[agent] = 'clock jump (%s): history restarted' % why
                self.warn_throttled('bad_' + agent, 'forecast: %s: %s' % (agent, self.dropped[agent]))
                return True
        self.dropped[agent] = 'sample dropped: ' + why
        self.warn_throttled('bad_' + agent, 'forecast: %s: %s' % (agent, why))
        return False

    def on_geo(self, msg):
        ns = msgs.stamp_ns(msg.header.stamp)
        p = msg.position_enu
        self.frame_id = str(msg.header.frame_id) or self.frame_id
        if self._add('target', str(msg.class_id) or 'unknown', ns, float(p.x), float(p.y)):
            self.present_ns = ns   # the newest target stamp (or the first after a clock jump)

    def on_truth(self, msg):
        if not self.p.use_truth_agents:
            return
        ns = msgs.stamp_ns(msg.header.stamp)
        classes = [c.strip() for c in self.p.agent_classes.split(',') if c.strip()]
        for t in msg.targets:
            # the filmed target comes from GeoTarget; truth gives the agents around it
            if not bool(t.distractor) or str(t.class_id) not in classes:
                continue
            self._add('truth/%d' % int(t.id), str(t.class_id), ns, float(t.position_enu.x), float(t.position_enu.y))

    # --- forecasting ---------------------------------------------------------------------------------
    def _model_for(self, class_id: str) -> str:
        p = self.p
        return p.person_model if class_id == 'person' else p.car_model if class_id == 'car' else p.other_model

    def on_timer(self):
        if self.present_ns is None:
            return
        present = self.present_ns / 1e9
        self.histories.forget_older_than(present - 30.0)
        groups = {'smemo': [], 'constant_velocity': []}  # type: Dict[str, List[Tuple[str, np.ndarray]]]
        for agent, h in self.histories.agents.items():
            model = self._model_for(h.class_id)
            if model == 'smemo':
                net = self._smemo()
                n, dt = (net.cfg.obs_len, net.cfg.dt_s) if net is not None else (self.p.cv_fit_points, self.p.step_s)
                if net is None:
                    model = 'constant_velocity'
            else:
                n, dt = self.p.cv_fit_points, self.p.step_s
            past, why = h.resample(present, n, dt, self.p.max_gap_s)
            if past is None:
                self.reasons[agent] = 'no forecast: ' + why
                continue
            groups[model].append((agent, past))
        out = []
        limit = getattr(self.smemo, 'max_agents', None)
        if limit is not None and len(groups['smemo']) > limit:
            # the ONNX graph takes at most max_agents: SMEMO for those nearest the filmed target
            keep = {a for a, _ in self._nearest_first(groups['smemo'])[:limit]}
            for agent, _ in groups['smemo']:
                if agent in keep:
                    continue
                past, why = self.histories.agents[agent].resample(present, self.p.cv_fit_points, self.p.step_s,
                                                                  self.p.max_gap_s)
                if past is not None:
                    groups['constant_velocity'].append((agent, past))
                self.dropped[agent] = 'beyond the SMEMO graph\'s %d agents: constant velocity' % limit
            groups['smemo'] = [g for g in groups['smemo'] if g[0] in keep]
        if groups['smemo']:
            out += self._forecast_smemo(groups['smemo'])
        for agent, past in groups['constant_velocity']:
            fut = constant_velocity(past[None], self.p.horizon_steps + 1, fit_points=len(past))[0]
            # the path starts at the fitted present (one step before the first forecast)
            now_xy = 2 * fut[0, 0] - fut[0, 1]
            out.append((agent, 'constant_velocity', now_xy, fut[:, :self.p.horizon_steps], np.ones(1), self.p.step_s))
        for agent, model, now_xy, fut, prob, step in out:
            self._publish(agent, model, now_xy, fut, prob, step)
            self.reasons[agent] = 'ok: %s, %d path(s)' % (model, len(prob))
        self.forecasts += 1
        self._diagnostics()

    def _nearest_first(self, agents):
        """``agents`` [(name, past)] from the nearest to the filmed target (the scene's centre without one)."""
        now = {a: p[-1] for a, p in agents}
        ref = now.get('target', np.mean(list(now.values()), axis=0))
        return sorted(agents, key=lambda g: float(np.hypot(*(g[1][-1] - ref))))

    def _forecast_smemo(self, agents):
        net = self.smemo
        past = np.stack([p for _, p in agents]).astype(np.float32)     # (A, 8, 2)
        centre = past[:, -1].mean(0)
        if isinstance(net, SMEMOOnnx):
            fut = net.forecast(past - centre) + centre
            prior = net.mode_prior
        else:
            import torch  # loaded already by _smemo (lazy for start-up time, see there)
            with torch.no_grad():
                fut = net(torch.from_numpy(past - centre)[None])[0].numpy() + centre  # (A, K, 12, 2)
            prior = net.mode_prior.numpy().astype(float)
        prior = prior / prior.sum() if prior.sum() > 0 else np.full(len(prior), 1.0 / len(prior))
        return [(a, 'smemo', past[i, -1], fut[i], prior, net.cfg.dt_s) for i, (a, _) in enumerate(agents)]

    def _path(self, now_xy, fut: np.ndarray, step: float):
        poses = []
        pts = np.vstack([np.asarray(now_xy)[None], fut])
        for j, (x, y) in enumerate(pts):
            ns = self.present_ns + int(round(j * step * 1e9))
            poses.append({'header': msgs.header(self, ns, self.frame_id),
                          'pose': {'position': {'x': float(x), 'y': float(y), 'z': 0.0},
                                   'orientation': {'w': 1.0}}})
        return {'header': msgs.header(self, self.present_ns, self.frame_id), 'poses': poses}

    def _publish(self, agent, model, now_xy, fut, prob, step):
        paths_ = [self._path(now_xy, f, step) for f in fut]
        best = int(np.argmax(prob))
        self.pub_paths.publish(self.new(
            'uavcine_interfaces/msg/ForecastPaths', header=msgs.header(self, self.present_ns, self.frame_id),
            agent_id=agent, class_id=self.classes.get(agent, ''), model=model, step_s=float(step), paths=paths_,
            probabilities=np.asarray(prob, dtype=np.float64), most_likely=best))
        if agent == 'target':
            self.pub_path.publish(self.new('nav_msgs/msg/Path', **paths_[best]))

    def _diagnostics(self):
        statuses = []
        for agent in sorted(set(self.reasons) | set(self.dropped)):
            why = self.reasons.get(agent, 'no forecast: not in this scene')
            level = OK if why.startswith('ok') and agent not in self.dropped else WARN
            if agent in self.dropped:
                why += '; ' + self.dropped[agent]
            statuses.append(diagnostic_status(self, level, 'forecast: %s' % agent, why, self.name,
                                              [('class', self.classes.get(agent, ''))]))
        if self.smemo_error:
            statuses.append(diagnostic_status(self, WARN, 'forecast: model', self.smemo_error, self.name, []))
        self.pub_diag.publish(diagnostic_array(self, self.present_ns, statuses))
        self.reasons, self.dropped = {}, {}
