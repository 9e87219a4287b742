"""fairseq data-bin directories: binarizing text, checking them, replacing them safely."""
import contextlib
import logging
import shutil
import tempfile
from pathlib import Path

from ..errors import ArminError
from ..cli.process import fairseq_command, run_streamed

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
# fairseq pads its dictionary to a multiple of 8 with never-seen "madeupwordNNNN" entries.
PADDING_SYMBOL = "madeupword"


def binarize(raw_dir, dest_dir, workers=1):
    """Binarize ``raw_dir``/{train,valid,test}.txt into ``dest_dir`` with fairseq-preprocess."""
    raw_dir = Path(raw_dir)
    preprocess([
        "--only-source",
        "--trainpref", str(raw_dir / "train.txt"),
        "--validpref", str(raw_dir / "valid.txt"),
        "--testpref", str(raw_dir / "test.txt"),
        "--destdir", str(dest_dir),
        "--workers", str(workers),
    ])


def preprocess(arguments):
    """Run ``fairseq-preprocess ARGUMENTS``; raise ArminError with its last line on failure."""
    command = fairseq_command("preprocess") + arguments
    logger.info("running %s", " ".join(command))
    finished = run_streamed(command)
    if finished.returncode != 0:
        last = next((line for line in reversed(finished.lines) if line.strip()), "no message")
        raise ArminError(f"fairseq-preprocess failed (exit {finished.returncode}): {last}")


def check_data_bin(dest_dir, splits=SPLITS):
    """Raise unless ``dest_dir`` holds dict.txt and the .bin/.idx files of ``splits``."""
    dest_dir = Path(dest_dir)
    if not dest_dir.is_dir():
        raise ArminError(f"data directory {dest_dir} does not exist")
    needed = ["dict.txt"] + [f"{split}.{ext}" for split in splits for ext in ("bin", "idx")]
    missing = [name for name in needed if not (dest_dir / name).is_file()]
    if missing:
        raise ArminError(f"data directory {dest_dir} lacks {', '.join(missing)}")


def dict_entries(dest_dir):
    """Symbols of ``dest_dir``/dict.txt, without fairseq's padding entries."""
    with open(Path(dest_dir) / "dict.txt", encoding="utf-8") as f:
        symbols = [line.split(" ", 1)[0] for line in f]
    return [s for s in symbols if not s.startswith(PADDING_SYMBOL)]


def _replace_dir(new, dest):
    """Move ``new`` to ``dest``; an old ``dest`` is deleted only once ``new`` is in place."""
    if not dest.exists():
        new.rename(dest)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
    dest.rename(old / dest.name)
    new.rename(dest)
    shutil.rmtree(old)


@contextlib.contextmanager
def building(dest):
    """Yield a work directory next to ``dest``; what the block leaves in ``work/"bin"``
    replaces ``dest`` when the block succeeds. A failure leaves ``dest`` as it was."""
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise ArminError(f"{dest} exists and is not a directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        yield work
        _replace_dir(work / "bin", dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
