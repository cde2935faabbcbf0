"""GeoGPT's second stage: a GPT over image tokens, conditioned on cameras (Rombach et al. ICCV 2021).

The sequence for a shot of V views (view 0 = the source, views 1..V-1 = the poses to preview) is

    [cam_0] s_1 .. s_T [cam_1] a_1 .. a_T [cam_2] b_1 .. b_T ...

with T = 48 tokens per 64 x 48 view (8 x 6 codes of the VQ tokenizer, raster order). ``cam_k`` is the
camera token: a linear embedding of ``camera_features`` (relative pose to the source + intrinsics,
cameras.py), GeoGPT's explicit conditioning; the same embedding is added to every token of view k,
so each attention query knows the camera it renders for (the "camera-aware" part). Causal
self-attention over the whole sequence makes view k depend on the source and on all views before
it, the seed's generation of N views along a trajectory. Loss: cross-entropy of the tokens of views
1..V-1 (the source is given). A learned ``null`` camera replaces the camera features with probability
``p_uncond`` in training, so the same network also runs without camera conditioning (the ablation).

**The copy prior (ours, not GeoGPT's; ``copy_prior=True``).** GeoGPT predicts every token of a target
view from nothing but attention over the source; an undertrained one falls back to the most frequent
tokens (flat green). Along a trajectory, consecutive views share many of their tokens at the same (row,
column): on the dev split 74 % at 1 s between views, 51 % at 5 s, 34 % at 50 s (the model card says how
that is measured). So each input
slot also gets a separate embedding ``prev`` of the previous view's token at the position that slot
predicts: the slot predicting token j of view k (view k's camera slot for j = 0, token j-1's slot
otherwise) adds ``prev(tokens[k-1, j])``; view 0 (the source) is the previous view of view 1, the
generated view k-1 that of view k (teacher-forced in training: the true view k-1). Copying becomes
the easy default and the network learns corrections (what moved, what was disoccluded). Slots that
predict no token (the source's, each view's last) get ``prev`` row ``vocab``, a zero padding row.
With ``copy_prior=False`` the model is exactly the one before (no ``prev`` parameters).

Blocks as nanoGPT's ``model.py`` (pre-norm, GELU MLP x4); attention is written out (matmul, softmax)
rather than ``scaled_dot_product_attention`` so the ONNX export keeps TensorRT-8.5 ops, and it takes
a key/value cache so onboard generation costs one token's work per step.
Python 3.8, torch.
"""
import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .cameras import N_FEATURES


@dataclass
class GeoGPTConfig:
    n_layer: int = 16          # the seed's choice (fewer than GeoGPT's default)
    n_head: int = 4
    n_embd: int = 64
    vocab: int = 256           # VQ codebook size
    tokens_per_view: int = 48  # 8 x 6
    max_views: int = 6         # source + 5 generated
    dropout: float = 0.0
    p_uncond: float = 0.1      # null camera in training (ablation without camera conditioning)
    copy_prior: bool = False   # add the previous view's token at the predicted position (ours; docstring)

    @property
    def block(self) -> int:
        return self.max_views * (self.tokens_per_view + 1)


Cache = List[Tuple[torch.Tensor, torch.Tensor]]


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GeoGPTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.register_buffer('mask', torch.tril(torch.ones(cfg.block, cfg.block, dtype=torch.bool)), persistent=False)

    def forward(self, x, past: Optional[Tuple[torch.Tensor, torch.Tensor]] = None):
        B, L, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = [t.view(B, L, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v)]
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        S = k.shape[2]
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.shape[-1]))
        att = att.masked_fill(~self.mask[S - L:S, :S], float('-inf'))
        y = F.softmax(att, dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(B, L, C)), (k, v)


class Block(nn.Module):
    def __init__(self, cfg: GeoGPTConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.n_embd), nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(), nn.Linear(4 * cfg.n_embd, cfg.n_embd))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, past=None):
        a, kv = self.attn(self.ln1(x), past)
        x = x + self.drop(a)
        return x + self.drop(self.mlp(self.ln2(x))), kv


