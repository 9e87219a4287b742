"""What a study measured: each run's numbers from its TensorBoard logs and checkpoint, and
one row and one curve per variant over its seeds, as a :class:`~..results.JobResults`."""
import statistics
from typing import Any, Dict, List, Optional

from ...errors import ArminError
from ..checkpoints import checkpoint_facts
from ..lm_results import METRICS
from ..results import Column, JobResults, Series
from ..tensorboard_logs import read_run
from .grid import Grid
from .runs import StudyRun

MEMORY = ("entropy", "slots_read", "read_age")  # armin_* tags of ARMIN models, at validation


def metric(grid: Grid):
    """(TensorBoard tag, header, conversion) of the grid's metric: bpc and ppl come from
    fairseq's base-2 loss, any other name is a tag fairseq logs at validation."""
    if grid.metric in METRICS:
        header, convert = METRICS[grid.metric]
        return "loss", header, convert
    return grid.metric, grid.metric, lambda value: value


def run_numbers(grid: Grid, run: StudyRun, failure: Optional[str] = None) -> Dict[str, Any]:
    """The numbers of one run. A finished run must have validated at every report count it
    reached (raises ArminError otherwise; under a time budget a run may end before a count,
    and has None there); a run that failed (``failure``: why) has None where it never
    validated, and its error under "failed". Raises ArminError when it never validated."""
    tag, _, convert = metric(grid)
    log = read_run(run.tensorboard, subsets=(grid.subset,))
    curve = [(update, seconds, convert(value)) for update, seconds, value in log.curve(tag, grid.subset)]
    if not curve:
        logged = ", ".join(sorted(log.valid.get(grid.subset, {}))) or "nothing"
        raise ArminError(f"{run.name} logged no {tag} on validation subset {grid.subset} "
                         f"(it logged {logged}); see {run.dir / 'train.log'}")
    at = {update: value for update, _, value in curve}
    reached = curve[-1][0] if grid.max_hours is not None else grid.max_update
    missing = [update for update in grid.report_at if update not in at and update <= reached]
    if missing and failure is None:
        raise ArminError(f"{run.name} was never validated at update {', '.join(map(str, missing))} "
                         f"(validated at {', '.join(map(str, sorted(at)))})")
    memory = {name: log.curve(f"armin_{name}", grid.subset) for name in MEMORY}
    facts = checkpoint_facts(run.last_checkpoint) if run.last_checkpoint.exists() else None
    numbers = dict(
        run=run.name, variant=run.variant, seed=run.seed, command=run.shell_line(),
        params=facts.params if facts else None, updates=facts.updates if facts else curve[-1][0],
        minutes=facts.train_minutes if facts else None, tokens_per_s=log.words_per_second,
        valid={str(update): at.get(update) for update in grid.report_at}, valid_end=curve[-1][2],
        memory={name: points[-1][2] for name, points in memory.items() if points} or None,
        curve=curve,
    )
    return numbers if failure is None else dict(numbers, failed=failure)


def spread(values: List[Optional[float]]) -> Optional[Dict[str, float]]:
    """Mean, standard deviation, min and max of the values that are there (None: none)."""
    values = [value for value in values if value is not None]
    if not values:
        return None
    return dict(mean=statistics.fmean(values), std=statistics.stdev(values) if len(values) > 1 else 0.0,
                min=min(values), max=max(values), n=len(values))


def _curve(numbers: List[Dict[str, Any]]):
    """Mean (update, seconds, value) and (min, max) of the seeds' curves at the updates they
    all validated."""
    curves = [{point[0]: point for point in run["curve"]} for run in numbers]
    common = sorted(set.intersection(*(set(curve) for curve in curves)))
    points = [(update, statistics.fmean(c[update][1] for c in curves), statistics.fmean(c[update][2] for c in curves))
              for update in common]
    return points, [(min(c[update][2] for c in curves), max(c[update][2] for c in curves)) for update in common]


def study_results(grid: Grid, numbers: List[Dict[str, Any]], title: str) -> JobResults:
    """One row and one curve per variant (in grid order) over its seeds; ``numbers``: every
    run's :func:`run_numbers`."""
    _, header, _ = metric(grid)
    band = "{0[mean]:.3f} ({0[min]:.3f}..{0[max]:.3f})"
    timed = [Column("updates", "updates", "{0[mean]:,.0f}"), Column("valid_end", f"valid {header} at the end", band)]
    results = JobResults(title, [
        Column("variant", "variant"), Column("params", "params", "{:,}"), Column("seeds", "seeds"),
        *(Column(f"valid_{update}", f"valid {header} @{update}", band) for update in grid.report_at),
        *(timed if grid.max_hours is not None else []),
        Column("tokens_per_s", "tokens/s", "{0[mean]:,.0f}"), Column("minutes", "minutes", "{0[mean]:.1f}"),
        Column("entropy", "entropy", "{0[mean]:.3f}"), Column("slots_read", "slots read", "{0[mean]:.2f}"),
        Column("read_age", "read age", "{0[mean]:.2f}"),
    ], panels={"validation": f"validation {header} (mean, min..max over seeds)"}, runs=numbers)
    for variant in grid.variants:
        runs = [run for run in numbers if run["variant"] == variant]
        if not runs:  # every seed failed before its first validation
            continue
        params = next((run["params"] for run in runs if run["params"] is not None), None)
        failed = sum("failed" in run for run in runs)
        row = dict(variant=variant, params=params, seeds=f"{len(runs)} ({failed} failed)" if failed else len(runs))
        row.update({f"valid_{update}": spread([run["valid"][str(update)] for run in runs]) for update in grid.report_at})
        row.update(updates=spread([run["updates"] for run in runs]), valid_end=spread([run["valid_end"] for run in runs]),
                   tokens_per_s=spread([run["tokens_per_s"] for run in runs]),
                   minutes=spread([run["minutes"] for run in runs]))
        row.update({name: spread([(run["memory"] or {}).get(name) for run in runs]) for name in MEMORY})
        results.rows.append(row)
        points, lows_highs = _curve(runs)
        if points:
            results.series.append(Series("validation", variant, points, spread=lows_highs))
    return results
