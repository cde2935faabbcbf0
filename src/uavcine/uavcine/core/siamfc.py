"""SiamFC: fully-convolutional Siamese tracker (Bertinetto et al., ECCV-W 2016), with a tracking-quality score.

One readable module in the shape of huanglianghua/siamfc-pytorch ``siamfc.py``:

- ``AlexNetV1``: the backbone, parameter names and shapes of the official
  ``siamfc_alexnet_e50.pth`` state dict (``backbone.conv1.0.weight`` ...; raw
  0-255 RGB input, no normalisation). ``width`` < 1 makes a slimmer variant
  with the same names (channels scaled); ``width=1`` is the official layout.
- ``SiamFCNet``: phi(z) * phi(x) cross-correlation scaled by ``out_scale`` (0.001).
- ``SiamFCTracker``: exemplar 127 / search 255 crops with context margin and
  mean-colour padding, 3-scale search (scales batched in one forward) with scale
  penalty and damping (``scale_lr``), cosine (Hann) window, response upsampled
  x16 (17 -> 272), every hyper-parameter in ``SiamFCConfig`` with the paper's
  defaults.
- Tracking quality in [0, 1] for every box: the predicted IoU of the box with
  the truth, from features of the response map (peak relative to the running
  median of the track's peaks, APCE of Wang et al., CVPR 2017, and PSR over the
  recent frames), the appearance agreement with the first and recent
  templates, the box's consistency over time, its share inside the image and the
  track's age, mapped by a small logistic head calibrated on real and simulated
  sequences (``QualityHead``). Bad input gives a clear error, never an exception.

The tracker is the paper's: ``init(image, box)``, then ``update(image)`` -> box,
response, quality. It keeps no track state: judging a track (weak, occluded,
lost) is the manager's job (``core/manager.py``), and the caller asks the tracker
to ``hold()`` its previous box on a frame the manager judged weak
(``core/detect_track.py``).

Boxes are (x_min, y_min, width, height) in continuous pixel coordinates (the
image spans [0, W] x [0, H]). Python 3.8.

Longer than ~600 lines on purpose: the reference (siamfc-pytorch ``siamfc.py``) is one file with the
network, the tracker and its hyper-parameters; a reader finds the whole method, its two inference backends
(torch, ONNX Runtime) and checkpoint formats in one place. The quality score's statistics and head, which are not
the paper's, are in ``core/siamfc_quality.py``.
"""
import io
import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# The quality score lives in its own module (not part of the SiamFC paper); re-exported so that callers
# keep using ``siamfc.QualityHead``, ``siamfc.response_stats`` and the rest.
from .siamfc_quality import (  # noqa: F401
    apce, psr, second_peak, peak_spread, _sigmoid, QUALITY_FEATURES, ROUND3_FEATURES, TRACK_STATS, APPZ_STATS,
    _prior, QualityHead, response_stats, shape_stats, inside_share, RUNNING_LR, PEAK_HISTORY, RECENT_FRAMES,
    SLOW_FRAMES, _cosine, feature_window,
)

# ----------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------


@dataclass
class SiamFCConfig:
    """Hyper-parameters. Defaults are the paper's / siamfc-pytorch's (``parse_args``).

    Checkpoints written before the manager became the only state machine also carry ``weak_quality``,
    ``lost_frames`` and ``hold_when_weak``; ``load_checkpoint`` ignores them (the manager's
    ``quality_threshold`` and ``max_weak_frames`` are those settings now)."""

    # network
    width: float = 1.0              # channel multiplier of AlexNetV1 (1.0 = official checkpoint layout)
    out_scale: float = 0.001        # cross-correlation scale of the head
    exemplar_sz: int = 127          # z crop side, px
    instance_sz: int = 255          # x crop side, px
    context: float = 0.5            # context margin: p = context * (w + h), crop side sqrt((w+p)(h+p))
    # inference
    scale_num: int = 3
    scale_step: float = 1.0375
    scale_lr: float = 0.59          # damping of the scale update
    scale_penalty: float = 0.9745   # multiplies the responses of the non-unit scales
    window_influence: float = 0.176  # cosine window weight
    response_sz: int = 17
    response_up: int = 16           # response upsampling: 17 * 16 = 272
    total_stride: int = 8
    # input checks
    min_box_px: float = 2.0         # smallest init box side (after clipping to the image)

    def __post_init__(self):
        if self.scale_num < 1 or self.scale_num % 2 == 0:
            raise ValueError('scale_num must be odd and >= 1, got %d' % self.scale_num)
        if self.instance_sz <= self.exemplar_sz:
            raise ValueError('instance_sz must be larger than exemplar_sz')

    @property
    def upscale_sz(self) -> int:
        return self.response_up * self.response_sz


# ----------------------------------------------------------------------------
# Network
# ----------------------------------------------------------------------------


class _BatchNorm2d(nn.BatchNorm2d):
    """BatchNorm with the official checkpoint's eps and momentum."""

    def __init__(self, num_features: int):
        super().__init__(num_features, eps=1e-6, momentum=0.05)


