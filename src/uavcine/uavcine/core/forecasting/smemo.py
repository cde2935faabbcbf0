"""SMEMO: Social Memory for trajectory forecasting (Marchetti, Becattini, Seidenari, Del Bimbo, TPAMI 2024).

Each agent's past is read by two streams (seed §4.4.2.1):

* Egocentric stream: displacements Δx_t -> encoder E_Δ -> δ_t -> recurrent motion encoder E_T -> τ_t.
* Social stream: positions x_t -> encoder E_Π -> π_t -> the Social Memory Module: an external memory
  (N slots of M values) shared by all agents of one scene. A recurrent controller per agent reads it
  (content attention, one read head per predicted mode) and writes it (one write head, erase/add as in a
  Neural Turing Machine); the writes of all agents of a scene commute (summed erase and add, as an NTM's
  several write heads), so the memory is the same for every ordering of the agents. The read vector is the social descriptor σ_t.
* [τ_t, σ_t] -> recurrent decoder D_T -> displacement decoder D_Δ -> Δx_{t+1}.

Autoregression: after the present, δ_t and π_t are replaced by zero vectors; E_T, the memory module and
D_T keep updating, and the decoded displacements are summed into positions. K modes: over the observed
past one read head reads the memory; at the present the memory, the controller and the decoder are
replicated per mode and mode k reads with its own read head k from then on (as the released
implementation does; its scale: embeddings 2->8->16, E_T GRU 100, memory 128x20, 20 read heads,
one write head, D_T GRU 120; about 216k parameters here).

Tensors: positions (B, A, T, 2) in metres of any horizontal frame (scene-centred by the caller),
``mask`` (B, A) bool for padded agents. Output positions (B, A, K, T_pred, 2). Python 3.8, torch only.
"""
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class SMEMOConfig:
    obs_len: int = 8            # observed positions (3.2 s at 2.5 Hz)
    pred_len: int = 12          # predicted positions (4.8 s)
    num_modes: int = 20         # K: one read head per mode
    embed_hidden: int = 8       # E_Δ, E_Π: 2 -> 8 -> 16
    embed_size: int = 16
    encoder_size: int = 100     # E_T and the memory controller GRUs
    memory_n: int = 128         # memory slots
    memory_m: int = 20          # slot width (= read vector σ)
    dt_s: float = 0.4           # the model's step (ETH/UCY: 2.5 Hz)
    write_merge: str = 'sum'    # how a scene's agents' writes combine: 'sum' (NTM heads) | 'max' (released code)

    @property
    def decoder_size(self) -> int:
        return self.encoder_size + self.memory_m  # D_T (120 with the defaults)


def _embed(cfg: SMEMOConfig) -> nn.Module:
    return nn.Sequential(nn.Linear(2, cfg.embed_hidden), nn.ReLU(), nn.Linear(cfg.embed_hidden, cfg.embed_size))


