"""FLODCAST node: the next K depth maps and optical flows of the camera, from its last T = 3.

Subscribes ``truth/depth`` (32FC1, metres, +inf sky) and ``truth/flow`` (32FC2, pixels, from this image
to the next) as the embedded simulator publishes them (``publish_depth``, ``publish_flow``; the AirSim bridge
publishes neither yet): one pair per image, paired by equal stamps. Each pair is resized to the model's resolution (nearest neighbour: no depth mixed across an
edge; flow scaled with the image), depths beyond the model's range and the sky set to its far end, NaN
flow to 0. With T consecutive pairs it forecasts K steps at once and publishes, for k = 1..K,
``forecast/flodcast/depth_k`` (32FC1, m) and ``forecast/flodcast/flow_k`` (32FC2, px), stamped at
``t_T + k * step`` (step: the mean interval of the pairs it saw; the model was trained at its ``dt_s``),
in the input's frame and, by default, the input's size. A model of one modality (the ablations) reads
and publishes only that one.

Flow convention. The flow stamped with image t maps image t's pixels to image t+1 (forward, t -> t+1;
tests/test_flodcast_node.py pins it), in the inputs, in the training data (train/flodcast_data.py) and in
the forecasts (flow_k, stamped t_T + k step: from that time to one step later). The paper's X_t = OF_t (+) D_t
does not say which pair OF_t comes from (the seed's text); its causal reading, the flow that has arrived
with image t, is t-1 -> t. So the simulator's flow stamped t is that reading's OF_{t+1}: known to the
simulator at t, to a real flow estimator (two images) only when image t+1 arrives (and with depth D_t it
nearly fixes D_{t+1}: the model card says what that means for its depth numbers). A real source keeps this
node's convention by stamping the flow it computes from images t-1 and t with image t-1's stamp (and pairing
it with that image's depth); the forecasts are then one frame later than the simulator's, the same quantities.

Bad input (unknown encodings, depth and flow of different sizes, time going backwards, a gap of more
than ``max_gap_steps`` model steps) drops the pair or restarts the history, with the reason in
/diagnostics; a model that does not load leaves the node up, publishing only its diagnostics. Python 3.8.
"""
from collections import deque
from dataclasses import dataclass
from typing import Dict, Optional

import cv2
import numpy as np

from . import msgs, paths
from .base import RELIABLE, Node, param
from .diagnostics import ERROR, OK, WARN, diagnostic_array, diagnostic_status

BACKENDS = ('torch', 'onnxruntime')


@dataclass
class FlodcastParams:
    model_path: str = param('models/flodcast_both.pt', 'FLODCAST checkpoint (relative paths: see uavcine.nodes.paths)',
                            read_only='the model (and its output topics) are made when the node starts')
    backend: str = param('torch', 'Inference backend: torch, or onnxruntime with the .onnx beside model_path',
                         choices=BACKENDS, read_only='the model is loaded once, when the node starts')
    num_threads: int = param(1, 'Inference threads (0: the backend default)', min=0, max=64,
                             read_only='threads are set once, when the model is loaded')
    full_size: bool = param(True, "Publish forecasts at the input's size (False: at the model's resolution)")
    max_gap_steps: float = param(2.5, "Pairs further apart than this many model steps restart the history",
                                 min=1.0, max=100.0)
    min_period_s: float = param(0.0, 'Least time between two forecasts (stamps; 0: one per input pair)',
                                min=0.0, max=60.0)


