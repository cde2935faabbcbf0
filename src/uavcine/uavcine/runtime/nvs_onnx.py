"""The onboard path of novel-view synthesis: three ONNX graphs (TensorRT-8.5 operators, static shapes) and
a numpy loop that runs them with onnxruntime.

- ``nvs_encoder.onnx``: image (1, 3, 48, 64) in [-1, 1] -> tokens (1, 6, 8) (the VQ encoder + nearest code);
- ``nvs_step.onnx``: one transformer step with a *static* key/value cache (n_layer, 1, heads, 294, head_dim):
  the input (a token or a camera token: ``slot`` 0 is the view's camera token, 1..48 its image tokens) is
  written at cache position ``pos`` (a one-hot blend, no dynamic shapes) and attends to positions <= pos;
  out come the next-token logits and the updated caches. Static shapes are what TensorRT builds best,
  and the one-hot write keeps to Mul/Add (no ScatterND on a growing tensor). A model with the copy prior
  (core/views/geogpt.py) has one more input, ``prev``: the previous view's token at the position the step
  predicts (``vocab`` where it predicts none: the source's steps, each view's last);
- ``nvs_decoder.onnx``: tokens (1, 6, 8) -> image (1, 3, 48, 64);
- ``nvs_refiner.onnx``, only for a model with a refiner (stage 3, core/views/refiner.py): source, source through
  the tokenizer, decoded view, plane-warped source (each (1, 3, 48, 64), 8-bit values in [-1, 1]), the warp's
  valid mask (1, 1, 48, 64) and the view's camera features (1, 16) -> the refined view (1, 3, 48, 64). The warp
  itself (core/views/plane.py, OpenCV) runs before the graph.

``NvsOnnx.synthesize`` is ``core.views.synthesis.synthesize`` (greedy) on these graphs: same camera
features (core/views/cameras.py), same order of steps. Python 3.8; export needs torch and onnx.
"""
import json
import math
import os
from typing import Dict

import numpy as np

from ..core.views.cameras import shot_features
from ..core.views.plane import plane_warp

FILES = ('nvs_encoder.onnx', 'nvs_step.onnx', 'nvs_decoder.onnx')
REFINER_FILE = 'nvs_refiner.onnx'   # written only for a model with a refiner


