"""The LibreOffice help in German and English as a parallel corpus (from Debian packages).

    python -m armin_plugin.data.libreoffice --dest data-bin/libreoffice_de_en

The two help packages are fetched with ``apt-get download`` (or taken from ``--debs DIR``)
and unpacked with ``dpkg-deb -x`` (never installed). The help pages of both languages
carry the same paragraph ids: German and English paragraphs (``<p>`` and headings with
``par_id...`` / ``hd_id...`` ids) pair by (page path, id). Whitespace is collapsed; pairs
with an empty side, identical sides (untranslated: code, names, menu labels) or an id used
twice on one page are dropped, and so are repeats of a pair seen on an earlier page.
Whole pages go to one split by a hash of their path. The full corpus is checked against
the expected counts with a tolerance (the Debian version changes with updates). The text
is MPL-2.0 and is built on the user's machine, never committed.
"""
import argparse
import hashlib
import logging
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, List, NamedTuple

from ..errors import ArminError
from ..cli.logs import setup_cli_logging

from .data_bin import SPLITS
from .parallel import add_binarizing_args, prepare_parallel

logger = logging.getLogger("armin_plugin.data.libreoffice")

PACKAGES = {"de": "libreoffice-help-de", "en": "libreoffice-help-en-us"}
HELP_DIRS = {"de": "de", "en": "en-US"}
HELP_ROOT = Path("usr/share/libreoffice/help")
PARAGRAPH_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6"}
PARAGRAPH_ID = re.compile(r"^(par|hd)_id")
# Pages whose path hash (md5, mod 100) is below 5 go to test, 5..9 to valid.
SPLIT_PERCENT = {"test": 5, "valid": 5}
# Measured on Debian 12's 4:7.4.7-1+deb12u14 packages (35,163 pairs, 480k English words,
# 2,402 pages); other versions should fall within TOLERANCE.
EXPECTED_PAIRS = {"train": 30565, "valid": 2846, "test": 1752}
TOLERANCE = 0.25


class Pair(NamedTuple):
    page: str
    id: str
    de: str
    en: str


class _Paragraphs(HTMLParser):
    """Collects the text of every paragraph element with a paragraph id."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts: Dict[str, List[str]] = {}
        self._open = None  # (tag, id, depth) of the paragraph being read

    def handle_starttag(self, tag, attrs):
        if self._open is not None:
            if tag == self._open[0]:
                self._open = (tag, self._open[1], self._open[2] + 1)
            return
        paragraph_id = dict(attrs).get("id") or ""
        if tag in PARAGRAPH_TAGS and PARAGRAPH_ID.match(paragraph_id):
            self._open = (tag, paragraph_id, 1)
            self.texts.setdefault(paragraph_id, []).append("")

    def handle_endtag(self, tag):
        if self._open is not None and tag == self._open[0]:
            tag, paragraph_id, depth = self._open
            self._open = None if depth == 1 else (tag, paragraph_id, depth - 1)

    def handle_data(self, data):
        if self._open is not None:
            self.texts[self._open[1]][-1] += data


def page_paragraphs(path: Path) -> Dict[str, str]:
    """{paragraph id: text} of one help page; ids used more than once are left out."""
    parser = _Paragraphs()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return {
        paragraph_id: " ".join(texts[0].split())
        for paragraph_id, texts in parser.texts.items()
        if len(texts) == 1
    }


def paired_paragraphs(help_root: Path) -> List[Pair]:
    """All (page, id, German, English) pairs, pages in path order, paragraphs in page order."""
    english_root, german_root = help_root / HELP_DIRS["en"], help_root / HELP_DIRS["de"]
    pages = sorted(path.relative_to(english_root) for path in english_root.rglob("*.html"))
    if not pages:
        raise ArminError(f"no English help pages under {english_root}")
    pairs, seen = [], set()
    for page in pages:
        german_page = german_root / page
        if not german_page.is_file():
            continue
        german = page_paragraphs(german_page)
        for paragraph_id, en in page_paragraphs(english_root / page).items():
            de = german.get(paragraph_id, "")
            if de and en and de != en and (de, en) not in seen:
                seen.add((de, en))
                pairs.append(Pair(str(page), paragraph_id, de, en))
    return pairs


def split_of(page: str) -> str:
    """The split of a page, from the md5 of its path: the same on every machine."""
    bucket = int(hashlib.md5(page.encode("utf-8")).hexdigest(), 16) % 100
    if bucket < SPLIT_PERCENT["test"]:
        return "test"
    if bucket < SPLIT_PERCENT["test"] + SPLIT_PERCENT["valid"]:
        return "valid"
    return "train"


def split_pairs(pairs: List[Pair]) -> Dict[str, List[Pair]]:
    splits = {split: [] for split in SPLITS}
    for pair in pairs:
        splits[split_of(pair.page)].append(pair)
    return splits


def check_counts(splits: Dict[str, List[Pair]]):
    """Raise unless every split's pair count is within TOLERANCE of the expected one."""
    for split, expected in EXPECTED_PAIRS.items():
        count = len(splits[split])
        if abs(count - expected) > TOLERANCE * expected:
            raise ArminError(
                f"LibreOffice help {split} split has {count:,} pairs, expected "
                f"{expected:,} within {TOLERANCE:.0%}: are these the German and English help packages?"
            )


