"""This process's place among the ranks of torch.distributed, for code that runs with or
without distributed training (pure PyTorch: no fairseq import)."""
from typing import Tuple

import torch.distributed as dist


def rank_and_world_size() -> Tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside distributed training."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1
