"""Parallel text -> joint sentencepiece BPE -> a fairseq data-bin for ``--task translation``.

    python -m armin_plugin.data.parallel --raw raw/corpus --src de --tgt en \\
        --dest data-bin/corpus_de_en --vocab-size 8000

``--raw`` holds {train,valid,test}.{src,tgt}, one sentence per line, the two sides pairing
line by line. They are checked first (same line counts, no empty side, no empty line):
nothing is built and nothing existing is touched when they are wrong. One BPE model
(sentencepiece) is trained on the train split of both languages; the data-bin gets a
joined dictionary, the model (``sentencepiece.bpe.model``, for ``--bpe sentencepiece``)
and the raw test text (``reference/test.{src,tgt}``) for detokenized scoring.
"""
import argparse
import logging
import shutil
import sys
from pathlib import Path
from typing import Dict

from ..errors import ArminError
from ..cli.logs import setup_cli_logging

from .data_bin import SPLITS, building, preprocess

logger = logging.getLogger("armin_plugin.data.parallel")

SPM_MODEL = "sentencepiece.bpe.model"
REFERENCE_DIR = "reference"


def check_parallel(raw_dir: Path, src: str, tgt: str) -> Dict[str, int]:
    """{split: pairs} of ``raw_dir``; raise ArminError naming the first problem."""
    pairs = {}
    for split in SPLITS:
        counts = {}
        for language in (src, tgt):
            path = raw_dir / f"{split}.{language}"
            if not path.is_file():
                raise ArminError(f"{path} does not exist")
            lines = path.read_text(encoding="utf-8").splitlines()
            if not lines:
                raise ArminError(f"{path} is empty: both sides of a parallel corpus need text")
            blank = next((number for number, line in enumerate(lines, 1) if not line.strip()), None)
            if blank is not None:
                raise ArminError(f"line {blank} of {path} is empty: every pair needs text on both sides")
            counts[language] = len(lines)
        if counts[src] != counts[tgt]:
            raise ArminError(
                f"{raw_dir / split}.{src} has {counts[src]:,} lines but {split}.{tgt} has "
                f"{counts[tgt]:,}: the two sides must pair line by line"
            )
        pairs[split] = counts[src]
    return pairs


def train_bpe(files, model_prefix: Path, vocab_size: int) -> Path:
    """A joint sentencepiece BPE model of ``vocab_size`` pieces trained on ``files``."""
    import sentencepiece as spm

    try:
        spm.SentencePieceTrainer.train(
            input=[str(path) for path in files], model_prefix=str(model_prefix), model_type="bpe",
            vocab_size=vocab_size, character_coverage=1.0, bos_id=-1, eos_id=-1,
            input_sentence_size=2_000_000, shuffle_input_sentence=True, num_threads=1,
            minloglevel=2,
        )
    except RuntimeError as error:
        raise ArminError(f"--vocab-size {vocab_size}: sentencepiece says: {error}") from None
    return model_prefix.with_suffix(".model")


def encode_file(model: Path, source: Path, dest: Path):
    """Write ``source`` as space-separated BPE pieces to ``dest``."""
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=str(model))
    with open(source, encoding="utf-8") as lines, open(dest, "w", encoding="utf-8") as out:
        for line in lines:
            out.write(" ".join(processor.encode(line.strip(), out_type=str)) + "\n")


def prepare_parallel(raw_dir, dest, src: str, tgt: str, vocab_size: int, workers: int = 1) -> Path:
    """Check ``raw_dir``, then build the data-bin ``dest`` (replaced only on success)."""
    raw_dir, dest = Path(raw_dir), Path(dest)
    if vocab_size < 1:
        raise ArminError(f"--vocab-size must be a positive integer, got {vocab_size}")
    pairs = check_parallel(raw_dir, src, tgt)
    logger.info("%s: %s pairs", raw_dir, ", ".join(f"{split} {count:,}" for split, count in pairs.items()))
    with building(dest) as work:
        model = train_bpe([raw_dir / f"train.{language}" for language in (src, tgt)], work / "spm", vocab_size)
        pieces = work / "pieces"
        pieces.mkdir()
        for split in SPLITS:
            for language in (src, tgt):
                encode_file(model, raw_dir / f"{split}.{language}", pieces / f"{split}.{language}")
        preprocess([
            "--source-lang", src, "--target-lang", tgt, "--joined-dictionary",
            *(arg for split in SPLITS for arg in (f"--{split}pref", str(pieces / split))),
            "--destdir", str(work / "bin"), "--workers", str(workers),
        ])
        shutil.copy(model, work / "bin" / SPM_MODEL)
        (work / "bin" / REFERENCE_DIR).mkdir()
        for language in (src, tgt):
            shutil.copy(raw_dir / f"test.{language}", work / "bin" / REFERENCE_DIR / f"test.{language}")
    logger.info("wrote %s (BPE vocabulary %d)", dest, vocab_size)
    return dest


def check_parallel_data_bin(data: Path, src: str, tgt: str):
    """Raise unless ``data`` was built by :func:`prepare_parallel` for ``src``-``tgt``."""
    if not data.is_dir():
        raise ArminError(f"data directory {data} does not exist")
    pair = f"{src}-{tgt}"
    needed = [f"dict.{src}.txt", f"dict.{tgt}.txt", SPM_MODEL, f"{REFERENCE_DIR}/test.{tgt}"] + [
        f"{split}.{pair}.{language}.{ext}" for split in SPLITS for language in (src, tgt) for ext in ("bin", "idx")
    ]
    missing = [name for name in needed if not (data / name).is_file()]
    if missing:
        raise ArminError(f"data directory {data} lacks {', '.join(missing)}")


def check_pair_lengths(data: Path, src: str, tgt: str, limit: int, splits=("valid", "test")):
    """Raise, naming the first pair, if a pair of ``splits`` of the data-bin ``data`` holds
    more than ``limit`` tokens on a side (end of sentence included): fairseq-train stops at
    such a pair in valid, fairseq-generate at one in test."""
    from fairseq.data import data_utils

    for split in splits:
        sides = []
        for language in (src, tgt):
            dataset = data_utils.load_indexed_dataset(str(data / f"{split}.{src}-{tgt}.{language}"), None)
            sides.append(dataset.sizes.tolist())  # a copy: the sizes view a memory map its dataset closes
        for index, (source, target) in enumerate(zip(*sides)):
            if max(source, target) > limit:
                raise ArminError(f"pair {index} of {split} in {data} has {source} source and {target} target tokens, "
                                 f"more than the {limit:,} positions a run allows")


def add_binarizing_args(parser: argparse.ArgumentParser, default_vocab_size: int = 8000):
    parser.add_argument("--vocab-size", type=int, default=default_vocab_size, help="joint BPE vocabulary size")
    parser.add_argument("--workers", type=int, default=1, help="fairseq-preprocess workers")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m armin_plugin.data.parallel", description=__doc__.split("\n\n")[0])
    parser.add_argument("--raw", type=Path, required=True, help="folder of {train,valid,test}.{src,tgt}")
    parser.add_argument("--src", default="de")
    parser.add_argument("--tgt", default="en")
    parser.add_argument("--dest", type=Path, required=True, help="the data-bin to build")
    add_binarizing_args(parser)
    args = parser.parse_args(argv)
    setup_cli_logging()
    try:
        prepare_parallel(args.raw, args.dest, args.src, args.tgt, args.vocab_size, args.workers)
    except ArminError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
