"""Train ARMIN and LSTM language models side by side, evaluate them, report and plot.

    python -m armin_plugin.jobs.compare_lm --data data-bin/ptb_char --out runs/ptb_char
    python -m armin_plugin.jobs.compare_lm --plan stream --data data-bin/ptb_char --out runs/stream

All runs of a plan get the same data, batch layout, optimizer and training budget, and
similar parameter counts (the LSTM's hidden size is solved for ARMIN's count). Each is
trained with ``fairseq-train`` (checkpoints and TensorBoard logs under ``--out``), scored on
the test split with ``fairseq-eval-lm`` under the task it was trained with, and the results
(``--out``/results.json, the table results.md and curves.png, drawn by
:mod:`armin_plugin.jobs.report`) are written from the event files and the test scores. A finished run is not trained again: a second call finds the budget spent
in its checkpoint, and only evaluates. Losses are in base 2.

Plans:
  main:   armin_lm as shipped, armin_lm as in the paper (the authors' initialisation and
          temperature, jobs/paper_cell.py) and fairseq's lstm_lm, independent blocks
          (fairseq's language_modeling)
  stream: armin_lm and lstm_stream_lm over contiguous streams with carried state
          (armin_tbptt_lm), and armin_lm over independent blocks: what the memory gains
          from carrying state, at the same budget
"""
import argparse
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from ..cli.logs import setup_cli_logging
from ..data.data_bin import check_data_bin
from ..errors import ArminError
from ..modules.sizing import lstm_hidden_for
from .checkpoints import checkpoint_facts
from .fairseq_runs import (bookkeeping_flags, check_process_count, chosen_runs, exits_in_one_line, run_tool, tool_failed,
                           train)
from .learning_rates import SCHEDULE_WORDS, add_rate_flags, add_schedule_flag, resolve_rates, schedule_flags
from .lm_results import SplitScore, lm_results
from .paper_cell import block_epoch_updates, paper_cell_flags
from .report import render, summary
from .results import TensorBoardScores
from .tensorboard_logs import read_run

logger = logging.getLogger(__name__)

# Sizes and training settings. "quick*" fit a few CPU minutes per run. The others are the
# GPU-scale settings of the recipes, after the AWD-LSTM setups of Merity et al. (2018, "An
# analysis of neural language modeling at multiple scales"): segments of 150 / 70 / 200
# tokens, batches of 128 / 20 / 128, Adam; ARMIN's state sized like the paper's one-layer
# models (ptb_char is the armin_lm_ptb_char architecture).
# validate_every: updates between validations; valid_steps: fairseq's --max-valid-steps
# (validation stops after batch number valid_steps, counting from 0; 0: the whole split).
# "quick*" validate every 20 updates on the first 6 batches (28,800 characters of PTB's
# 393,042 at the quick sizes): at least 12 points on every curve in the 243 to 933 updates
# that 3.5 CPU minutes gave fairseq's lstm_lm and armin_lm on this project's 2-core machine
# (slow and fast days), for about a tenth of the budget.
QUICK_VALIDATION = dict(validate_every=20, valid_steps=5)
FULL_VALIDATION = dict(validate_every=1000, valid_steps=0)
# Adam learning rate of each model (armin_lr: every armin_lm run; lstm_lr: lstm_lm and
# lstm_stream_lm). "quick": each model's best of 2e-3, 4e-3, 8e-3 and 16e-3 on PTB-char
# validation data (streams, 1,000 updates, two seeds; docs/studies/ptb-char-variants.md, "The learning
# rate"): 8e-3 for both. "quick_word" and the GPU presets keep the rates of the setups they
# follow, the same for both models: not yet studied.
# --lr-schedule: constant for every preset. Half a cosine over the budget (--lr-schedule cosine)
# wins at 2,000 updates (ARMIN 1.738 -> 1.630 valid BPC, the LSTM 1.720 -> 1.669; docs/studies/ptb-char-variants.md
# "Results"), but over the quick preset's 3.5 minutes (~300 updates) it decays too
# early: the main job ended 0.15-0.35 test BPC worse with it (run beside the test suite).
QUICK_RATES = dict(armin_lr=0.008, lstm_lr=0.008)
PRESETS = {
    "quick": dict(embed=64, hidden=256, slot=64, slots=16, dropout=0.1, max_epoch=1,
                  tokens_per_sample=150, batch_size=32, **QUICK_RATES, **QUICK_VALIDATION),
    "quick_word": dict(embed=128, hidden=256, slot=64, slots=16, dropout=0.2, max_epoch=1,
                       tokens_per_sample=35, batch_size=32, armin_lr=0.002, lstm_lr=0.002,
                       **QUICK_VALIDATION),
    "ptb_char": dict(embed=128, hidden=1000, slot=256, slots=16, dropout=0.25, max_epoch=50,
                     tokens_per_sample=150, batch_size=128, armin_lr=0.002, lstm_lr=0.002,
                     **FULL_VALIDATION),
    "ptb_word": dict(embed=400, hidden=1000, slot=256, slots=16, dropout=0.5, max_epoch=40,
                     tokens_per_sample=70, batch_size=20, armin_lr=0.001, lstm_lr=0.001,
                     **FULL_VALIDATION),
    "enwik8": dict(embed=400, hidden=1500, slot=512, slots=32, dropout=0.2, max_epoch=12,
                   tokens_per_sample=200, batch_size=128, armin_lr=0.001, lstm_lr=0.001,
                     **FULL_VALIDATION),
}
BLOCKS = ["--task", "language_modeling", "--sample-break-mode", "none"]
STREAMS = ["--task", "armin_tbptt_lm"]


