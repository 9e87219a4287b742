"""Train ARMIN and an LSTM of about the same size on the memory tasks; plot and tabulate.

    python -m armin_plugin.algorithmic_report --out runs/algorithmic --minutes 10

For every task (copy, repeat_copy, associative_recall) and model (``armin_algorithmic``,
and ``lstm_algorithmic`` with ``--lstm-params`` set to the ARMIN model's count) this runs
``fairseq-train --task armin_algorithmic`` for a budget of CPU minutes, validating on the
training lengths (``valid``) and on longer ones (``valid_long``), and keeping the checkpoint
with the fewest bit errors on ``valid``. That checkpoint is then scored with
``fairseq-validate`` on both splits. Written under ``--out``: ``results.md`` (the table),
``results.json``, ``bit_errors.png`` (bit errors per sequence against updates, from the
TensorBoard logs) and, per run, checkpoints, ``train.log`` and ``validate.log``. A finished
run is not trained again: a second call resumes from its checkpoint, finds the budget spent,
and only evaluates.
"""
import argparse
import json
import logging
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List

from armin_plugin.compare_lm import checkpoint_facts
from armin_plugin.data.algorithmic import ALGORITHMS
from armin_plugin.errors import ArminError
from armin_plugin.tools import PLUGIN, argv, fairseq_command, run_streamed

logger = logging.getLogger("armin_plugin.algorithmic_report")

MODELS = ("armin", "lstm")


@dataclass
class Result:
    task: str
    model: str
    params: int
    updates: int
    train_minutes: float
    wall_minutes: float
    bit_errors: float
    seq_acc: float
    long_bit_errors: float
    long_seq_acc: float


def armin_params(args, algorithm: str) -> int:
    """Parameters of the ARMIN model of ``args`` for ``algorithm`` (built, not trained)."""
    from armin_plugin.data.algorithmic import AlgorithmSpec
    from armin_plugin.modules import ARMIN

    spec = AlgorithmSpec(algorithm=algorithm, min_length=2, max_length=2)  # sizes only
    armin = ARMIN(spec.input_size, args.armin_hidden_size, args.armin_slot_size, args.armin_slots)
    return sum(p.numel() for p in armin.parameters()) + (armin.output_size + 1) * spec.output_size


def model_flags(args, algorithm: str, model: str) -> List:
    if model == "armin":
        return [
            "--arch", "armin_algorithmic", "--armin-hidden-size", args.armin_hidden_size,
            "--armin-slot-size", args.armin_slot_size, "--armin-slots", args.armin_slots,
            "--armin-tau-updates", args.tau_updates,
        ]
    return ["--arch", "lstm_algorithmic", "--lstm-params", armin_params(args, algorithm)]


def train(args, algorithm: str, model: str, run_dir: Path):
    command = fairseq_command("train") + argv([
        "--user-dir", PLUGIN, "--task", "armin_algorithmic", "--algorithm", algorithm,
        "--criterion", "algorithmic_bits", "--optimizer", "adam", "--lr", args.lr,
        "--clip-norm", args.clip_norm, "--batch-size", args.batch_size, "--seed", args.seed,
        "--train-size", args.train_size, "--valid-size", args.valid_size,
        "--valid-subset", "valid,valid_long", "--best-checkpoint-metric", "bit_errors",
        "--stop-time-hours", args.minutes / 60, "--max-update", args.max_update,
        "--validate-interval-updates", args.validate_every,
        "--save-interval-updates", args.validate_every, "--keep-interval-updates", 1,
        "--no-epoch-checkpoints", "--num-workers", 0, "--save-dir", run_dir / "checkpoints",
        "--tensorboard-logdir", run_dir / "tensorboard", "--log-format", "simple",
        "--log-interval", args.log_interval, "--cpu",
        *model_flags(args, algorithm, model),
    ])
    logger.info("training %s on %s: %s", model, algorithm, " ".join(command))
    finished = run_streamed(command, run_dir / "train.log", prefix=f"[{algorithm}/{model}] ")
    if finished.returncode != 0:
        raise ArminError(f"fairseq-train of {model} on {algorithm} failed (exit {finished.returncode}); see {run_dir / 'train.log'}")


def validate(args, name: str, checkpoint: Path, run_dir: Path) -> Dict[str, Dict[str, float]]:
    """{subset: {metric: value}} of ``fairseq-validate`` on valid and valid_long."""
    command = fairseq_command("validate") + argv([
        "--user-dir", PLUGIN, "--task", "armin_algorithmic", "--path", checkpoint,
        "--valid-subset", "valid,valid_long", "--batch-size", args.batch_size, "--cpu",
    ])
    logger.info("evaluating %s: %s", name, " ".join(command))
    finished = run_streamed(command, run_dir / "validate.log", prefix=f"[{name}] ")
    scores = {}
    for line in finished.lines:
        found = re.search(r"valid on '(\w+)' subset \| (.*)$", line)
        if found:
            fields = dict(re.findall(r"(\w+) ([-0-9.e]+)", found.group(2)))
            scores[found.group(1)] = {key: float(value) for key, value in fields.items()}
    if finished.returncode != 0 or {"valid", "valid_long"} - set(scores):
        raise ArminError(f"fairseq-validate of {name} failed; see {run_dir / 'validate.log'}")
    return scores


