"""What one ARMIN layer's addressing did over a sequence, recorded on request."""
from typing import List, NamedTuple

import torch
from torch import Tensor


class AddressingTrace(NamedTuple):
    """What one layer did over T steps of a batch of B rows (recorded on request).

    logits:  (T, B, N) address logits a (the read distribution is softmax(a))
    read:    (T, B) slot read at each step
    written: (T, B) slot written at each step
    real:    (T, B) bool, False at pad steps (which change nothing)
    steps:   (B,) real steps each row had taken before the first of these T steps
    """

    logits: Tensor
    read: Tensor
    written: Tensor
    real: Tensor
    steps: Tensor

    @staticmethod
    def concat(traces: List["AddressingTrace"]) -> "AddressingTrace":
        """The trace of consecutive calls (e.g. a decoder's one step per call) as one."""
        return AddressingTrace(*(torch.cat(parts) for parts in list(zip(*traces))[:4]), traces[0].steps)
