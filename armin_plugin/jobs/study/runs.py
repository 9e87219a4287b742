"""The runs of a study: one fairseq-train command per variant and seed, its folder
(``--out``/runs/VARIANT/seedS: train.log, command.sh, checkpoints/, tensorboard/), and the
``finished`` marker written once it has trained its whole budget (its updates, or the
hours of its --stop-time-hours)."""
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

from ...cli.memory_pages import huge_page_environment
from ...cli.threads import thread_environment
from ...errors import ArminError
from ..checkpoints import CheckpointFacts, checkpoint_facts
from ..fairseq_runs import bookkeeping_flags, holds_budget, train, train_command
from .grid import Grid

# one compute thread per run, idle threads asleep: runs share the cores without spinning;
# huge pages for the large tensors (cli/memory_pages.py)
THREADS = dict(thread_environment(1), **huge_page_environment())


@dataclass
class StudyRun:
    variant: str
    seed: int
    dir: Path
    flags: List[str]

    @property
    def name(self) -> str:
        return f"{self.variant}/seed{self.seed}"

    @property
    def tensorboard(self) -> Path:
        return self.dir / "tensorboard"

    @property
    def last_checkpoint(self) -> Path:
        return self.dir / "checkpoints" / "checkpoint_last.pt"

    @property
    def finished(self) -> bool:
        return (self.dir / "finished").exists()

    def command(self) -> List[str]:
        return train_command(self.flags)

    def shell_line(self) -> str:
        """The command as one shell line, with its thread environment."""
        return " ".join([*(f"{k}={v}" for k, v in THREADS.items()), shlex.join(self.command())])


def plan(grid: Grid, out: Path, data: Optional[Path]) -> List[StudyRun]:
    """Every run of ``grid`` under ``out``, seeds inside variants; ``data``: the data-bin
    (None: the task needs none)."""
    runs = []
    for variant, flags in grid.variants.items():
        for seed in grid.seeds:
            run_dir = out / "runs" / variant / f"seed{seed}"
            runs.append(StudyRun(variant, seed, run_dir, [
                *([str(data)] if data is not None else []), *grid.task, *grid.flags, *flags,
                "--seed", str(seed), "--max-update", str(grid.max_update),
                "--validate-interval-updates", str(grid.validate_interval), "--cpu",
                *map(str, bookkeeping_flags(run_dir, run_dir / "tensorboard", grid.log_interval)),
            ]))
    return runs


def check_command(run: StudyRun):
    """Write the run's command.sh, or check that the one written before is the same command
    (raises ArminError: the grid changed under a started run)."""
    script = run.dir / "command.sh"
    text = f"#!/bin/sh\n{run.shell_line()}\n"
    if script.exists() and script.read_text(encoding="utf-8") != text:
        raise ArminError(f"{run.name} was started with another command (see {script}); delete {run.dir} "
                         f"to train it with this grid")
    run.dir.mkdir(parents=True, exist_ok=True)
    script.write_text(text, encoding="utf-8")


def _facts(run: StudyRun) -> Optional[CheckpointFacts]:
    return checkpoint_facts(run.last_checkpoint) if run.last_checkpoint.exists() else None


def train_to_the_end(run: StudyRun, max_update: int, started: Callable):
    """Train (or resume) ``run`` and mark it finished once it has spent its budget (raises
    ArminError when it failed or stopped before). A run whose last checkpoint holds the
    budget is only marked (:func:`~armin_plugin.jobs.fairseq_runs.holds_budget`)."""
    train(run.name, run.flags, run.dir, env=THREADS, started=started)
    facts = _facts(run)
    if not holds_budget(run.flags, facts):
        raise ArminError(f"{run.name} stopped at update {facts.updates if facts else 0} of {max_update}; "
                         f"see {run.dir / 'train.log'}")
    (run.dir / "finished").write_text(f"{facts.updates} updates, {facts.train_minutes:.1f} training minutes\n",
                                      encoding="utf-8")


def commands_script(runs: List[StudyRun]) -> str:
    """Every run's command, each after a comment naming the run."""
    return "".join(f"# {run.name}\n{run.shell_line()}\n" for run in runs)