class FlodcastNode(Node):
    NAME = 'flodcast'
    Params = FlodcastParams

    def setup(self):
        self.model = self.norm = self.session = None
        self.error = None  # type: Optional[str]
        self._load()
        cfg = self.model.cfg if self.model is not None else None
        self.modalities = cfg.modalities if cfg is not None else ('flow', 'depth')
        self.future = cfg.future if cfg is not None else 3
        self.past = cfg.past if cfg is not None else 3
        self.pubs = {}  # type: Dict[str, list]
        for m in self.modalities:
            self.pubs[m] = [self.create_publisher('sensor_msgs/msg/Image', 'forecast/flodcast/%s_%d' % (m, k + 1),
                                                  RELIABLE) for k in range(self.future)]
        self.pub_diag = self.create_publisher('diagnostic_msgs/msg/DiagnosticArray', '/diagnostics', RELIABLE)
        self.pending = {}  # type: Dict[int, Dict[str, np.ndarray]]  # stamp -> {'depth': .., 'flow': ..}
        self.history = deque(maxlen=self.past)   # (stamp ns, depth (h, w) m, flow (h, w, 2) px) at model size
        self.frame_id = ''
        self.in_size = None
        self.last_forecast_ns = None
        self.last_diag_ns = None
        self.status = 'waiting for %d depth + flow pairs' % self.past
        self.forecasts = 0
        if 'depth' in self.modalities:
            self.create_subscription('sensor_msgs/msg/Image', 'truth/depth', self.on_depth, RELIABLE)
        if 'flow' in self.modalities:
            self.create_subscription('sensor_msgs/msg/Image', 'truth/flow', self.on_flow, RELIABLE)

    # --- the model ---------------------------------------------------------------------------------
    def _load(self):
        try:
            import torch  # lazy: seconds to import
            from ..core.forecasting.flodcast import from_checkpoint
            if self.p.num_threads > 0:
                torch.set_num_threads(self.p.num_threads)
            path = paths.resolve(self.p.model_path)
            self.model, self.norm = from_checkpoint(torch.load(path, map_location='cpu', weights_only=False))
            if self.p.backend == 'onnxruntime':
                import onnxruntime as ort  # lazy: optional, only for this backend
                opts = ort.SessionOptions()
                if self.p.num_threads > 0:
                    opts.intra_op_num_threads = self.p.num_threads
                onnx_path = paths.resolve(str(self.p.model_path)[:-3] + '.onnx' if str(self.p.model_path).endswith('.pt')
                                          else self.p.model_path)
                self.session = ort.InferenceSession(onnx_path, opts, providers=['CPUExecutionProvider'])
        except (OSError, ValueError, KeyError, RuntimeError, ImportError, TypeError) as exc:
            self.model = None
            self.error = 'FLODCAST model %s unavailable: %s' % (self.p.model_path, str(exc).splitlines()[0])
            self.host.log(self, 'error', self.error)

    def _run(self, x: np.ndarray) -> Dict[str, np.ndarray]:
        """(1, T, C, h, w) normalised -> {modality: (1, K, c, h, w)} normalised."""
        if self.session is not None:
            outs = self.session.run(None, {self.session.get_inputs()[0].name: x})
            return dict(zip(self.modalities, outs))
        import torch  # loaded already by _load (lazy for start-up time, see there)
        with torch.no_grad():
            return {m: v.numpy() for m, v in self.model(torch.from_numpy(x)).items()}

    # --- input ---------------------------------------------------------------------------------------
    def on_depth(self, msg):
        self._take('depth', msg)

    def on_flow(self, msg):
        self._take('flow', msg)

    def _take(self, kind: str, msg):
        try:
            arr = msgs.image_to_numpy(msg, want='raw')
            if msg.encoding != ('32FC1' if kind == 'depth' else '32FC2'):
                raise msgs.BadMessage('%s must be %s, got %s' % (kind, '32FC1' if kind == 'depth' else '32FC2',
                                                                 msg.encoding))
        except msgs.BadMessage as exc:
            self._report(msgs.stamp_ns(msg.header.stamp), WARN, 'dropped %s image: %s' % (kind, exc))
            return
        ns = msgs.stamp_ns(msg.header.stamp)
        self.frame_id = str(msg.header.frame_id)
        slot = self.pending.setdefault(ns, {})
        slot[kind] = arr
        if all(m in slot for m in self.modalities):
            del self.pending[ns]
            self._pair(ns, slot.get('depth'), slot.get('flow'))
        while len(self.pending) > 8:  # the other half of these never came
            del self.pending[min(self.pending)]

    def _pair(self, ns: int, depth, flow):
        if self.model is None:
            self._report(ns, ERROR, self.error or 'no model')
            return
        shapes = {a.shape[:2] for a in (depth, flow) if a is not None}
        if len(shapes) != 1:
            self._report(ns, WARN, 'dropped pair: depth and flow of different sizes %s' % sorted(shapes))
            return
        size = shapes.pop()
        if self.history:
            last = self.history[-1][0]
            step_ns = self.model.cfg.dt_s * 1e9
            if ns <= last:
                self.history.clear()
                self.status = 'time went backwards (%.3f s): history restarted' % ((ns - last) / 1e9)
                self.warn_throttled('back', 'flodcast: ' + self.status)
            elif ns - last > self.p.max_gap_steps * step_ns or size != self.in_size:
                self.history.clear()
                self.status = ('gap of %.3f s: history restarted' % ((ns - last) / 1e9) if size == self.in_size
                               else 'image size changed: history restarted')
                self.warn_throttled('gap', 'flodcast: ' + self.status)
        self.in_size = size
        self.history.append((ns,) + self._to_model(depth, flow))
        if len(self.history) < self.past:
            self._report(ns, OK if self.forecasts == 0 else WARN,
                         '%s; %d of %d pairs' % (self.status, len(self.history), self.past))
            return
        if self.last_forecast_ns is not None and ns - self.last_forecast_ns < self.p.min_period_s * 1e9:
            return
        self._forecast(ns)

    def _to_model(self, depth, flow):
        """Input images -> (depth (h, w) m, flow (h, w, 2) px) at the model's resolution, cleaned."""
        cfg = self.model.cfg
        h, w = cfg.height, cfg.width_px
        far = float(self.norm.depth[1])
        d = f = None
        if depth is not None:
            d = np.where(np.isfinite(depth), depth, far).astype(np.float32)
            d = cv2.resize(np.minimum(d, far), (w, h), interpolation=cv2.INTER_NEAREST)
        if flow is not None:
            sx, sy = w / float(flow.shape[1]), h / float(flow.shape[0])
            f = cv2.resize(np.nan_to_num(flow.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0), (w, h),
                           interpolation=cv2.INTER_NEAREST) * np.array([sx, sy], np.float32)
        return d, f

    # --- output --------------------------------------------------------------------------------------
    def _forecast(self, ns: int):
        from ..core.forecasting.flodcast import make_input, to_metric  # needs torch: lazy as in _load
        stamps = [s for s, _, _ in self.history]
        depth = np.stack([d for _, d, _ in self.history]) if 'depth' in self.modalities else None
        flow = np.stack([f for _, _, f in self.history]) if 'flow' in self.modalities else None
        x = make_input(depth, flow, self.norm, self.modalities)[None]
        out = to_metric({m: v[0] for m, v in self._run(x).items()}, self.norm)
        step_ns = (stamps[-1] - stamps[0]) / float(len(stamps) - 1)
        H, W = self.in_size
        for k in range(self.future):
            stamp = int(round(ns + (k + 1) * step_ns))
            if 'depth' in out:
                d = out['depth'][k].astype(np.float32)
                if self.p.full_size and d.shape != (H, W):
                    d = cv2.resize(d, (W, H), interpolation=cv2.INTER_LINEAR)
                self.pubs['depth'][k].publish(msgs.numpy_to_image(self, np.ascontiguousarray(d), stamp,
                                                                  self.frame_id, '32FC1'))
            if 'flow' in out:
                f = out['flow'][k].astype(np.float32)
                if self.p.full_size and f.shape[:2] != (H, W):
                    f = cv2.resize(f, (W, H), interpolation=cv2.INTER_LINEAR)
                    f *= np.array([W / float(out['flow'].shape[2]), H / float(out['flow'].shape[1])], np.float32)
                self.pubs['flow'][k].publish(msgs.numpy_to_image(self, np.ascontiguousarray(f), stamp,
                                                                 self.frame_id, '32FC2'))
        self.forecasts += 1
        self.last_forecast_ns = ns
        self.status = 'ok: forecast %d steps of %.3f s' % (self.future, step_ns / 1e9)
        self._report(ns, OK, self.status, every_s=1.0)

    def _report(self, ns: int, level: int, message: str, every_s: float = 0.0):
        """Diagnostics: every problem at once, the ok status at most every ``every_s`` (stamps)."""
        if level == OK and every_s > 0 and self.last_diag_ns is not None and 0 <= ns - self.last_diag_ns < every_s * 1e9:
            return
        if level != OK:
            self.warn_throttled('diag', 'flodcast: ' + message)
        self.last_diag_ns = ns
        st = diagnostic_status(self, level, 'flodcast', message, self.name,
                               [('forecasts', self.forecasts), ('model', self.p.model_path), ('backend', self.p.backend)])
        self.pub_diag.publish(diagnostic_array(self, ns, [st]))
