"""The one renderer of the comparison jobs: a :class:`~.results.JobResults` becomes
``results.json``, ``results.md`` (its table), ``curves.png`` (every panel against updates
and against wall-clock time) and the runs' TensorBoard ``test/`` scalars.

    python -m armin_plugin.jobs.report runs/ptb_char          # redraw a job's results
    python -m armin_plugin.jobs.report LOGDIR... --out DIR      # tabulate fairseq-train runs

Given a job's ``--out`` folder (or its results.json) it draws the table and the plot again
from the results file alone. Given ``--tensorboard-logdir`` folders of any fairseq-train
language-model runs, it tabulates them (validation curves, final validation metric, tokens
per second, peak memory): the main job's table without its test column.
"""
import argparse
import sys
from pathlib import Path
from typing import List, Tuple

from ..cli.logs import setup_cli_logging
from ..errors import ArminError
from .lm_results import METRICS, lm_results
from .results import JobResults
from .tensorboard_logs import read_run


def table(results: JobResults) -> str:
    """The rows of ``results`` as a Markdown table."""
    lines = ["| " + " | ".join(c.header for c in results.columns) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(results.columns))) + "|"]
    for row in results.rows:
        lines.append("| " + " | ".join(c.show(row.get(c.key)) for c in results.columns) + " |")
    return "\n".join(lines)


def plot(results: JobResults, path: Path):
    """One row of two axes per panel: the panel's curves against updates and against
    wall-clock minutes; one colour per run, variants dashed, spreads shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = list(results.panels) or ["(no curves)"]
    figure, axes = plt.subplots(len(panels), 2, figsize=(11, 3.4 * len(panels)), squeeze=False)
    runs = list(dict.fromkeys(series.run for series in results.series))
    colours = {run: f"C{index % 10}" for index, run in enumerate(runs)}
    for (by_update, by_time), panel in zip(axes, panels):
        for series in (s for s in results.series if s.panel == panel and s.points):
            updates, seconds, values = zip(*series.points)
            style = dict(color=colours[series.run], linestyle="--" if series.variant else "-",
                         marker="o", markersize=3, label=series.label)
            minutes = [s / 60 for s in seconds]
            by_update.plot(updates, values, **style)
            by_time.plot(minutes, values, **style)
            if series.spread:
                lows, highs = zip(*series.spread)
                by_update.fill_between(updates, lows, highs, color=colours[series.run], alpha=0.2, linewidth=0)
                by_time.fill_between(minutes, lows, highs, color=colours[series.run], alpha=0.2, linewidth=0)
        for axis, label in ((by_update, "updates"), (by_time, "wall-clock minutes")):
            axis.set_title(panel, fontsize=10)
            axis.set_xlabel(label)
            axis.set_ylabel(results.panels.get(panel, ""))
            axis.grid(alpha=0.3)
            if axis.lines:
                axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_against_params(results: JobResults, key: str, label: str, path: Path):
    """The rows' ``key`` (a spread over seeds: its mean, and its min..max as a bar) against
    their parameter counts on a log scale, one point per row, named by its first cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    name = results.columns[0].key
    for index, row in enumerate(row for row in results.rows if row.get("params") and row.get(key)):
        value = row[key]
        axis.errorbar([row["params"]], [value["mean"]], yerr=[[value["mean"] - value["min"]], [value["max"] - value["mean"]]],
                      fmt="o", color=f"C{index % 10}", capsize=3, label=row[name])
    axis.set_xscale("log")
    axis.set_xlabel("parameters")
    axis.set_ylabel(label)
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_test_scalars(results: JobResults):
    """Add each run's test scores to the ``test`` subfolder of its TensorBoard logs."""
    from torch.utils.tensorboard import SummaryWriter

    for scores in results.test_scalars:
        with SummaryWriter(str(Path(scores.logdir) / "test")) as writer:
            for name, value in scores.values.items():
                writer.add_scalar(name, value, scores.step)


def summary(results: JobResults) -> str:
    """The title and the table of ``results``, as results.md holds them. A job prints this,
    not the file, which another job sharing its ``--out`` may have rewritten meanwhile."""
    return f"{results.title}\n\n{table(results)}\n"


def render(results: JobResults, out_dir: Path, tensorboard: bool = True) -> Tuple[Path, Path]:
    """Write results.json, results.md (:func:`summary`), curves.png under ``out_dir`` and
    (``tensorboard``) the test scalars; returns the paths of the table and the plot."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results.save(out_dir / "results.json")
    markdown, png = out_dir / "results.md", out_dir / "curves.png"
    markdown.write_text(summary(results), encoding="utf-8")
    plot(results, png)
    if tensorboard:
        write_test_scalars(results)
    return markdown, png


def _results_file(paths: List[Path]):
    """The results.json that ``paths`` name, if they name one job's results."""
    if len(paths) == 1:
        found = paths[0] / "results.json" if paths[0].is_dir() else paths[0]
        if found.name == "results.json" and found.is_file():
            return found
    return None


def main(argv: List[str] = None):
    parser = argparse.ArgumentParser(prog="python -m armin_plugin.jobs.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path,
                        help="a job's --out folder (or its results.json), or TensorBoard log directories, one per run")
    parser.add_argument("--out", type=Path, help="where results.json, results.md and curves.png go "
                        "(default for a job's results: its folder)")
    parser.add_argument("--metric", choices=sorted(METRICS), default="bpc", help="for log directories: bpc (2^loss: ppl)")
    args = parser.parse_args(argv)
    setup_cli_logging()
    try:
        found = _results_file(args.paths)
        if found is not None:
            results, out, scalars = JobResults.load(found), args.out or found.parent, False  # written by the job
        elif args.out is None:
            raise ArminError("--out is needed to tabulate TensorBoard log directories")
        else:
            results, out, scalars = lm_results([read_run(logdir) for logdir in args.paths], args.metric), args.out, True
        _, png = render(results, out, scalars)
    except ArminError as error:
        sys.exit(f"error: {error}")
    print(summary(results), end="")
    print(f"plot: {png}")


if __name__ == "__main__":
    main()
