"""Train ARMIN and an LSTM of about the same size on the memory tasks; plot and tabulate.

    python -m armin_plugin.jobs.compare_algorithmic --out runs/algorithmic --minutes 10

For every task (copy, repeat_copy, associative_recall) and model (``armin_algorithmic``,
and ``lstm_algorithmic`` with ``--lstm-params`` set to the ARMIN model's count) this runs
``fairseq-train --task armin_algorithmic`` for a budget of CPU minutes, validating on the
training lengths (``valid``) and on longer ones (``valid_long``), and keeping the checkpoint
with the fewest bit errors on ``valid``. That checkpoint is then scored with
``fairseq-validate`` on both splits. Written under ``--out``: ``results.md`` (the table),
``results.json``, ``curves.png`` (validation bit errors per sequence against updates and
wall-clock time, one panel per task, from the TensorBoard logs) and, per run, checkpoints,
``train.log`` and ``validate.log``. A finished
run is not trained again: a second call finds the budget spent in its checkpoint,
and only evaluates.
"""
import argparse
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

from ..cli.logs import setup_cli_logging
from ..data.algorithmic import ALGORITHMS, AlgorithmSpec
from ..modules import ARMIN, CellVariant
from .checkpoints import checkpoint_facts
from .fairseq_runs import bookkeeping_flags, exits_in_one_line, run_tool, tool_failed, train
from .learning_rates import SCHEDULE_WORDS, add_rate_flags, add_schedule_flag, model_rate, resolve_rates, schedule_flags
from .report import render, summary
from .results import Column, JobResults, Series
from .tensorboard_logs import read_run

logger = logging.getLogger(__name__)

MODELS = ("armin", "lstm")
COLUMNS = [
    Column("task", "task"), Column("model", "model"), Column("params", "params", "{:,}"),
    Column("lr", "Adam lr", "{:g}"), Column("tau_updates", "tau updates", "{:,}"),
    Column("updates", "updates", "{:,}"), Column("train_minutes", "train min", "{:.1f}"),
    Column("wall_minutes", "wall min", "{:.1f}"),
    Column("bit_errors", "bit errors/seq (train lengths)", "{:.2f}"), Column("seq_acc", "seq acc", "{:.3f}"),
    Column("long_bit_errors", "bit errors/seq (long)", "{:.2f}"), Column("long_seq_acc", "seq acc (long)", "{:.3f}"),
]
SUBSETS = ("valid", "valid_long")


@dataclass(frozen=True)
class TaskPreset:
    """How the two models train on one task: ARMIN's cell flags (switches only, e.g.
    ``--armin-no-reread``), each model's Adam learning rate, and the updates over which
    ARMIN's Gumbel-softmax temperature anneals from 1 to 0.1."""
    armin_flags: Tuple[str, ...]
    armin_lr: float
    lstm_lr: float
    tau_updates: int

    @property
    def rates(self) -> Dict[str, float]:
        return dict(armin_lr=self.armin_lr, lstm_lr=self.lstm_lr)


# The paper's cell on every task (--armin-paper-cell). Rates: each model's best of 1e-3,
# 3e-3, 1e-2 and 3e-2 by valid bit errors after 3,000 updates, two seeds
# (recipes/studies/algorithmic_lr.py, docs/algorithmic.md); both models had 1e-3 before.
# Temperature over 2,000 updates, the job's first choice for its short budgets; the paper's
# cell gains nothing from 10,000 on recall (recipes/studies/recall_memory.py).
PAPER_CELL_PRESETS = {
    "copy": TaskPreset((), armin_lr=0.003, lstm_lr=0.01, tau_updates=2000),
    "repeat_copy": TaskPreset((), armin_lr=0.003, lstm_lr=0.01, tau_updates=2000),
    "associative_recall": TaskPreset((), armin_lr=0.01, lstm_lr=0.003, tau_updates=2000),
}
# What the job trains by default: the paper's cell, except on associative recall TARDIS's
# mask of the slot read at t-1 (--armin-no-reread) and the content address
# (--armin-content-address, not in the paper), with the temperature over 10,000 updates:
# 0.91-0.99 of the sequences right at 10,000 updates (a cosine from 5e-3, seeds 1-4) where
# 2,000 gave 0.68-0.93, and the paper's cell 0.66-0.71. Its constant rate 3e-3 is level
# with 2e-3 at 10,000 updates (0.31 and 0.28 wrong bits per sequence, within the seed
# spreads) and there sooner (0.67 against 1.27 at 5,000); 5e-3 makes 0.42 and 1e-2 breaks
# down (recall_memory.py, recall_long.yaml; docs/algorithmic.md).
TASK_PRESETS = {
    **PAPER_CELL_PRESETS,
    "associative_recall": TaskPreset(("--armin-no-reread", "--armin-content-address"),
                                     armin_lr=0.003, lstm_lr=0.003, tau_updates=10000),
}


