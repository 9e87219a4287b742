"""The address map: time steps (labelled with their tokens) against slots."""
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .layer_reads import LayerReads


def shown(label: str) -> str:
    """A token as a tick label: spaces visible."""
    return label.replace(" ", "␣") if label.strip() else "␣" * max(len(label), 1)


def draw_address_map(axis: Axes, reads: LayerReads, title: str = ""):
    """Address probabilities softmax(a) as a heat map (slots x steps), the slot read at each
    step circled and the slot written crossed."""
    steps = range(len(reads.labels))
    image = axis.imshow(reads.probs.t().numpy(), aspect="auto", cmap="Greys", vmin=0.0, vmax=1.0,
                        interpolation="nearest", origin="lower")
    axis.scatter(steps, reads.read.numpy(), s=22, facecolors="none", edgecolors="tab:red", linewidths=1.0,
                 label="read")
    axis.scatter(steps, reads.written.numpy(), s=14, marker="x", color="tab:blue", linewidths=0.8,
                 label="written")
    axis.set_xticks(list(steps))
    rotation = 0 if max(len(label) for label in reads.labels) == 1 else 90
    axis.set_xticklabels([shown(label) for label in reads.labels], fontsize=6, rotation=rotation)
    axis.set_yticks(range(reads.slots))
    axis.tick_params(axis="y", labelsize=6)
    axis.set_xlabel(f"steps {int(reads.position[0])}-{int(reads.position[-1])} (the token each step reads)")
    axis.set_ylabel("slot")
    axis.set_title(title, fontsize=9)
    axis.legend(loc="upper right", fontsize=7, framealpha=0.8)
    return image


def address_map_figure(reads: LayerReads, title: str = "") -> Figure:
    """A figure sized to the segment (about 0.11 inch per step)."""
    figure = Figure(figsize=(max(6.0, 1.5 + 0.11 * len(reads.labels)), 1.6 + 0.18 * reads.slots))
    axis = figure.add_subplot()
    image = draw_address_map(axis, reads, title)
    figure.colorbar(image, ax=axis, fraction=0.02, pad=0.01, label="softmax(a)")
    figure.tight_layout()
    return figure
