"""How an ARMIN layer used its memory over a sequence: address entropy, slots read, ages."""
from typing import NamedTuple, Optional

import torch
from torch import Tensor

from .addressing_trace import AddressingTrace
from .slot_history import slot_history


class MemoryUse(NamedTuple):
    entropy: float  # mean entropy (nats) of the read-address distribution softmax(a)
    slots_read: float  # distinct slots read per row over the sequence, mean over rows
    read_age: float  # mean steps since the slot that is read was last written


def memory_use(trace: AddressingTrace, written_at: Optional[Tensor] = None):
    """Summarize ``trace``; ``written_at`` (B, N) is the step at which each slot was last
    written (carried from earlier segments; None: a fresh sequence, whose initial memory
    counts as written at step -1; see :func:`.slot_history.slot_history`). Returns
    (MemoryUse, updated written_at (B, N) long)."""
    real = trace.real.float()
    rows = real.sum().clamp_min(1.0)
    log_probs = torch.log_softmax(trace.logits.float(), dim=-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    read_mask = torch.nn.functional.one_hot(trace.read, trace.logits.size(-1)) * trace.real.unsqueeze(-1)
    slots_read = read_mask.any(0).sum(-1).float().mean()

    history = slot_history(trace, written_at)
    read_age = (history.read_age().float() * real).sum() / rows
    use = MemoryUse(float((entropy * real).sum() / rows), float(slots_read), float(read_age))
    return use, history.written_at
