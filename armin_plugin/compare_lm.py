"""Train ``armin_lm`` and fairseq's ``lstm_lm`` side by side, evaluate both, print a table.

    python -m armin_plugin.compare_lm --data data-bin/ptb_char --out runs/ptb_char

Both models get the same data, batches, optimizer and training budget, and similar
parameter counts (the LSTM's hidden size is solved for ARMIN's count). Each is trained with
``fairseq-train`` (checkpoints and TensorBoard logs under ``--out``) and scored on the test
split with ``fairseq-eval-lm``. A finished run is not trained again: a second call resumes
from its checkpoint, finds the budget spent, and only evaluates. Losses are in base 2: on
character data, bits per character.
"""
import argparse
import json
import logging
import math
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List

import torch

from armin_plugin.data.ptb import check_data_bin
from armin_plugin.errors import ArminError
from armin_plugin.tools import fairseq_command, run_streamed

logger = logging.getLogger("armin_plugin.compare_lm")

# Model sizes per preset. "quick" fits a few CPU minutes; "full" is the armin_lm_ptb_char
# architecture (GPU scale).
PRESETS = {
    "quick": dict(embed=64, hidden=256, slot=64, slots=16, dropout=0.1, max_epoch=1),
    "full": dict(embed=128, hidden=1000, slot=256, slots=16, dropout=0.25, max_epoch=50),
}


@dataclass
class Result:
    model: str
    arch: str
    params: int
    updates: int
    train_minutes: float
    test_loss: float


def lstm_lm_params(vocab: int, embed: int, hidden: int) -> int:
    """Parameters of fairseq's one-layer ``lstm_lm`` with out-embed-dim = hidden."""
    embedding = vocab * embed
    lstm_cell = 4 * hidden * (embed + hidden) + 8 * hidden
    output = hidden * vocab + vocab
    return embedding + lstm_cell + output


def lstm_hidden_for(params: int, vocab: int, embed: int) -> int:
    """The hidden size at which ``lstm_lm_params`` comes closest to ``params``."""
    # 4 H^2 + (4 E + 8 + V) H + V (E + 1) - params = 0
    b, c = 4 * embed + 8 + vocab, vocab * (embed + 1) - params
    root = (-b + math.sqrt(b * b - 16 * c)) / 8
    candidates = [max(1, math.floor(root)), max(1, math.ceil(root))]
    return min(candidates, key=lambda h: abs(lstm_lm_params(vocab, embed, h) - params))


def armin_lm_params(vocab: int, embed: int, hidden: int, slot: int, slots: int) -> int:
    """Parameters of a one-layer ``armin_lm`` without tied embeddings."""
    inputs = embed + hidden + slot
    cell = (
        (embed + hidden + 1) * slots  # address
        + (inputs + 1) * (hidden + slot)  # gate
        + (inputs + 1) * (4 * hidden + slot)  # transform
        + (hidden + 1) * slot  # write
        + hidden + slots * slot  # initial state and memory
    )
    return vocab * embed + cell + (hidden + slot + 1) * vocab


def dictionary_size(data: Path) -> int:
    """fairseq's vocabulary size: dict.txt entries plus its 4 special symbols."""
    return 4 + sum(1 for line in (data / "dict.txt").read_text().splitlines() if line.strip())


def model_flags(preset: dict, vocab: int):
    """(name, arch, flags) of the two models, with similar parameter counts."""
    armin = [
        "--arch", "armin_lm",
        "--decoder-embed-dim", preset["embed"],
        "--armin-hidden-size", preset["hidden"],
        "--armin-slot-size", preset["slot"],
        "--armin-slots", preset["slots"],
        "--dropout", preset["dropout"],
    ]
    params = armin_lm_params(vocab, preset["embed"], preset["hidden"], preset["slot"], preset["slots"])
    hidden = lstm_hidden_for(params, vocab, preset["embed"])
    lstm = [
        "--arch", "lstm_lm",
        "--decoder-embed-dim", preset["embed"],
        "--decoder-hidden-size", hidden,
        "--decoder-out-embed-dim", hidden,
        "--dropout", preset["dropout"],
    ]
    return [("ARMIN", "armin_lm", armin), ("LSTM", "lstm_lm", lstm)]


