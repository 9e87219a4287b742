"""Pixel-by-pixel MNIST, sequential or permuted: ARMIN as shipped, ARMIN with the authors'
settings, an LSTM of 100 units and an LSTM of ARMIN's parameter count; plot and tabulate.

    python -m armin_plugin.jobs.compare_pixel_mnist --data data-bin/pixel_mnist --out runs/pixel_mnist --minutes 4
    python -m armin_plugin.jobs.compare_pixel_mnist --permute --epochs 150 --gpu    # the authors' budget
    python -m armin_plugin.jobs.compare_pixel_mnist --pixels-per-step 8 --epochs 40   # a CPU variant, 98 steps

Every run gets the authors' pMNIST training: Adam, batch 128, gradient-norm clip 1.0, and
the learning rate times 0.1 for the last 20% of the budget (of ``--minutes`` of training
or of ``--epochs``): fairseq-train runs to 80% of the budget at the run's rate, then
resumes from its checkpoint at a tenth of it. Runs:

  ARMIN          armin_pixel (d_h 100, d_r 28, 28 slots) with the plugin's defaults
  ARMIN (paper)  the same with the authors' initialisation (--armin-init authors) and
                 temperature 1 / min(epoch + 1, N - 1) (--armin-tau-schedule authors)
  LSTM-100       lstm_pixel, 100 hidden units
  LSTM (=ARMIN)  lstm_pixel with the hidden size whose count is closest to ARMIN's

The checkpoint of best validation accuracy is scored on the test split with
``fairseq-validate``. Written under ``--out``: ``results.md``, ``results.json``,
``curves.png`` (validation accuracy and training loss against updates and wall-clock
time) and per run checkpoints, ``train.log``, ``test.log`` and TensorBoard logs (with the
test accuracy). A finished run is not trained again: a second call finds the budget
spent in its checkpoint, and only evaluates.
"""
import argparse
import logging
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

from ..cli.logs import setup_cli_logging
from ..modules import ARMIN
from ..data.mnist import CLASSES, read_manifest, steps_per_image
from ..errors import ArminError
from .checkpoints import checkpoint_facts
from .fairseq_runs import bookkeeping_flags, exits_in_one_line, run_tool, tool_failed, train
from .learning_rates import add_rate_flags, resolve_rates
from .paper_cell import paper_cell_flags
from .report import render, summary
from .results import Column, JobResults, Series, TensorBoardScores
from .tensorboard_logs import read_run

logger = logging.getLogger(__name__)

RUNS = ("armin", "armin_paper", "lstm100", "lstm_params")
COLUMNS = [
    Column("run", "run"), Column("params", "params", "{:,}"), Column("lr", "Adam lr", "{:g}"),
    Column("updates", "updates", "{:,}"), Column("train_minutes", "train min", "{:.1f}"),
    Column("wall_minutes", "wall min", "{:.1f}"), Column("valid_acc", "valid acc (best)", "{:.4f}"),
    Column("test_acc", "test acc", "{:.4f}"), Column("test_loss", "test loss (bits)", "{:.3f}"),
    Column("pixels_per_s", "train pixels/s", "{:,.0f}"),
]
DECAY_AT = 0.8  # fraction of the budget after which the learning rate is a tenth


@dataclass
class Run:
    key: str
    name: str
    flags: List
    lr: float


def armin_params(args) -> int:
    """Parameters of ``armin_pixel`` at the sizes of ``args`` (built, not trained)."""
    armin = ARMIN(args.pixels_per_step, args.armin_hidden_size, args.armin_slot_size, args.armin_slots)
    return sum(p.numel() for p in armin.parameters()) + (armin.output_size + 1) * CLASSES


