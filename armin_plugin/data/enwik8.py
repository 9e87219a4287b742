"""enwik8 (the first 10^8 bytes of an English Wikipedia XML dump) for fairseq, one symbol per byte.

Standard split: the first 90M bytes train, the next 5M valid, the last 5M test. Each byte
becomes its decimal value as a token; newline bytes end a line (fairseq's end of sentence
stands for them, so every byte is predicted exactly once).

    python -m armin_plugin.data.enwik8                      # download enwik8.zip (online)
    python -m armin_plugin.data.enwik8 --source enwik8.zip  # or a local copy (zip or raw)
    python -m armin_plugin.data.enwik8 --gensim-sample --dest data-bin/wiki_sample

A source other than the full 10^8 bytes (such as ``--gensim-sample``, a 6 MB English
Wikipedia XML sample carried by the gensim wheel on PyPI) is split 90% / 5% / 5% in order;
its bits per byte are not comparable to enwik8's.
"""
import argparse
import bz2
import logging
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

from ..errors import ArminError
from ..cli.logs import setup_cli_logging
from .data_bin import binarize, building, check_data_bin

logger = logging.getLogger("armin_plugin.data.enwik8")

ENWIK8_URL = "http://mattmahoney.net/dc/enwik8.zip"
ENWIK8_BYTES = 10**8
STANDARD_SPLIT = (90_000_000, 5_000_000, 5_000_000)
GENSIM_WHEEL = "gensim==4.4.0"
GENSIM_SAMPLE = "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


def read_source(path) -> bytes:
    """The bytes of ``path``: enwik8.zip (its one member), a .bz2 file, or a raw file."""
    path = Path(path)
    if not path.is_file():
        raise ArminError(f"source file {path} does not exist")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise ArminError(f"{path} holds {len(members)} files, expected enwik8 alone")
            return archive.read(members[0])
    if path.suffix == ".bz2":
        try:
            return bz2.decompress(path.read_bytes())
        except OSError as error:
            raise ArminError(f"{path} is not a valid bz2 file ({error})") from None
    return path.read_bytes()


def download_enwik8(dest_dir) -> Path:
    """Fetch enwik8.zip from the Hutter Prize page into ``dest_dir``."""
    target = Path(dest_dir) / "enwik8.zip"
    logger.info("downloading %s", ENWIK8_URL)
    try:
        urllib.request.urlretrieve(ENWIK8_URL, target)
    except OSError as error:
        raise ArminError(
            f"could not download {ENWIK8_URL} ({error}); give a local copy with --source"
        ) from None
    return target


def gensim_sample(dest_dir) -> Path:
    """The Wikipedia XML sample of the gensim wheel, fetched with pip (not installed)."""
    dest_dir = Path(dest_dir)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest_dir), GENSIM_WHEEL]
    logger.info("fetching the %s wheel for its Wikipedia sample", GENSIM_WHEEL)
    if subprocess.run(command, capture_output=True).returncode != 0:
        raise ArminError(f"pip could not download {GENSIM_WHEEL}")
    (wheel,) = dest_dir.glob("gensim-*.whl")
    target = dest_dir / "wiki_sample.xml.bz2"
    with zipfile.ZipFile(wheel) as archive:
        target.write_bytes(archive.read(GENSIM_SAMPLE))
    return target


def split_bytes(data: bytes):
    """(train, valid, test): 90M/5M/5M for enwik8, 90%/5%/5% in order otherwise."""
    if len(data) == ENWIK8_BYTES:
        train, valid, _ = STANDARD_SPLIT
    else:
        logger.info("source has %s bytes, not enwik8's 10^8: splitting 90%% / 5%% / 5%%", f"{len(data):,}")
        train, valid = len(data) * 90 // 100, len(data) * 5 // 100
    if min(train, valid, len(data) - train - valid) < 1:
        raise ArminError(f"a source of {len(data)} bytes is too small to split in three")
    return data[:train], data[train : train + valid], data[train + valid :]


def byte_lines(data: bytes) -> str:
    """One token per byte (its decimal value), one line per newline-terminated line. A
    split that ends inside a line still ends that line (one end-of-line token more)."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return "".join(" ".join(map(str, line)) + "\n" for line in lines)


def prepare(dest_dir, source=None, use_gensim_sample=False, force=False, workers=1) -> Path:
    """Build the byte-level data-bin in ``dest_dir`` from ``source``, the gensim sample, or a
    download of enwik8 (kept if already complete, unless ``force``)."""
    dest = Path(dest_dir)
    if not force:
        try:
            check_data_bin(dest)
            logger.info("%s is already there (use --force to rebuild)", dest)
            return dest
        except ArminError:
            pass
    with building(dest) as work:
        if use_gensim_sample:
            source = gensim_sample(work)
        elif source is None:
            source = download_enwik8(work)
        data = read_source(source)
        if not data:
            raise ArminError(f"source {source} is empty")
        (work / "raw").mkdir()
        for split, part in zip(("train", "valid", "test"), split_bytes(data)):
            (work / "raw" / f"{split}.txt").write_text(byte_lines(part), encoding="ascii")
            logger.info("%s: %s bytes", split, f"{len(part):,}")
        binarize(work / "raw", work / "bin", workers)
    logger.info("byte-level data is ready in %s", dest)
    return dest


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m armin_plugin.data.enwik8", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", default="data-bin/enwik8", help="data-bin directory")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--source", help="local enwik8.zip, enwik8, or any .bz2/raw byte file")
    source.add_argument("--gensim-sample", action="store_true", help="the 6 MB Wikipedia sample of the gensim wheel")
    parser.add_argument("--force", action="store_true", help="rebuild even if DEST is complete")
    parser.add_argument("--workers", type=int, default=1, help="fairseq-preprocess workers")
    args = parser.parse_args(argv)
    setup_cli_logging()
    try:
        prepare(args.dest, args.source, args.gensim_sample, args.force, args.workers)
    except ArminError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