def _to_net(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [-1, 1] (synthesis.to_tensor)."""
    return (img.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]


def _to_image(x: np.ndarray) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> (H, W, 3) uint8 (synthesis.to_images)."""
    return ((x.transpose(1, 2, 0).clip(-1, 1) + 1.0) * 127.5 + 0.5).astype(np.uint8)


def _modules(vq, gpt):
    """torch modules with static shapes around the trained ones (built lazily: torch only for export)."""
    import torch  # lazy: export only; the onnxruntime path runs without torch
    import torch.nn.functional as F  # lazy: as above

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.vq, self.gpt = vq, gpt   # submodules: their weights become the graph's initializers

    class Encoder(Wrapper):
        def forward(self, image):
            z = vq.encoder(image)                                  # (1, D, 6, 8)
            flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
            e = vq.quantizer.embed
            d = (flat * flat).sum(1, keepdim=True) - 2 * flat @ e.t() + (e * e).sum(1)[None]
            return d.argmin(1).reshape(1, z.shape[2], z.shape[3])

    class Decoder(Wrapper):
        def forward(self, tokens):
            return vq.decoder(F.embedding(tokens, vq.quantizer.embed).permute(0, 3, 1, 2)).clamp(-1, 1)

    class Step(Wrapper):
        def forward(self, token, cam, uncond, slot, view, pos, cache_k, cache_v, prev=None):
            cfg = gpt.cfg
            T = cfg.block
            cam_e = gpt.cam(cam) * (1 - uncond) + gpt.null_cam * uncond            # (1, C)
            is_cam = (slot == 0).float()
            x = cam_e + (1 - is_cam) * gpt.tok(token) + gpt.pos[slot] + gpt.view[view]
            if prev is not None:
                x = x + gpt.prev(prev)                                              # the copy prior
            x = x[:, None]                                                          # (1, 1, C)
            idx = torch.arange(T)
            onehot = (idx == pos).float()[:, None]                                  # (T, 1)
            valid = (idx <= pos)[None, None, None]                                  # (1, 1, 1, T)
            new_k, new_v = [], []
            for i, blk in enumerate(gpt.blocks):
                a = blk.attn
                h = blk.ln1(x)
                C = h.shape[-1]
                q, k, v = a.qkv(h).split(C, dim=2)
                hd = C // a.n_head
                q, k, v = [t.view(1, 1, a.n_head, hd).transpose(1, 2) for t in (q, k, v)]
                ck = cache_k[i] * (1 - onehot) + k * onehot                         # (1, H, T, hd)
                cv = cache_v[i] * (1 - onehot) + v * onehot
                att = (q @ ck.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
                att = torch.where(valid, att, torch.full_like(att, -1e9))
                y = torch.softmax(att, dim=-1) @ cv
                x = x + a.proj(y.transpose(1, 2).reshape(1, 1, C))
                x = x + blk.mlp(blk.ln2(x))
                new_k.append(ck)
                new_v.append(cv)
            return gpt.head(gpt.ln_f(x))[:, 0], torch.stack(new_k), torch.stack(new_v)

    return Encoder().eval(), Step().eval(), Decoder().eval()


def export(vq, gpt, out_dir: str, opset: int = 16, refiner=None) -> Dict[str, list]:
    """Write the three graphs (four with a ``refiner``) into ``out_dir``; returns the operators each uses (all
    TensorRT-8.5 ones). Without a refiner a stale ``nvs_refiner.onnx`` there is removed."""
    import torch  # lazy: export only
    from .onnx_export import export_onnx  # lazy: imports onnx (export only)
    os.makedirs(out_dir, exist_ok=True)
    enc, step, dec = _modules(vq, gpt)
    cfg = gpt.cfg
    hd = cfg.n_embd // cfg.n_head
    cache = torch.zeros(cfg.n_layer, 1, cfg.n_head, cfg.block, hd)
    meta = {'model': 'nvs_geogpt', 'image_size': [64, 48], 'tokens': [6, 8], 'n_layer': cfg.n_layer,
            'n_head': cfg.n_head, 'head_dim': hd, 'block': cfg.block, 'tokens_per_view': cfg.tokens_per_view,
            'max_views': cfg.max_views, 'vocab': cfg.vocab, 'copy_prior': bool(cfg.copy_prior)}
    ops = {}
    ops[FILES[0]] = export_onnx(enc, [torch.zeros(1, 3, 48, 64)], os.path.join(out_dir, FILES[0]), ['image'],
                                ['tokens'], opset, meta)
    ex = [torch.zeros(1, dtype=torch.long), torch.zeros(1, 16), torch.zeros(1, 1), torch.zeros(1, dtype=torch.long),
          torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long), cache, cache]
    names = ['token', 'cam', 'uncond', 'slot', 'view', 'pos', 'cache_k', 'cache_v']
    if cfg.copy_prior:
        ex.append(torch.full((1,), cfg.vocab, dtype=torch.long))
        names.append('prev')
    ops[FILES[1]] = export_onnx(step, ex, os.path.join(out_dir, FILES[1]), names,
                                ['logits', 'new_cache_k', 'new_cache_v'], opset, meta)
    ops[FILES[2]] = export_onnx(dec, [torch.zeros(1, 6, 8, dtype=torch.long)], os.path.join(out_dir, FILES[2]),
                                ['tokens'], ['image'], opset, meta)
    ref_path = os.path.join(out_dir, REFINER_FILE)
    if refiner is None:
        if os.path.exists(ref_path):
            os.remove(ref_path)
        return ops
    img = torch.zeros(1, 3, 48, 64)
    ops[REFINER_FILE] = export_onnx(refiner.eval(), [img, img, img, img, torch.zeros(1, 1, 48, 64), torch.zeros(1, 16)],
                                    ref_path, ['source', 'source_rec', 'decoded', 'warped', 'valid', 'cam'], ['image'],
                                    opset,
                                    dict(meta, refiner=dict(refiner.cfg.__dict__)))
    return ops


class NvsOnnx:
    """Greedy shot synthesis on onnxruntime (no torch)."""

    def __init__(self, model_dir: str, threads: int = 1):
        import onnxruntime as ort  # lazy: optional dependency (onnxruntime backend)
        from .onnx_export import read_metadata  # lazy: beside onnxruntime, as that module does
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
        self.sess = [ort.InferenceSession(os.path.join(model_dir, f), so, providers=['CPUExecutionProvider'])
                     for f in FILES]
        self.meta = read_metadata(os.path.join(model_dir, FILES[1]))
        ref = os.path.join(model_dir, REFINER_FILE)
        self.refiner = (ort.InferenceSession(ref, so, providers=['CPUExecutionProvider']) if os.path.isfile(ref)
                        else None)

    def synthesize(self, source: np.ndarray, poses: np.ndarray, K: np.ndarray, conditioned: bool = True,
                   plane_z: float = None) -> np.ndarray:
        """(48, 64, 3) uint8 source, (N+1, 4, 4) poses, K -> (N, 48, 64, 3) uint8 views; ``plane_z`` (m, world
        height of the refiner's plane: the target's) is needed when there is a refiner graph."""
        m = self.meta
        n = len(poses) - 1
        if self.refiner is not None and plane_z is None:
            raise ValueError('a model with a refiner needs plane_z, the height of the plane it warps the source by')
        if not 1 <= n <= m['max_views'] - 1:
            raise ValueError('the model generates 1..%d views, asked for %d' % (m['max_views'] - 1, n))
        enc, step, dec = self.sess
        x = _to_net(source)
        src = enc.run(None, {'image': x})[0].reshape(-1)
        cams = shot_features(poses, K, source.shape[1], source.shape[0]).astype(np.float32)
        shape = (m['n_layer'], 1, m['n_head'], m['block'], m['head_dim'])
        ck, cv = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
        u = np.array([[0.0 if conditioned else 1.0]], np.float32)
        T = m['tokens_per_view']
        copy_prior, none = m.get('copy_prior', False), m.get('vocab', 256)
        pos = 0

        def run(token, view, slot, prev_view=None):
            nonlocal ck, cv, pos
            feed = {'token': np.array([token], np.int64), 'cam': cams[view][None], 'uncond': u,
                    'slot': np.array([slot], np.int64), 'view': np.array([view], np.int64),
                    'pos': np.array([pos], np.int64), 'cache_k': ck, 'cache_v': cv}
            if copy_prior:   # this step predicts token ``slot`` of the view: the previous view's token there
                feed['prev'] = np.array([none if prev_view is None or slot >= T else prev_view[slot]], np.int64)
            logits, ck, cv = step.run(None, feed)
            pos += 1
            return logits[0]
        run(0, 0, 0)
        for j in range(T):
            logits = run(int(src[j]), 0, j + 1)
        views = []
        prev = [int(t) for t in src]
        for k in range(1, n + 1):
            logits = run(0, k, 0, prev)
            toks = []
            for j in range(T):
                t = int(np.argmax(logits))
                toks.append(t)
                logits = run(t, k, j + 1, prev)
            prev = toks
            views.append(np.asarray(toks, np.int64).reshape(1, *m['tokens']))
        out = [_to_image(dec.run(None, {'tokens': v})[0][0]) for v in views]
        if self.refiner is not None:   # stage 3 on 8-bit images, as synthesis.refine
            rec = _to_net(_to_image(dec.run(None, {'tokens': src.reshape(1, *m['tokens'])})[0][0]))
            refined = []
            for k, o in enumerate(out):
                warped, valid = plane_warp(source, K, poses[0], poses[k + 1], float(plane_z))
                refined.append(_to_image(self.refiner.run(None, {
                    'source': x, 'source_rec': rec, 'decoded': _to_net(o), 'warped': _to_net(warped),
                    'valid': valid[None, None], 'cam': cams[k + 1][None]})[0][0]))
            out = refined
        return np.stack(out)


def main(argv=None) -> int:
    """python -m uavcine.runtime.nvs_onnx --model models/nvs_geogpt_sim.pt --out models/nvs_onnx"""
    import argparse  # lazy: the command line only
    import torch  # lazy: export only
    from ..core.views.synthesis import from_checkpoint  # lazy: imports torch (export only)
    ap = argparse.ArgumentParser(description='export the novel-view synthesis model to ONNX (TensorRT-8.5 ops)')
    ap.add_argument('--model', default='models/nvs_geogpt_sim.pt')
    ap.add_argument('--out', default='runs/nvs_onnx')
    a = ap.parse_args(argv)
    if not os.path.isfile(a.model):
        print('error: %s not found' % a.model)
        return 2
    vq, gpt, refiner = from_checkpoint(torch.load(a.model, map_location='cpu', weights_only=False), with_refiner=True)
    print(json.dumps(export(vq, gpt, a.out, refiner=refiner), indent=1))
    return 0


if __name__ == '__main__':
    import sys  # lazy: the command line only
    sys.exit(main())