def curves(run_dir: Path) -> Dict[str, List]:
    """{subset: [(update, bit errors per sequence), ...]} from a run's TensorBoard logs."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logging.getLogger("tensorboard").setLevel(logging.WARNING)
    found = {}
    for subset in ("valid", "valid_long"):
        folder = run_dir / "tensorboard" / subset
        if not folder.is_dir():
            continue
        events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        events.Reload()
        if "bit_errors" in events.Tags().get("scalars", []):
            points = {e.step: e.value for e in events.Scalars("bit_errors")}  # last write wins
            found[subset] = sorted(points.items())
    return found


def plot(runs: Dict[str, Dict[str, Dict[str, List]]], path: Path):
    """One panel per task: bit errors per sequence against updates, solid at training
    lengths, dashed at the longer lengths, one colour per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(runs)
    figure, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 4), squeeze=False)
    colours = {"armin": "tab:red", "lstm": "tab:blue"}
    for axis, task in zip(axes[0], tasks):
        for model, subsets in runs[task].items():
            for subset, style in (("valid", "-"), ("valid_long", "--")):
                points = subsets.get(subset)
                if points:
                    steps, values = zip(*points)
                    label = f"{model.upper()} {'long' if subset == 'valid_long' else 'train'} lengths"
                    axis.plot(steps, values, style, color=colours.get(model), label=label)
        axis.set_title(task)
        axis.set_xlabel("updates")
        axis.set_ylabel("bit errors per sequence")
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def table(results: List[Result]) -> str:
    rows = [
        "| task | model | params | updates | train min | wall min | bit errors/seq (train lengths) "
        "| seq acc | bit errors/seq (long) | seq acc (long) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rows.append(
            f"| {r.task} | {r.model.upper()} | {r.params:,} | {r.updates:,} | {r.train_minutes:.1f} "
            f"| {r.wall_minutes:.1f} | {r.bit_errors:.2f} | {r.seq_acc:.3f} | {r.long_bit_errors:.2f} "
            f"| {r.long_seq_acc:.3f} |"
        )
    return "\n".join(rows)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/algorithmic"), help="checkpoints, logs, plot, table")
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per model in minutes")
    parser.add_argument("--tasks", default=",".join(ALGORITHMS), help="comma-separated tasks")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: armin, lstm")
    parser.add_argument("--max-update", type=int, default=0, help="also stop after this many updates (0: no limit)")
    parser.add_argument("--armin-hidden-size", type=int, default=64)
    parser.add_argument("--armin-slot-size", type=int, default=32)
    parser.add_argument("--armin-slots", type=int, default=32)
    parser.add_argument("--tau-updates", type=int, default=2000, help="updates over which ARMIN's temperature anneals")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--clip-norm", type=float, default=10.0)
    parser.add_argument("--train-size", type=int, default=10000, help="training sequences per epoch")
    parser.add_argument("--valid-size", type=int, default=512, help="sequences of valid and valid_long")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--validate-every", type=int, default=500, help="validation interval in updates")
    parser.add_argument("--log-interval", type=int, default=100)
    args = parser.parse_args(argv)
    if not args.minutes > 0:
        parser.error(f"--minutes must be positive, got {args.minutes}")
    args.tasks = [t for t in args.tasks.split(",") if t]
    args.models = [m for m in args.models.split(",") if m]
    for name, chosen, allowed in (("--tasks", args.tasks, ALGORITHMS), ("--models", args.models, MODELS)):
        unknown = sorted(set(chosen) - set(allowed)) or ([] if chosen else ["(none)"])
        if unknown:
            parser.error(f"{name}: unknown {', '.join(unknown)}; choose from {', '.join(allowed)}")
    for name in ("batch_size", "validate_every", "train_size", "valid_size", "armin_hidden_size",
                 "armin_slot_size", "armin_slots"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    return args


def main(argv=None):
    logging.basicConfig(format="%(asctime)s | %(levelname)s | %(name)s | %(message)s", level=logging.INFO, stream=sys.stdout)
    args = parse_args(argv)
    if args.max_update == 0:
        args.max_update = 10**9
    results, runs = [], {}
    try:
        for task in args.tasks:
            runs[task] = {}
            for model in args.models:
                run_dir = args.out / task / model
                run_dir.mkdir(parents=True, exist_ok=True)
                started = time.time()
                train(args, task, model, run_dir)
                wall = (time.time() - started) / 60
                checkpoint = run_dir / "checkpoints" / "checkpoint_best.pt"
                if not checkpoint.exists():
                    raise ArminError(f"{model} on {task} wrote no checkpoint to {checkpoint.parent}; see {run_dir / 'train.log'}")
                scores = validate(args, f"{task}/{model}", checkpoint, run_dir)
                params, updates, minutes = checkpoint_facts(run_dir / "checkpoints" / "checkpoint_last.pt")
                results.append(Result(
                    task, model, params, updates, minutes, wall,
                    scores["valid"]["bit_errors"], scores["valid"]["seq_acc"],
                    scores["valid_long"]["bit_errors"], scores["valid_long"]["seq_acc"],
                ))
                runs[task][model] = curves(run_dir)
                logger.info("%s on %s: %s", model, task, results[-1])
    except ArminError as error:
        sys.exit(f"error: {error}")
    text = table(results)
    (args.out / "results.md").write_text(text + "\n")
    (args.out / "results.json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    plot(runs, args.out / "bit_errors.png")
    print(f"\nBest checkpoint (fewest bit errors at training lengths), fairseq-validate on "
          f"{args.valid_size} fixed sequences per split; {args.minutes:g} min budget per model:\n{text}")
    print(f"\nPlot: {args.out / 'bit_errors.png'}; TensorBoard: tensorboard --logdir {args.out}")
    return results


if __name__ == "__main__":
    main()
