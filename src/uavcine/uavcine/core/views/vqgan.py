"""The image tokenizer of GeoGPT's first stage: a VQ autoencoder (VQGAN's encoder/decoder, Esser et al.
CVPR 2021, "Taming transformers"), sized for 64 x 48 images.

- ``Encoder``: convolutions, three stride-2 steps (8x down; the first one straight from the pixels, for CPU speed) -> a ``code_dim`` vector per 8 x 8 patch;
- ``VectorQuantizer``: nearest entry of a learned codebook of ``n_codes`` vectors; the codebook is
  learned by exponential moving averages (van den Oord et al. 2017, appendix; "VQ-VAE-2"), entries
  nobody uses are restarted on random encoder outputs; the commitment loss ``beta * ||z_e - sg[e]||^2``
  keeps the encoder near its codes; gradients pass the quantizer straight through;
- ``Decoder``: the mirror (nearest upsampling + convolutions).

VQGAN's adversarial and perceptual (LPIPS) losses need a discriminator schedule and pretrained VGG
weights; this CPU-sized tokenizer trains on L1 + MSE reconstruction only (the model card says so).
Python 3.8, torch.
"""
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class VQConfig:
    width: int = 32          # channels at 1/2 resolution (x2 at 1/4 and 1/8)
    code_dim: int = 64
    n_codes: int = 256
    beta: float = 0.25       # commitment weight
    decay: float = 0.99      # EMA decay of the codebook


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 3, padding=1)
        self.c2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return x + self.c2(F.silu(self.c1(F.silu(x))))


class Encoder(nn.Module):
    def __init__(self, cfg: VQConfig):
        super().__init__()
        w = cfg.width
        self.net = nn.Sequential(
            nn.Conv2d(3, w, 4, stride=2, padding=1), ResBlock(w),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), ResBlock(2 * w),
            nn.Conv2d(2 * w, 2 * w, 4, stride=2, padding=1), ResBlock(2 * w), ResBlock(2 * w),
            nn.SiLU(), nn.Conv2d(2 * w, cfg.code_dim, 1))

    def forward(self, x):
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self, cfg: VQConfig):
        super().__init__()
        w = cfg.width
        self.net = nn.Sequential(
            nn.Conv2d(cfg.code_dim, 2 * w, 3, padding=1), ResBlock(2 * w), ResBlock(2 * w),
            nn.Upsample(scale_factor=2.0, mode='nearest'), nn.Conv2d(2 * w, 2 * w, 3, padding=1), ResBlock(2 * w),
            nn.Upsample(scale_factor=2.0, mode='nearest'), nn.Conv2d(2 * w, w, 3, padding=1), ResBlock(w),
            nn.Upsample(scale_factor=2.0, mode='nearest'), nn.Conv2d(w, w // 2, 3, padding=1),
            nn.SiLU(), nn.Conv2d(w // 2, 3, 3, padding=1))

    def forward(self, z):
        return self.net(z)


class VectorQuantizer(nn.Module):
    """Nearest-codebook quantisation with an EMA-learned codebook (no gradient into the codebook)."""

    def __init__(self, cfg: VQConfig):
        super().__init__()
        self.cfg = cfg
        embed = torch.randn(cfg.n_codes, cfg.code_dim) * 0.1
        self.register_buffer('embed', embed)
        # counts start at zero: every code is "dead" until used, so the first batches restart the codebook on
        # encoder outputs (a data-driven initialisation, as k-means would)
        self.register_buffer('cluster_size', torch.zeros(cfg.n_codes))
        self.register_buffer('embed_sum', torch.zeros(cfg.n_codes, cfg.code_dim))

    def codes(self, z_e):
        """(B, D, h, w) encoder output -> (B, h, w) code indices."""
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
        d = (flat * flat).sum(1, keepdim=True) - 2 * flat @ self.embed.t() + (self.embed * self.embed).sum(1)[None]
        return d.argmin(1).view(z_e.shape[0], z_e.shape[2], z_e.shape[3])

    def lookup(self, idx):
        """(B, h, w) code indices -> (B, D, h, w) code vectors."""
        return F.embedding(idx, self.embed).permute(0, 3, 1, 2)

    def forward(self, z_e):
        idx = self.codes(z_e)
        z_q = self.lookup(idx)
        commitment = self.cfg.beta * F.mse_loss(z_e, z_q.detach())
        if self.training:
            self._ema_update(z_e.detach(), idx)
        z_q = z_e + (z_q - z_e).detach()   # straight-through estimator
        return z_q, idx, commitment

    @torch.no_grad()
    def _ema_update(self, z_e, idx):
        c = self.cfg
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
        onehot = F.one_hot(idx.reshape(-1), c.n_codes).type(flat.dtype)
        self.cluster_size.mul_(c.decay).add_(onehot.sum(0), alpha=1 - c.decay)
        self.embed_sum.mul_(c.decay).add_(onehot.t() @ flat, alpha=1 - c.decay)
        n = self.cluster_size.sum()
        size = (self.cluster_size + 1e-5) / (n + c.n_codes * 1e-5) * n
        self.embed.copy_(self.embed_sum / size[:, None])
        dead = self.cluster_size < 0.03   # restart unused codes on random encoder outputs
        if dead.any():
            pick = flat[torch.randint(0, flat.shape[0], (int(dead.sum()),), device=flat.device)]
            self.embed[dead] = pick
            self.embed_sum[dead] = pick
            self.cluster_size[dead] = 1.0


class VQModel(nn.Module):
    """Images in [-1, 1], (B, 3, H, W) with H, W multiples of 8 -> tokens (B, H/8, W/8) and back."""

    def __init__(self, cfg: VQConfig = VQConfig()):
        super().__init__()
        self.cfg = cfg
        self.encoder, self.quantizer, self.decoder = Encoder(cfg), VectorQuantizer(cfg), Decoder(cfg)

    def forward(self, x):
        z_q, idx, commitment = self.quantizer(self.encoder(x))
        return self.decoder(z_q), idx, commitment

    @torch.no_grad()
    def encode(self, x):
        return self.quantizer.codes(self.encoder(x))

    @torch.no_grad()
    def decode(self, idx):
        return self.decoder(self.quantizer.lookup(idx)).clamp(-1, 1)


def reconstruction_loss(x_hat, x):
    return F.l1_loss(x_hat, x) + F.mse_loss(x_hat, x)