def planned_runs(args, epoch_updates: int) -> List[Run]:
    armin = ["--arch", "armin_pixel", "--armin-hidden-size", args.armin_hidden_size,
             "--armin-slot-size", args.armin_slot_size, "--armin-slots", args.armin_slots]
    paper = paper_cell_flags(epoch_updates)
    runs = {
        "armin": Run("armin", "ARMIN", armin, args.armin_lr),
        "armin_paper": Run("armin_paper", "ARMIN (paper)", armin + paper, args.armin_lr),
        "lstm100": Run("lstm100", "LSTM-100", ["--arch", "lstm_pixel", "--lstm-hidden-size", 100], args.lstm_lr),
        "lstm_params": Run("lstm_params", "LSTM (=ARMIN params)",
                           ["--arch", "lstm_pixel", "--lstm-params", armin_params(args)], args.lstm_lr),
    }
    return [runs[key] for key in args.runs]


def budget_flags(args, fraction: float) -> List:
    """The stopping flags of a phase that ends at ``fraction`` of the budget."""
    if args.epochs:
        return ["--max-epoch", max(1, int(args.epochs * fraction))]
    return ["--stop-time-hours", args.minutes * fraction / 60, "--max-epoch", 10**6]


def task_flags(args) -> List:
    return ["--task", "armin_pixel_mnist", *(["--permute"] if args.permute else []),
            "--pixels-per-step", args.pixels_per_step]


def train_run(args, run: Run, run_dir: Path) -> Path:
    """Both phases of ``run``: to 80% of the budget at its rate, then at a tenth of it."""
    common = [
        args.data, *task_flags(args),
        "--criterion", "last_step_classification", "--optimizer", "adam", "--clip-norm", args.clip_norm,
        "--batch-size", args.batch_size, "--seed", args.seed, "--max-update", args.max_update,
        "--best-checkpoint-metric", "accuracy", "--maximize-best-checkpoint-metric",
        "--validate-interval-updates", args.validate_every, "--save-interval-updates", args.validate_every,
        "--keep-interval-updates", 1, "--num-workers", 0,
        *bookkeeping_flags(run_dir, run_dir / "tensorboard", args.log_interval),
        *([] if args.gpu else ["--cpu"]), *run.flags,
    ]
    train(f"{run.name} (lr {run.lr:g})", [*common, "--lr", run.lr, *budget_flags(args, DECAY_AT)], run_dir)
    return train(f"{run.name} (lr {run.lr / 10:g})", [*common, "--lr", run.lr / 10, *budget_flags(args, 1.0)], run_dir)


