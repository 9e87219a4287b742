"""Train ARMIN and fairseq's LSTM translation models on the same data, translate the test
set with beam search, score both with sacrebleu and print one table.

    python -m armin_plugin.jobs.compare_translation --data data-bin/libreoffice_de_en --out runs/libreoffice_de_en

Both runs (``armin_iwslt_de_en`` and ``lstm_wiseman_iwslt_de_en``, whose parameter counts
match within 1%) get the same binarized data, batches, optimizer, criterion and budget.
Each is trained with ``fairseq-train`` (checkpoints under ``--out``, TensorBoard logs under
``--out``/tensorboard), translates the test split with ``fairseq-generate --beam 5`` and
the sentencepiece model removed (``--post-process sentencepiece``), and is scored against
the raw test references (detokenized, cased as the data: sacrebleu BLEU and chrF). The
scores and parameter count are added to its TensorBoard logs (``test/``). A finished run
is not trained again: a second call finds the budget spent in its checkpoint,
and only translates and scores; ``--runs ARMIN`` (or ``LSTM``) trains and scores one of them.

The two models train one after the other, each on every idle core, or with
``--side-by-side`` both at once, each on its share of them (one thread each on two cores,
as armin-study runs): the same training time and cores per model, in half the wall time.
"""
import argparse
import logging
import re
import time
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional

from ..cli.logs import setup_cli_logging
from ..data.parallel import REFERENCE_DIR, check_pair_lengths, check_parallel_data_bin
from ..errors import ArminError
from .checkpoints import checkpoint_facts
from .fairseq_runs import (bookkeeping_flags, check_process_count, child_environment, chosen_runs, exits_in_one_line,
                           run_tool, tool_failed, train)
from .learning_rates import (RATE_FLAGS, SCHEDULE_WORDS, add_rate_flags, add_schedule_flag, model_rate, resolve_rates,
                             schedule_flags)
from .report import render, summary
from .results import Column, JobResults, Series, TensorBoardScores
from .run_pool import run_all
from .tensorboard_logs import read_run

logger = logging.getLogger(__name__)


class TranslationRun(NamedTuple):
    name: str  # "ARMIN" or "LSTM": the table's row, the TensorBoard run, lowercased the run folder
    arch: str


RUNS = {"ARMIN": "armin_iwslt_de_en", "LSTM": "lstm_wiseman_iwslt_de_en"}
# The task's length limit for both models, in training and in translation: a recurrent model
# has no positional limit, so no pair is skipped or refused (at fairseq's default of 1,024
# tokens, fairseq-generate stopped at a long help paragraph after both models had trained).
MAX_POSITIONS = 100_000
POSITION_FLAGS = ["--max-source-positions", MAX_POSITIONS, "--max-target-positions", MAX_POSITIONS]
# Training settings. "quick": a few CPU minutes per model (small batches: more updates). "full": the GPU-scale setting
# (fairseq's IWSLT'14 LSTM recipes: Adam, lr 1e-3, label smoothing 0.1, 4k-token batches).
# "tiny" (tests): both architectures shrunk to 16-wide layers by flags they share.
# validate_every: updates between validations (0: once per epoch); valid_steps: fairseq's
# --max-valid-steps (validation stops after batch number valid_steps; 0: the whole split).
# "quick" validates every 40 updates on the first 11 batches (about 11,000 tokens): some 26
# points per curve in the ~1,100 updates of 5 quiet CPU minutes, 13 on a machine half as fast.
# Adam learning rate of each model. "quick": from the study on 600 updates, two seeds
# (docs/studies/translation.md): the LSTM's better of 3e-3 and 1e-2; for ARMIN 3e-3 of 3e-3,
# 5e-3 and 1e-2, within 0.2 valid loss of 1e-2's mean and the one that never stalled (at 1e-2
# ARMIN's training loss stuck near 9 in 2 of 9 runs, the recipe's own run included). "full"
# keeps fairseq's IWSLT'14 rate for both (not studied).
QUICK_RATES = dict(armin_lr=0.003, lstm_lr=0.003)
TINY_SIZES = [f"--{side}-{size}" for side in ("encoder", "decoder") for size in ("embed-dim", "hidden-size")]
PRESETS = {
    "quick": dict(max_tokens=1000, **QUICK_RATES, max_epoch=50, minutes=5.0, validate_every=40, valid_steps=10,
                  sizes=[]),
    "full": dict(max_tokens=4000, armin_lr=0.001, lstm_lr=0.001, max_epoch=50, minutes=0.0, validate_every=0,
                 valid_steps=0, sizes=[]),
    "tiny": dict(max_tokens=1000, armin_lr=0.005, lstm_lr=0.005, max_epoch=1, minutes=0.0, validate_every=0,
                 valid_steps=0,
                 sizes=[part for flag in TINY_SIZES + ["--decoder-out-embed-dim"] for part in (flag, 16)]),
}
GENERATED = re.compile(r"^D-(\d+)\t[^\t]*\t(.*)$")
GENERATE_SPEED = re.compile(r"Translated ([\d,]+) sentences \(([\d,]+) tokens\) in ([\d.]+)s")


