"""The recurrent state that an ARMIN stack carries from one step (or batch) to the next."""
from typing import NamedTuple, Optional

import torch
from torch import Tensor


class ARMINState(NamedTuple):
    """State of an ``L``-layer ARMIN stack for a batch of ``B`` rows.

    hidden:   (L, B, d_h)    the carried state vector h of each layer
    memory:   (L, B, N, d_r) the external memory M of each layer
    steps:    (L, B) long    real (non-pad) steps each row has taken; slots fill 0..N-1 first
    read_age: (L, B, N) long real steps since each slot was last read (1: at the previous
              step, 0: not read yet); only for the cell variants that use it
              (``CellVariant.reads_history``), None otherwise
    """

    hidden: Tensor
    memory: Tensor
    steps: Tensor
    read_age: Optional[Tensor] = None

    @property
    def batch_size(self) -> int:
        return self.hidden.size(1)

    def detach(self) -> "ARMINState":
        """The same values, cut from the autograd graph (truncated BPTT)."""
        return self._replace(hidden=self.hidden.detach(), memory=self.memory.detach())

    def index_select(self, order: Tensor, memory_out: Optional[Tensor] = None) -> "ARMINState":
        """Rows ``order`` (B',) of the batch, e.g. to follow beam search reordering.
        ``memory_out``: a tensor to hold the new memory (resized if needed), for a caller that
        reuses the memory of an earlier state instead of allocating one at every step; it
        must not share storage with ``self.memory``."""
        order = order.to(self.hidden.device)
        if memory_out is None:
            memory = self.memory.index_select(1, order)
        else:
            memory = torch.index_select(self.memory, 1, order, out=memory_out)
        return ARMINState(self.hidden.index_select(1, order), memory, self.steps.index_select(1, order),
                          None if self.read_age is None else self.read_age.index_select(1, order))

    def layer(self, index: int):
        """(hidden (B, d_h), memory (B, N, d_r), steps (B,)) of one layer, and its read_age
        (B, N) as a fourth element where the state has one."""
        return tuple(t[index] for t in self if t is not None)

    @staticmethod
    def stack(layers) -> "ARMINState":
        """Build from a sequence of per-layer (hidden, memory, steps[, read_age]) tuples (one
        layer's tensors are not copied)."""
        fields = list(zip(*layers))
        if len(fields[0]) == 1:
            return ARMINState(*(field[0].unsqueeze(0) for field in fields))
        return ARMINState(*(torch.stack(field) for field in fields))
