"""One ARMIN step as the spec writes it (the equations in :class:`.armin_cell.ARMINCell`'s
docstring, numbered as there): the definition that the fused loops (:mod:`.recurrence` and
its C++ twin) compute faster, and the oracle the tests check them against.

Plain and dense, left to autograd: the read weighs every slot by the straight-through
w_t (one-hot in forward), the write selects the slot s_t over all slots. Nothing is fused,
precomputed or done in place.
"""
from typing import NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .variants import REREAD_PENALTY


class StepTrace(NamedTuple):
    """What one step chose: logits (B, N), the noise-free address logits a_t (detached);
    read (B,), the slot k_t; written (B,), the slot s_t."""

    logits: Tensor
    read: Tensor
    written: Tensor


def armin_step(cell, x: Tensor, state: Tuple[Tensor, ...], temperature: float = 1.0,
               noise: Optional[Tensor] = None, real: Optional[Tensor] = None):
    """One step of the layer ``cell`` (an :class:`.armin_cell.ARMINCell`: its linear maps
    ``address``, ``gate``, ``transform``, ``write`` and ``query``, its ``forget_bias`` and
    ``variant``; read, never changed).

    x (B, d_x); state: hidden (B, d_h), memory (B, N, d_r), steps (B,) long and, where
    ``variant.reads_history``, read_age (B, N) long; noise (B, N): the Gumbel noise g_t, None:
    the argmax of a_t, no gradient to it; real (B,) bool: False at pad steps, which change no
    state, None: all real. Returns out_t (B, d_h + d_r), the new state (as ``state``) and a
    :class:`StepTrace`.
    """
    hidden, memory, steps, *read_age = state
    variant, n_slots, d_h, d_r = cell.variant, memory.size(1), hidden.size(-1), memory.size(-1)
    x_h = torch.cat([x, hidden], -1)
    logits = cell.address(x_h)  # a_t
    if variant.content_address:  # + <key_k, q_t>, key_k = M[k] / sqrt(|M[k]|^2 + 1)
        keys = memory * (memory * memory).sum(-1, keepdim=True).add(1.0).rsqrt()
        logits = logits + torch.einsum("bnr,br->bn", keys, cell.query(x_h))
    if variant.no_reread:  # - REREAD_PENALTY at the slot read at the previous real step
        logits = logits - REREAD_PENALTY * (read_age[0] == 1).to(logits.dtype)
    if noise is None:  # k_t = argmax(a_t), w_t = onehot(k_t)
        slot = logits.argmax(-1)
        weight = F.one_hot(slot, n_slots).to(logits.dtype)
    else:  # k_t = argmax(a_t + g_t), w_t = onehot(k_t) - sg(y_t) + y_t
        slot = (logits + noise).argmax(-1)
        probs = torch.softmax((logits + noise) / temperature, -1)
        weight = F.one_hot(slot, n_slots).to(probs.dtype) - probs.detach() + probs
    read = torch.einsum("bn,bnr->br", weight, memory)  # r_t
    if variant.no_read:
        read = torch.zeros_like(read)
    gate_h, gate_r = torch.sigmoid(cell.gate(torch.cat([x_h, read], -1))).split([d_h, d_r], -1)
    i, j, f, o, o_m = cell.transform(torch.cat([x, gate_h * hidden, gate_r * read], -1)).split(
        [d_h, d_h, d_h, d_h, d_r], -1)
    new_hidden = torch.tanh(torch.sigmoid(f + cell.forget_bias) * hidden + torch.sigmoid(i) * torch.tanh(j))
    out = torch.cat([torch.sigmoid(o) * new_hidden, torch.sigmoid(o_m) * read], -1)
    target = torch.where(steps < n_slots, steps, slot)  # s_t
    written = F.one_hot(target, n_slots).bool().unsqueeze(-1)
    new = (new_hidden, torch.where(written, cell.write(new_hidden).unsqueeze(1), memory), steps + 1)
    if variant.reads_history:  # ages: 1 for k_t, +1 for the slots read before, 0 for unread
        age = read_age[0]
        new += (torch.where(F.one_hot(slot, n_slots).bool(), 1, torch.where(age > 0, age + 1, 0)),)
    if real is not None:  # pad steps: every part of the state as it was
        new = tuple(torch.where(real.view(-1, *[1] * (n.dim() - 1)), n, s) for n, s in zip(new, state))
    return out, new, StepTrace(logits.detach(), slot, target)