def fetch_debs(debs_dir: Path) -> Dict[str, Path]:
    """{language: .deb} from ``debs_dir``; missing packages are fetched with apt-get download."""
    debs_dir.mkdir(parents=True, exist_ok=True)
    found = {}
    for language, package in PACKAGES.items():
        matches = sorted(debs_dir.glob(f"{package}_*.deb"))
        if not matches:
            logger.info("fetching %s with apt-get download into %s", package, debs_dir)
            result = subprocess.run(["apt-get", "download", package], cwd=debs_dir, capture_output=True, text=True)
            matches = sorted(debs_dir.glob(f"{package}_*.deb"))
            if result.returncode != 0 or not matches:
                last = (result.stderr.strip().splitlines() or ["no message"])[-1]
                raise ArminError(f"apt-get download {package} failed: {last}")
        found[language] = matches[-1]
    return found


def extract_help(debs: Dict[str, Path], work: Path) -> Path:
    """Unpack the packages into ``work`` (dpkg-deb -x) and return the help root."""
    for deb in debs.values():
        result = subprocess.run(["dpkg-deb", "-x", str(deb), str(work)], capture_output=True, text=True)
        if result.returncode != 0:
            raise ArminError(f"dpkg-deb -x {deb} failed: {result.stderr.strip() or 'no message'}")
    return work / HELP_ROOT


def write_raw(debs_dir: Path, raw_dir: Path, max_lines=None) -> Path:
    """Write ``raw_dir``/{train,valid,test}.{de,en}; ``max_lines`` keeps the first pairs
    of each split (the full corpus is counted first)."""
    if max_lines is not None and max_lines < 1:
        raise ArminError(f"--max-lines must be at least 1, got {max_lines}")
    debs = fetch_debs(debs_dir)
    unpacked = raw_dir.parent / f".{raw_dir.name}.unpacked"
    shutil.rmtree(unpacked, ignore_errors=True)
    try:
        splits = split_pairs(paired_paragraphs(extract_help(debs, unpacked)))
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)
    check_counts(splits)
    raw_dir.mkdir(parents=True, exist_ok=True)
    for split, pairs in splits.items():
        for language in ("de", "en"):
            lines = [getattr(pair, language) + "\n" for pair in pairs[:max_lines]]
            (raw_dir / f"{split}.{language}").write_text("".join(lines), encoding="utf-8")
        logger.info("%s: %d pairs (%d pages)", split, len(pairs[:max_lines]), len({p.page for p in pairs}))
    return raw_dir


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m armin_plugin.data.libreoffice", description=__doc__.split("\n\n")[0])
    parser.add_argument("--debs", type=Path, default=Path("raw/debs"),
                        help="folder with the two .deb files (fetched into it when missing)")
    parser.add_argument("--raw", type=Path, default=Path("raw/libreoffice_de_en"), help="where the plain text goes")
    parser.add_argument("--dest", type=Path, default=Path("data-bin/libreoffice_de_en"))
    parser.add_argument("--max-lines", type=int, help="keep only the first pairs of each split (tests)")
    add_binarizing_args(parser)
    args = parser.parse_args(argv)
    setup_cli_logging()
    try:
        write_raw(args.debs, args.raw, args.max_lines)
        prepare_parallel(args.raw, args.dest, "de", "en", args.vocab_size, args.workers)
    except ArminError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
