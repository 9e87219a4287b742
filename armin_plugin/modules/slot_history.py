"""Whose state each read of an ARMIN layer retrieves: the write history of its slots."""
from typing import NamedTuple, Optional

import torch
from torch import Tensor

from .addressing_trace import AddressingTrace

INITIAL = -1  # the position of the initial memory p_M: "parked" just before the first step


class SlotHistory(NamedTuple):
    """Positions (real steps of the row, counted from its first step) over T steps of B rows.

    position: (T, B) the position of each step (unchanged over pad steps)
    origin:   (T, B) the position whose state the slot read at this step held (the step
              that last wrote it); INITIAL for a slot still holding the initial memory
    evicted:  (T, B) the position whose state the write at this step replaced
    written_at: (B, N) the position that last wrote each slot, after the last step
    """

    position: Tensor
    origin: Tensor
    evicted: Tensor
    written_at: Tensor

    def read_age(self) -> Tensor:
        """(T, B) steps between the write of the state read and its read."""
        return self.position - self.origin

    def parked_for(self) -> Tensor:
        """(T, B) steps the state evicted at each step stayed parked (INITIAL states count
        from position -1)."""
        return self.position - self.evicted


def slot_history(trace: AddressingTrace, written_at: Optional[Tensor] = None) -> SlotHistory:
    """Replay the reads and writes of ``trace``. ``written_at`` (B, N): the position that last
    wrote each slot before these steps (carried from earlier segments); None: a fresh
    sequence, every slot holding the initial memory (INITIAL). Pad steps change nothing."""
    slots = trace.logits.size(-1)
    if written_at is None:
        written_at = torch.full((trace.read.size(1), slots), INITIAL, dtype=torch.long, device=trace.read.device)
    written_at = written_at.long()
    position = trace.steps.long().clone()
    positions, origins, evicted = [], [], []
    for read, written, real in zip(trace.read, trace.written, trace.real):
        positions.append(position)
        origins.append(written_at.gather(1, read.unsqueeze(1)).squeeze(1))
        evicted.append(written_at.gather(1, written.unsqueeze(1)).squeeze(1))
        updated = written_at.scatter(1, written.unsqueeze(1), position.unsqueeze(1))
        written_at = torch.where(real.unsqueeze(1), updated, written_at)
        position = position + real.long()
    return SlotHistory(torch.stack(positions), torch.stack(origins), torch.stack(evicted), written_at)
