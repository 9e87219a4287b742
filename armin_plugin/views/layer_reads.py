"""The reads and writes of one row of one layer, step by step, ready to draw."""
from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch
from torch import Tensor

from ..modules.addressing_trace import AddressingTrace
from ..modules.slot_history import INITIAL, SlotHistory


@dataclass
class LayerReads:
    """T real steps of one row (pad steps dropped).

    labels: the token each step read (T strings); probs: (T, N) softmax of the address
    logits; read, written: (T,) slots; position: (T,) the steps' positions; origin: (T,)
    the position whose state the slot read held (INITIAL: the initial memory); evicted:
    (T,) the position whose state the write replaced; earlier_labels: the tokens read at
    positions 0, 1, ... before the first step, where known (a translation decoder that
    continues from its encoder: the source tokens).
    """

    labels: List[str]
    probs: Tensor
    read: Tensor
    written: Tensor
    position: Tensor
    origin: Tensor
    evicted: Tensor
    earlier_labels: Sequence[str] = ()

    @classmethod
    def of_row(cls, trace: AddressingTrace, history: SlotHistory, row: int, labels: List[str],
               earlier_labels: Sequence[str] = ()) -> "LayerReads":
        """Row ``row`` of ``trace``; ``labels`` name its real steps in order."""
        real = trace.real[:, row]
        if int(real.sum()) != len(labels):
            raise ValueError(f"{len(labels)} labels for {int(real.sum())} real steps")
        pick = lambda tensor: tensor[:, row][real]  # noqa: E731
        return cls(labels, torch.softmax(pick(trace.logits).float(), -1), pick(trace.read), pick(trace.written),
                   pick(history.position), pick(history.origin), pick(history.evicted), earlier_labels)

    @property
    def slots(self) -> int:
        return self.probs.size(-1)

    def label_at(self, position: int) -> Optional[str]:
        """The token read at ``position``, if it is one of these steps or of the earlier ones."""
        if position == INITIAL:
            return None
        index = position - int(self.position[0])
        if index < 0:
            return self.earlier_labels[position] if position < len(self.earlier_labels) else None
        return self.labels[index] if index < len(self.labels) else None
