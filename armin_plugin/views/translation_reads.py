"""A translation decoder's reads beside its attention over the source, for one sentence."""
from typing import List

from matplotlib.figure import Figure
from torch import Tensor

from .address_map import shown
from .layer_reads import LayerReads


def translation_reads_figure(reads: LayerReads, attention: Tensor, source: List[str], title: str = "") -> Figure:
    """Left: the decoder's address probabilities (target steps x slots; read circled, written
    crossed); right: the attention weights (target steps x source tokens) of the same steps.
    ``attention``: (T, S); ``source``: S labels."""
    steps, slots = len(reads.labels), reads.slots
    figure = Figure(figsize=(3.0 + 0.22 * (slots + len(source)), 1.8 + 0.2 * steps))
    left, right = figure.subplots(1, 2, sharey=True, width_ratios=[max(slots, 2), max(len(source), 2)])
    left.imshow(reads.probs.numpy(), aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
    left.scatter(reads.read.numpy(), range(steps), s=22, facecolors="none", edgecolors="tab:red", label="read")
    left.scatter(reads.written.numpy(), range(steps), s=14, marker="x", color="tab:blue", label="written")
    left.set_xticks(range(slots))
    left.set_xlabel("decoder slot")
    left.set_yticks(range(steps))
    left.set_yticklabels([shown(label) for label in reads.labels], fontsize=7)
    left.set_ylabel("target step (the token it reads)")
    left.legend(fontsize=7, loc="lower left")
    left.set_title("decoder address softmax(a)", fontsize=9)
    right.imshow(attention.numpy(), aspect="auto", cmap="Blues", vmin=0, vmax=float(attention.max()),
                 interpolation="nearest")
    right.set_xticks(range(len(source)))
    right.set_xticklabels([shown(label) for label in source], fontsize=7, rotation=90)
    right.set_xlabel("source token")
    right.set_title("attention", fontsize=9)
    for axis in (left, right):
        axis.tick_params(axis="x", labelsize=7)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure
