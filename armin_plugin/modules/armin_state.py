"""The recurrent state that an ARMIN stack carries from one step (or batch) to the next."""
from typing import NamedTuple

import torch
from torch import Tensor


class ARMINState(NamedTuple):
    """State of an ``L``-layer ARMIN stack for a batch of ``B`` rows.

    hidden: (L, B, d_h)    the carried state vector h of each layer
    memory: (L, B, N, d_r) the external memory M of each layer
    steps:  (L, B) long    real (non-pad) steps each row has taken; slots fill 0..N-1 first
    """

    hidden: Tensor
    memory: Tensor
    steps: Tensor

    @property
    def batch_size(self) -> int:
        return self.hidden.size(1)

    def detach(self) -> "ARMINState":
        """The same values, cut from the autograd graph (truncated BPTT)."""
        return ARMINState(self.hidden.detach(), self.memory.detach(), self.steps)

    def index_select(self, order: Tensor) -> "ARMINState":
        """Rows ``order`` (B',) of the batch, e.g. to follow beam search reordering."""
        order = order.to(self.hidden.device)
        return ARMINState(
            self.hidden.index_select(1, order),
            self.memory.index_select(1, order),
            self.steps.index_select(1, order),
        )

    def layer(self, index: int):
        """(hidden (B, d_h), memory (B, N, d_r), steps (B,)) of one layer."""
        return self.hidden[index], self.memory[index], self.steps[index]

    @staticmethod
    def stack(layers) -> "ARMINState":
        """Build from a sequence of per-layer (hidden, memory, steps) triples (one layer's
        tensors are not copied)."""
        hidden, memory, steps = zip(*layers)
        if len(hidden) == 1:
            return ARMINState(hidden[0].unsqueeze(0), memory[0].unsqueeze(0), steps[0].unsqueeze(0))
        return ARMINState(torch.stack(hidden), torch.stack(memory), torch.stack(steps))
