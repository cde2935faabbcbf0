"""FLODCAST: optical FLOw and Depth foreCASTing with a multimodal recurrent network (Ciamarra et al., 2024).

The seed's section 4.4.2.2, one class or function per part:

- the input of past step t is ``X_t = OF_t (+) D_t`` (optical flow and depth concatenated on channels);
- ``UNet``: the shared feature extractor, applied to every X_t: a fully convolutional encoder-decoder with
  skip connections, 5 levels of ``{64, 128, 256, 512, 1024}`` filters (``FlodcastConfig.width`` scales
  them for a CPU), giving ``Phi_t`` of (H x W x 64*width);
- ``ConvLSTMCell``: the recurrent module over Phi_1..Phi_T (T = 3); its last hidden state is the future
  prediction feature ``Omega``;
- ``Head``: two heads on Omega, Conv2D+ReLU with ``{32, 16, 8}`` filters, then a convolution to 2K
  channels with tanh (flow, normalised to (-1, 1)) and to K channels with sigmoid (depth, (0, 1)): the K
  = 3 future flows and depths at once, not autoregressively;
- ``berhu`` / ``flodcast_loss``: the reverse Huber loss (Eq. 16) with ``c = 1/5 max |y - y_hat|`` per batch
  and modality, ``L = alpha L_flow + beta L_depth`` (Eqs. 17-19);
- ``MinMax``: the min-max normalisation (depth to [0, 1], flow to [-1, 1]) with the training set's extrema.

Two options outside the paper, both off by default (= the paper): ``modalities`` (``('flow',)`` or
``('depth',)``) builds the single-modality models of the paper's ablation; ``skip`` makes each head predict
a correction of a simple forecast, ``X_hat_k = clamp(base_k + s_k * head_k)``, with ``base_k`` the last
frame (``skip='last'``: X_T), its linear extrapolation (``'linear'``: X_T + k (X_T - X_{T-1})), or a per-pixel
mix of the two whose weight the head also predicts (``'blend'``: sigmoid of K more channels), and ``s_k``
(``flow_step_scale`` / ``depth_step_scale``) the typical normalised |X_{T+k} - base_k| of the training set
(a head of zeros gives the base forecast). Why: after min-max over a 300 m range a depth changes by ~0.003
per step, a change the network must read from inputs spanning 0..1 and write back at that precision.
Tried on the validation split (docs/flodcast_eval.md): ``clamp(X_T + tanh(head))`` and ``X_T + s_k head``
stayed at copy-last's numbers; the linear base carries the motion but its errors at occlusion edges are
far beyond s_k, which a fine correction cannot undo; the blend gate picks copy-last there.

Tensors: inputs (B, T, C, H, W) normalised, C = 3 (flow u, v, depth); outputs ``{'flow': (B, K, 2, H, W),
'depth': (B, K, 1, H, W)}`` normalised. Python 3.8 (the node runs it).
"""
from dataclasses import asdict, dataclass
from typing import Dict, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

PAPER_WIDTHS = (64, 128, 256, 512, 1024)
HEAD_WIDTHS = (32, 16, 8)
CHANNELS = {'flow': 2, 'depth': 1}
SKIPS = ('none', 'last', 'linear', 'blend')


@dataclass
class FlodcastConfig:
    past: int = 3                        # T observed steps
    future: int = 3                      # K forecast steps
    width: float = 1.0                   # multiplier of the UNet's {64..1024} filters (1.0 = the paper)
    modalities: Tuple[str, ...] = ('flow', 'depth')   # input = output modalities (the ablation drops one)
    skip: str = 'none'                   # heads correct a base forecast: 'none' (the paper), 'last', 'linear', 'blend'
    flow_step_scale: Tuple[float, ...] = ()    # s_k of skip, flow (K values; empty: all 1)
    depth_step_scale: Tuple[float, ...] = ()   # s_k of skip, depth
    alpha: float = 1.0                   # weight of L_flow (Eq. 17)
    beta: float = 1.0                    # weight of L_depth
    dt_s: float = 0.1                    # time between steps of the training data (s)
    height: int = 60                     # training resolution, pixels (the model itself takes any size)
    width_px: int = 80

    def __post_init__(self):
        self.modalities = tuple(self.modalities)
        if self.skip not in SKIPS:
            raise ValueError('skip must be one of %s, got %r' % (SKIPS, self.skip))
        self.flow_step_scale = tuple(float(v) for v in self.flow_step_scale) or (1.0,) * self.future
        self.depth_step_scale = tuple(float(v) for v in self.depth_step_scale) or (1.0,) * self.future
        if len(self.flow_step_scale) != self.future or len(self.depth_step_scale) != self.future:
            raise ValueError('flow_step_scale and depth_step_scale need K = %d values' % self.future)
        if not self.modalities or any(m not in CHANNELS for m in self.modalities):
            raise ValueError('modalities must be some of %s, got %r' % (tuple(CHANNELS), self.modalities))

    @property
    def widths(self) -> Tuple[int, ...]:
        return tuple(max(4, int(round(w * self.width))) for w in PAPER_WIDTHS)

    @property
    def in_channels(self) -> int:
        return sum(CHANNELS[m] for m in self.modalities)


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """The shared feature extractor: 5-level encoder-decoder with skip connections -> (B, widths[0], H, W)."""

    def __init__(self, cin: int, widths: Sequence[int]):
        super().__init__()
        self.down = nn.ModuleList()
        c = cin
        for w in widths:
            self.down.append(_double_conv(c, w))
            c = w
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for w_skip, w_deep in zip(reversed(widths[:-1]), reversed(widths[1:])):
            self.up.append(nn.Conv2d(w_deep, w_skip, 1))   # after a bilinear x2: ONNX-friendly, any size
            self.merge.append(_double_conv(2 * w_skip, w_skip))

    def forward(self, x):
        skips = []
        for i, block in enumerate(self.down):
            if i:
                x = F.max_pool2d(x, 2, ceil_mode=True)   # ceil: odd sizes (60 -> 30 -> 15 -> 8 -> 4) keep every pixel
            x = block(x)
            skips.append(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1])):
            x = F.interpolate(x, scale_factor=2.0, mode='bilinear', align_corners=False)
            x = up(x[..., :skip.shape[-2], :skip.shape[-1]])
            x = merge(torch.cat([skip, x], 1))
        return x


