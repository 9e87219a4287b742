"""The results file of a comparison job: everything its table, plot and TensorBoard test
scalars are drawn from, as JSON (``--out``/results.json).

A job fills a :class:`JobResults` (one row per run, one :class:`Series` per curve) and
hands it to :func:`armin_plugin.jobs.report.render`; ``python -m armin_plugin.jobs.report``
draws the same files again from the JSON alone.
"""
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Tuple

from ..errors import ArminError

Point = Tuple[int, float, float]  # (update, seconds since the run started, value)


@dataclass
class Column:
    """A table column: ``key`` of the rows, its header, and a ``str.format`` pattern."""

    key: str
    header: str
    format: str = "{}"

    def show(self, value: Any) -> str:
        return "-" if value is None else self.format.format(value)


@dataclass
class Series:
    """One curve of run ``run``, drawn in ``panel`` against updates and against wall-clock
    time; a ``variant`` (e.g. "long lengths") is drawn dashed in the run's colour. ``spread``:
    (low, high) at each point (e.g. over seeds), drawn as a shaded band."""

    panel: str
    run: str
    points: List[Point]
    variant: str = ""
    spread: List[Tuple[float, float]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.run} ({self.variant})" if self.variant else self.run


@dataclass
class TensorBoardScores:
    """Scores written to ``logdir``/test at step ``step`` (a run's TensorBoard folder)."""

    logdir: str
    step: int
    values: Dict[str, float]


@dataclass
class JobResults:
    """What a job measured: ``title`` says what the table holds; ``panels`` maps each
    panel's title to its y-axis label; ``runs``: the figures of each run behind the rows
    where a row aggregates several runs (armin-study: one row per variant over its seeds)."""

    title: str
    columns: List[Column]
    rows: List[Dict[str, Any]] = field(default_factory=list)
    panels: Dict[str, str] = field(default_factory=dict)
    series: List[Series] = field(default_factory=list)
    test_scalars: List[TensorBoardScores] = field(default_factory=list)
    runs: List[Dict[str, Any]] = field(default_factory=list)

    def save(self, path: Path):
        path.write_text(json.dumps(asdict(self), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "JobResults":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(
                data["title"], [Column(**c) for c in data["columns"]], data["rows"], data["panels"],
                [Series(s["panel"], s["run"], [tuple(p) for p in s["points"]], s["variant"],
                        [tuple(band) for band in s.get("spread", [])]) for s in data["series"]],
                [TensorBoardScores(**t) for t in data["test_scalars"]], data.get("runs", []),
            )
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ArminError(f"{path} is not a results file of a comparison job ({error})") from None
