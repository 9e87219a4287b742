"""Arcs over the text: from the step that parked a state to the step that read it back."""
import matplotlib.patches as patches
from matplotlib.figure import Figure

from .address_map import shown
from .layer_reads import LayerReads
from ..modules.slot_history import INITIAL


def read_arcs_figure(reads: LayerReads, title: str = "") -> Figure:
    """The tokens along a line; an arc, coloured by slot, joins each read to the position
    whose state it retrieved; reads of the initial memory are dots below the line."""
    first, count = int(reads.position[0]), len(reads.labels)
    figure = Figure(figsize=(max(6.0, 1.0 + 0.11 * count), 3.2))
    axis = figure.add_subplot()
    colours = [f"C{slot % 10}" for slot in range(reads.slots)]
    highest = 1.0
    for step, origin, slot in zip(reads.position.tolist(), reads.origin.tolist(), reads.read.tolist()):
        x = step - first
        if origin == INITIAL or origin < first:
            axis.plot([x], [-0.9], marker=".", color=colours[slot], markersize=4)
            continue
        width = x - (origin - first)
        highest = max(highest, width / 2)
        axis.add_patch(patches.Arc(((x + origin - first) / 2, 0.0), width, width, theta1=0, theta2=180,
                                   color=colours[slot], linewidth=0.8, alpha=0.8))
    for x, label in enumerate(reads.labels):
        axis.text(x, -0.35, shown(label), ha="center", va="top", fontsize=6, family="monospace",
                  rotation=0 if len(label) == 1 else 90)
    axis.set_xlim(-1, count)
    axis.set_ylim(-1.3, highest * 1.05 + 0.5)
    axis.set_yticks([])
    axis.set_xlabel(f"steps {first}-{first + count - 1}: each arc runs from the step that parked a state to "
                    "the step that read it (colour: slot); dots: reads of the initial memory", fontsize=7)
    axis.set_title(title, fontsize=9)
    for side in ("top", "right", "left"):
        axis.spines[side].set_visible(False)
    figure.tight_layout()
    return figure
