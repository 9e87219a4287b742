"""Compare runs from their TensorBoard event files: a PNG of validation curves and a table.

    python -m armin_plugin.report runs/ptb_char/tensorboard/* --out runs/ptb_char/report

Each run is a ``--tensorboard-logdir`` of fairseq-train (with its ``train``, ``train_inner``
and ``valid`` subfolders) plus, when the recipes evaluated it, a ``test`` subfolder with the
scalars ``loss`` (base 2) and ``params``. The plot shows the validation metric against
updates and against wall-clock time, one line per run; the table gives the final validation
and test metrics, parameters, training tokens per second and peak memory when logged.
"""
import argparse
import logging
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .errors import ArminError
from .tools import setup_cli_logging

METRICS = {"bpc": ("BPC", lambda loss: loss), "ppl": ("perplexity", lambda loss: 2.0**loss)}


@dataclass
class RunLog:
    """What one run's event files hold. Curves are (update, seconds since start, base-2 loss)."""

    name: str
    valid: List[Tuple[int, float, float]] = field(default_factory=list)
    test_loss: Optional[float] = None
    params: Optional[int] = None
    words_per_second: Optional[float] = None
    peak_memory_gb: Optional[float] = None
    minutes: Optional[float] = None


def _scalars(folder: Path) -> Dict[str, list]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not folder.is_dir():
        return {}
    logging.getLogger("tensorboard").setLevel(logging.WARNING)
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: events.Scalars(tag) for tag in events.Tags()["scalars"]}


def write_test_scalars(logdir: Path, updates: int, scalars: Dict[str, float]):
    """Add a run's test scores (``scalars``: name -> value) to the ``test`` subfolder of its
    ``--tensorboard-logdir``, at step ``updates``."""
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(logdir / "test")) as writer:
        for name, value in scalars.items():
            writer.add_scalar(name, value, updates)


def read_run(logdir) -> RunLog:
    """Read the event files of one run directory."""
    logdir = Path(logdir)
    if not logdir.is_dir():
        raise ArminError(f"run directory {logdir} does not exist")
    train_inner, valid = _scalars(logdir / "train_inner"), _scalars(logdir / "valid")
    test, train = _scalars(logdir / "test"), _scalars(logdir / "train")
    if not (train_inner or valid or train):
        raise ArminError(f"no fairseq TensorBoard events under {logdir}")
    start = min(e.wall_time for group in (train_inner, valid, train) for events in group.values() for e in events)
    walls = [e.value for group in (train_inner, train) for e in group.get("wall", [])]  # fairseq's seconds
    run = RunLog(logdir.name, minutes=max(walls) / 60 if walls else None)
    run.valid = [(e.step, e.wall_time - start, e.value) for e in valid.get("loss", [])]
    if "loss" in test:
        run.test_loss = test["loss"][-1].value
    if "params" in test:
        run.params = int(test["params"][-1].value)
    speeds = train_inner.get("wps") or train.get("wps")
    if speeds:
        run.words_per_second = statistics.median(e.value for e in speeds)
    memory = [e.value for tag in ("gb_mem", "peak_memory_gb") for e in train_inner.get(tag, [])]
    if memory:
        run.peak_memory_gb = max(memory)
    return run


def table(runs: List[RunLog], metric: str) -> str:
    name, convert = METRICS[metric]

    def show(loss):
        return "-" if loss is None else f"{convert(loss):.3f}"

    rows = [
        f"| run | params | updates | minutes | valid {name} | test {name} | train tokens/s | peak memory (GB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        updates, valid = (run.valid[-1][0], run.valid[-1][2]) if run.valid else ("-", None)
        rows.append(
            f"| {run.name} | {'-' if run.params is None else f'{run.params:,}'} | {updates} "
            f"| {'-' if run.minutes is None else f'{run.minutes:.1f}'} "
            f"| {show(valid)} | {show(run.test_loss)} "
            f"| {'-' if run.words_per_second is None else f'{run.words_per_second:,.0f}'} "
            f"| {'-' if run.peak_memory_gb is None else f'{run.peak_memory_gb:.2f}'} |"
        )
    return "\n".join(rows)


def plot(runs: List[RunLog], metric: str, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    name, convert = METRICS[metric]
    figure, (by_update, by_time) = plt.subplots(1, 2, figsize=(11, 4.2))
    for run in runs:
        if not run.valid:
            continue
        updates, seconds, losses = zip(*run.valid)
        values = [convert(loss) for loss in losses]
        by_update.plot(updates, values, marker="o", markersize=3, label=run.name)
        by_time.plot([s / 60 for s in seconds], values, marker="o", markersize=3, label=run.name)
    for axes, label in ((by_update, "updates"), (by_time, "wall-clock minutes")):
        axes.set_xlabel(label)
        axes.set_ylabel(f"validation {name}")
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(logdirs, out_dir, metric="bpc") -> Tuple[Path, Path]:
    """Write ``out_dir``/curves.png and ``out_dir``/table.md for the runs in ``logdirs``."""
    if metric not in METRICS:
        raise ArminError(f"unknown metric {metric!r}, expected one of {', '.join(METRICS)}")
    runs = [read_run(logdir) for logdir in logdirs]
    if not runs:
        raise ArminError("no run directories given")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    png, markdown = out_dir / "curves.png", out_dir / "table.md"
    plot(runs, metric, png)
    markdown.write_text(table(runs, metric) + "\n")
    return png, markdown


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m armin_plugin.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="TensorBoard log directories, one per run")
    parser.add_argument("--out", required=True, help="where curves.png and table.md go")
    parser.add_argument("--metric", choices=sorted(METRICS), default="bpc", help="bpc (2^loss: ppl)")
    args = parser.parse_args(argv)
    setup_cli_logging()
    try:
        png, markdown = write_report(args.runs, args.out, args.metric)
    except ArminError as error:
        sys.exit(f"error: {error}")
    print(markdown.read_text(), end="")
    print(f"plot: {png}")


if __name__ == "__main__":
    main()
