"""IWSLT'14 German-English (TED talks), prepared as fairseq's examples/translation/
prepare-iwslt14.sh does, with sentencepiece BPE instead of Moses tokenization + subword-nmt.

    python -m armin_plugin.data.iwslt14 --dest data-bin/iwslt14_de_en            # downloads
    python -m armin_plugin.data.iwslt14 --source ~/de-en.tgz --dest ...          # local copy
    python -m armin_plugin.data.iwslt14 --source ~/de-en --dest ...              # unpacked

Conventions (the usual ones):
- train: ``train.tags.de-en.{de,en}`` without the lines holding ``<url>``, ``<talkid>`` or
  ``<keywords>`` (and the other metadata tags), ``<title>`` and ``<description>`` tags
  removed; pairs with an empty side, more than 175 words on a side, or a word-count ratio
  above 1.5 dropped (clean-corpus-n 1 175, ratio 1.5; words here are whitespace-separated
  words of the untokenized text);
- valid: every 23rd remaining training pair; train: the others;
- test: the ``<seg>`` lines of IWSLT14.TED.dev2010, IWSLT14.TEDX.dev2012, IWSLT14.TED.tst2010,
  tst2011 and tst2012, in that order, ``’`` written as ``'``;
- everything lowercased; one joint sentencepiece BPE model (``--vocab-size``, default
  10,000) on the raw text, so BLEU is scored on detokenized, lowercased text.
"""
import argparse
import logging
import re
import shutil
import sys
import tarfile
import urllib.request
from pathlib import Path
from typing import Dict, List

from ..errors import ArminError
from ..cli.logs import setup_cli_logging

from .parallel import add_binarizing_args, prepare_parallel

logger = logging.getLogger("armin_plugin.data.iwslt14")

URL = "http://dl.fbaipublicfiles.com/fairseq/data/iwslt14/de-en.tgz"
LANGUAGES = ("de", "en")
METADATA = ("<url>", "<talkid>", "<keywords>", "<speaker>", "<reviewer", "<translator", "<doc", "</doc>")
REMOVED_TAGS = re.compile(r"</?(title|description)>")
TEST_SETS = ("IWSLT14.TED.dev2010", "IWSLT14.TEDX.dev2012", "IWSLT14.TED.tst2010",
             "IWSLT14.TED.tst2011", "IWSLT14.TED.tst2012")
SEGMENT = re.compile(r'^\s*<seg id="?\d+"?>\s*(.*?)\s*</seg>\s*$')
MAX_WORDS, MAX_RATIO, VALID_EVERY = 175, 1.5, 23


def fetch(source: str, work: Path) -> Path:
    """The folder holding train.tags.de-en.* from a URL, a .tgz or an unpacked folder."""
    if re.match(r"^https?://", source):
        archive = work / "de-en.tgz"
        logger.info("downloading %s", source)
        try:
            urllib.request.urlretrieve(source, archive)
        except OSError as error:
            raise ArminError(f"could not download {source} ({error}); pass a local copy with --source") from None
    else:
        archive = Path(source)
        if not archive.exists():
            raise ArminError(f"--source {source} does not exist")
    if archive.is_file():
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(work / "unpacked", filter="data")
        except tarfile.TarError as error:
            raise ArminError(f"{archive} is not a readable .tgz: {error}") from None
        archive = work / "unpacked"
    found = sorted(archive.rglob("train.tags.de-en.de"))
    if not found:
        raise ArminError(f"no train.tags.de-en.de under {source}")
    return found[0].parent


def _lines(path: Path) -> List[str]:
    if not path.is_file():
        raise ArminError(f"IWSLT'14 copy lacks {path.name} (looked in {path.parent})")
    return path.read_text(encoding="utf-8").splitlines()


def training_text(folder: Path, language: str) -> List[str]:
    """The talk text of train.tags.de-en.<language> without metadata lines and tags."""
    return [
        REMOVED_TAGS.sub("", line).strip()
        for line in _lines(folder / f"train.tags.de-en.{language}")
        if not any(tag in line for tag in METADATA)
    ]


def test_text(folder: Path, language: str) -> List[str]:
    """The segments of the five dev/test sets, in the usual order."""
    return [
        match.group(1).replace("’", "'")
        for name in TEST_SETS
        for match in map(SEGMENT.match, _lines(folder / f"{name}.de-en.{language}.xml"))
        if match
    ]


def keep_pair(de: str, en: str) -> bool:
    """clean-corpus-n's rule: 1..175 words a side, ratio at most 1.5."""
    source, target = len(de.split()), len(en.split())
    if not (1 <= source <= MAX_WORDS and 1 <= target <= MAX_WORDS):
        return False
    return max(source, target) <= MAX_RATIO * min(source, target)


def splits(folder: Path) -> Dict[str, Dict[str, List[str]]]:
    """{split: {language: lowercased lines}}."""
    train = {language: training_text(folder, language) for language in LANGUAGES}
    if len(train["de"]) != len(train["en"]):
        raise ArminError(
            f"train.tags.de-en.de has {len(train['de']):,} text lines but train.tags.de-en.en has "
            f"{len(train['en']):,}: the two sides must pair line by line"
        )
    pairs = [(de.lower(), en.lower()) for de, en in zip(train["de"], train["en"]) if keep_pair(de, en)]
    result = {
        "train": [pair for index, pair in enumerate(pairs, 1) if index % VALID_EVERY],
        "valid": [pair for index, pair in enumerate(pairs, 1) if not index % VALID_EVERY],
    }
    tests = {language: [line.lower() for line in test_text(folder, language)] for language in LANGUAGES}
    if len(tests["de"]) != len(tests["en"]):
        raise ArminError(f"the IWSLT'14 test sets have {len(tests['de']):,} German and {len(tests['en']):,} English segments")
    result["test"] = list(zip(tests["de"], tests["en"]))
    return {split: {"de": [de for de, _ in pairs], "en": [en for _, en in pairs]} for split, pairs in result.items()}


def write_raw(source: str, raw_dir: Path) -> Path:
    """Write ``raw_dir``/{train,valid,test}.{de,en} from ``source``."""
    work = raw_dir.parent / f".{raw_dir.name}.download"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        text = splits(fetch(source, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    raw_dir.mkdir(parents=True, exist_ok=True)
    for split, sides in text.items():
        for language, lines in sides.items():
            (raw_dir / f"{split}.{language}").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        logger.info("%s: %d pairs", split, len(sides["de"]))
    return raw_dir


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m armin_plugin.data.iwslt14", description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=URL, help="URL, local de-en.tgz, or its unpacked folder")
    parser.add_argument("--raw", type=Path, default=Path("raw/iwslt14_de_en"), help="where the plain text goes")
    parser.add_argument("--dest", type=Path, default=Path("data-bin/iwslt14_de_en"))
    add_binarizing_args(parser, default_vocab_size=10000)
    args = parser.parse_args(argv)
    setup_cli_logging()
    try:
        write_raw(args.source, args.raw)
        prepare_parallel(args.raw, args.dest, "de", "en", args.vocab_size, args.workers)
    except ArminError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
