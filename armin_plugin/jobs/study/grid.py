"""A study's grid: named variants (lists of plain fairseq-train flags) x seeds, read from a
Python file (a ``GRID`` dict) or a YAML file (a mapping) with the same keys:

    variants    {name: [flag, ...]}, required; a variant's flags follow the shared ones
    flags       [flag, ...] shared by every variant (default none)
    task        [flag, ...] (default ["--task", "armin_tbptt_lm"]: PTB-char streams)
    data        data-bin path (default data-bin/ptb_char; null: a task without one)
    seeds       [int, ...] (default [1])
    max_update  updates per run, required: the equal budget (with --stop-time-hours H in
                ``flags``, the budget is H hours of training time, and max_update a cap)
    report_at   [update, ...] where the table reports the metric (default [max_update])
    metric      bpc (default), ppl, or any tag fairseq logs at validation (bit_errors, ...)
    subset      the validation subset the metric is read from (default valid)
    log_interval  fairseq's --log-interval (default 25)
    title       a sentence heading the table (default: what the grid measures)
"""
import math
import re
import runpy
from dataclasses import dataclass, field, replace
from functools import reduce
from pathlib import Path
from typing import Any, Dict, List, Optional

from ...errors import ArminError
from ..fairseq_runs import time_budget

KEYS = {"variants", "flags", "task", "data", "seeds", "max_update", "report_at", "metric", "subset",
        "log_interval", "title"}
# fairseq-train flags the study sets for every run itself
RESERVED = ("--seed", "--max-update", "--validate-interval-updates", "--save-dir", "--tensorboard-logdir",
            "--log-format", "--log-interval", "--no-epoch-checkpoints", "--cpu")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]*$")


@dataclass
class Grid:
    name: str
    variants: Dict[str, List[str]]
    max_update: int
    flags: List[str] = field(default_factory=list)
    task: List[str] = field(default_factory=lambda: ["--task", "armin_tbptt_lm"])
    data: Optional[str] = "data-bin/ptb_char"
    seeds: List[int] = field(default_factory=lambda: [1])
    report_at: List[int] = field(default_factory=list)
    metric: str = "bpc"
    subset: str = "valid"
    log_interval: int = 25
    title: str = ""

    @property
    def max_hours(self) -> Optional[float]:
        """The time budget: --stop-time-hours of the shared flags (None: none)."""
        return time_budget(self.flags)

    @property
    def validate_interval(self) -> int:
        """--validate-interval-updates: the gcd of the report counts, so each is validated."""
        return reduce(math.gcd, self.report_at)

    def select(self, names: List[str]) -> "Grid":
        """This grid with only the variants ``names`` (raises ArminError for unknown ones)."""
        unknown = [name for name in names if name not in self.variants]
        if unknown:
            raise ArminError(f"grid {self.name} has no variant {', '.join(unknown)} "
                             f"(its variants: {', '.join(self.variants)})")
        return replace(self, variants={name: self.variants[name] for name in names})

    def with_seeds(self, seeds: List[int]) -> "Grid":
        """This grid with the seeds ``seeds`` instead of its own: a subset, or more (e.g. a
        third seed where a difference is small); raises ArminError for none, a seed that is
        not a positive integer, or one given twice."""
        if not seeds or not all(map(_is_positive_int, seeds)) or len(set(seeds)) < len(seeds):
            raise ArminError(f"--seeds must be distinct positive integers, got {', '.join(map(str, seeds)) or 'none'}")
        return replace(self, seeds=list(seeds))

    def shortened(self, max_update: int) -> "Grid":
        """This grid with a budget of ``max_update`` updates (at most its own), reporting at
        its report counts up to there and at ``max_update``."""
        if not _is_positive_int(max_update) or max_update > self.max_update:
            raise ArminError(f"--max-update must be a positive integer of at most grid {self.name}'s "
                             f"{self.max_update}, got {max_update}")
        report_at = sorted({update for update in self.report_at if update < max_update} | {max_update})
        return replace(self, max_update=max_update, report_at=report_at)


