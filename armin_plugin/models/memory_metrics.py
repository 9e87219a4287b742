"""How an ARMIN stack used its memory in its last call, as fairseq metrics (training logs,
validation logs, TensorBoard): the temperature and the means over layers
of :class:`~armin_plugin.modules.memory_diagnostics.MemoryUse`."""
from typing import List, Optional, Sequence

from fairseq.logging import metrics
from torch import Tensor

from ..modules import ARMIN
from ..modules.addressing_trace import AddressingTrace
from ..modules.memory_diagnostics import MemoryUse, memory_use


def record_addressing(armin: ARMIN):
    """Make every layer keep the trace of its last call, which :func:`log_memory_use` reads."""
    for layer in armin.layers:
        layer.record_addressing = True


def log_memory_use(armin: ARMIN, written_at: Optional[Sequence[Tensor]] = None,
                   traces: Optional[Sequence[AddressingTrace]] = None) -> List[Tensor]:
    """Log ``armin_tau`` and ``armin_entropy``,
    ``armin_slots_read``, ``armin_read_age`` (means over layers; not for a cell without the
    read, ``--armin-no-read``, whose addresses read nothing).

    written_at: per layer, (B, N) the step at which each slot was last written, carried from
    earlier segments of the same rows; None for fresh sequences. traces: per layer, what to
    summarize (default: each layer's last call, ``last_trace``; a caller that steps the stack
    one call per step passes the concatenated trace). Returns written_at updated."""
    layers = armin.layers
    traces = [layer.last_trace for layer in layers] if traces is None else traces
    uses, written = [], []
    for index, trace in enumerate(traces):
        use, layer_written = memory_use(trace, None if written_at is None else written_at[index])
        uses.append(use)
        written.append(layer_written)
    metrics.log_scalar("armin_tau", armin.temperature, priority=900, round=3)
    if not armin.variant.no_read:  # without the read (--armin-no-read) the addresses read nothing
        for name in MemoryUse._fields:
            metrics.log_scalar(f"armin_{name}", sum(getattr(use, name) for use in uses) / len(uses),
                               priority=900, round=3)
    return written
