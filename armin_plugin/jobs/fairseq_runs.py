"""The one way the jobs build and run fairseq commands: ``fairseq-train`` (alone, or on N
CPU processes through ``armin-launch``) and the evaluation tools, always with
``--user-dir`` set to this plugin, their output streamed and logged to a file per run.

Every child gets its share of the cores that other work leaves idle
(:mod:`armin_plugin.cli.threads`), so that ranks on one machine never ask for more threads
than it has cores, and a run started beside a busy process does not wait for a core."""
import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, List, Optional, TypeVar

from ..cli.process import PLUGIN, Finished, argv, fairseq_command, run_streamed
from ..cli.memory_pages import huge_page_environment
from ..cli.threads import cpu_cores, idle_cores, thread_environment, threads_per_process
from ..errors import ArminError
from .checkpoints import CheckpointFacts, checkpoint_facts

logger = logging.getLogger(__name__)
T = TypeVar("T")


def fairseq_train_command(nprocs: int = 1) -> List[str]:
    """argv prefix of ``fairseq-train``, or of it on ``nprocs`` CPU processes through
    ``armin-launch`` when ``nprocs`` > 1."""
    if nprocs == 1:
        return fairseq_command("train")
    return [sys.executable, "-m", "armin_plugin.launch", "--nprocs", str(nprocs), "--", "fairseq-train"]


def check_process_count(nprocs: int, gpu: bool):
    """The ``--nprocs`` of a job that runs fairseq-train (raises ArminError)."""
    if nprocs < 1:
        raise ArminError(f"--nprocs must be >= 1, got {nprocs}")
    if nprocs > 1 and gpu:
        raise ArminError("--nprocs is for CPU processes; with --gpu fairseq-train uses every visible GPU itself")


def interrupted(out: Path) -> str:
    """The one line of a job interrupted while it ran fairseq-train under ``out``."""
    return (f"error: interrupted; the run in progress saved its checkpoint_last.pt under {out}: "
            f"the same command resumes it")


@contextmanager
def exits_in_one_line(out: Optional[Path] = None):
    """Run a job's steps: an ArminError exits (status 1) with its one line ``error: ...``,
    Ctrl-C with the line of :func:`interrupted` for the job's ``out`` (just ``error:
    interrupted`` before there is one)."""
    try:
        yield
    except ArminError as error:
        sys.exit(f"error: {error}")
    except KeyboardInterrupt:
        sys.exit(interrupted(out) if out is not None else "error: interrupted")


def chosen_runs(runs: List[T], names: Optional[str]) -> List[T]:
    """The runs (anything with a ``name``) named in the comma-separated ``names`` (all of
    them for None), in the job's order; raises ArminError for a name the job does not have."""
    if names is None:
        return runs
    wanted = [name for name in names.split(",") if name]
    unknown = sorted(set(wanted) - {run.name for run in runs}) or ([] if wanted else ["(none)"])
    if unknown:
        raise ArminError(f"--runs: unknown {', '.join(unknown)}; this job has {', '.join(run.name for run in runs)}")
    return [run for run in runs if run.name in wanted]


def bookkeeping_flags(run_dir: Path, logdir: Path, log_interval: int) -> List:
    """fairseq-train flags every job gives: checkpoints under ``run_dir``/checkpoints (no
    per-epoch copies), TensorBoard logs in ``logdir``, plain log lines."""
    return ["--no-epoch-checkpoints", "--save-dir", run_dir / "checkpoints", "--tensorboard-logdir", logdir,
            "--log-format", "simple", "--log-interval", log_interval]


def child_environment(processes: int = 1) -> Dict[str, str]:
    """What a child's environment adds to this one: the threads of one of ``processes``
    processes sharing the cores that other work leaves idle (OpenMP's default wait policy:
    see cli/threads.py), and huge pages for its large tensors (cli/memory_pages.py)."""
    idle = idle_cores()
    threads = threads_per_process(processes, idle)
    logger.info("%d thread(s) per process: %.1f of %d cores idle", threads, idle, cpu_cores())
    return dict(thread_environment(threads, wait_policy=None), **huge_page_environment())


