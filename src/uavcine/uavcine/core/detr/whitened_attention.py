"""Whitened graph attention: the seed's detector (AI4Media D-report 4.3.2.1).

Attention is replaced by a linear multiplication with a precomputed auxiliary matrix ``A``
(N x N over the N = h*w feature positions) that encodes known data properties as a graph:
``A = G W`` where ``G`` is the normalised Gaussian-kernel adjacency of the feature grid
(graph-based attention, spatial neighbourhoods) and ``W = C^{-1/2}`` whitens the tokens
(whitened self-attention: decorrelate the context before it is aggregated) for the token
covariance ``C`` (a stationary exponential model of spatial correlation, or one measured on
features with ``DETR.calibrate_whitening``). The layer is ``out_proj(A @ value_proj(x))``: one
constant MatMul in ONNX, no softmax, no Q/K projections. ``A`` is a buffer, fixed for the
input size it was computed for.
"""
from typing import Optional

import numpy as np
import torch
from torch import Tensor, nn


class WhitenedAttention(nn.Module):
    """The seed's attention replacement: ``out_proj(A @ value_proj(x))`` with a precomputed A (N x N)."""

    def __init__(self, embed_dim: int):
        super().__init__()
        self.value_proj = nn.Linear(embed_dim, embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)

    def forward(self, x: Tensor, aux: Tensor) -> Tensor:
        """x: N x B x E, aux: N x N -> N x B x E (one 2-D MatMul: A @ V viewed as N x (B*E))."""
        N, B, E = x.shape
        if aux.shape[0] != N:
            raise ValueError('whitened attention matrix is for %d positions, the feature map has %d '
                             '(the input size differs from the one the model was built for)' % (aux.shape[0], N))
        v = self.value_proj(x).reshape(N, B * E)
        return self.out_proj(torch.matmul(aux, v).reshape(N, B, E))


def grid_graph_matrix(h: int, w: int, sigma: float) -> np.ndarray:
    """G = D^-1/2 K D^-1/2, K_ij = exp(-|p_i - p_j|^2 / 2 sigma^2) on the h x w grid (positions row-major)."""
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
    p = np.stack([yy.ravel(), xx.ravel()], 1).astype(np.float64)
    d2 = ((p[:, None, :] - p[None, :, :]) ** 2).sum(-1)
    k = np.exp(-d2 / (2.0 * sigma ** 2))
    dinv = 1.0 / np.sqrt(k.sum(1))
    return dinv[:, None] * k * dinv[None, :]


def stationary_covariance(h: int, w: int, length: float) -> np.ndarray:
    """Model of the correlation between feature positions: C_ij = exp(-|p_i - p_j| / length)."""
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
    p = np.stack([yy.ravel(), xx.ravel()], 1).astype(np.float64)
    d = np.sqrt(((p[:, None, :] - p[None, :, :]) ** 2).sum(-1))
    return np.exp(-d / max(length, 1e-6))


def whitening_matrix(cov: np.ndarray, eps: float = 1e-2) -> np.ndarray:
    """ZCA whitening W = (C + eps I)^-1/2 (symmetric, from the eigendecomposition of the covariance)."""
    c = 0.5 * (cov + cov.T)
    c = c / max(float(np.trace(c)) / c.shape[0], 1e-12)  # unit average variance
    vals, vecs = np.linalg.eigh(c)
    return (vecs * (1.0 / np.sqrt(np.clip(vals, 0.0, None) + eps))) @ vecs.T


def auxiliary_matrix(h: int, w: int, sigma: float, length: float, cov: Optional[np.ndarray] = None) -> np.ndarray:
    """A = G W, scaled to spectral norm 1: graph aggregation of whitened tokens."""
    g = grid_graph_matrix(h, w, sigma)
    wh = whitening_matrix(cov if cov is not None else stationary_covariance(h, w, length))
    a = g @ wh
    return (a / np.linalg.norm(a, 2)).astype(np.float32)
