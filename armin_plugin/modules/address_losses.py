"""Auxiliary losses on the noise-free address distribution p_t = softmax(a_t), against the
collapse of the addressing into a one-step delay line (docs/the-cell.md, Variants).

With C the real (non-pad) steps of a call (rows x steps), f_i the share of those steps that
read slot i and P_i the mean of p_t[i] over them::

    entropy term       -W * (1/C) sum_{t,b} H(p_t)      H(p) = -sum_i p_i log p_i
    load-balance term   A * N * sum_i f_i P_i            (f_i carries no gradient)

The loop adds their gradient with respect to the logits a_t inside its backward, scaled by
C: fairseq divides the gradient of its summed token loss by the sample size (the target
tokens; for a language model these C steps), so the objective becomes the mean token loss
plus the terms, at the same weight per step as a loss summed over steps plus the terms
summed over steps (the D-NTM's convention for its entropy weight).
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def address_loss(logits: Tensor, slots: Tensor, real: Optional[Tensor], entropy_bonus: float,
                 load_balance: float) -> Tuple[Tensor, Tensor]:
    """logits (T, B, N): the noise-free a_t; slots (T, B) long: the slots read; real (T, B)
    bool or None (all real). Returns the value of both terms (0-dim) and C times its gradient
    with respect to ``logits`` (T, B, N), zero at pad steps."""
    n_slots = logits.size(-1)
    log_p = torch.log_softmax(logits, -1)
    p = log_p.exp()
    mask = torch.ones_like(logits[..., 0]) if real is None else real.to(logits.dtype)
    count = mask.sum().clamp(min=1.0)
    entropy = -(p * log_p).sum(-1)
    value = -entropy_bonus * (entropy * mask).sum() / count
    grad = entropy_bonus * p * (log_p + entropy.unsqueeze(-1))
    if load_balance > 0:
        share = (F.one_hot(slots, n_slots).to(logits.dtype) * mask.unsqueeze(-1)).sum((0, 1)) / count
        mean_p = (p * mask.unsqueeze(-1)).sum((0, 1)) / count
        value = value + load_balance * n_slots * (share * mean_p).sum()
        weight = load_balance * n_slots * share
        grad = grad + p * (weight - (p * weight).sum(-1, keepdim=True))
    return value, grad * mask.unsqueeze(-1)