@dataclass
class Run:
    name: str
    task: List
    model: List
    lr: Optional[float]


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


def plan_runs(plan: str, preset: dict, vocab: int, epoch_updates: int, armin_lr: Optional[float] = None,
              lstm_lr: Optional[float] = None) -> List[Run]:
    """The runs of ``plan``, the LSTMs sized to ARMIN's parameter count, each model at its
    learning rate (None where the caller trains them with its own optimizer); ``epoch_updates``
    (updates per epoch of the main plan's blocks) times the paper's temperature."""
    armin = [
        "--arch", "armin_lm", "--decoder-embed-dim", preset["embed"],
        "--armin-hidden-size", preset["hidden"], "--armin-slot-size", preset["slot"],
        "--armin-slots", preset["slots"], "--dropout", preset["dropout"],
    ]
    params = armin_lm_params(vocab, preset["embed"], preset["hidden"], preset["slot"], preset["slots"])
    # the LSTM's embedding table does not grow with its hidden size; its output map does
    hidden = lstm_hidden_for(params - vocab * preset["embed"], preset["embed"], vocab)
    lstm = ["--decoder-embed-dim", preset["embed"], "--decoder-hidden-size", hidden, "--dropout", preset["dropout"]]
    if plan == "main":
        return [
            Run("ARMIN", BLOCKS, armin, armin_lr),
            Run("ARMIN-paper", BLOCKS, [*armin, *paper_cell_flags(epoch_updates)], armin_lr),
            Run("LSTM", BLOCKS, ["--arch", "lstm_lm", "--decoder-out-embed-dim", hidden, *lstm], lstm_lr),
        ]
    return [
        Run("ARMIN-stream", STREAMS, armin, armin_lr),
        Run("ARMIN-blocks", BLOCKS, armin, armin_lr),
        Run("LSTM-stream", STREAMS, ["--arch", "lstm_stream_lm", *lstm], lstm_lr),
    ]


def train_run(args, run: Run, run_dir: Path, logdir: Path) -> Path:
    return train(run.name, [
        args.data, *run.task, *run.model,
        "--tokens-per-sample", args.tokens_per_sample, "--batch-size", args.batch_size // args.nprocs,
        "--optimizer", "adam", "--lr", run.lr, "--clip-norm", 1.0, "--seed", args.seed,
        "--max-epoch", args.max_epoch, "--max-update", args.max_update,
        "--stop-time-hours", args.minutes / 60, "--validate-interval-updates", args.validate_every,
        *args.schedule,
        *(["--max-valid-steps", args.valid_steps] if args.valid_steps else []),
        *bookkeeping_flags(run_dir, logdir, args.log_interval), *args.device,
    ], run_dir, args.nprocs)


