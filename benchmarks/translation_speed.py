"""The translation models through fairseq: ``armin_iwslt_de_en`` against
``lstm_wiseman_iwslt_de_en`` (parameter counts within 1%) on real LibreOffice batches.

Training: one step (forward, label-smoothed cross-entropy, backward, Adam update) on batches
of ``max_tokens`` tokens, as the quick translation recipe trains: by default the first
batches in fairseq's size order (the shortest sentences, many rows per batch); with
``--shuffled`` the first batches of the recipe's shuffled first epoch (mixed lengths, as
fairseq-train draws them: few rows and long targets in many). Generation: fairseq's
``SequenceGenerator`` with beam 5 on batches of test sentences, what ``fairseq-generate
--beam 5`` runs per batch (encoder, incremental decoder, beam reordering), every output held
at ``length`` tokens (min and max length), so that both models decode the same number of
steps whatever their (untrained) weights predict.

    python -m benchmarks.translation_speed data-bin/libreoffice_de_en
"""
import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List

import torch
from fairseq import options, tasks
from fairseq.sequence_generator import SequenceGenerator

import armin_plugin.models.armin_translation  # noqa: F401 (registers armin_iwslt_de_en)
from benchmarks.measure import interleaved_medians
from benchmarks.model_speed import PLUGIN, _to, train_step

ARCHS = ("armin_iwslt_de_en", "lstm_wiseman_iwslt_de_en")


@dataclass
class TranslationRow:
    model: str
    params: int
    train_tokens_per_s: float
    generate_ms_per_sentence: float


def build(data: Path, arch: str, max_tokens: int, sizes: List, device: torch.device):
    """fairseq task, model and criterion as fairseq-train builds them for the recipe."""
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, [str(part) for part in [
        data, "--user-dir", PLUGIN, "--task", "translation", "--source-lang", "de",
        "--target-lang", "en", "--arch", arch, *sizes, "--optimizer", "adam",
        "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", 0.1,
        "--max-tokens", max_tokens,
    ]])
    task = tasks.setup_task(args)
    model = task.build_model(args).to(device)
    return task, model, task.build_criterion(args)


def batches(task, split: str, count: int, device: torch.device, shuffle: bool = False, **size) -> List[dict]:
    """The first ``count`` batches of ``split`` in fairseq's size order, or of its first
    epoch shuffled with seed 1 (``shuffle``; ``size``: max_tokens or max_sentences), on ``device``."""
    task.load_dataset(split)
    iterator = task.get_batch_iterator(task.dataset(split), seed=1, **size).next_epoch_itr(shuffle=shuffle)
    found = []
    for sample in iterator:
        found.append(_to(sample, device))
        if len(found) == count:
            return found
    raise ValueError(f"{split} has fewer than {count} batches")


def every_batch(step: Callable[[], None], count: int) -> Callable[[], None]:
    """A callable that runs ``step`` (one training step on the next batch) ``count`` times:
    one step on each batch, so that every timed round covers the same batches."""
    def run():
        for _ in range(count):
            step()

    return run


def generate(model, task, samples: List[dict], beam: int, length: int) -> Callable[[], None]:
    """A callable that translates every sample with beam search into ``length`` tokens."""
    generator = SequenceGenerator([model], task.target_dictionary, beam_size=beam,
                                  max_len_a=0, max_len_b=length, min_len=length)

    def run():
        with torch.no_grad():
            for sample in samples:
                generator.generate([model], sample)

    return run


def measure_translation(data: Path, reps: int, device: torch.device, max_tokens: int = 1000,
                        train_batches: int = 4, sentences: int = 32, generate_batches: int = 2,
                        beam: int = 5, length: int = 30, sizes: List = (), shuffled: bool = False) -> List[TranslationRow]:
    """One row per architecture; ``sizes``: extra size flags for both (tests shrink them)."""
    torch.manual_seed(0)
    built = {arch: build(data, arch, max_tokens, list(sizes), device) for arch in ARCHS}
    task = built[ARCHS[0]][0]
    train_samples = batches(task, "train", train_batches, device, shuffled, max_tokens=max_tokens)
    test_samples = batches(task, "test", generate_batches, device, max_sentences=sentences)
    train = {arch: every_batch(train_step(model.train(), criterion, torch.optim.Adam(model.parameters(), lr=1e-3),
                                          train_samples), len(train_samples))
             for arch, (_, model, criterion) in built.items()}
    train_s = interleaved_medians(train, reps, device)
    decode = {arch: generate(model.eval(), task, test_samples, beam, length)
              for arch, (_, model, _) in built.items()}
    decode_s = interleaved_medians(decode, reps, device)
    tokens = sum(sample["ntokens"] for sample in train_samples)  # every batch, each timed round
    translated = sum(sample["nsentences"] for sample in test_samples)
    return [TranslationRow(arch, sum(p.numel() for p in built[arch][1].parameters()),
                           tokens / train_s[arch], 1e3 * decode_s[arch] / translated)
            for arch in ARCHS]


def table(rows: List[TranslationRow]) -> str:
    lines = ["| translation model | params | train step tokens/s | beam-5 generation ms/sentence (30 tokens) |",
             "|---|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row.model} | {row.params:,} | {row.train_tokens_per_s:,.0f} | "
                     f"{row.generate_ms_per_sentence:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="data-bin of the translation recipe (de-en)")
    parser.add_argument("--reps", type=int, default=5, help="timed rounds (median)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--shuffled", action="store_true",
                        help="train on the recipe's shuffled first batches (mixed lengths) instead of the shortest")
    parser.add_argument("--train-batches", type=int, default=4, help="training batches, one step each in turn")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(table(measure_translation(args.data, args.reps, torch.device("cpu"), train_batches=args.train_batches,
                                    shuffled=args.shuffled)))


if __name__ == "__main__":
    main()