COLUMNS = [
    Column("model", "model"), Column("arch", "arch"), Column("params", "params", "{:,}"),
    Column("lr", "Adam lr", "{:g}"),
    Column("updates", "updates", "{:,}"), Column("train_minutes", "train minutes", "{:.1f}"),
    Column("tokens_per_s", "train tokens/s", "{:,.0f}"), Column("generate_seconds", "generate seconds", "{:.0f}"),
    Column("bleu", "BLEU", "{:.2f}"), Column("length_ratio", "hyp/ref length", "{:.2f}"), Column("chrf", "chrF", "{:.2f}"),
]


def run_dirs(args, name: str):
    """(run folder, TensorBoard folder) of run ``name`` under ``--out``."""
    return args.out / name.lower(), args.out / "tensorboard" / name


def train_run(args, run: TranslationRun, env: Optional[Dict[str, str]] = None,
              started: Optional[Callable] = None) -> Path:
    """Train ``run`` with fairseq-train; returns its checkpoint_best.pt (``env``, ``started``:
    as for :func:`.fairseq_runs.train`)."""
    run_dir, logdir = run_dirs(args, run.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    return train(run.name, [
        args.data, "--task", "translation", *POSITION_FLAGS,
        "--source-lang", args.src, "--target-lang", args.tgt, "--arch", run.arch, *args.sizes,
        "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", 0.1,
        "--optimizer", "adam", "--lr", model_rate(args, run.name), *args.schedule, "--clip-norm", 1.0,
        "--max-tokens", args.max_tokens // args.nprocs, "--seed", args.seed,
        "--max-epoch", args.max_epoch, "--max-update", args.max_update,
        "--stop-time-hours", args.minutes / 60, "--validate-interval-updates", args.validate_every,
        *(["--max-valid-steps", args.valid_steps] if args.valid_steps else []),
        *bookkeeping_flags(run_dir, logdir, args.log_interval), *args.device,
    ], run_dir, args.nprocs, env=env, started=started)


def train_all(args, runs: List[TranslationRun]) -> Dict[str, Path]:
    """Train ``runs``, one after the other, or with ``--side-by-side`` all at once, each
    on its share of the idle cores; returns {run name: checkpoint_best.pt}."""
    if not args.side_by_side:
        return {run.name: train_run(args, run) for run in runs}
    env = child_environment(len(runs))
    checkpoints: Dict[str, Path] = {}

    def train_one(run: TranslationRun, started: Callable):
        checkpoints[run.name] = train_run(args, run, env, started)

    failures = run_all(runs, len(runs), train_one)
    if failures:
        raise ArminError("; ".join(failures[run.name] for run in runs if run.name in failures))
    return checkpoints


def translate(args, checkpoint: Path, run_dir: Path, name: str):
    """{sentence index: detokenized hypothesis} of the test split, and the seconds taken."""
    log = run_dir / "generate_test.log"
    finished = run_tool("generate", name, [
        args.data, "--task", "translation", *POSITION_FLAGS,
        "--source-lang", args.src, "--target-lang", args.tgt, "--path", checkpoint,
        "--gen-subset", "test", "--beam", args.beam, "--max-len-a", 1.2, "--max-len-b", 10,
        "--batch-size", 64, "--required-batch-size-multiple", 1,  # else the last batch is dropped
        "--post-process", "sentencepiece", *args.device,
    ], log)
    hypotheses: Dict[int, str] = {}
    for line in finished.lines:
        match = GENERATED.match(line)
        if match:
            hypotheses[int(match.group(1))] = match.group(2)
    speed = [GENERATE_SPEED.search(line) for line in finished.lines]
    speed = [match for match in speed if match]
    if finished.returncode != 0 or not speed:
        raise tool_failed("generate", name, log)
    return hypotheses, float(speed[-1].group(3))


def score(hypotheses: List[str], references: List[str]):
    """(BLEU, chrF, length ratio) of sacrebleu for detokenized text; the length ratio is
    BLEU's: hypothesis tokens over reference tokens (below 1 costs the brevity penalty)."""
    import sacrebleu

    bleu = sacrebleu.corpus_bleu(hypotheses, [references])
    return bleu.score, sacrebleu.corpus_chrf(hypotheses, [references]).score, bleu.sys_len / bleu.ref_len


def evaluate(args, run: TranslationRun, checkpoint: Path, references: List[str], results: JobResults):
    """Translate and score one trained model; add its row, curve and test scores to ``results``."""
    name, arch = run
    run_dir, logdir = run_dirs(args, name)
    translated, seconds = translate(args, checkpoint, run_dir, name)
    if sorted(translated) != list(range(len(references))):
        raise ArminError(f"{name} translated {len(translated)} of the {len(references)} test sentences; see {run_dir / 'generate_test.log'}")
    hypotheses = [translated[index] for index in range(len(references))]
    (run_dir / f"test.hyp.{args.tgt}").write_text("".join(h + "\n" for h in hypotheses), encoding="utf-8")
    bleu, chrf, length_ratio = score(hypotheses, references)
    facts = checkpoint_facts(checkpoint)
    log = read_run(logdir)
    results.rows.append(dict(model=name, arch=arch, params=facts.params, lr=model_rate(args, name),
                             updates=facts.updates,
                             train_minutes=facts.train_minutes, tokens_per_s=log.words_per_second or 0.0,
                             generate_seconds=seconds, bleu=bleu, length_ratio=length_ratio, chrf=chrf))
    results.series.append(Series("training", name, [(u, s, 2.0**v) for u, s, v in log.train]))
    results.series.append(Series("validation", name, [(u, s, 2.0**v) for u, s, v in log.curve()]))
    scores = {"bleu": bleu, "chrf": chrf, "length_ratio": length_ratio, "params": facts.params}
    results.test_scalars.append(TensorBoardScores(str(logdir), facts.updates, scores))
    logger.info("%s: BLEU %.2f (hyp/ref length %.2f) chrF %.2f (%d updates, %.1f training minutes)",
                name, bleu, length_ratio, chrf, facts.updates, facts.train_minutes)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m armin_plugin.jobs.compare_translation", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, default=Path("data-bin/libreoffice_de_en"),
                        help="data-bin of armin_plugin.data.parallel (or .libreoffice / .iwslt14)")
    parser.add_argument("--out", type=Path, default=Path("runs/libreoffice_de_en"), help="checkpoints, logs, TensorBoard, results")
    parser.add_argument("--src", default="de")
    parser.add_argument("--tgt", default="en")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick", help="training settings")
    parser.add_argument("--minutes", type=float, help="training budget per model in minutes (0: none; default: the preset's)")
    parser.add_argument("--max-epoch", type=int, help="epochs per model (default: the preset's)")
    parser.add_argument("--max-update", type=int, default=0, help="updates per model (0: no limit)")
    parser.add_argument("--max-tokens", type=int, help="tokens per batch (default: the preset's)")
    add_rate_flags(parser, "the preset's")
    add_schedule_flag(parser)
    parser.add_argument("--validate-every", type=int, help="validation interval in updates (0: once per epoch; "
                        "default: the preset's)")
    parser.add_argument("--valid-steps", type=int, help="validate on the first N+1 batches of the valid split "
                        "(fairseq's --max-valid-steps; 0: all of it; default: the preset's)")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-interval", type=int, default=25)
    parser.add_argument("--gpu", action="store_true", help="train and translate on the GPU (default: CPU)")
    parser.add_argument("--side-by-side", action="store_true",
                        help="train both models at once, each on its share of the idle cores (one thread each on "
                        "two cores), in half the wall time; default: one after the other, each on all of them")
    parser.add_argument("--nprocs", type=int, default=1,
                        help="CPU processes per training run (through armin-launch); --max-tokens is "
                        "split over them, so the tokens per update stay about the same")
    parser.add_argument("--runs", help=f"comma-separated models to train and score (default: all: {', '.join(RUNS)})")
    args = parser.parse_args(argv)
    for name, value in PRESETS[args.preset].items():
        if getattr(args, name, None) is None and name not in RATE_FLAGS:
            setattr(args, name, value)
    resolve_rates(parser, args, PRESETS[args.preset])
    if args.minutes < 0:
        parser.error(f"--minutes must be >= 0, got {args.minutes}")
    check_process_count(args.nprocs, args.gpu)
    if args.side_by_side and (args.gpu or args.nprocs > 1):
        raise ArminError("--side-by-side trains two CPU processes at once, one per model: "
                         "it does not combine with --gpu or --nprocs")
    args.runs = chosen_runs([TranslationRun(name, arch) for name, arch in RUNS.items()], args.runs)
    args.schedule = schedule_flags(args.lr_schedule, args.minutes, args.max_update)
    args.device = [] if args.gpu else ["--cpu"]
    return args


