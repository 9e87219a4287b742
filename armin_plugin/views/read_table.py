"""The text table of a layer's reads: one line per step."""
from .layer_reads import LayerReads
from ..modules.slot_history import INITIAL


def read_table(reads: LayerReads) -> str:
    """Lines like "step 57 'e' read slot 3, the state parked at step 12 ' '; wrote slot 3"
    (or "..., the initial memory; ..." for a slot not written yet)."""
    lines = []
    for step, label, read, origin, written in zip(
        reads.position.tolist(), reads.labels, reads.read.tolist(), reads.origin.tolist(), reads.written.tolist()
    ):
        if origin == INITIAL:
            held = "the initial memory"
        else:
            held = f"the state parked at step {origin} {reads.label_at(origin)!r}"
        lines.append(f"step {step} {label!r} read slot {read}, {held}; wrote slot {written}")
    return "\n".join(lines) + "\n"
