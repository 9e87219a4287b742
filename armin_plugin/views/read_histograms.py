"""Histograms of read age and of how long states stay parked, and the share of reads per slot."""
import numpy as np
from matplotlib.figure import Figure

from .read_statistics import ReadStatistics


def _age_bins(values: np.ndarray) -> np.ndarray:
    top = int(values.max()) if values.size else 1
    return np.arange(0.5, top + 1.5, max(1, (top + 39) // 40))


def read_histograms_figure(stats: ReadStatistics, title: str = "") -> Figure:
    """Three panels: read age, time parked (replaced, and still parked at the end), reads per
    slot; counts on a log scale, so that rare long reads show beside a delay line's many short ones."""
    figure = Figure(figsize=(12, 3.4))
    age, parked, reads = figure.subplots(1, 3)
    ages = stats.read_age.numpy()
    age.hist(ages, bins=_age_bins(ages), color="C0")
    age.set_title(f"read age ({len(ages)} reads of parked states, {stats.initial_reads} of the initial memory)",
                  fontsize=8)
    age.set_xlabel("steps since the state read was parked")
    durations, still = stats.parked.numpy(), stats.still_parked.numpy()
    bins = _age_bins(np.concatenate([durations, still]))
    parked.hist([durations, still], bins=bins, stacked=True, color=["C1", "C7"],
                label=["replaced by a write", "still parked at the end"])
    parked.set_title("how long states stay parked", fontsize=8)
    parked.set_xlabel("steps")
    parked.legend(fontsize=7)
    share = stats.reads_per_slot.float() / max(1, int(stats.reads_per_slot.sum()))
    reads.bar(range(len(share)), share.numpy(), color="C2")
    reads.axhline(1.0 / len(share), color="k", linewidth=0.8, linestyle=":", label="uniform")
    reads.set_title("share of reads per slot", fontsize=8)
    reads.set_xlabel("slot")
    reads.set_xticks(range(len(share)))
    reads.tick_params(axis="x", labelsize=6)
    reads.legend(fontsize=7)
    for axis in (age, parked):
        axis.set_yscale("log")
        axis.set_ylabel("count")
    for axis in (age, parked, reads):
        axis.grid(alpha=0.3)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure
