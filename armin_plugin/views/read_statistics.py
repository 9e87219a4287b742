"""How long states stay in a layer's memory, over all rows of a batch."""
from typing import NamedTuple

import torch
from torch import Tensor

from ..modules.addressing_trace import AddressingTrace
from ..modules.slot_history import INITIAL, SlotHistory


class ReadStatistics(NamedTuple):
    """read_age: (R,) steps between parking and reading, for the R reads of a parked state;
    initial_reads: reads of the initial memory; parked: (E,) steps each state stayed parked
    before a write replaced it; still_parked: (S,) ages of the states parked at the end;
    reads_per_slot: (N,) reads of each slot."""

    read_age: Tensor
    initial_reads: int
    parked: Tensor
    still_parked: Tensor
    reads_per_slot: Tensor


def read_statistics(trace: AddressingTrace, history: SlotHistory) -> ReadStatistics:
    """Counted over the real steps of every row."""
    real = trace.real
    from_state = real & (history.origin != INITIAL)
    evicted = real & (history.evicted != INITIAL)
    end = history.position[-1] + real[-1].long()  # (B,) the position after the last step
    parked_now = history.written_at != INITIAL
    still = (end.unsqueeze(1) - history.written_at)[parked_now]
    reads = torch.bincount(trace.read[real], minlength=trace.logits.size(-1))
    return ReadStatistics(history.read_age()[from_state], int((real & ~from_state).sum()),
                          history.parked_for()[evicted], still, reads)