def task_preset(args, algorithm: str) -> TaskPreset:
    """The preset of ``algorithm``: :data:`TASK_PRESETS`, or :data:`PAPER_CELL_PRESETS` with
    ``--armin-paper-cell``."""
    return (PAPER_CELL_PRESETS if args.armin_paper_cell else TASK_PRESETS)[algorithm]


def tau_updates(args, algorithm: str) -> int:
    """Updates over which ARMIN's temperature anneals on ``algorithm``: ``--tau-updates``, else
    the task's preset."""
    return task_preset(args, algorithm).tau_updates if args.tau_updates is None else args.tau_updates


def armin_params(args, algorithm: str) -> int:
    """Parameters of the ARMIN model of ``args`` for ``algorithm`` (built, not trained)."""
    spec = AlgorithmSpec(algorithm=algorithm, min_length=2, max_length=2)  # sizes only
    # --armin-no-reread is CellVariant(no_reread=True), ...
    flags = task_preset(args, algorithm).armin_flags
    variant = CellVariant(**{flag[len("--armin-"):].replace("-", "_"): True for flag in flags})
    armin = ARMIN(spec.input_size, args.armin_hidden_size, args.armin_slot_size, args.armin_slots, variant=variant)
    return sum(p.numel() for p in armin.parameters()) + (armin.output_size + 1) * spec.output_size


def model_flags(args, algorithm: str, model: str) -> List:
    if model == "armin":
        return [
            "--arch", "armin_algorithmic", "--armin-hidden-size", args.armin_hidden_size,
            "--armin-slot-size", args.armin_slot_size, "--armin-slots", args.armin_slots,
            "--armin-tau-updates", tau_updates(args, algorithm), *task_preset(args, algorithm).armin_flags,
        ]
    return ["--arch", "lstm_algorithmic", "--lstm-params", armin_params(args, algorithm)]


def armin_cell_words(args) -> str:
    """Which cell ARMIN trains on which task, for the table's title."""
    presets = {task: task_preset(args, task) for task in ALGORITHMS if task in args.tasks}
    changed = [f"{' '.join(preset.armin_flags)} on {task.replace('_', ' ')}"
               for task, preset in presets.items() if preset.armin_flags]
    return "with " + ", ".join(changed) if changed else "as in the paper on every task"


def task_rate(args, algorithm: str, model: str) -> float:
    """The Adam learning rate of ``model`` on ``algorithm``: ``--armin-lr`` / ``--lstm-lr``,
    else ``--lr``, else the task's preset."""
    return model_rate(args.rates[algorithm], model)


def train_run(args, algorithm: str, model: str, run_dir: Path) -> Path:
    return train(f"{algorithm}/{model}", [
        "--task", "armin_algorithmic", "--algorithm", algorithm,
        "--criterion", "algorithmic_bits", "--optimizer", "adam", "--lr", task_rate(args, algorithm, model),
        *args.schedule,
        "--clip-norm", args.clip_norm, "--batch-size", args.batch_size, "--seed", args.seed,
        "--train-size", args.train_size, "--valid-size", args.valid_size,
        "--valid-subset", ",".join(SUBSETS), "--best-checkpoint-metric", "bit_errors",
        "--stop-time-hours", args.minutes / 60, "--max-update", args.max_update,
        "--validate-interval-updates", args.validate_every,
        "--save-interval-updates", args.validate_every, "--keep-interval-updates", 1,
        "--num-workers", 0, *bookkeeping_flags(run_dir, run_dir / "tensorboard", args.log_interval), "--cpu",
        *model_flags(args, algorithm, model),
    ], run_dir)


