"""armin-study: train a grid of variants x seeds at an equal update budget and report
the mean and spread over seeds.

    armin-study lr_sweep                          # recipes/studies/lr_sweep.py
    armin-study my_grid.yaml --data data-bin/x --out runs/study/x --jobs 4
    armin-study lr_sweep --variants lstm-lr8e-3,armin16-lr8e-3 --dry-run
    armin-study variants --variants armin16,armin1 --max-update 1000   # runs/study/variants-1000u

Each run is one fairseq-train (its exact command in RUN/command.sh and results.json), with
one compute thread, ``--jobs`` at once. A run that trained its whole budget is marked
finished and skipped by the next call; an interrupted one resumes from its
checkpoint_last.pt. Writes under ``--out``: results.md (the table), curves.png, params.png
(where the variants differ in size: the metric at the end against parameters), results.json
(every number, per run and per variant) and commands.sh; when runs fail, the others go on,
and the table holds what the failed ones logged before they stopped.
"""
import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Dict, List

from ...cli.logs import setup_cli_logging
from ...cli.process import PLUGIN
from ...errors import ArminError
from ..report import plot_against_params, render
from ..run_pool import run_all
from .grid import Grid, load_grid
from .runs import StudyRun, check_command, commands_script, plan, train_to_the_end
from .summary import metric, run_numbers, study_results

logger = logging.getLogger("armin_plugin.study")

STUDIES = Path(PLUGIN).parent / "recipes" / "studies"


def find_grid(name: str) -> Path:
    """A grid file given by path, or by name under recipes/studies/."""
    path = Path(name)
    if path.is_file():
        return path
    for suffix in (".py", ".yaml", ".yml"):
        if (STUDIES / f"{name}{suffix}").is_file():
            return STUDIES / f"{name}{suffix}"
    known = sorted(p.stem for p in STUDIES.glob("*") if p.suffix in (".py", ".yaml", ".yml"))
    raise ArminError(f"no grid {name}: not a file, nor a grid in {STUDIES} ({', '.join(known) or 'none'})")


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="armin-study", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("grid", help="a grid file (.py or .yaml), or the name of one in recipes/studies/")
    parser.add_argument("--data", type=Path, help="data-bin directory (default: the grid's)")
    parser.add_argument("--out", type=Path, help="where runs and results go (default: runs/study/GRID)")
    parser.add_argument("--jobs", type=int, default=usable_cores(),
                        help="runs at once, one thread each (default: the cores this process may use)")
    parser.add_argument("--variants", help="comma-separated variants to run (default: all of the grid's)")
    parser.add_argument("--seeds", help="comma-separated seeds to run (default: the grid's; others add runs "
                        "beside the grid's own); the table covers these seeds")
    parser.add_argument("--max-update", type=int,
                        help="a shorter budget than the grid's (its report counts up to there, and this one; "
                        "default --out: runs/study/GRID-Nu)")
    parser.add_argument("--dry-run", action="store_true", help="print every run's command and stop")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        raise ArminError(f"--jobs must be >= 1, got {args.jobs}")
    return args


def budget(grid: Grid) -> str:
    """Each run's budget, in words."""
    if grid.max_hours is None:
        return f"{grid.max_update} updates"
    return (f"{grid.max_hours:g} hours of training time (--stop-time-hours, at most {grid.max_update} updates; "
            f"valid at the end: at the last validation)")


def title(grid: Grid, data, jobs: int) -> str:
    _, header, _ = metric(grid)
    counts = ", ".join(map(str, grid.report_at))
    return (f"{grid.title + ' ' if grid.title else ''}Study {grid.name} on {data or 'generated data'}: "
            f"valid {header} (subset {grid.subset}) at updates {counts}, mean (min..max) over seeds "
            f"{', '.join(map(str, grid.seeds))}; {budget(grid)} per run, one thread each, "
            f"{jobs} at once; tokens/s (median per run) and training minutes, means over seeds; "
            f"entropy, slots read, read age of ARMIN's memory at the last validation ('-': not logged, as for an LSTM).")


def report(grid: Grid, runs: List[StudyRun], out: Path, data, jobs: int, failures: Dict[str, str]):
    """Write the study's table, curves, JSON and commands.sh; the runs that ``failures``
    names ({run: error}) count with what they logged (a run that never validated is left out)."""
    numbers = []
    for run in runs:
        if run.name not in failures:
            numbers.append(run_numbers(grid, run))
            continue
        try:
            numbers.append(run_numbers(grid, run, failure=failures[run.name]))
        except ArminError:
            pass
    heading = title(grid, data, jobs)
    if failures:
        heading += (f" Incomplete: {', '.join(failures)} failed; a failed run's figures are what it logged "
                    f"before it stopped ('-': never validated there).")
    (out / "commands.sh").write_text(commands_script(runs), encoding="utf-8")
    results = study_results(grid, numbers, heading)
    markdown, curves = render(results, out, tensorboard=False)
    plots = [curves]
    if len({row["params"] for row in results.rows if row["params"]}) > 1:
        key = "valid_end" if grid.max_hours is not None else f"valid_{grid.report_at[-1]}"
        column = next(column for column in results.columns if column.key == key)
        plots.append(out / "params.png")
        plot_against_params(results, key, f"{column.header} (mean, min..max over seeds)", plots[-1])
    return markdown, plots


def main(argv=None):
    setup_cli_logging()
    out = None
    try:
        args = parse_args(argv)
        grid = load_grid(find_grid(args.grid))
        if args.variants is not None:
            names = [name.strip() for name in args.variants.split(",") if name.strip()]
            if not names:
                raise ArminError("--variants names no variant")
            grid = grid.select(names)
        if args.seeds is not None:
            try:
                seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
            except ValueError:
                raise ArminError(f"--seeds must be comma-separated integers, got {args.seeds!r}") from None
            grid = grid.with_seeds(seeds)
        name = grid.name
        if args.max_update is not None:
            grid = grid.shortened(args.max_update)
            name = f"{grid.name}-{grid.max_update}u"
        data = args.data or (Path(grid.data) if grid.data is not None else None)
        out = args.out or Path("runs") / "study" / name
        runs = plan(grid, out, data)
        if args.dry_run:
            print(commands_script(runs), end="")
            return
        if data is not None and not data.is_dir():
            raise ArminError(f"data directory {data} does not exist")
        for run in runs:
            check_command(run)
        todo = [run for run in runs if not run.finished]
        logger.info("study %s: %d run%s, %d finished before, %d to train, %d at once",
                    grid.name, len(runs), "" if len(runs) == 1 else "s", len(runs) - len(todo), len(todo), args.jobs)
        failures = run_all(todo, args.jobs, lambda run, started: train_to_the_end(run, grid.max_update, started))
        failed = f"{len(failures)} of {len(todo)} runs failed: " + "; ".join(failures.values())
        try:
            markdown, plots = report(grid, runs, out, data, args.jobs, failures)
        except ArminError as error:
            if not failures:
                raise
            raise ArminError(f"{failed}; no table ({error})") from None
        if failures:
            raise ArminError(f"{failed}; what every run logged is in {markdown}")
    except ArminError as error:
        sys.exit(f"error: {error}")
    except KeyboardInterrupt:
        sys.exit(f"error: interrupted; the runs in progress saved their checkpoint_last.pt under {out}: "
                 f"the same command resumes them")
    print(f"\n{markdown.read_text()}")
    print(f"Plots: {', '.join(map(str, plots))}\nTensorBoard: tensorboard --logdir {out / 'runs'}")
