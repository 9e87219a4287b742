"""At each validation, TensorBoard pictures of how an ARMIN stack used its memory: for every
layer, the address map of one fixed validation segment and histograms of read age, of how
long states stay parked and of the slots read."""
from pathlib import Path
from typing import List, Optional

import torch

from ..modules.addressing_trace import AddressingTrace
from ..modules.slot_history import slot_history
from ..views.layer_reads import LayerReads
from ..views.read_statistics import read_statistics
from .ranks import rank_and_world_size

SUBFOLDER = "valid_memory"


def configured_logdir(value) -> Optional[str]:
    """fairseq's ``--tensorboard-logdir`` as a model config sees it (an interpolation of
    ``common.tensorboard_logdir``): None when unset, or unresolved outside fairseq's CLIs."""
    if value is None or str(value).startswith("${") or not str(value):
        return None
    return str(value)


class MemoryBoard:
    """Writes under ``logdir``/valid_memory (rank 0 only; nothing when ``logdir`` is None) at
    the first evaluation batch after training, i.e. the first batch of each validation:
    fairseq does not shuffle validation batches, so its longest row is the same segment
    every time.

    Per layer l: image ``layer{l}/address_map`` (that row: steps labelled with their tokens x
    slots, the read circled, the write crossed) and histograms ``layer{l}/read_age``,
    ``layer{l}/parked`` and ``layer{l}/slot_read`` over every row of the batch, at the step
    of fairseq's validation scalars (the updates done).
    """

    def __init__(self, logdir: Optional[str]):
        self.logdir = configured_logdir(logdir)
        self._armed = False
        self._step = 0
        self._writer = None

    def trained(self, num_updates: int):
        """A training batch of update ``num_updates`` + 1 ran (fairseq's models see the
        updates done before it): the next evaluation batch starts a validation."""
        self._armed = self.logdir is not None
        self._step = num_updates + 1

    @property
    def armed(self) -> bool:
        """Whether the next evaluation batch is drawn."""
        return self._armed

    def evaluated(self, traces: List[AddressingTrace], row: int, labels: List[str]):
        """The first batch of a validation ran (call only when :attr:`armed`); ``traces`` of
        every layer; the map shows row ``row``, whose real steps ``labels`` name."""
        self._armed = False
        if rank_and_world_size()[0] != 0:
            return
        from ..views.address_map import address_map_figure  # matplotlib: here, not at every fairseq start

        writer = self.writer()
        for index, trace in enumerate(traces):
            history = slot_history(trace)
            reads = LayerReads.of_row(trace, history, row, labels)
            title = f"layer {index}, update {self._step}: the longest segment of the first validation batch"
            writer.add_figure(f"layer{index}/address_map", address_map_figure(reads, title), self._step)
            stats = read_statistics(trace, history)
            slots = trace.logits.size(-1)
            for name, values, bins in (
                ("read_age", stats.read_age, "auto"),
                ("parked", stats.parked, "auto"),
                ("slot_read", trace.read[trace.real], torch.arange(slots + 1).double().numpy() - 0.5),
            ):
                if values.numel():
                    writer.add_histogram(f"layer{index}/{name}", values.double().numpy(), self._step, bins=bins)
        writer.flush()

    def writer(self):
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(Path(self.logdir) / SUBFOLDER))
        return self._writer