class GeoGPT(nn.Module):
    def __init__(self, cfg: GeoGPTConfig = GeoGPTConfig()):
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab, cfg.n_embd)
        self.cam = nn.Sequential(nn.Linear(N_FEATURES, cfg.n_embd), nn.GELU(), nn.Linear(cfg.n_embd, cfg.n_embd))
        self.null_cam = nn.Parameter(torch.zeros(cfg.n_embd))
        # the copy prior: row ``vocab`` is "no previous token" (zeros, never trained)
        self.prev = nn.Embedding(cfg.vocab + 1, cfg.n_embd, padding_idx=cfg.vocab) if cfg.copy_prior else None
        self.pos = nn.Parameter(torch.zeros(cfg.tokens_per_view + 1, cfg.n_embd))   # within a view (0 = camera)
        self.view = nn.Parameter(torch.zeros(cfg.max_views, cfg.n_embd))          # which view
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab, bias=False)
        self.apply(self._init)
        for n, p in self.named_parameters():
            if n.endswith('proj.weight') or n.endswith('mlp.2.weight'):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg.n_layer))
        nn.init.normal_(self.pos, 0.0, 0.02)
        nn.init.normal_(self.view, 0.0, 0.02)

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.padding_idx is not None:
                with torch.no_grad():
                    m.weight[m.padding_idx].zero_()

    def camera_embedding(self, cams: torch.Tensor, uncond: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, V, 16) camera features -> (B, V, C); ``uncond`` (B,) bool picks the null camera."""
        e = self.cam(cams)
        if uncond is not None:
            e = torch.where(uncond[:, None, None], self.null_cam.expand_as(e), e)
        return e

    def embed(self, tokens: torch.Tensor, cam_e: torch.Tensor) -> torch.Tensor:
        """(B, V, T) tokens and (B, V, C) camera embeddings -> (B, V * (T + 1), C) inputs."""
        B, V, T = tokens.shape
        x = torch.cat([cam_e[:, :, None], self.tok(tokens) + cam_e[:, :, None]], dim=2)   # (B, V, T+1, C)
        x = x + self.pos[None, None] + self.view[None, :V, None]
        if self.prev is not None:
            x = x + self.prev(self.prior_tokens(tokens))
        return x.reshape(B, V * (T + 1), -1)

    def prior_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, V, T) tokens -> (B, V, T + 1) copy-prior indices of every input slot: slot j of view k >= 1
        predicts token j of view k and gets token j of view k-1; the source's slots and each view's last
        slot (they predict nothing) get ``vocab``, the zero row."""
        B, V, T = tokens.shape
        out = torch.full((B, V, T + 1), self.cfg.vocab, dtype=tokens.dtype, device=tokens.device)
        out[:, 1:, :T] = tokens[:, :-1]
        return out

    def forward(self, tokens: torch.Tensor, cams: torch.Tensor, uncond: Optional[torch.Tensor] = None):
        """Teacher-forced logits: (B, V, T) tokens, (B, V, 16) cameras -> (B, V-1, T, vocab) for views 1..V-1."""
        B, V, T = tokens.shape
        x = self.embed(tokens, self.camera_embedding(cams, uncond))
        for blk in self.blocks:
            x, _ = blk(x)
        logits = self.head(self.ln_f(x)).view(B, V, T + 1, -1)
        # position j of view k (j = 0 is its camera token) predicts token j of view k
        return logits[:, 1:, :T]

    def loss(self, tokens, cams, uncond=None):
        logits = self(tokens, cams, uncond)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))

    # -- generation with a key/value cache ------------------------------------------------------------
    def step(self, x: torch.Tensor, cache: Optional[Cache]):
        """Run embedded inputs (B, L, C) after the cached prefix -> logits (B, L, vocab), new cache."""
        new = []
        for i, blk in enumerate(self.blocks):
            x, kv = blk(x, None if cache is None else cache[i])
            new.append(kv)
        return self.head(self.ln_f(x)), new

    def token_input(self, token: torch.Tensor, cam_e: torch.Tensor, view: int, j: int,
                    prev: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Embedding of image token j (0-based) of view ``view``: (B,) tokens, (B, C) camera -> (B, 1, C).
        ``prev`` (B, T): the previous view's tokens (copy prior; this slot predicts token j + 1)."""
        x = self.tok(token) + cam_e + self.pos[j + 1] + self.view[view]
        if self.prev is not None and j + 1 < self.cfg.tokens_per_view:
            x = x + self.prev(prev[:, j + 1])
        return x[:, None]

    def camera_input(self, cam_e: torch.Tensor, view: int, prev: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The camera slot of view ``view`` (it predicts token 0; ``prev`` as in ``token_input``)."""
        x = cam_e + self.pos[0] + self.view[view]
        if self.prev is not None:
            x = x + self.prev(prev[:, 0])
        return x[:, None]


def count_parameters(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