def evaluate(args, run: Run, checkpoint: Path, run_dir: Path) -> float:
    """Base-2 test loss of ``checkpoint`` from fairseq-eval-lm."""
    log = run_dir / "eval_test.log"
    finished = run_tool("eval-lm", run.name, [
        args.data, *run.task, "--path", checkpoint, "--gen-subset", "test",
        "--tokens-per-sample", args.tokens_per_sample, "--batch-size", args.batch_size, *args.device,
    ], log)
    found = [re.search(r"Loss \(base 2\): ([0-9.]+)", line) for line in finished.lines]
    found = [match for match in found if match]
    if finished.returncode != 0 or not found:
        raise tool_failed("eval-lm", run.name, log)
    return float(found[-1].group(1))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m armin_plugin.jobs.compare_lm", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("Plans:")[1],
    )
    parser.add_argument("--data", type=Path, default=Path("data-bin/ptb_char"), help="fairseq data-bin directory")
    parser.add_argument("--out", type=Path, default=Path("runs/ptb_char"), help="checkpoints, logs, TensorBoard, report")
    parser.add_argument("--plan", choices=["main", "stream"], default="main", help="which runs (below)")
    parser.add_argument("--runs", help="comma-separated names of the plan's runs to train (default: all of them; "
                        "main: ARMIN, ARMIN-paper, LSTM; stream: ARMIN-stream, ARMIN-blocks, LSTM-stream)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick", help="sizes and settings")
    parser.add_argument("--minutes", type=float, default=3.5, help="training budget per run in minutes (0: none)")
    parser.add_argument("--gpu", action="store_true", help="train on the GPU(s) fairseq finds (default: CPU)")
    parser.add_argument("--nprocs", type=int, default=1,
                        help="CPU processes per training run (through armin-launch); --batch-size is "
                        "split over them, so the global batch stays the same")
    parser.add_argument("--max-epoch", type=int, help="epochs per run (default: the preset's)")
    parser.add_argument("--max-update", type=int, default=0,
                        help="updates per run (0: no limit); unlike --minutes, the same for every "
                        "run on a loaded machine")
    parser.add_argument("--tokens-per-sample", type=int, help="block / segment length (default: the preset's)")
    parser.add_argument("--batch-size", type=int, help="rows per batch (default: the preset's)")
    add_rate_flags(parser, "the preset's")
    add_schedule_flag(parser)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--validate-every", type=int, help="validation interval in updates (default: the preset's)")
    parser.add_argument("--valid-steps", type=int,
                        help="validate on the first N+1 batches of the valid split (fairseq's --max-valid-steps; "
                        "0: all of it; default: the preset's)")
    parser.add_argument("--log-interval", type=int, default=10)
    parser.add_argument("--metric", choices=["bpc", "ppl"], default="bpc", help="report bits per token or perplexity")
    args = parser.parse_args(argv)
    if args.minutes < 0:
        parser.error(f"--minutes must be >= 0, got {args.minutes}")
    args.sizes = PRESETS[args.preset]
    resolve_rates(parser, args, args.sizes)
    for name in ("max_epoch", "tokens_per_sample", "batch_size", "validate_every", "valid_steps"):
        if getattr(args, name) is None:
            setattr(args, name, args.sizes[name])
    if args.valid_steps < 0:
        parser.error(f"--valid-steps must be >= 0, got {args.valid_steps}")
    for name in ("max_epoch", "tokens_per_sample", "batch_size", "validate_every", "log_interval"):
        if not getattr(args, name) > 0:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    args.schedule = schedule_flags(args.lr_schedule, args.minutes, args.max_update)  # one line for a cosine without a budget
    check_process_count(args.nprocs, args.gpu)
    if args.batch_size % args.nprocs:
        raise ArminError(f"--batch-size {args.batch_size} does not split evenly over --nprocs {args.nprocs} processes")
    args.device = [] if args.gpu else ["--cpu"]
    return args


def main(argv=None):
    setup_cli_logging()
    with exits_in_one_line():
        args = parse_args(argv)
    with exits_in_one_line(args.out):
        check_data_bin(args.data)
        runs, tests, scalars = [], {}, []
        epoch_updates = block_epoch_updates(args.data, args.tokens_per_sample, args.batch_size)
        planned = chosen_runs(plan_runs(args.plan, args.sizes, dictionary_size(args.data), epoch_updates,
                                        args.armin_lr, args.lstm_lr), args.runs)
        for run in planned:
            run_dir, logdir = args.out / run.name.lower(), args.out / "tensorboard" / run.name
            run_dir.mkdir(parents=True, exist_ok=True)
            started = time.time()
            checkpoint = train_run(args, run, run_dir, logdir)
            test_loss = evaluate(args, run, checkpoint, run_dir)
            facts = checkpoint_facts(checkpoint)
            tests[run.name] = SplitScore(test_loss, facts.params)
            scalars.append(TensorBoardScores(str(logdir), facts.updates, {"loss": test_loss, "params": facts.params}))
            runs.append(read_run(logdir))
            logger.info("%s done in %.1f min: test loss %.3f (base 2)", run.name, (time.time() - started) / 60, test_loss)
        valid = f"its first {args.valid_steps + 1} batches" if args.valid_steps else "all of it"
        title = (f"Test split of {args.data} (fairseq-eval-lm, base-2 loss per token); "
                 f"valid at the last validation (every {args.validate_every} updates, on {valid}), "
                 f"updates {args.max_update or 'unlimited'}, "
                 f"{args.minutes:g} min budget per run, Adam lr ARMIN {args.armin_lr:g}, LSTM {args.lstm_lr:g}, "
                 f"{SCHEDULE_WORDS[args.lr_schedule]}:")
        results = lm_results(runs, args.metric, tests, title, {run.name: run.lr for run in planned})
        results.test_scalars = scalars
        _, png = render(results, args.out)
    print(f"\n{summary(results)}")
    print(f"Plot: {png}\nTensorBoard: tensorboard --logdir {args.out / 'tensorboard'}")


if __name__ == "__main__":
    main()