class ConvLSTMCell(nn.Module):
    """ConvLSTM (Shi et al., 2015) without peepholes: the LSTM gates as 3x3 convolutions."""

    def __init__(self, cin: int, hidden: int, kernel: int = 3):
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(cin + hidden, 4 * hidden, kernel, padding=kernel // 2)

    def forward(self, x, state):
        h, c = state
        i, f, o, g = torch.chunk(self.gates(torch.cat([x, h], 1)), 4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class Head(nn.Module):
    """Conv2D+ReLU with {32, 16, 8} filters, then a 3x3 convolution to ``cout`` (activation outside)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        layers = []
        c = cin
        for w in HEAD_WIDTHS:
            layers += [nn.Conv2d(c, w, 3, padding=1), nn.ReLU(inplace=True)]
            c = w
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv2d(c, cout, 3, padding=1)

    def forward(self, x):
        return self.out(self.body(x))


class FLODCAST(nn.Module):
    def __init__(self, cfg: FlodcastConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.widths
        self.unet = UNet(cfg.in_channels, w)
        self.convlstm = ConvLSTMCell(w[0], w[0])
        gates = cfg.future if cfg.skip == 'blend' else 0     # blend: one gate per future step and modality
        self.heads = nn.ModuleDict({m: Head(w[0], CHANNELS[m] * cfg.future + gates) for m in cfg.modalities})
        scale = {'flow': cfg.flow_step_scale, 'depth': cfg.depth_step_scale}
        for m in cfg.modalities:   # (1, K, 1, 1, 1): s_k of skip
            self.register_buffer('scale_' + m, torch.tensor(scale[m], dtype=torch.float32).reshape(1, -1, 1, 1, 1),
                                 persistent=False)

    def forward(self, x) -> Dict[str, torch.Tensor]:
        """x: (B, T, C, H, W) normalised past -> {'flow': (B, K, 2, H, W), 'depth': (B, K, 1, H, W)}."""
        b, t, ch, hh, ww = x.shape
        phi = self.unet(x.reshape(b * t, ch, hh, ww)).reshape(b, t, -1, hh, ww)   # shared UNet per step
        h = torch.zeros_like(phi[:, 0])
        c = torch.zeros_like(phi[:, 0])
        for s in range(t):
            h, c = self.convlstm(phi[:, s], (h, c))
        omega = h
        out = {}
        k = self.cfg.future
        start = 0
        for m in self.cfg.modalities:
            n = CHANNELS[m]
            y = self.heads[m](omega)
            gate = None
            if self.cfg.skip == 'blend':
                y, gate = y[:, :k * n], torch.sigmoid(y[:, k * n:]).reshape(b, k, 1, hh, ww)
            y = y.reshape(b, k, n, hh, ww)
            lo = -1.0 if m == 'flow' else 0.0
            if self.cfg.skip != 'none':
                base = base_forecast(x[:, :, start:start + n], k, self.cfg.skip, gate)
                out[m] = torch.clamp(base + getattr(self, 'scale_' + m) * y, lo, 1.0)
            else:
                out[m] = torch.tanh(y) if m == 'flow' else torch.sigmoid(y)
            start += n
        return out


def base_forecast(past, k: int, skip: str, gate=None):
    """(B, T, c, H, W) past of one modality -> (B, K, c, H, W): X_T for every k ('last'), X_T + k (X_T - X_{T-1})
    ('linear'), or per pixel ``gate * last + (1 - gate) * linear`` ('blend'; gate (B, K, 1, H, W), 0.5 if None)."""
    last = past[:, -1:]
    if skip == 'last':
        return last.expand(-1, k, -1, -1, -1)
    steps = torch.arange(1, k + 1, dtype=past.dtype, device=past.device).reshape(1, k, 1, 1, 1)
    linear = last + steps * (last - past[:, -2:-1])
    if skip == 'linear':
        return linear
    gate = 0.5 if gate is None else gate
    return gate * last + (1.0 - gate) * linear


# --- loss (Eqs. 16-19) -------------------------------------------------------------------------------
def berhu(residual: torch.Tensor, c_fraction: float = 0.2) -> torch.Tensor:
    """Mean reverse Huber of |residual| with c = c_fraction * max |residual| over the batch (Eq. 16)."""
    x = residual.abs()
    c = (c_fraction * x.max()).detach().clamp_min(1e-12)
    return torch.where(x <= c, x, (x * x + c * c) / (2 * c)).mean()


def flodcast_loss(pred: Dict[str, torch.Tensor], target: Dict[str, torch.Tensor], cfg: FlodcastConfig):
    """L = alpha L_flow + beta L_depth (Eq. 17), each a BerHu mean with its own c; and the parts."""
    weights = {'flow': cfg.alpha, 'depth': cfg.beta}
    parts = {m: berhu(pred[m] - target[m]) for m in cfg.modalities}
    return sum(weights[m] * parts[m] for m in parts), parts


# --- normalisation -----------------------------------------------------------------------------------
@dataclass
class MinMax:
    """Min-max normalisation with the training set's extrema: depth -> [0, 1], flow (u, v each) -> [-1, 1]."""
    depth: Tuple[float, float] = (0.0, 300.0)
    flow_u: Tuple[float, float] = (-50.0, 50.0)
    flow_v: Tuple[float, float] = (-50.0, 50.0)

    @classmethod
    def fit(cls, depth: np.ndarray, flow: np.ndarray) -> 'MinMax':
        return cls((float(depth.min()), float(depth.max())), (float(flow[..., 0].min()), float(flow[..., 0].max())),
                   (float(flow[..., 1].min()), float(flow[..., 1].max())))

    def _flow_lo_span(self):
        lo = np.array([self.flow_u[0], self.flow_v[0]], np.float32)
        span = np.array([self.flow_u[1] - self.flow_u[0], self.flow_v[1] - self.flow_v[0]], np.float32)
        return lo, np.maximum(span, 1e-6)

    def depth_to(self, d):
        return (d - self.depth[0]) / max(self.depth[1] - self.depth[0], 1e-6)

    def depth_from(self, d):
        return d * max(self.depth[1] - self.depth[0], 1e-6) + self.depth[0]

    def flow_to(self, f):
        """f (..., 2) pixels -> [-1, 1]."""
        lo, span = self._flow_lo_span()
        return 2.0 * (f - lo) / span - 1.0

    def flow_from(self, f):
        lo, span = self._flow_lo_span()
        return (f + 1.0) * 0.5 * span + lo


def make_input(depth: np.ndarray, flow: np.ndarray, norm: MinMax, modalities: Sequence[str]) -> np.ndarray:
    """depth (..., T, H, W) m and flow (..., T, H, W, 2) px -> (..., T, C, H, W) float32, normalised, clipped."""
    parts = []
    if 'flow' in modalities:
        f = np.clip(norm.flow_to(flow.astype(np.float32)), -1.0, 1.0)
        parts.append(np.moveaxis(f, -1, -3))
    if 'depth' in modalities:
        parts.append(np.clip(norm.depth_to(depth.astype(np.float32)), 0.0, 1.0)[..., None, :, :])
    return np.concatenate(parts, axis=-3).astype(np.float32)


def to_metric(out: Dict[str, np.ndarray], norm: MinMax) -> Dict[str, np.ndarray]:
    """Model outputs (numpy, normalised) -> {'flow': (..., K, H, W, 2) px, 'depth': (..., K, H, W) m}."""
    res = {}
    if 'flow' in out:
        res['flow'] = norm.flow_from(np.moveaxis(out['flow'], -3, -1))
    if 'depth' in out:
        res['depth'] = norm.depth_from(out['depth'][..., 0, :, :])
    return res


# --- checkpoints -------------------------------------------------------------------------------------
def checkpoint(model: FLODCAST, norm: MinMax, **extra) -> dict:
    """What models/flodcast_*.pt holds: fp16 weights, the config, the normalisation, and ``extra``."""
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    return dict(extra, config=asdict(model.cfg), minmax=asdict(norm), state_dict=state)


def from_checkpoint(ckpt: dict) -> Tuple[FLODCAST, MinMax]:
    """(model in eval mode, its normalisation) from ``checkpoint``'s dict; KeyError/ValueError if malformed."""
    cfg = FlodcastConfig(**ckpt['config'])
    model = FLODCAST(cfg)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt['state_dict'].items()})
    mm = ckpt['minmax']
    return model.eval(), MinMax(tuple(mm['depth']), tuple(mm['flow_u']), tuple(mm['flow_v']))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class TupleOutputs(nn.Module):
    """The model with its outputs as a tuple in ``cfg.modalities`` order (ONNX export, TensorRT)."""

    def __init__(self, model: FLODCAST):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x)
        return tuple(out[m] for m in self.model.cfg.modalities)
