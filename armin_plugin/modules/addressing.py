"""Hard one-slot addressing: the Gumbel noise that samples a slot."""
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