def content_addressing(key: torch.Tensor, beta: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """NTM content weights: softmax_i(β · cos(key, memory_i)).

    key (B, A, K, M), beta (B, A, K, 1), memory (B, K, N, M) -> (B, A, K, N). Cosine as a normalised
    matmul (3x faster on CPU than F.cosine_similarity's broadcast).
    """
    kn = F.normalize(key, dim=-1, eps=1e-8)
    mn = F.normalize(memory, dim=-1, eps=1e-8)
    sim = torch.einsum('bakm,bknm->bakn', kn, mn)
    return torch.softmax(beta * sim, dim=-1)


class SocialMemory(nn.Module):
    """The Social Memory Module: a controller, read heads and one write head over a per-scene memory."""

    def __init__(self, cfg: SMEMOConfig):
        super().__init__()
        self.cfg = cfg
        m = cfg.memory_m
        self.controller = nn.GRUCell(cfg.embed_size + m, cfg.encoder_size)
        # read heads: key (M) + sharpness β (1); one for the observed past, one per mode for the future
        self.read_past = nn.Parameter(torch.empty(1, cfg.encoder_size, m + 1))
        self.read_heads = nn.Parameter(torch.empty(cfg.num_modes, cfg.encoder_size, m + 1))
        self.read_bias = nn.Parameter(torch.zeros(cfg.num_modes + 1, m + 1))
        # write head: key (M), β (1), erase (M), add (M)
        self.write_head = nn.Linear(cfg.encoder_size, 3 * m + 1)
        # the initial memory must differ per slot: identical slots get identical content weights, so every
        # read (and every mode) would be the same forever (NTM: small uniform values, 1/sqrt(N + M))
        bound = 1.0 / (cfg.memory_n + m) ** 0.5
        self.memory_init = nn.Parameter(torch.empty(cfg.memory_n, m).uniform_(-bound, bound))
        self.h0 = nn.Parameter(torch.randn(cfg.encoder_size) * 0.05)
        self.r0 = nn.Parameter(torch.randn(m) * 0.01)
        nn.init.xavier_normal_(self.read_past)
        nn.init.xavier_normal_(self.read_heads)
        nn.init.xavier_normal_(self.write_head.weight)
        nn.init.zeros_(self.write_head.bias)

    def init_state(self, b: int, a: int) -> Dict[str, torch.Tensor]:
        """The state of one memory per scene (K = 1, before the modes split)."""
        return {'memory': self.memory_init.expand(b, 1, -1, -1),
                'h': self.h0.expand(b, a, 1, -1),
                'read': self.r0.expand(b, a, 1, -1)}

    def split_modes(self, state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """At the present: replicate memory and controller per mode."""
        k = self.cfg.num_modes
        return {'memory': state['memory'].expand(-1, k, -1, -1),
                'h': state['h'].expand(-1, -1, k, -1),
                'read': state['read'].expand(-1, -1, k, -1)}

    def step(self, pi: torch.Tensor, state: Dict[str, torch.Tensor], mask: torch.Tensor
             ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """pi (B, A, E) -> σ (B, A, K, M), new state, read and write weights (B, A, K, N); K = 1 or num_modes."""
        b, a, k, _ = state['h'].shape
        m = self.cfg.memory_m
        x = torch.cat([pi.unsqueeze(2).expand(b, a, k, -1), state['read']], dim=-1)
        h = self.controller(x.reshape(b * a * k, -1), state['h'].reshape(b * a * k, -1)).view(b, a, k, -1)
        memory = state['memory']                                    # (B, K, N, M)
        if k == 1:
            ro = torch.einsum('bakc,kcd->bakd', h, self.read_past) + self.read_bias[:1]
        else:
            ro = torch.einsum('bakc,kcd->bakd', h, self.read_heads) + self.read_bias[1:]
        wo = self.write_head(h)
        # read and write heads address the same memory: one content addressing for both (stacked on the
        # agent axis: the same numbers as two calls, one normalisation of the memory and one matmul)
        keys = torch.cat([ro[..., :m], wo[..., :m]], dim=1)                      # (B, 2A, K, M)
        betas = F.softplus(torch.cat([ro[..., m:], wo[..., m:m + 1]], dim=1))   # (B, 2A, K, 1)
        w = content_addressing(keys, betas, memory)
        w_read, w_write = w[:, :a], w[:, a:]                                     # (B, A, K, N) each
        read = torch.einsum('bakn,bknm->bakm', w_read, memory)
        # write: every agent of the scene writes with the one write head; as an NTM with several write heads
        # (Graves et al. 2014, §3.2) the writes commute: erasures multiply (here linearised: the summed
        # erase, clipped at 1) and additions sum. The released code merges with a max over agents instead;
        # that needs a (B, A, K, N, M) tensor per step and is several times slower on a CPU (write_merge='max' keeps it;
        # bench/bench_forecast.py measures both).
        erase, add = torch.sigmoid(wo[..., m + 1:2 * m + 1]), torch.tanh(wo[..., 2 * m + 1:])
        if self.cfg.write_merge == 'max':   # the released implementation: a max over the scene's agents
            valid = mask.view(b, a, 1, 1, 1)
            e = (w_write.unsqueeze(-1) * erase.unsqueeze(-2)).masked_fill(~valid, 0.0).amax(dim=1)
            ad = (w_write.unsqueeze(-1) * add.unsqueeze(-2)).masked_fill(~valid, -1e4).amax(dim=1)
        else:
            wm = w_write * mask.view(b, a, 1, 1).to(w_write.dtype)              # padded agents write nothing
            ea = torch.einsum('bakn,bakm->bknm', wm, torch.cat([erase, add], dim=-1))   # one matmul for both
            e, ad = ea[..., :m].clamp(max=1.0), ea[..., m:]
        memory = memory * (1.0 - e) + ad
        return read, {'memory': memory, 'h': h, 'read': read}, w_read, w_write


class SMEMO(nn.Module):
    """The whole model: egocentric stream, social stream with memory, recurrent decoder, K modes."""

    def __init__(self, cfg: Optional[SMEMOConfig] = None):
        super().__init__()
        self.cfg = cfg = cfg or SMEMOConfig()
        self.E_delta = _embed(cfg)                               # E_Δ
        self.E_pi = _embed(cfg)                                  # E_Π
        self.E_T = nn.GRUCell(cfg.embed_size, cfg.encoder_size)  # recurrent motion encoder
        self.memory = SocialMemory(cfg)
        self.D_T = nn.GRUCell(cfg.encoder_size + cfg.memory_m, cfg.decoder_size)  # recurrent decoder
        self.D_delta = nn.Linear(cfg.decoder_size, 2)            # displacement decoder
        self.hT0 = nn.Parameter(torch.randn(cfg.encoder_size) * 0.05)
        self.hD0 = nn.Parameter(torch.randn(cfg.decoder_size) * 0.05)
        # How often each mode was the best of K on a validation set: the weights the node publishes.
        self.register_buffer('mode_prior', torch.full((cfg.num_modes,), 1.0 / cfg.num_modes))

    def encode(self, past: torch.Tensor, mask: torch.Tensor, return_attention: bool = False):
        """Both streams over the past and, with zero inputs, over the future; D_T over the past.

        past (B, A, T_obs, 2), mask (B, A) -> the decoder's input [τ_t, σ_t] at each future step
        (B, A, K, T_pred, E_T + M), D_T's state before the present (B, A, 1, D) and, with
        ``return_attention``, the read (B, A, K, T_pred, N) and write (B, A, K, T_all, N) weights.
        """
        cfg = self.cfg
        b, a, t_obs, _ = past.shape
        k = cfg.num_modes
        deltas = past[:, :, 1:] - past[:, :, :-1]
        h_t = self.hT0.expand(b * a, -1)
        h_d = self.hD0.expand(b, a, 1, -1)
        state = self.memory.init_state(b, a)
        zeros = past.new_zeros(b, a, cfg.embed_size)
        inputs, reads, writes = [], [], []
        for i in range(t_obs - 2 + cfg.pred_len):
            if i < t_obs - 1:   # observed: the displacement into x_{i+1} and the position x_{i+1}
                delta = self.E_delta(deltas[:, :, i])
                pi = self.E_pi(past[:, :, i + 1])
            else:               # future: zero inputs, the recurrent states keep going
                delta, pi = zeros, zeros
            if i == t_obs - 2:  # the present: the modes split
                state = self.memory.split_modes(state)
            h_t = self.E_T(delta.reshape(b * a, -1), h_t)
            sigma, state, w_read, w_write = self.memory.step(pi, state, mask)
            if return_attention:
                writes.append(w_write.expand(-1, -1, k, -1))
            kk = sigma.shape[2]
            x_d = torch.cat([h_t.view(b, a, 1, -1).expand(-1, -1, kk, -1), sigma], dim=-1)   # [τ_t, σ_t]
            if i < t_obs - 2:   # D_T follows the past (one stream) ...
                h_d = self.D_T(x_d.reshape(b * a, -1), h_d.reshape(b * a, -1)).view(b, a, 1, -1)
            else:               # ... and, from the present, decode() runs it per mode
                inputs.append(x_d)
                if return_attention:
                    reads.append(w_read)
        inputs = torch.stack(inputs, dim=3)
        if return_attention:
            return inputs, h_d, {'read': torch.stack(reads, dim=3), 'write': torch.stack(writes, dim=3)}
        return inputs, h_d

    def decode(self, inputs: torch.Tensor, h_d: torch.Tensor) -> torch.Tensor:
        """D_T from its state at the present over the future inputs (B, A, K, T, E_T + M), then D_Δ:
        displacements (B, A, K, T, 2). Any K (all modes, or one chosen mode per agent)."""
        b, a, k, t, f = inputs.shape
        h = h_d.expand(-1, -1, k, -1).reshape(b * a * k, -1)
        disp = []
        for i in range(t):
            h = self.D_T(inputs[:, :, :, i].reshape(b * a * k, f), h)
            disp.append(self.D_delta(h))
        return torch.stack(disp, dim=1).view(b, a, k, t, 2)

    def forward(self, past: torch.Tensor, mask: Optional[torch.Tensor] = None, return_attention: bool = False):
        """past (B, A, T_obs, 2) positions -> future positions (B, A, K, T_pred, 2).

        With ``return_attention`` also a dict of attention weights over the N memory slots: ``read``
        (B, A, K, T_pred, N), each mode's reads over the future, and ``write`` (B, A, K, T_all, N), every
        agent's writes over all steps (the past's single stream repeated per mode): together they say whose
        entries each mode reads.
        """
        b, a = past.shape[:2]
        if mask is None:
            mask = torch.ones(b, a, dtype=torch.bool, device=past.device)
        enc = self.encode(past, mask, return_attention)
        future = past[:, :, -1].view(b, a, 1, 1, 2) + torch.cumsum(self.decode(enc[0], enc[1]), dim=3)
        if return_attention:
            return future, enc[2]
        return future


def best_of_k_loss(pred: torch.Tensor, future: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Winner-takes-all ADE: each agent trains only its best of K modes (the variety loss).

    pred (B, A, K, T, 2), future (B, A, T, 2), mask (B, A).
    """
    err = torch.linalg.norm(pred - future.unsqueeze(2), dim=-1).mean(-1)  # (B, A, K)
    best = err.min(dim=2).values
    return (best * mask).sum() / mask.sum().clamp(min=1)


def winner_takes_all_loss(model: SMEMO, past: torch.Tensor, future: torch.Tensor, mask: torch.Tensor
                          ) -> torch.Tensor:
    """``best_of_k_loss(model(past, mask), future, mask)``: the same value and gradient, for less work.

    Only each agent's best mode gets a gradient, and D_T feeds nothing back into the memory, so the K
    modes' decoder runs without autograd to find each agent's best mode and D_T runs again with
    autograd on that mode alone (B·A rows instead of B·A·K); the streams and the memory, which couple
    the modes of all agents, keep their full gradient.
    """
    b, a = past.shape[:2]
    inputs, h_d = model.encode(past, mask)
    present = past[:, :, -1].view(b, a, 1, 1, 2)
    with torch.no_grad():
        pred = present + torch.cumsum(model.decode(inputs, h_d), dim=3)
        best = torch.linalg.norm(pred - future.unsqueeze(2), dim=-1).mean(-1).argmin(dim=2)   # (B, A)
    t, f = inputs.shape[3:]
    chosen = inputs.gather(2, best.view(b, a, 1, 1, 1).expand(-1, -1, 1, t, f))             # (B, A, 1, T, F)
    pred = present + torch.cumsum(model.decode(chosen, h_d), dim=3)
    return best_of_k_loss(pred, future, mask)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def from_checkpoint(ckpt: dict) -> SMEMO:
    """A model from a loaded checkpoint dict (``config``, ``model`` state; fp16 weights are widened)."""
    if not isinstance(ckpt, dict) or 'config' not in ckpt or 'model' not in ckpt:
        raise ValueError('not a SMEMO checkpoint (needs config and model entries)')
    model = SMEMO(SMEMOConfig(**ckpt['config']))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt['model'].items()})
    return model.eval()