def train(args, name: str, flags: List, run_dir: Path, max_epoch: int):
    command = fairseq_command("train") + [
        str(args.data), "--user-dir", str(Path(__file__).parent),
        "--task", "language_modeling", "--sample-break-mode", "none",
        "--tokens-per-sample", args.tokens_per_sample, "--batch-size", args.batch_size,
        "--optimizer", "adam", "--lr", args.lr, "--clip-norm", 1.0, "--seed", args.seed,
        "--max-epoch", max_epoch, "--stop-time-hours", args.minutes / 60,
        "--validate-interval-updates", args.validate_every, "--no-epoch-checkpoints",
        "--save-dir", run_dir / "checkpoints", "--tensorboard-logdir", args.out / "tensorboard" / name,
        "--log-format", "simple", "--log-interval", args.log_interval, "--cpu",
        *flags,
    ]
    command = [str(part) for part in command]
    logger.info("training %s: %s", name, " ".join(command))
    finished = run_streamed(command, run_dir / "train.log", prefix=f"[{name}] ")
    if finished.returncode != 0:
        raise ArminError(f"fairseq-train of {name} failed (exit {finished.returncode}); see {run_dir / 'train.log'}")


def evaluate(args, name: str, checkpoint: Path, run_dir: Path) -> float:
    command = fairseq_command("eval-lm") + [
        str(args.data), "--user-dir", str(Path(__file__).parent), "--path", str(checkpoint),
        "--gen-subset", "test", "--tokens-per-sample", str(args.tokens_per_sample),
        "--batch-size", str(args.batch_size), "--cpu",
    ]
    logger.info("evaluating %s on test: %s", name, " ".join(command))
    finished = run_streamed(command, run_dir / "eval_test.log", prefix=f"[{name}] ")
    found = [re.search(r"Loss \(base 2\): ([0-9.]+)", line) for line in finished.lines]
    found = [match for match in found if match]
    if finished.returncode != 0 or not found:
        raise ArminError(f"fairseq-eval-lm of {name} failed; see {run_dir / 'eval_test.log'}")
    return float(found[-1].group(1))


def checkpoint_facts(checkpoint: Path):
    """(parameters, updates, training minutes) stored in a fairseq checkpoint."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    params = sum(tensor.numel() for tensor in state["model"].values())
    updates = state["optimizer_history"][-1]["num_updates"]
    return params, updates, state["extra_state"]["previous_training_time"] / 60


def table(results: List[Result], metric: str) -> str:
    rows = [f"| model | arch | params | updates | train min | test {metric} |", "|---|---|---:|---:|---:|---:|"]
    for r in results:
        rows.append(
            f"| {r.model} | {r.arch} | {r.params:,} | {r.updates:,} | {r.train_minutes:.1f} | {r.test_loss:.3f} |"
        )
    return "\n".join(rows)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data-bin/ptb_char"), help="fairseq data-bin directory")
    parser.add_argument("--out", type=Path, default=Path("runs/ptb_char"), help="checkpoints, logs, TensorBoard, results")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick", help="model sizes and epochs")
    parser.add_argument("--minutes", type=float, default=3.5, help="training budget per model in minutes (0: none)")
    parser.add_argument("--max-epoch", type=int, help="epochs per model (default: from the preset)")
    parser.add_argument("--tokens-per-sample", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.002)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--validate-every", type=int, default=500, help="validation interval in updates")
    parser.add_argument("--log-interval", type=int, default=25)
    parser.add_argument("--metric", default="BPC", help="name of the base-2 loss in the table")
    args = parser.parse_args(argv)
    if args.minutes < 0:
        parser.error(f"--minutes must be >= 0, got {args.minutes}")
    return args


def main(argv=None):
    logging.basicConfig(format="%(asctime)s | %(levelname)s | %(name)s | %(message)s", level=logging.INFO, stream=sys.stdout)
    args = parse_args(argv)
    try:
        check_data_bin(args.data)
        preset = PRESETS[args.preset]
        max_epoch = args.max_epoch or preset["max_epoch"]
        results = []
        for name, arch, flags in model_flags(preset, dictionary_size(args.data)):
            run_dir = args.out / name.lower()
            run_dir.mkdir(parents=True, exist_ok=True)
            started = time.time()
            train(args, name, flags, run_dir, max_epoch)
            checkpoint = run_dir / "checkpoints" / "checkpoint_best.pt"
            if not checkpoint.exists():
                raise ArminError(f"{name} wrote no checkpoint to {checkpoint.parent}; see {run_dir / 'train.log'}")
            test_loss = evaluate(args, name, checkpoint, run_dir)
            params, updates, minutes = checkpoint_facts(checkpoint)
            results.append(Result(name, arch, params, updates, minutes, test_loss))
            logger.info("%s done in %.1f min: test %s %.3f", name, (time.time() - started) / 60, args.metric, test_loss)
    except ArminError as error:
        sys.exit(f"error: {error}")
    text = table(results, args.metric)
    (args.out / "results.md").write_text(text + "\n")
    (args.out / "results.json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    print(f"\nTest split of {args.data} (fairseq-eval-lm, base-2 loss per token):\n{text}")
    print(f"\nTensorBoard: tensorboard --logdir {args.out / 'tensorboard'}")
    return results


if __name__ == "__main__":
    main()
