"""Positional encodings (models/position_encoding.py): the paper's fixed sine encoding of feature positions,
and the same encoding of normalised points (query anchors)."""
import math

import torch
from torch import Tensor, nn


class PositionEmbeddingSine(nn.Module):
    """The paper's fixed sine encoding of (y, x) feature positions, normalised to [0, 2pi] (no padding mask)."""

    def __init__(self, num_pos_feats: int = 128, temperature: float = 10000.0, scale: float = 2 * math.pi):
        super().__init__()
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        """x: B x C x H x W -> 1 x 2*num_pos_feats x H x W (constant for a given H, W)."""
        h, w = int(x.shape[-2]), int(x.shape[-1])
        eps = 1e-6
        y_embed = torch.arange(1, h + 1, dtype=torch.float32, device=x.device) / (h + eps) * self.scale
        x_embed = torch.arange(1, w + 1, dtype=torch.float32, device=x.device) / (w + eps) * self.scale
        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=x.device)
        dim_t = self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode='floor') / self.num_pos_feats)
        pos_x = x_embed[:, None] / dim_t  # W x F
        pos_y = y_embed[:, None] / dim_t  # H x F
        pos_x = torch.stack((pos_x[:, 0::2].sin(), pos_x[:, 1::2].cos()), dim=2).flatten(1)
        pos_y = torch.stack((pos_y[:, 0::2].sin(), pos_y[:, 1::2].cos()), dim=2).flatten(1)
        pos = torch.cat((pos_y[:, None, :].expand(h, w, -1), pos_x[None, :, :].expand(h, w, -1)), dim=2)
        return pos.permute(2, 0, 1).unsqueeze(0)


def sine_embed_points(points: Tensor, num_pos_feats: int, temperature: float = 10000.0) -> Tensor:
    """(..., 2) normalised (x, y) points -> (..., 2*num_pos_feats) sine embedding, (y, x) order as above."""
    scale = 2 * math.pi
    dim_t = torch.arange(num_pos_feats, dtype=torch.float32, device=points.device)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode='floor') / num_pos_feats)
    pos_x = points[..., 0, None] * scale / dim_t
    pos_y = points[..., 1, None] * scale / dim_t
    pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=-1).flatten(-2)
    pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=-1).flatten(-2)
    return torch.cat((pos_y, pos_x), dim=-1)
