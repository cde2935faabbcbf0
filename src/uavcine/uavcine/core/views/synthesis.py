"""Generate the N views of a planned shot from one image (the seed's tool, report section 4.2).

``synthesize``: encode the source view into tokens, embed the cameras of the N poses relative to
the source, then generate view 1's tokens autoregressively, then view 2's conditioned on the source
and view 1, and so on (one token per step through the key/value cache), and decode each view. A model with the
copy prior (geogpt.py) gets the source's tokens as the previous view of view 1 and each generated view
as that of the next. A model with a refiner (stage 3, refiner.py: ours) decodes each view together with the
source's pixels and their ground-plane warp (plane.py); without one (the files before it) the token-only
decoder's output is the view, bit for bit as before.
Greedy decoding (``temperature`` = 0) by default: it gives the most likely view, which is what a
preview wants; ``temperature`` > 0 with ``top_k`` samples.
Python 3.8, numpy + torch.
"""
from typing import Optional

import numpy as np
import torch

from .cameras import shot_features
from .geogpt import GeoGPT, GeoGPTConfig
from .plane import plane_warp
from .refiner import Refiner, RefinerConfig
from .vqgan import VQConfig, VQModel


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(..., H, W, 3) uint8 -> (..., 3, H, W) float in [-1, 1]."""
    x = torch.as_tensor(np.ascontiguousarray(images)).float() / 127.5 - 1.0
    return x.movedim(-1, -3)


def to_images(x: torch.Tensor) -> np.ndarray:
    return ((x.movedim(-3, -1).clamp(-1, 1) + 1.0) * 127.5 + 0.5).to(torch.uint8).cpu().numpy()


def pick(logits: torch.Tensor, temperature: float, top_k: int, generator: Optional[torch.Generator]):
    if temperature <= 0:
        return logits.argmax(-1)
    logits = logits / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float('-inf'))
    return torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)[..., 0]


@torch.no_grad()
def synthesize(vq: VQModel, gpt: GeoGPT, source: np.ndarray, poses: np.ndarray, K: np.ndarray,
               conditioned: bool = True, temperature: float = 0.0, top_k: int = 0,
               generator: Optional[torch.Generator] = None, refiner: Optional[Refiner] = None,
               plane_z=None) -> np.ndarray:
    """(H, W, 3) uint8 source, (N+1, 4, 4) camera-to-world poses (poses[0] = the source's), K of the
    (H, W) image -> (N, H, W, 3) uint8 views. A batch of shots works alike: (B, H, W, 3) and
    (B, N+1, 4, 4) -> (B, N, H, W, 3). ``conditioned=False`` gives the model the null camera; ``refiner``
    (stage 3) decodes each view with the source's pixels and their warp by the horizontal plane at world height
    ``plane_z`` (m; a number, or (B,) for a batch: the target's height), its camera the true one either way."""
    cfg = gpt.cfg
    single = source.ndim == 3
    source, poses = (source[None], np.asarray(poses)[None]) if single else (source, np.asarray(poses))
    B, H, W = source.shape[:3]
    n = poses.shape[1] - 1
    if refiner is not None and plane_z is None:
        raise ValueError('a model with a refiner needs plane_z, the height of the plane it warps the source by')
    if not 1 <= n <= cfg.max_views - 1:
        raise ValueError('the model generates 1..%d views, asked for %d' % (cfg.max_views - 1, n))
    src = vq.encode(to_tensor(source))                                              # (B, h, w)
    h, w = src.shape[1:]
    cams = torch.as_tensor(np.stack([shot_features(P, K, W, H) for P in poses]))    # (B, N+1, 16)
    cam_e = gpt.camera_embedding(cams, torch.full((B,), not conditioned, dtype=torch.bool))
    _, cache = gpt.step(gpt.embed(src.reshape(B, 1, -1), cam_e[:, :1]), None)
    views = []
    prev = src.reshape(B, -1)       # the copy prior's previous view (used only by a model with copy_prior)
    for k in range(1, n + 1):
        logits, cache = gpt.step(gpt.camera_input(cam_e[:, k], k, prev), cache)
        toks = []
        for j in range(cfg.tokens_per_view):
            t = pick(logits[:, -1], temperature, top_k, generator)
            toks.append(t)
            logits, cache = gpt.step(gpt.token_input(t, cam_e[:, k], k, j, prev), cache)
        prev = torch.stack(toks, 1)
        views.append(prev.view(B, h, w))
    out = to_images(vq.decode(torch.stack(views, 1).reshape(B * n, h, w))).reshape(B, n, H, W, 3)
    if refiner is not None:
        out = refine(vq, refiner, source, out, poses, K, np.broadcast_to(np.asarray(plane_z, float), (B,)))
    return out[0] if single else out


def plane_warps(source: np.ndarray, poses: np.ndarray, K: np.ndarray, plane_z) -> tuple:
    """(B, H, W, 3) uint8 sources, (B, n+1, 4, 4) poses, (B,) plane heights -> the sources warped to each view by
    the plane, (B, n, H, W, 3) uint8, and the warps' valid masks (B, n, H, W) float32 (plane.plane_warp)."""
    B, n = poses.shape[0], poses.shape[1] - 1
    out = [plane_warp(source[b], K, poses[b, 0], poses[b, k + 1], float(plane_z[b]))
           for b in range(B) for k in range(n)]
    return (np.stack([o[0] for o in out]).reshape(B, n, *source.shape[1:]),
            np.stack([o[1] for o in out]).reshape(B, n, *source.shape[1:3]))


def refine_views(refiner: Refiner, source, source_rec, decoded, warped, valid, cams) -> torch.Tensor:
    """The refiner on 8-bit images: (N, H, W, 3) uint8 source, source through the tokenizer, token-only view and
    warped source, (N, H, W) valid mask, (N, 16) camera features -> (N, 3, H, W) in [-1, 1]. One definition for
    generation, training (train/nvs_refine.py) and the gap study."""
    return refiner(to_tensor(source), to_tensor(source_rec), to_tensor(decoded), to_tensor(warped),
                   torch.as_tensor(np.ascontiguousarray(valid), dtype=torch.float32)[:, None], torch.as_tensor(cams))


@torch.no_grad()
def refine(vq: VQModel, refiner: Refiner, source: np.ndarray, views: np.ndarray, poses: np.ndarray,
           K: np.ndarray, plane_z) -> np.ndarray:
    """Stage 3: (B, H, W, 3) uint8 sources, (B, n, H, W, 3) uint8 token-only views, (B, n+1, 4, 4) poses, (B,)
    plane heights -> (B, n, H, W, 3) uint8 refined views. The refiner sees 8-bit images (the source through the
    tokenizer too), as in training (train/nvs_refine.py) and in the ONNX path."""
    B, n, H, W = views.shape[:4]
    rec = to_images(vq.decode(vq.encode(to_tensor(source))))
    cams = np.stack([shot_features(P, K, W, H)[1:] for P in poses]).astype(np.float32)   # (B, n, 16)
    warped, valid = plane_warps(source, poses, K, plane_z)
    rep = lambda a: np.repeat(a, n, axis=0)  # noqa: E731
    out = refine_views(refiner, rep(source), rep(rec), views.reshape(B * n, H, W, 3), warped.reshape(B * n, H, W, 3),
                       valid.reshape(B * n, H, W), cams.reshape(B * n, -1))
    return to_images(out).reshape(B, n, H, W, 3)


CHECKPOINT_FORMAT = 'uavcine-nvs-geogpt-1'


def to_checkpoint(vq_cfg: dict, vq_state: dict, gpt_cfg: dict, gpt_state: dict, image_size=(64, 48), **extra) -> dict:
    """The packed checkpoint dict that ``from_checkpoint`` reads (train/nvs_train.py ``pack`` and the tests)."""
    ck = {'format': CHECKPOINT_FORMAT, 'vq_cfg': dict(vq_cfg), 'vq': vq_state, 'gpt_cfg': dict(gpt_cfg),
          'gpt': gpt_state, 'image_size': list(image_size)}
    ck.update(extra)
    return ck


def from_checkpoint(ck: dict, with_refiner: bool = False):
    """(VQModel, GeoGPT) in eval mode, float32, from a packed checkpoint dict (``to_checkpoint``); with
    ``with_refiner`` (VQModel, GeoGPT, Refiner or None: a file of stage 3, train/nvs_refine.py, has one)."""
    if ck.get('format') != CHECKPOINT_FORMAT:
        raise ValueError('not a uavcine novel-view synthesis checkpoint (format %r)' % ck.get('format'))
    vq = VQModel(VQConfig(**ck['vq_cfg']))
    vq.load_state_dict({k: v.float() for k, v in ck['vq'].items()})
    gpt = GeoGPT(GeoGPTConfig(**ck['gpt_cfg']))
    gpt.load_state_dict({k: v.float() for k, v in ck['gpt'].items()})
    if not with_refiner:
        return vq.eval(), gpt.eval()
    return vq.eval(), gpt.eval(), load_refiner(ck)


def load_refiner(ck: dict) -> Optional[Refiner]:
    """The stage-3 refiner of a packed checkpoint in eval mode, float32; None if it has none."""
    if ck.get('refiner') is None:
        return None
    ref = Refiner(RefinerConfig(**ck['refiner_cfg']))
    ref.load_state_dict({k: v.float() for k, v in ck['refiner'].items()})
    return ref.eval()
