"""The DETR transformer (models/transformer.py): post-norm encoder and decoder, intermediate decoder outputs.

Encoder attention is ``'standard'`` (multi-head softmax attention, as in the paper) or ``'whitened'``
(the seed's whitened graph attention, see ``whitened_attention``).
"""
import copy
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import DETRConfig
from .whitened_attention import WhitenedAttention, auxiliary_matrix


class MultiheadAttention(nn.Module):
    """Scaled dot-product multi-head attention, sequence-first, parameter names of nn.MultiheadAttention.

    Written out (rather than nn.MultiheadAttention) so that the exported ONNX graph
    is plain MatMul/Softmax whatever torch's fast paths do.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError('embed_dim %d is not divisible by num_heads %d' % (embed_dim, num_heads))
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim))
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        self.dropout = nn.Dropout(dropout)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, attn_mask: Optional[Tensor] = None) -> Tensor:
        """query L x B x E, key/value S x B x E, attn_mask L x S bool (True = not allowed) -> L x B x E."""
        L, B, E = query.shape
        S = key.shape[0]
        h, d = self.num_heads, self.head_dim
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3)
        q = F.linear(query, w_q, b_q).reshape(L, B * h, d).transpose(0, 1)
        k = F.linear(key, w_k, b_k).reshape(S, B * h, d).transpose(0, 1)
        v = F.linear(value, w_v, b_v).reshape(S, B * h, d).transpose(0, 1)
        attn = torch.bmm(q * (d ** -0.5), k.transpose(1, 2))  # (B*h) x L x S
        if attn_mask is not None:
            attn = attn.masked_fill(attn_mask, float('-inf'))
        attn = self.dropout(attn.softmax(dim=-1))
        out = torch.bmm(attn, v).transpose(0, 1).reshape(L, B, E)
        return self.out_proj(out)


def _get_clones(module: nn.Module, n: int) -> nn.ModuleList:
    return nn.ModuleList([copy.deepcopy(module) for _ in range(n)])


class TransformerEncoderLayer(nn.Module):
    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float, attention: str = 'standard'):
        super().__init__()
        self.attention = attention
        if attention == 'standard':
            self.self_attn = MultiheadAttention(d_model, nhead, dropout)
        elif attention == 'whitened':
            self.self_attn = WhitenedAttention(d_model)
        else:
            raise ValueError("encoder_attention must be 'standard' or 'whitened', not %r" % attention)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, src: Tensor, pos: Tensor, aux: Optional[Tensor] = None) -> Tensor:
        if self.attention == 'standard':
            q = k = src + pos
            src2 = self.self_attn(q, k, src)
        else:
            src2 = self.self_attn(src, aux)
        src = self.norm1(src + self.dropout1(src2))
        src2 = self.linear2(self.dropout(F.relu(self.linear1(src))))
        return self.norm2(src + self.dropout2(src2))


class TransformerDecoderLayer(nn.Module):
    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(self, tgt: Tensor, memory: Tensor, pos: Tensor, query_pos: Tensor,
                tgt_mask: Optional[Tensor] = None) -> Tensor:
        q = k = tgt + query_pos
        tgt2 = self.self_attn(q, k, tgt, attn_mask=tgt_mask)
        tgt = self.norm1(tgt + self.dropout1(tgt2))
        tgt2 = self.multihead_attn(tgt + query_pos, memory + pos, memory)
        tgt = self.norm2(tgt + self.dropout2(tgt2))
        tgt2 = self.linear2(self.dropout(F.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout3(tgt2))


class TransformerEncoder(nn.Module):
    def __init__(self, layer: TransformerEncoderLayer, num_layers: int, aux: Optional[Tensor] = None):
        super().__init__()
        self.layers = _get_clones(layer, num_layers)
        if aux is not None:
            self.register_buffer('aux_matrix', aux)  # shared by all whitened layers
        else:
            self.aux_matrix = None

    def forward(self, src: Tensor, pos: Tensor) -> Tensor:
        out = src
        for layer in self.layers:
            out = layer(out, pos, self.aux_matrix)
        return out


class TransformerDecoder(nn.Module):
    def __init__(self, layer: TransformerDecoderLayer, num_layers: int, norm: nn.Module):
        super().__init__()
        self.layers = _get_clones(layer, num_layers)
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, pos: Tensor, query_pos: Tensor,
                tgt_mask: Optional[Tensor] = None, all_layers: bool = True) -> Tensor:
        """-> num_layers x Q x B x E (every layer's normed output, for the auxiliary losses) or 1 x Q x B x E."""
        out = tgt
        inter = []
        for layer in self.layers:
            out = layer(out, memory, pos, query_pos, tgt_mask)
            if all_layers:
                inter.append(self.norm(out))
        return torch.stack(inter) if all_layers else self.norm(out).unsqueeze(0)


class Transformer(nn.Module):
    def __init__(self, cfg: DETRConfig):
        super().__init__()
        aux = None
        if cfg.encoder_attention == 'whitened':
            fh, fw = cfg.feature_size
            aux = torch.from_numpy(auxiliary_matrix(fh, fw, cfg.whiten_graph_sigma, cfg.whiten_corr_length))
        enc = TransformerEncoderLayer(cfg.hidden_dim, cfg.nheads, cfg.dim_feedforward, cfg.dropout,
                                      cfg.encoder_attention)
        self.encoder = TransformerEncoder(enc, cfg.enc_layers, aux)
        dec = TransformerDecoderLayer(cfg.hidden_dim, cfg.nheads, cfg.dim_feedforward, cfg.dropout)
        self.decoder = TransformerDecoder(dec, cfg.dec_layers, nn.LayerNorm(cfg.hidden_dim))
        self.d_model = cfg.hidden_dim
        self.nhead = cfg.nheads
        for name, p in self.named_parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def encode(self, src: Tensor, pos_embed: Tensor) -> Tuple[Tensor, Tensor]:
        """src B x E x H x W, pos_embed 1 x E x H x W -> (memory HW x B x E, pos HW x B x E)."""
        bs = src.shape[0]
        src = src.flatten(2).permute(2, 0, 1)
        pos = pos_embed.flatten(2).permute(2, 0, 1).expand(-1, bs, -1)
        return self.encoder(src, pos), pos

    def decode(self, tgt: Tensor, memory: Tensor, pos: Tensor, query_pos: Tensor, tgt_mask: Optional[Tensor] = None,
               all_layers: bool = True) -> Tensor:
        """tgt, query_pos Q x B x E -> layers x B x Q x E."""
        return self.decoder(tgt, memory, pos, query_pos, tgt_mask, all_layers).transpose(1, 2)

    def forward(self, src: Tensor, query_pos: Tensor, pos_embed: Tensor, tgt_mask: Optional[Tensor] = None,
                all_layers: bool = True) -> Tensor:
        """DETR: src B x E x H x W, query_pos Q x E, pos_embed 1 x E x H x W -> layers x B x Q x E (tgt = 0)."""
        memory, pos = self.encode(src, pos_embed)
        query_pos = query_pos.unsqueeze(1).expand(-1, memory.shape[1], -1)
        return self.decode(torch.zeros_like(query_pos), memory, pos, query_pos, tgt_mask, all_layers)