def test_scores(args, run: Run, checkpoint: Path, run_dir: Path) -> Dict[str, float]:
    """{metric: value} of ``fairseq-validate`` of ``checkpoint`` on the test split."""
    log = run_dir / "test.log"
    finished = run_tool("validate", run.name, [
        args.data, *task_flags(args), "--path", checkpoint, "--valid-subset", "test", "--batch-size", args.batch_size,
        *([] if args.gpu else ["--cpu"]),
    ], log)
    for line in finished.lines:
        found = re.search(r"valid on 'test' subset \| (.*)$", line)
        if found and finished.returncode == 0:
            return {key: float(value) for key, value in re.findall(r"(\w+) ([-0-9.e]+)", found.group(1))}
    raise tool_failed("validate", run.name, log)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m armin_plugin.jobs.compare_pixel_mnist",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data-bin/pixel_mnist"),
                        help="data-bin of python -m armin_plugin.data.mnist")
    parser.add_argument("--out", type=Path, help="checkpoints, logs, plot, table (default: runs/pixel_mnist "
                                                 "or runs/pixel_mnist_permuted)")
    parser.add_argument("--permute", action="store_true", help="permuted pixel MNIST (the data-bin's permutation)")
    parser.add_argument("--pixels-per-step", type=int, default=1,
                        help="pixels read per step (a divisor of 784): 1 is the paper's task, K > 1 a shorter "
                             "CPU variant of 784 / K steps")
    parser.add_argument("--minutes", type=float, default=4.0, help="training budget per run in minutes")
    parser.add_argument("--epochs", type=int, default=0, help="train for this many epochs instead of --minutes "
                                                              "(the authors: 150)")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, of {', '.join(RUNS)}")
    parser.add_argument("--max-update", type=int, default=0, help="also stop after this many updates (0: no limit)")
    parser.add_argument("--armin-hidden-size", type=int, default=100)
    parser.add_argument("--armin-slot-size", type=int, default=28)
    parser.add_argument("--armin-slots", type=int, default=28)
    add_rate_flags(parser, "1e-3")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--clip-norm", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--validate-every", type=int, default=10, help="validation interval in updates")
    parser.add_argument("--log-interval", type=int, default=5)
    parser.add_argument("--gpu", action="store_true", help="train and evaluate on the GPU")
    args = parser.parse_args(argv)
    resolve_rates(parser, args, dict(armin_lr=1e-3, lstm_lr=1e-3))
    if not args.minutes > 0 or args.epochs < 0:
        parser.error("--minutes must be positive and --epochs >= 0")
    args.runs = [r for r in args.runs.split(",") if r]
    unknown = sorted(set(args.runs) - set(RUNS)) or ([] if args.runs else ["(none)"])
    if unknown:
        parser.error(f"--runs: unknown {', '.join(unknown)}; choose from {', '.join(RUNS)}")
    try:
        steps_per_image(args.pixels_per_step)
    except ArminError as error:
        parser.error(str(error))
    for name in ("batch_size", "validate_every", "log_interval", "armin_hidden_size", "armin_slot_size", "armin_slots"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    args.out = args.out or Path("runs/pixel_mnist_permuted" if args.permute else "runs/pixel_mnist")
    args.max_update = args.max_update or 10**9
    return args


def main(argv=None):
    setup_cli_logging()
    args = parse_args(argv)
    with exits_in_one_line(args.out):
        manifest = read_manifest(args.data)
        epoch_updates = math.ceil(manifest["sizes"]["train"] / args.batch_size)
        task = "permuted" if args.permute else "sequential"
        steps = (f" read {args.pixels_per_step} pixels per step ({steps_per_image(args.pixels_per_step)} steps: a CPU "
                 f"variant, not the paper's task)" if args.pixels_per_step > 1 else "")
        data = (f"a {sum(manifest['sizes'].values()):,}-image SUBSET of MNIST ({manifest['source']})"
                if manifest["subset"] else "MNIST")
        sizes = " / ".join(f"{size:,}" for size in manifest["sizes"].values())
        budget = f"{args.epochs} epochs" if args.epochs else f"{args.minutes:g} min of training"
        results = JobResults(
            f"{task.capitalize()} pixel MNIST{steps} on {data}, train / valid / test {sizes}; {budget} per run, "
            f"batch {args.batch_size}, clip {args.clip_norm:g}, lr x0.1 after {DECAY_AT:.0%}; test accuracy "
            f"of the best-validation checkpoint (fairseq-validate):", COLUMNS,
            panels={"validation": "validation accuracy", "training": "training loss (bits per sequence)"},
        )
        for run in planned_runs(args, epoch_updates):
            run_dir = args.out / run.key
            run_dir.mkdir(parents=True, exist_ok=True)
            started = time.time()
            checkpoint = train_run(args, run, run_dir)
            wall = (time.time() - started) / 60
            test = test_scores(args, run, checkpoint, run_dir)
            facts = checkpoint_facts(run_dir / "checkpoints" / "checkpoint_last.pt")
            log = read_run(run_dir / "tensorboard")
            valid = log.curve("accuracy")
            results.rows.append(dict(
                run=run.name, params=facts.params, lr=run.lr, updates=facts.updates,
                train_minutes=facts.train_minutes, wall_minutes=wall,
                valid_acc=max(point[2] for point in valid) if valid else None,
                test_acc=test["accuracy"], test_loss=test["loss"], pixels_per_s=log.words_per_second,
            ))
            results.series += [Series("validation", run.name, valid), Series("training", run.name, log.train)]
            results.test_scalars.append(TensorBoardScores(str(run_dir / "tensorboard"), facts.updates,
                                                          {"accuracy": test["accuracy"], "loss": test["loss"]}))
            logger.info("%s: %s", run.name, results.rows[-1])
        _, png = render(results, args.out)
    print(f"\n{summary(results)}")
    print(f"Plot: {png}; TensorBoard: tensorboard --logdir {args.out}")
    return results


if __name__ == "__main__":
    main()
