"""Hard one-slot addressing: Gumbel noise and a one-step straight-through read."""
from typing import Optional

import torch
from torch import Tensor


def sample_gumbel(shape, device=None, dtype=None, generator=None) -> Tensor:
    """Standard Gumbel(0, 1) noise of ``shape``; float32 when asked for float16/bfloat16,
    whose uniform draws round to 1.0 (infinite noise) and whose noise values tie often."""
    if dtype in (torch.float16, torch.bfloat16):
        dtype = torch.float32
    uniform = torch.rand(shape, device=device, dtype=dtype, generator=generator)
    tiny = torch.finfo(uniform.dtype).tiny
    return -torch.log(-torch.log(uniform.clamp_(tiny, 1.0 - 1e-7)))


class _StraightThroughRead(torch.autograd.Function):
    """r = M[b, k_b] forward; backward as if r = sum_k w_k M_k with w = onehot(k) - y' + y."""

    @staticmethod
    def forward(ctx, memory, index, probs):
        gather_index = index.view(-1, 1, 1).expand(-1, 1, memory.size(-1))
        ctx.save_for_backward(memory, gather_index)
        return memory.gather(1, gather_index).squeeze(1)

    @staticmethod
    def backward(ctx, grad_read):
        memory, gather_index = ctx.saved_tensors
        grad_memory = grad_probs = None
        if ctx.needs_input_grad[0]:
            grad_memory = torch.zeros_like(memory).scatter_(
                1, gather_index, grad_read.unsqueeze(1)
            )
        if ctx.needs_input_grad[2]:
            grad_probs = torch.bmm(memory, grad_read.unsqueeze(-1)).squeeze(-1)
        return grad_memory, None, grad_probs


def read_slot(memory: Tensor, index: Tensor, probs: Optional[Tensor]) -> Tensor:
    """Read slot ``index`` (B,) of ``memory`` (B, N, d_r) -> (B, d_r).

    With ``probs`` (B, N) the gradient also reaches every slot's probability through the
    straight-through path: grad_probs[b, k] = <memory[b, k], grad_read[b]>.
    """
    if probs is None:
        gather_index = index.view(-1, 1, 1).expand(-1, 1, memory.size(-1))
        return memory.gather(1, gather_index).squeeze(1)
    return _StraightThroughRead.apply(memory, index, probs)