def train_command(flags: List, nprocs: int = 1) -> List[str]:
    """The whole fairseq-train command line of a run with ``flags``."""
    return fairseq_train_command(nprocs) + argv(["--user-dir", PLUGIN, *flags])


def flag_value(flags: List, name: str) -> Optional[str]:
    """The value of the last ``name`` among ``flags`` ("--name value" or "--name=value");
    None without one."""
    value = None
    for index, part in enumerate(map(str, flags)):
        flag, equals, given = part.partition("=")
        if flag == name:
            value = given if equals else (str(flags[index + 1]) if index + 1 < len(flags) else None)
    return value


def time_budget(flags: List) -> Optional[float]:
    """The hours of fairseq's --stop-time-hours among ``flags`` (the last one counts; None:
    none), which stops a run once its training time, counted across resumes, passes them."""
    hours = flag_value(flags, "--stop-time-hours")
    try:
        return float(hours) if hours is not None and float(hours) > 0 else None
    except ValueError:
        raise ArminError(f"--stop-time-hours must be a number of hours, got {hours!r}") from None


def holds_budget(flags: List, facts: Optional[CheckpointFacts]) -> bool:
    """Whether a run of fairseq-train ``flags`` whose last checkpoint records ``facts`` (None:
    no checkpoint) has spent its budget: the updates of its --max-update, or the training
    hours of its --stop-time-hours (counted across resumes). fairseq, resumed, would make
    one more update before noticing."""
    if facts is None:
        return False
    max_update, hours = flag_value(flags, "--max-update"), time_budget(flags)
    return (max_update is not None and 0 < int(max_update) <= facts.updates) or (
        hours is not None and hours * 60 <= facts.train_minutes)


def train(name: str, flags: List, run_dir: Path, nprocs: int = 1, env: Optional[Dict[str, str]] = None,
          started: Optional[Callable] = None) -> Path:
    """Run fairseq-train with ``flags`` (logged to ``run_dir``/train.log); returns its
    checkpoint_best.pt. A run whose checkpoint_last.pt holds its budget
    (:func:`holds_budget`) is not started again. ``env`` (default
    :func:`child_environment`) and ``started``: as for
    :func:`~armin_plugin.cli.process.run_streamed`."""
    last = run_dir / "checkpoints" / "checkpoint_last.pt"
    log = run_dir / "train.log"
    if last.exists() and holds_budget(flags, checkpoint_facts(last)):
        logger.info("%s: %s holds its training budget; not trained again", name, last)
    else:
        command = train_command(flags, nprocs)
        logger.info("training %s: %s", name, " ".join(command))
        finished = run_streamed(command, log, prefix=f"[{name}] ", env=env or child_environment(nprocs),
                                started=started)
        if finished.returncode != 0:
            raise ArminError(f"fairseq-train of {name} failed (exit {finished.returncode}); see {log}")
    checkpoint = run_dir / "checkpoints" / "checkpoint_best.pt"
    if not checkpoint.exists():
        raise ArminError(f"{name} wrote no checkpoint to {checkpoint.parent}; see {log}")
    return checkpoint


def run_tool(tool: str, name: str, flags: List, log: Path) -> Finished:
    """Run ``fairseq-<tool>`` (eval-lm, generate, validate) with ``flags`` for run ``name``,
    logged to ``log``; the caller reads its lines (and raises :func:`tool_failed`)."""
    command = fairseq_command(tool) + argv(["--user-dir", PLUGIN, *flags])
    logger.info("fairseq-%s of %s: %s", tool, name, " ".join(command))
    return run_streamed(command, log, prefix=f"[{name}] ", env=child_environment())


def tool_failed(tool: str, name: str, log: Path) -> ArminError:
    return ArminError(f"fairseq-{tool} of {name} failed; see {log}")