def _ch(n: int, width: float) -> int:
    c = int(round(n * width / 2.0)) * 2  # even: conv2/4/5 use two groups
    return max(c, 2)


class AlexNetV1(nn.Module):
    """SiamFC's AlexNet (stride 8), names as the official checkpoint: conv1..conv5 Sequentials."""

    output_stride = 8

    def __init__(self, width: float = 1.0):
        super().__init__()
        c1, c2, c3, c4, c5 = (_ch(n, width) for n in (96, 256, 384, 384, 256))
        self.conv1 = nn.Sequential(nn.Conv2d(3, c1, 11, 2), _BatchNorm2d(c1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))
        self.conv2 = nn.Sequential(nn.Conv2d(c1, c2, 5, 1, groups=2), _BatchNorm2d(c2), nn.ReLU(inplace=True),
                                   nn.MaxPool2d(3, 2))
        self.conv3 = nn.Sequential(nn.Conv2d(c2, c3, 3, 1), _BatchNorm2d(c3), nn.ReLU(inplace=True))
        self.conv4 = nn.Sequential(nn.Conv2d(c3, c4, 3, 1, groups=2), _BatchNorm2d(c4), nn.ReLU(inplace=True))
        self.conv5 = nn.Sequential(nn.Conv2d(c4, c5, 3, 1, groups=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv5(self.conv4(self.conv3(self.conv2(self.conv1(x)))))


def xcorr(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Cross-correlation of exemplar features z (nz, C, h, w) with search features x (nx, C, H, W).

    nz == 1 correlates one exemplar with every search image; nz == nx pairs them (training).
    Written as one grouped convolution, as siamfc-pytorch's ``_fast_xcorr``.
    """
    nz = z.size(0)
    nx, c, h, w = x.size()
    if nz == 1:
        return F.conv2d(x, z)
    out = F.conv2d(x.reshape(-1, nz * c, h, w), z, groups=nz)
    return out.reshape(nx, -1, out.size(-2), out.size(-1))


class SiamFCNet(nn.Module):
    """f(z, x) = out_scale * (phi(z) * phi(x)). State dict = the official one (the head has no parameters)."""

    def __init__(self, width: float = 1.0, out_scale: float = 0.001):
        super().__init__()
        self.backbone = AlexNetV1(width)
        self.out_scale = out_scale

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return xcorr(self.backbone(z), self.backbone(x)) * self.out_scale


def init_weights(net: nn.Module) -> None:
    """Xavier-uniform convolutions, unit BatchNorm (as siamfc-pytorch ``ops.init_weights``)."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


def fuse_backbone(backbone: AlexNetV1) -> nn.Sequential:
    """An inference copy of the backbone with each BatchNorm folded into the convolution before it."""
    layers = []  # type: List[nn.Module]
    for stage in (backbone.conv1, backbone.conv2, backbone.conv3, backbone.conv4, backbone.conv5):
        mods = list(stage)
        conv = mods[0]
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                          groups=conv.groups, bias=True)
        w = conv.weight.detach().float().clone()
        b = conv.bias.detach().float().clone()
        rest = mods[1:]
        if rest and isinstance(rest[0], nn.BatchNorm2d):
            bn = rest[0]
            s = bn.weight.detach().float() / torch.sqrt(bn.running_var.float() + bn.eps)
            w = w * s.reshape(-1, 1, 1, 1)
            b = (b - bn.running_mean.float()) * s + bn.bias.detach().float()
            rest = rest[1:]
        fused.weight.data.copy_(w)
        fused.bias.data.copy_(b)
        layers.append(fused)
        layers.extend(rest)
    return nn.Sequential(*layers).eval()


def official_state_dict_shapes(width: float = 1.0) -> Dict[str, Tuple[int, ...]]:
    """Names and shapes of the state dict (= the reference file's for width 1)."""
    return {k: tuple(v.shape) for k, v in SiamFCNet(width).state_dict().items()}


def _unwrap_state_dict(obj: Any) -> Dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ('state_dict', 'model', 'net'):
            if key in obj and isinstance(obj[key], dict):
                return _unwrap_state_dict(obj[key])
    if not isinstance(obj, dict) or not obj:
        raise ValueError('not a SiamFC state dict (got %s)' % type(obj).__name__)
    sd = {}
    for k, v in obj.items():
        if not isinstance(v, torch.Tensor):
            raise ValueError('not a SiamFC state dict: entry %r is a %s' % (k, type(v).__name__))
        k = k[len('module.'):] if k.startswith('module.') else k  # saved from DataParallel
        if not k.startswith('backbone.'):
            k = 'backbone.' + k  # a bare AlexNetV1 state dict
        sd[k] = v
    return sd


def load_official_checkpoint(path_or_obj: Any, net: Optional[SiamFCNet] = None) -> SiamFCNet:
    """Load siamfc-pytorch's ``siamfc_alexnet_e50.pth`` (or any state dict of that layout) strictly.

    Accepts a path, a file object or an already loaded state dict. Raises ValueError with
    one clear line when names or shapes do not match.
    """
    obj = path_or_obj
    if not isinstance(obj, dict):
        try:
            obj = torch.load(path_or_obj, map_location='cpu', weights_only=True)
        except FileNotFoundError:
            raise ValueError('SiamFC checkpoint not found: %s' % path_or_obj) from None
        except Exception as e:  # corrupt file, pickle error
            raise ValueError('cannot read SiamFC checkpoint %s: %s' % (path_or_obj, e)) from e
    sd = _unwrap_state_dict(obj)
    net = net if net is not None else SiamFCNet(1.0)
    want = net.state_dict()
    missing = sorted(set(want) - set(sd))
    unexpected = sorted(set(sd) - set(want))
    bad = sorted(k for k in set(want) & set(sd) if tuple(want[k].shape) != tuple(sd[k].shape))
    if missing or unexpected or bad:
        parts = []
        if missing:
            parts.append('missing %s' % ', '.join(missing[:3]))
        if unexpected:
            parts.append('unexpected %s' % ', '.join(unexpected[:3]))
        if bad:
            parts.append('shape mismatch %s: %s vs %s' % (bad[0], tuple(sd[bad[0]].shape), tuple(want[bad[0]].shape)))
        raise ValueError('SiamFC checkpoint does not match AlexNetV1 (width %.2f): %s'
                         % (_width_of(net), '; '.join(parts)))
    net.load_state_dict({k: v.to(want[k].dtype) for k, v in sd.items()}, strict=True)
    return net.eval()


def _width_of(net: SiamFCNet) -> float:
    return net.backbone.conv1[0].out_channels / 96.0


# ----------------------------------------------------------------------------
# Crops
# ----------------------------------------------------------------------------


def crop_and_resize(img: np.ndarray, center_xy: Sequence[float], size: float, out_size: int,
                    border_value: Sequence[float], out: Optional[np.ndarray] = None) -> np.ndarray:
    """Square crop of side ``size`` px centred at ``center_xy`` (continuous coords), resized to ``out_size``.

    Parts outside the image take ``border_value`` (the mean colour). One cv2.warpAffine
    instead of siamfc-pytorch's pad-the-whole-image-then-crop: same result, no full-frame copy.
    ``out``: an (out_size, out_size, 3) uint8 array to write into (a reused buffer), returned.
    """
    s = float(size) / out_size
    # output pixel u (centre u + 0.5) <- input continuous coord cx - size/2 + (u + 0.5) s, index = coord - 0.5
    tx = center_xy[0] - size / 2.0 + 0.5 * s - 0.5
    ty = center_xy[1] - size / 2.0 + 0.5 * s - 0.5
    m = np.array([[s, 0.0, tx], [0.0, s, ty]], dtype=np.float64)
    return cv2.warpAffine(img, m, (out_size, out_size), dst=out, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=tuple(float(v) for v in border_value))


def exemplar_size(target_wh: Sequence[float], context: float) -> float:
    """Side of the exemplar crop: sqrt((w + p)(h + p)), p = context * (w + h)."""
    w, h = float(target_wh[0]), float(target_wh[1])
    p = context * (w + h)
    return math.sqrt((w + p) * (h + p))


def to_tensor(crops: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) or (H, W, 3) uint8 RGB -> float (N, 3, H, W), raw 0-255 (no normalisation).

    The result is channels-last in memory (a free view of the HWC crops).
    """
    if crops.ndim == 3:
        crops = crops[None]
    return torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float()


# ----------------------------------------------------------------------------
# Tracker
# ----------------------------------------------------------------------------


@dataclass
class TrackResult:
    """One output of the tracker: the box, the response it came from and its quality.

    ``box`` is None when there is none; ``error`` says why input was refused (the tracker was reset
    when ``box`` is None). ``response``: the raw 17 x 17 response of the chosen scale; ``stats``: the
    quality features computed from it."""

    box: Optional[Tuple[float, float, float, float]] = None
    quality: float = 0.0
    error: str = ''
    stats: Dict[str, float] = field(default_factory=dict)
    response: Optional[np.ndarray] = None

    @property
    def ok(self) -> bool:
        return not self.error


def check_image(img: Any) -> str:
    """'' if ``img`` is an HxWx3 uint8 image the tracker can use, else why not."""
    if not isinstance(img, np.ndarray):
        return 'image is not an array (%s)' % type(img).__name__
    if img.ndim != 3 or img.shape[2] != 3:
        return 'image must be HxWx3 RGB, got shape %s' % (img.shape,)
    if img.shape[0] == 0 or img.shape[1] == 0:
        return 'empty frame (%dx%d)' % (img.shape[1], img.shape[0])
    if img.dtype != np.uint8:
        return 'image must be uint8, got %s' % img.dtype
    return ''


def check_box(box: Any, width: int, height: int, min_px: float) -> Tuple[Optional[Tuple[float, float, float, float]], str]:
    """Validate an init box against the image; a box partly outside is kept if enough of it is inside."""
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError):
        return None, 'init box must be 4 numbers (x, y, w, h), got %r' % (box,)
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        return None, 'init box has non-finite values %r' % ((x, y, w, h),)
    if w <= 0 or h <= 0:
        return None, 'init box has zero or negative size (%.1f x %.1f)' % (w, h)
    ix = min(x + w, width) - max(x, 0.0)
    iy = min(y + h, height) - max(y, 0.0)
    if ix < min_px or iy < min_px:
        return None, 'init box (%.1f, %.1f, %.1f, %.1f) is outside the %dx%d image' % (x, y, w, h, width, height)
    if w < min_px or h < min_px:
        return None, 'init box %.1f x %.1f is smaller than %.1f px' % (w, h, min_px)
    return (x, y, w, h), ''


class SearchModel(nn.Module):
    """The per-frame graph: fused backbone on the scaled search crops, correlated with the exemplar features."""

    def __init__(self, fused: nn.Module, out_scale: float, with_features: bool = False):
        super().__init__()
        self.backbone = fused
        self.out_scale = out_scale
        self.with_features = with_features  # also return the search features (the appearance features use them)

    def forward(self, x: torch.Tensor, kernel: torch.Tensor):
        f = self.backbone(x)
        r = F.conv2d(f, kernel) * self.out_scale
        return (r, f) if self.with_features else r


class SiamFCTracker:
    """SiamFC tracking with a quality score. ``init(img, box)`` then ``update(img)`` per frame; ``hold()`` undoes
    the last update's move (the caller judged the frame weak: no drift onto occluders).

    ``backend`` 'torch' or 'onnxruntime' (the same fused graph exported in memory; scales batched).
    ``search_onnx``: with onnxruntime, these ONNX bytes for the search forward instead of the graph exported from
    ``net`` (the int8 graph of ``train/siamfc_int8.py``, made from the same weights; the exemplar branch stays
    ``net``'s): inputs 'x', 'kernel', outputs 'response', 'features'.
    """

    def __init__(self, net: Optional[SiamFCNet] = None, cfg: Optional[SiamFCConfig] = None,
                 quality: Optional[QualityHead] = None, backend: str = 'torch', num_threads: int = 0,
                 search_onnx: Optional[bytes] = None):
        self.cfg = cfg or SiamFCConfig()
        if net is None:
            net = SiamFCNet(self.cfg.width, self.cfg.out_scale)
            init_weights(net)
        self.net = net.float().eval()
        self.quality = quality or QualityHead()
        self.backend = backend
        self.exemplar_pass = False  # also embed each new box with the exemplar branch (appz_* features)
        self._fused = fuse_backbone(self.net.backbone)
        self._search = SearchModel(self._fused, self.net.out_scale, with_features=True).eval()
        self._ort = None
        self._ort_z = None
        if backend == 'onnxruntime':
            self._ort = _ort_session(self._search, self.cfg, num_threads, onnx=search_onnx)
            # the exemplar branch too (init, appearance features): torch's thread pool stalls on a busy CPU
            self._ort_z = _ort_session(self._fused, self.cfg, num_threads, exemplar=True)
        elif search_onnx is not None:
            raise ValueError("search_onnx needs backend='onnxruntime', not %r" % (backend,))
        elif backend == 'torch':
            self._fused.to(memory_format=torch.channels_last)  # NHWC convolutions: ~10% faster on CPU
        else:
            raise ValueError("backend must be 'torch' or 'onnxruntime', not %r" % backend)
        self.set_config(self.cfg)
        self.reset()

    def set_config(self, cfg: SiamFCConfig) -> None:
        """Use new inference hyper-parameters from the next frame on (the network fields must not change:
        ``width``, ``out_scale``, the crop sizes and ``total_stride`` belong to the loaded weights)."""
        for name in ('width', 'out_scale', 'exemplar_sz', 'instance_sz', 'response_sz', 'total_stride'):
            if getattr(cfg, name) != getattr(self.cfg, name):
                raise ValueError('%s belongs to the network and cannot change (%r -> %r)'
                                 % (name, getattr(self.cfg, name), getattr(cfg, name)))
        cfg.__post_init__()
        self.cfg = cfg
        n = cfg.upscale_sz
        hann = np.outer(np.hanning(n), np.hanning(n))
        self.hann_window = (hann / hann.sum()).astype(np.float32)
        half = cfg.scale_num // 2
        self.scale_factors = cfg.scale_step ** np.linspace(-half, half, cfg.scale_num)
        self._crops = np.empty((cfg.scale_num, cfg.instance_sz, cfg.instance_sz, 3), np.uint8)  # reused per update

    # --- state ---------------------------------------------------------------------
    def reset(self) -> None:
        self.center = np.zeros(2)      # (cx, cy), continuous px
        self.target_sz = np.zeros(2)   # (w, h)
        self.z_sz = 0.0
        self.x_sz = 0.0
        self.kernel = None  # type: Optional[torch.Tensor]
        self.avg_color = np.zeros(3)
        self.image_wh = None  # type: Optional[Tuple[int, int]]
        self.ref = {}  # type: Dict[str, float]
        self.run = {}  # type: Dict[str, float]  # running reference of the response statistics
        self.kernel0 = None  # type: Optional[np.ndarray]  # the first template's features (C, 6, 6)
        self.kernel_recent = None  # type: Optional[np.ndarray]  # running average of the recent boxes' features
        self.peaks = []  # type: List[float]  # this track's response peaks (logits), the last PEAK_HISTORY
        self.psrs = []  # type: List[float]  # PSR of the last RECENT_FRAMES tracked frames
        self.apce_avg = None  # type: Optional[float]  # running average of apce_ratio (rate 1 / SLOW_FRAMES)
        self.size0 = 1.0  # the first box's size sqrt(w h)
        self.kernel_slow = None  # type: Optional[np.ndarray]  # the recent boxes' features averaged at 1 / SLOW_FRAMES
        self.sizes = []  # type: List[float]  # box sizes sqrt(w h) of the last RECENT_FRAMES frames
        self.jump_avg = 0.0  # running average (RUNNING_LR) of ``jump``
        self.frames = 0
        self._before = None  # type: Optional[Tuple[Any, ...]]  # for hold(): the state before the last update

    @property
    def box(self) -> Tuple[float, float, float, float]:
        (cx, cy), (w, h) = self.center, self.target_sz
        return (float(cx - w / 2), float(cy - h / 2), float(w), float(h))

    @property
    def initialised(self) -> bool:
        return self.kernel is not None

    # --- network calls -------------------------------------------------------------
    @torch.inference_mode()
    def embed(self, crops: np.ndarray) -> torch.Tensor:
        if self._ort_z is not None:
            c = crops[None] if crops.ndim == 3 else crops
            x = np.ascontiguousarray(c).transpose(0, 3, 1, 2).astype(np.float32)
            return torch.from_numpy(self._ort_z.run(None, {'z': x})[0])
        return self._fused(to_tensor(crops))

    @torch.inference_mode()
    def search(self, crops: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Raw responses (S, 17, 17) of the S search crops against the exemplar and their features (S, C, 22, 22),
        one forward."""
        if self._ort is not None:
            x = np.ascontiguousarray(crops).transpose(0, 3, 1, 2).astype(np.float32)
            out, feats = self._ort.run(None, {'x': x, 'kernel': self.kernel.numpy()})
        else:
            out, feats = (v.numpy() for v in self._search(to_tensor(crops), self.kernel))
        return out[:, 0], feats

    @property
    def search_session(self) -> Any:
        """The onnxruntime session of the search forward (None with the torch backend)."""
        return self._ort

    @search_session.setter
    def search_session(self, session: Any) -> None:
        """Run the search forward through ``session``: any object with onnxruntime's ``run(output_names, feeds)``
        over the same graph, e.g. ``runtime.split_batch.SplitBatch``, which splits the scales over threads (threads
        live outside core)."""
        if self._ort is None:
            raise ValueError("a search session replaces the onnxruntime one: make the tracker with "
                             "backend='onnxruntime'")
        self._ort = session

    def responses(self, crops: np.ndarray) -> np.ndarray:
        """Raw responses (S, 17, 17) of the S search crops against the exemplar, one forward."""
        return self.search(crops)[0]

    # --- tracking ------------------------------------------------------------------
    def init(self, img: np.ndarray, box: Sequence[float]) -> TrackResult:
        """Start tracking ``box`` in ``img``. Bad input leaves the tracker reset (no box) with ``error`` set."""
        err = check_image(img)
        if err:
            self.reset()
            return TrackResult(error=err)
        h_img, w_img = img.shape[:2]
        ok_box, err = check_box(box, w_img, h_img, self.cfg.min_box_px)
        if err:
            self.reset()
            return TrackResult(error=err)
        self.reset()
        x, y, w, h = ok_box
        self.center = np.array([x + w / 2.0, y + h / 2.0])
        self.target_sz = np.array([w, h], dtype=np.float64)
        self.z_sz = exemplar_size(self.target_sz, self.cfg.context)
        self.x_sz = self.z_sz * self.cfg.instance_sz / self.cfg.exemplar_sz
        self.avg_color = img.reshape(-1, 3).mean(axis=0)
        self.image_wh = (w_img, h_img)
        z = crop_and_resize(img, self.center, self.z_sz, self.cfg.exemplar_sz, self.avg_color)
        self.kernel = self.embed(z)
        # the first frame's response (unit scale) is the reference of the quality features
        x0 = crop_and_resize(img, self.center, self.x_sz, self.cfg.instance_sz, self.avg_color)
        r0 = self.responses(x0[None])[0]
        self.ref = response_stats(r0, {}, 0.0)
        self.run = {k: self.ref[k] for k in ('peak_prob', 'apce', 'psr')}
        self.kernel0 = self.kernel.numpy()[0]
        self.kernel_recent = self.kernel0.copy()
        self.kernel_slow = self.kernel0.copy()
        self.peaks = [float(r0.max())]
        self.sizes = [math.sqrt(w * h)]
        self.size0 = math.sqrt(w * h)
        return TrackResult(box=self.box, quality=1.0, stats=dict(self.ref), response=r0)

    def search_crops(self, img: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        """The next update's search crops (S, instance, instance, 3) around the current box, one per scale: one
        warpAffine each, written into ``out`` when given (no frame-sized work)."""
        cfg = self.cfg
        if out is None:
            out = np.empty((cfg.scale_num, cfg.instance_sz, cfg.instance_sz, 3), np.uint8)
        for i, f in enumerate(self.scale_factors):
            crop_and_resize(img, self.center, self.x_sz * f, cfg.instance_sz, self.avg_color, out=out[i])
        return out

    def update(self, img: np.ndarray) -> TrackResult:
        """Track one frame: move to the best response. Never raises on bad input: the result's ``error``
        says what happened (a bad frame is skipped with the box kept; a new image size resets the tracker)."""
        if not self.initialised:
            return TrackResult(error='tracker not initialised')
        err = check_image(img)
        if err:  # frame skipped, box kept
            self._before = None
            return TrackResult(box=self.box, quality=0.0, error=err)
        wh = (img.shape[1], img.shape[0])
        if wh != self.image_wh:
            old = self.image_wh
            self.reset()
            return TrackResult(error='image size changed from %dx%d to %dx%d: tracker reset' % (old + wh))
        cfg = self.cfg
        self.frames += 1
        raw, feats = self.search(self.search_crops(img, self._crops))
        # upsample and penalise scale changes
        up = np.stack([cv2.resize(r, (cfg.upscale_sz, cfg.upscale_sz), interpolation=cv2.INTER_CUBIC) for r in raw])
        half = cfg.scale_num // 2
        up[:half] *= cfg.scale_penalty
        up[half + 1:] *= cfg.scale_penalty
        scale_id = int(np.argmax(np.amax(up, axis=(1, 2))))
        response = up[scale_id] - up[scale_id].min()
        response /= response.sum() + 1e-16
        response = (1 - cfg.window_influence) * response + cfg.window_influence * self.hann_window
        loc = np.unravel_index(int(response.argmax()), response.shape)  # (row, col)
        disp_resp = np.array([loc[1], loc[0]], dtype=np.float64) - (cfg.upscale_sz - 1) / 2.0
        disp_img = disp_resp * cfg.total_stride / cfg.response_up * self.x_sz * self.scale_factors[scale_id] / cfg.instance_sz
        scale = (1 - cfg.scale_lr) * 1.0 + cfg.scale_lr * self.scale_factors[scale_id]
        cand_center = self.center + disp_img
        cand_sz = self.target_sz * scale
        jump = float(np.hypot(*disp_img)) / max(1.0, math.sqrt(float(self.target_sz[0] * self.target_sz[1])))
        # appearance agreement of the new box with the first and the recent template: the search features of the
        # response cell nearest the new centre are that box's features (no extra forward)
        n = cfg.response_sz
        cell = np.clip(np.round((np.array(loc, dtype=np.float64) + 0.5) / cfg.response_up - 0.5), 0, n - 1).astype(int)
        emb = feature_window(feats[scale_id], int(cell[0]), int(cell[1]), self.kernel0.shape[-1])
        cand_box = (cand_center[0] - cand_sz[0] / 2, cand_center[1] - cand_sz[1] / 2, cand_sz[0], cand_sz[1])
        stats = response_stats(raw[scale_id], self.ref, float(scale_id != half), jump, self.run,
                               _cosine(emb, self.kernel0), _cosine(emb, self.kernel_recent),
                               inside_share(cand_box, wh[0], wh[1]), self.frames,
                               peak_median=float(np.median(self.peaks)),
                               scale_change=math.log(math.sqrt(float(cand_sz[0] * cand_sz[1])) / self.size0))
        # consistency over the recent frames: the weakest PSR of the last RECENT_FRAMES, the slow average of APCE
        stats['psr_min_recent'] = min(self.psrs[-(RECENT_FRAMES - 1):] + [stats['psr']])
        a = stats['apce_ratio']
        stats['apce_ratio_recent'] = a if self.apce_avg is None else (1 - 1.0 / SLOW_FRAMES) * self.apce_avg + a / SLOW_FRAMES
        size = math.sqrt(float(cand_sz[0] * cand_sz[1]))
        stats.update(shape_stats(raw[scale_id], size, float(cand_sz[0] / cand_sz[1]), self.sizes[0],
                                 stats['jump'], self.jump_avg))
        stats['app_slow'] = _cosine(emb, self.kernel_slow)
        stats['template_drift'] = 1.0 - _cosine(self.kernel_recent, self.kernel0)
        if self.exemplar_pass or getattr(self.quality, 'needs_exemplar_pass', False):
            # the new box through the exemplar branch: one more forward of a 127 px crop (+4 ms at 720p, 1 thread)
            e = self.embed(crop_and_resize(img, cand_center, self.z_sz * scale, cfg.exemplar_sz, self.avg_color))
            e = e.numpy()[0]
            stats['appz_init'] = _cosine(e, self.kernel0)
            stats['appz_recent'] = _cosine(e, self.kernel_recent)
        q = self.quality(stats)
        self._before = (self.center, self.target_sz, self.z_sz, self.x_sz, dict(self.run), self.kernel_recent,
                        list(self.peaks), list(self.psrs), self.apce_avg, self.kernel_slow, list(self.sizes),
                        self.jump_avg)
        self.center = cand_center
        self.target_sz = cand_sz
        self.z_sz *= scale
        self.x_sz *= scale
        lr = RUNNING_LR
        for k in self.run:
            self.run[k] = (1 - lr) * self.run[k] + lr * stats[k]
        self.kernel_recent = (1 - lr) * self.kernel_recent + lr * emb
        self.kernel_slow = (1 - 1.0 / SLOW_FRAMES) * self.kernel_slow + emb / SLOW_FRAMES
        self.sizes = (self.sizes + [size])[-RECENT_FRAMES:]
        self.jump_avg = (1 - lr) * self.jump_avg + lr * stats['jump']
        self.peaks = (self.peaks + [stats['peak']])[-PEAK_HISTORY:]
        self.psrs = (self.psrs + [stats['psr']])[-RECENT_FRAMES:]
        self.apce_avg = stats['apce_ratio_recent']
        return TrackResult(box=self.box, quality=q, stats=stats, response=raw[scale_id])

    def hold(self) -> Tuple[float, float, float, float]:
        """Undo the last ``update``'s move and return the box held (the previous one).

        The caller decides when (the manager judged the frame weak): the tracker then does not drift
        onto an occluder, and the next update searches around the last trusted position."""
        if self._before is not None:  # the weak frame does not teach the running reference either
            (self.center, self.target_sz, self.z_sz, self.x_sz, self.run, self.kernel_recent,
             self.peaks, self.psrs, self.apce_avg, self.kernel_slow, self.sizes, self.jump_avg) = self._before
            self._before = None
        return self.box

    @torch.inference_mode()
    def appearance(self, img: np.ndarray, box: Sequence[float], kernel: Optional[torch.Tensor] = None) -> float:
        """Similarity in [0, 1] of ``box`` in ``img`` to the exemplar: cosine of the two exemplar embeddings.

        For the manager's re-initialisation test (is this detection the target we track?).
        ``kernel``: compare with these exemplar features instead of the current ones
        (e.g. the kernel saved when the track started).
        """
        ref = self.kernel if kernel is None else kernel
        if ref is None or check_image(img):
            return 0.0
        ok_box, err = check_box(box, img.shape[1], img.shape[0], 1.0)
        if err:
            return 0.0
        x, y, w, h = ok_box
        avg = self.avg_color if self.initialised else img.reshape(-1, 3).mean(axis=0)
        z = crop_and_resize(img, (x + w / 2, y + h / 2), exemplar_size((w, h), self.cfg.context),
                            self.cfg.exemplar_sz, avg)
        a = self.embed(z).flatten()
        b = ref.flatten()
        cos = float(a @ b) / (float(a.norm() * b.norm()) + 1e-12)
        return max(0.0, cos)


# ----------------------------------------------------------------------------
# ONNX Runtime backend and checkpoints
# ----------------------------------------------------------------------------


def export_onnx(search: SearchModel, cfg: SiamFCConfig) -> bytes:
    """The search graph (fused backbone + correlation with the exemplar as an input) as ONNX bytes: inputs 'x',
    'kernel'; outputs 'response' and, for a ``SearchModel`` ``with_features``, 'features'."""
    x = torch.zeros(cfg.scale_num, 3, cfg.instance_sz, cfg.instance_sz)
    with torch.no_grad():
        k = search.backbone(torch.zeros(1, 3, cfg.exemplar_sz, cfg.exemplar_sz))
    buf = io.BytesIO()
    outs = ['response', 'features'] if getattr(search, 'with_features', False) else ['response']
    kw = dict(input_names=['x', 'kernel'], output_names=outs,
              dynamic_axes=dict({'x': {0: 'scales'}}, **{o: {0: 'scales'} for o in outs}), opset_version=17)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        try:  # torch >= 2.5 defaults to the torch.export exporter; this small static graph wants the classic one
            torch.onnx.export(search, (x, k), buf, dynamo=False, **kw)
        except TypeError:  # torch 2.0 (Jetson) has no 'dynamo' argument
            torch.onnx.export(search, (x, k), buf, **kw)
    return buf.getvalue()


def export_exemplar_onnx(fused: nn.Module, cfg: SiamFCConfig) -> bytes:
    """The exemplar branch (fused backbone on 127 px crops) as ONNX bytes: input 'z', output 'kernel'."""
    z = torch.zeros(1, 3, cfg.exemplar_sz, cfg.exemplar_sz)
    buf = io.BytesIO()
    kw = dict(input_names=['z'], output_names=['kernel'], dynamic_axes={'z': {0: 'n'}, 'kernel': {0: 'n'}},
              opset_version=17)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        try:
            torch.onnx.export(fused, (z,), buf, dynamo=False, **kw)
        except TypeError:  # torch 2.0 (Jetson)
            torch.onnx.export(fused, (z,), buf, **kw)
    return buf.getvalue()


def _ort_session(model: nn.Module, cfg: SiamFCConfig, num_threads: int = 0, exemplar: bool = False,
                 onnx: Optional[bytes] = None):
    import onnxruntime as ort  # lazy: optional dependency (onnxruntime backend)
    so = ort.SessionOptions()
    if num_threads > 0:
        so.intra_op_num_threads = num_threads
        so.inter_op_num_threads = 1
    # No busy-waiting between operators: on a CPU shared with other work (the drone's other nodes, this machine's
    # other jobs) a spinning worker burns the time slice the other worker needs (bench_tracker_720p.py: 2 threads
    # were slower than 1 with spinning on).
    so.add_session_config_entry('session.intra_op.allow_spinning', '0')
    if onnx is None:
        onnx = export_exemplar_onnx(model, cfg) if exemplar else export_onnx(model, cfg)
    try:
        sess = ort.InferenceSession(onnx, so, providers=['CPUExecutionProvider'])
    except Exception as e:  # onnxruntime raises its own exception types for a bad graph
        raise ValueError('cannot load the SiamFC search graph: %s' % str(e).splitlines()[0]) from e
    want = (['z'], ['kernel']) if exemplar else (['x', 'kernel'], ['response', 'features'])
    got = ([i.name for i in sess.get_inputs()], [o.name for o in sess.get_outputs()])
    if got != want:
        raise ValueError('SiamFC search graph has inputs %s and outputs %s, not %s and %s' % (got + want))
    return sess


CHECKPOINT_FORMAT = 'uavcine-siamfc-1'


def save_checkpoint(net: SiamFCNet, cfg: SiamFCConfig, quality: Optional[QualityHead] = None,
                    meta: Optional[Dict[str, Any]] = None, half: bool = True) -> Dict[str, Any]:
    """A checkpoint dict (torch.save it): config, fp16 (or fp32) state dict, quality calibration, metadata."""
    sd = {k: (v.half() if half and v.is_floating_point() else v) for k, v in net.state_dict().items()}
    return {'format': CHECKPOINT_FORMAT, 'config': asdict(cfg), 'state_dict': sd,
            'quality': list(quality.coef) if quality is not None else None,
            'quality_keys': list(quality.keys) if quality is not None else None, 'meta': dict(meta or {})}


def load_checkpoint(path_or_obj: Any) -> Tuple[SiamFCNet, SiamFCConfig, QualityHead]:
    """Our checkpoint (``save_checkpoint``) or an official siamfc-pytorch state dict -> fp32 net, config, quality.

    Raises ValueError with one clear line for a missing or unreadable file.
    """
    obj = path_or_obj
    if not isinstance(obj, dict):
        try:
            obj = torch.load(path_or_obj, map_location='cpu', weights_only=True)
        except FileNotFoundError:
            raise ValueError('SiamFC model not found: %s' % path_or_obj) from None
        except Exception as e:
            raise ValueError('cannot read SiamFC model %s: %s' % (path_or_obj, e)) from e
    if isinstance(obj, dict) and obj.get('format') == CHECKPOINT_FORMAT:
        known = set(SiamFCConfig.__dataclass_fields__)
        cfg = SiamFCConfig(**{k: v for k, v in obj['config'].items() if k in known})
        net = load_official_checkpoint(obj['state_dict'], SiamFCNet(cfg.width, cfg.out_scale))
        name = path_or_obj if isinstance(path_or_obj, str) else '<dict>'
        if not obj.get('quality'):
            return net, cfg, QualityHead()
        # the head's features: named by the file (round five on), by its calibration metadata, or round three's
        keys = tuple(obj.get('quality_keys') or (obj.get('meta') or {}).get('features') or ROUND3_FEATURES)
        unknown = [k for k in keys if k not in TRACK_STATS + APPZ_STATS]
        if unknown:
            raise ValueError('SiamFC model %s: its quality head uses %s, which this version does not compute '
                             '(calibrate it again)' % (name, ', '.join(unknown)))
        if len(obj['quality']) != len(keys) + 1:
            raise ValueError('SiamFC model %s: its quality head has %d coefficients for %d features (calibrate it '
                             'again)' % (name, len(obj['quality']), len(keys)))
        return net, cfg, QualityHead([float(v) for v in obj['quality']], keys)
    net = load_official_checkpoint(obj)
    return net, SiamFCConfig(), QualityHead()