def _flags(value: Any, where: str) -> List[str]:
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(part, (str, int, float)) and not isinstance(part, bool) for part in value):
        raise ArminError(f"{where} must be a list of flags and values (strings or numbers), got {value!r}")
    flags = [str(part) for part in value]
    for part in flags:
        if part.split("=")[0] in RESERVED:
            raise ArminError(f"{where} sets {part.split('=')[0]}, which the study sets itself "
                             f"({', '.join(RESERVED)})")
    return flags


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _positive_int(value: Any, where: str) -> int:
    if not _is_positive_int(value):
        raise ArminError(f"{where} must be a positive integer, got {value!r}")
    return value


def _positive_ints(value: Any, where: str) -> List[int]:
    if not isinstance(value, (list, tuple)) or not value or not all(map(_is_positive_int, value)):
        raise ArminError(f"{where} must be a non-empty list of positive integers, got {value!r}")
    return list(value)


def _read(path: Path) -> Dict[str, Any]:
    if path.suffix == ".py":
        try:
            found = runpy.run_path(str(path)).get("GRID")
        except Exception as error:  # a grid file is user code: any failure is its own
            raise ArminError(f"grid {path} failed to load ({type(error).__name__}: {error})") from None
        if not isinstance(found, dict):
            raise ArminError(f"grid {path} defines no GRID dict")
        return found
    import yaml

    try:
        found = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ArminError(f"grid {path} is not valid YAML ({' '.join(str(error).split())})") from None
    if not isinstance(found, dict):
        raise ArminError(f"grid {path} is not a YAML mapping")
    return found


def parse_grid(name: str, raw: Dict[str, Any]) -> Grid:
    """The grid ``name`` from its keys (raises ArminError for anything wrong)."""
    unknown = sorted(set(raw) - KEYS)
    if unknown:
        raise ArminError(f"grid {name}: unknown key {', '.join(map(str, unknown))} (keys: {', '.join(sorted(KEYS))})")
    for key in ("variants", "max_update"):
        if key not in raw:
            raise ArminError(f"grid {name} has no {key}")
    variants = raw["variants"]
    if not isinstance(variants, dict) or not variants:
        raise ArminError(f"grid {name}: variants must be a non-empty mapping of names to flag lists")
    for variant in variants:
        if not isinstance(variant, str) or not NAME.match(variant):
            raise ArminError(f"grid {name}: variant name {variant!r} must be letters, digits and ._+=- "
                             f"(it names a folder)")
    grid = Grid(name, {variant: _flags(flags, f"grid {name}: variant {variant}") for variant, flags in variants.items()},
                _positive_int(raw["max_update"], f"grid {name}: max_update"))
    if "flags" in raw:
        grid.flags = _flags(raw["flags"], f"grid {name}: flags")
    if "task" in raw:
        grid.task = _flags(raw["task"], f"grid {name}: task")
    if "data" in raw:
        if raw["data"] is not None and not isinstance(raw["data"], str):
            raise ArminError(f"grid {name}: data must be a path or null, got {raw['data']!r}")
        grid.data = raw["data"]
    if "seeds" in raw:
        grid.seeds = _positive_ints(raw["seeds"], f"grid {name}: seeds")
        if len(set(grid.seeds)) < len(grid.seeds):
            raise ArminError(f"grid {name}: seeds repeat ({grid.seeds})")
    grid.report_at = sorted(set(_positive_ints(raw.get("report_at", [grid.max_update]), f"grid {name}: report_at")))
    if grid.report_at[-1] > grid.max_update:
        raise ArminError(f"grid {name}: report_at {grid.report_at[-1]} is beyond max_update {grid.max_update}")
    for key in ("metric", "subset", "title"):
        if key in raw:
            if not isinstance(raw[key], str) or (key != "title" and not raw[key]):
                raise ArminError(f"grid {name}: {key} must be a string, got {raw[key]!r}")
            setattr(grid, key, raw[key])
    if "log_interval" in raw:
        grid.log_interval = _positive_int(raw["log_interval"], f"grid {name}: log_interval")
    for flags in (grid.flags, *grid.variants.values()):
        time_budget(flags)  # a bad --stop-time-hours stops here, before any run
    return grid


def load_grid(path: Path) -> Grid:
    """The grid in ``path`` (.py, .yaml or .yml), named by its file name."""
    if path.suffix not in (".py", ".yaml", ".yml"):
        raise ArminError(f"grid {path}: a grid is a .py, .yaml or .yml file")
    if not path.is_file():
        raise ArminError(f"grid {path} does not exist")
    return parse_grid(path.stem, _read(path))
