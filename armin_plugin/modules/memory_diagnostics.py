"""How an ARMIN layer used its memory over a sequence: address entropy, slots read, ages."""
from typing import NamedTuple, Optional

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


class MemoryUse(NamedTuple):
    entropy: float  # mean entropy (nats) of the read-address distribution softmax(a)
    slots_read: float  # distinct slots read per row over the sequence, mean over rows
    read_age: float  # mean steps since the slot that is read was last written


def memory_use(trace: AddressingTrace, written_at: Optional[Tensor] = None):
    """Summarize ``trace``; ``written_at`` (B, N) is the step at which each slot was last
    written (carried from earlier segments; None: a fresh sequence, whose initial memory
    counts as written at step -1). Returns (MemoryUse, updated written_at)."""
    real = trace.real.float()
    rows = real.sum().clamp_min(1.0)
    log_probs = torch.log_softmax(trace.logits.float(), dim=-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    read_mask = torch.nn.functional.one_hot(trace.read, trace.logits.size(-1)) * trace.real.unsqueeze(-1)
    slots_read = read_mask.any(0).sum(-1).float().mean()

    if written_at is None:
        written_at = torch.full_like(trace.logits[0], -1.0)
    step = trace.steps.float()
    ages = []
    for read, written, real_step in zip(trace.read, trace.written, real):
        ages.append(step - written_at.gather(1, read.unsqueeze(1)).squeeze(1))
        updated = written_at.scatter(1, written.unsqueeze(1), step.unsqueeze(1))
        written_at = torch.where(real_step.bool().unsqueeze(1), updated, written_at)
        step = step + real_step
    read_age = (torch.stack(ages) * real).sum() / rows
    use = MemoryUse(float((entropy * real).sum() / rows), float(slots_read), float(read_age))
    return use, written_at