def main(argv=None):
    setup_cli_logging()
    started = time.time()
    with exits_in_one_line():
        args = parse_args(argv)
    with exits_in_one_line(args.out):
        check_parallel_data_bin(args.data, args.src, args.tgt)
        check_pair_lengths(args.data, args.src, args.tgt, MAX_POSITIONS)  # what would stop the job after training
        reference_path = args.data / REFERENCE_DIR / f"test.{args.tgt}"
        references = reference_path.read_text(encoding="utf-8").splitlines()
        results = JobResults(
            f"Test split of {args.data}: fairseq-generate --beam {args.beam}, detokenized sacrebleu "
            f"against {reference_path}; Adam lr ARMIN {args.armin_lr:g}, LSTM {args.lstm_lr:g}, "
            f"{SCHEDULE_WORDS[args.lr_schedule]}; {args.max_tokens} tokens per batch; "
            f"trained {'side by side, each on its share of the cores' if args.side_by_side else 'one after the other'}:",
            COLUMNS, panels={"training": "training perplexity (label-smoothed loss, every logged interval)",
                             "validation": "validation perplexity (label-smoothed loss)"},
        )
        checkpoints = train_all(args, args.runs)
        for run in args.runs:
            evaluate(args, run, checkpoints[run.name], references, results)
        _, png = render(results, args.out)
    print(f"\n{summary(results)}")
    print(f"Total wall time {(time.time() - started) / 60:.1f} min. Plot: {png}. "
          f"TensorBoard: tensorboard --logdir {args.out / 'tensorboard'}")


if __name__ == "__main__":
    main()