def validate(args, name: str, checkpoint: Path, run_dir: Path) -> Dict[str, Dict[str, float]]:
    """{subset: {metric: value}} of ``fairseq-validate`` on valid and valid_long."""
    log = run_dir / "validate.log"
    finished = run_tool("validate", name, [
        "--task", "armin_algorithmic", "--path", checkpoint,
        "--valid-subset", ",".join(SUBSETS), "--batch-size", args.batch_size, "--cpu",
    ], log)
    scores = {}
    for line in finished.lines:
        found = re.search(r"valid on '(\w+)' subset \| (.*)$", line)
        if found:
            fields = dict(re.findall(r"(\w+) ([-0-9.e]+)", found.group(2)))
            scores[found.group(1)] = {key: float(value) for key, value in fields.items()}
    if finished.returncode != 0 or set(SUBSETS) - set(scores):
        raise tool_failed("validate", name, log)
    return scores


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m armin_plugin.jobs.compare_algorithmic",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/algorithmic"), help="checkpoints, logs, plot, table")
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per model in minutes")
    parser.add_argument("--tasks", default=",".join(ALGORITHMS), help="comma-separated tasks")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: armin, lstm")
    parser.add_argument("--max-update", type=int, default=0, help="also stop after this many updates (0: no limit)")
    parser.add_argument("--armin-hidden-size", type=int, default=64)
    parser.add_argument("--armin-slot-size", type=int, default=32)
    parser.add_argument("--armin-slots", type=int, default=32)
    parser.add_argument("--tau-updates", type=int, default=None,
                        help="updates over which ARMIN's temperature anneals (default: the task's, "
                             "TASK_PRESETS: 10000 on associative recall, 2000 on the others; "
                             "2000 everywhere with --armin-paper-cell)")
    parser.add_argument("--armin-paper-cell", action="store_true",
                        help="the paper's cell on every task, at its own rates (default: TASK_PRESETS, "
                             "--armin-no-reread --armin-content-address on associative recall)")
    parser.add_argument("--batch-size", type=int, default=32)
    add_rate_flags(parser, "the task's: TASK_PRESETS")
    add_schedule_flag(parser)
    parser.add_argument("--clip-norm", type=float, default=10.0)
    parser.add_argument("--train-size", type=int, default=10000, help="training sequences per epoch")
    parser.add_argument("--valid-size", type=int, default=512, help="sequences of valid and valid_long")
    parser.add_argument("--seed", type=int, default=1)
    # 250: at least 36 points per curve in the default 10 minutes (9,000 to 28,000 updates
    # per 5 CPU minutes, docs/algorithmic.md), 18 on a machine half as fast
    parser.add_argument("--validate-every", type=int, default=250, help="validation interval in updates")
    parser.add_argument("--log-interval", type=int, default=50)
    args = parser.parse_args(argv)
    if not args.minutes > 0:
        parser.error(f"--minutes must be positive, got {args.minutes}")
    args.schedule = schedule_flags(args.lr_schedule, args.minutes, args.max_update)
    args.tasks = [t for t in args.tasks.split(",") if t]
    args.models = [m for m in args.models.split(",") if m]
    for name, chosen, allowed in (("--tasks", args.tasks, ALGORITHMS), ("--models", args.models, MODELS)):
        unknown = sorted(set(chosen) - set(allowed)) or ([] if chosen else ["(none)"])
        if unknown:
            parser.error(f"{name}: unknown {', '.join(unknown)}; choose from {', '.join(allowed)}")
    args.rates = {}
    for task in args.tasks:
        args.rates[task] = argparse.Namespace(lr=args.lr, armin_lr=args.armin_lr, lstm_lr=args.lstm_lr)
        resolve_rates(parser, args.rates[task], task_preset(args, task).rates)
    if args.tau_updates is not None and args.tau_updates < 0:
        parser.error(f"--tau-updates must be >= 0, got {args.tau_updates}")
    for name in ("batch_size", "validate_every", "train_size", "valid_size", "armin_hidden_size",
                 "armin_slot_size", "armin_slots"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    return args


def main(argv=None):
    setup_cli_logging()
    args = parse_args(argv)
    if args.max_update == 0:
        args.max_update = 10**9
    results = JobResults(
        f"Best checkpoint (fewest bit errors at training lengths), fairseq-validate on "
        f"{args.valid_size} fixed sequences per split; {args.minutes:g} min budget per model, "
        f"each model at its own Adam lr per task, {SCHEDULE_WORDS[args.lr_schedule]}; ARMIN {armin_cell_words(args)}:",
        COLUMNS,
        panels={panel: label for task in args.tasks for panel, label in (
            (task, "validation bit errors per sequence"),
            (f"{task}: training", "training loss (every logged interval)"))},
    )
    with exits_in_one_line(args.out):
        for task in args.tasks:
            for model in args.models:
                run_dir = args.out / task / model
                run_dir.mkdir(parents=True, exist_ok=True)
                started = time.time()
                checkpoint = train_run(args, task, model, run_dir)
                wall = (time.time() - started) / 60
                scores = validate(args, f"{task}/{model}", checkpoint, run_dir)
                facts = checkpoint_facts(run_dir / "checkpoints" / "checkpoint_last.pt")
                results.rows.append(dict(
                    task=task, model=model.upper(), params=facts.params, lr=task_rate(args, task, model),
                    tau_updates=tau_updates(args, task) if model == "armin" else None,
                    updates=facts.updates,
                    train_minutes=facts.train_minutes, wall_minutes=wall,
                    bit_errors=scores["valid"]["bit_errors"], seq_acc=scores["valid"]["seq_acc"],
                    long_bit_errors=scores["valid_long"]["bit_errors"], long_seq_acc=scores["valid_long"]["seq_acc"],
                ))
                log = read_run(run_dir / "tensorboard", SUBSETS)
                for subset in SUBSETS:
                    variant = "long lengths" if subset == "valid_long" else ""
                    results.series.append(Series(task, model.upper(), log.curve("bit_errors", subset), variant))
                results.series.append(Series(f"{task}: training", model.upper(), log.train))
                logger.info("%s on %s: %s", model, task, results.rows[-1])
        _, png = render(results, args.out)
    print(f"\n{summary(results)}")
    print(f"Plot: {png}; TensorBoard: tensorboard --logdir {args.out}")
    return results


if __name__ == "__main__":
    main()
