"""Sequences of the Neural Turing Machine memory tasks (Graves et al., 2014), made from a seed.

Pure NumPy (no fairseq, no files). One example is three arrays over the same T steps:
``inputs`` (T, input_size) float32, ``targets`` (T, output_size) float32 and ``mask`` (T,)
bool, True on the answer steps: the only steps a model is scored and trained on. During the
answer the inputs are all zero, so the model has to produce it from what it stored.

copy (input W+1 channels, output W):
    L random binary vectors of width W on channels 0..W-1, then one step with the delimiter
    channel W set; then L answer steps whose targets are the L vectors again.
repeat_copy (input W+2, output W+1):
    L vectors, a delimiter step (channel W), then one step whose channel W+1 holds the
    repeat count R divided by ``repeat_scale`` (the largest training count); then R*L
    answer steps (the vectors R times, channel W of the target 0) and one more answer step
    whose only set target bit is the end marker on channel W.
associative_recall (input W+2, output W):
    n items of K vectors each (``item_size``), every item opened by a step with channel W
    set; then the query: a step with channel W+1 set, the K vectors of one of the first
    n-1 items, and channel W+1 again; then K answer steps: the item that followed the query.
    Items are distinct, so the answer is unique.

``length`` is L for the two copy tasks and the number of items n for associative recall.
"""
import zlib
from dataclasses import dataclass
from typing import NamedTuple, Tuple

import numpy as np

from ..errors import ArminError

ALGORITHMS = ("copy", "repeat_copy", "associative_recall")


class Example(NamedTuple):
    inputs: np.ndarray  # (T, input_size) float32
    targets: np.ndarray  # (T, output_size) float32
    mask: np.ndarray  # (T,) bool: answer steps


@dataclass(frozen=True)
class AlgorithmSpec:
    """What one split of one task generates: sizes and the ranges lengths are drawn from
    (inclusive). ``repeat_scale`` normalizes the repeat count input of repeat_copy and must
    be the same for training and evaluation splits."""

    algorithm: str = "copy"
    width: int = 8
    min_length: int = 1
    max_length: int = 10
    min_repeats: int = 1
    max_repeats: int = 5
    repeat_scale: float = 5.0
    item_size: int = 3

    def __post_init__(self):
        if self.algorithm not in ALGORITHMS:
            raise ArminError(f"--algorithm must be one of {', '.join(ALGORITHMS)}, got {self.algorithm!r}")
        if self.width < 1:
            raise ArminError(f"--width must be a positive integer, got {self.width}")
        least = 2 if self.algorithm == "associative_recall" else 1
        check_range("length", self.min_length, self.max_length, least)
        if self.algorithm == "repeat_copy":
            check_range("repeats", self.min_repeats, self.max_repeats, 1)
            if not self.repeat_scale > 0:
                raise ArminError(f"the repeat scale must be positive, got {self.repeat_scale}")
        if self.algorithm == "associative_recall" and self.item_size < 1:
            raise ArminError(f"--item-size must be a positive integer, got {self.item_size}")

    @property
    def input_size(self) -> int:
        return self.width + (1 if self.algorithm == "copy" else 2)

    @property
    def output_size(self) -> int:
        return self.width + (1 if self.algorithm == "repeat_copy" else 0)

    def steps(self, length: int, repeats: int = 1) -> int:
        """Number of steps T of an example of this ``length`` (and ``repeats``)."""
        if self.algorithm == "copy":
            return 2 * length + 1
        if self.algorithm == "repeat_copy":
            return length + 2 + repeats * length + 1
        k = self.item_size
        return length * (k + 1) + (k + 2) + k


def check_range(name: str, low: int, high: int, least: int, prefix: str = ""):
    """Refuse a range of ``--[prefix]min-NAME`` .. ``--[prefix]max-NAME`` that is empty or
    starts below ``least``, naming the flags."""
    low_flag, high_flag = f"--{prefix}min-{name}", f"--{prefix}max-{name}"
    if low < least:
        raise ArminError(f"{low_flag} must be at least {least}, got {low}")
    if high < low:
        raise ArminError(f"{low_flag} {low} is above {high_flag} {high}: the range is empty")


# --- examples from given contents (what the random generator fills in) ---------------------


def copy_example(vectors: np.ndarray) -> Example:
    """The copy example of ``vectors`` (L, W) of 0/1."""
    vectors = np.asarray(vectors, dtype=np.float32)
    length, width = vectors.shape
    inputs = np.zeros((2 * length + 1, width + 1), np.float32)
    inputs[:length, :width] = vectors
    inputs[length, width] = 1.0
    targets = np.zeros((2 * length + 1, width), np.float32)
    targets[length + 1:] = vectors
    mask = np.zeros(2 * length + 1, bool)
    mask[length + 1:] = True
    return Example(inputs, targets, mask)


def repeat_copy_example(vectors: np.ndarray, repeats: int, repeat_scale: float) -> Example:
    """The repeat-copy example of ``vectors`` (L, W) reproduced ``repeats`` times."""
    vectors = np.asarray(vectors, dtype=np.float32)
    length, width = vectors.shape
    answer = repeats * length + 1
    steps = length + 2 + answer
    inputs = np.zeros((steps, width + 2), np.float32)
    inputs[:length, :width] = vectors
    inputs[length, width] = 1.0
    inputs[length + 1, width + 1] = repeats / repeat_scale
    targets = np.zeros((steps, width + 1), np.float32)
    targets[length + 2:steps - 1, :width] = np.tile(vectors, (repeats, 1))
    targets[steps - 1, width] = 1.0
    mask = np.zeros(steps, bool)
    mask[length + 2:] = True
    return Example(inputs, targets, mask)


def associative_recall_example(items: np.ndarray, query: int) -> Example:
    """The recall example of ``items`` (n, K, W) of 0/1, asking for the item after ``query``."""
    items = np.asarray(items, dtype=np.float32)
    count, k, width = items.shape
    if not 0 <= query < count - 1:
        raise ArminError(f"the query must be one of the first {count - 1} items, got {query}")
    steps = count * (k + 1) + (k + 2) + k
    inputs = np.zeros((steps, width + 2), np.float32)
    for index in range(count):
        start = index * (k + 1)
        inputs[start, width] = 1.0
        inputs[start + 1:start + 1 + k, :width] = items[index]
    start = count * (k + 1)
    inputs[start, width + 1] = 1.0
    inputs[start + 1:start + 1 + k, :width] = items[query]
    inputs[start + 1 + k, width + 1] = 1.0
    targets = np.zeros((steps, width), np.float32)
    targets[steps - k:] = items[query + 1]
    mask = np.zeros(steps, bool)
    mask[steps - k:] = True
    return Example(inputs, targets, mask)


# --- the random generator -----------------------------------------------------------------


def split_code(split: str) -> int:
    """A stable number for a split name (Python's hash() of a str changes between runs)."""
    return zlib.crc32(split.encode("utf-8"))


def draw_shape(spec: AlgorithmSpec, rng: np.random.Generator) -> Tuple[int, int]:
    """(length, repeats) of one example; repeats is 1 except for repeat_copy."""
    length = int(rng.integers(spec.min_length, spec.max_length + 1))
    repeats = 1
    if spec.algorithm == "repeat_copy":
        repeats = int(rng.integers(spec.min_repeats, spec.max_repeats + 1))
    return length, repeats


def draw_example(spec: AlgorithmSpec, shape: Tuple[int, int], rng: np.random.Generator) -> Example:
    """An example of ``shape`` (from :func:`draw_shape`) with random contents from ``rng``."""
    length, repeats = shape
    if spec.algorithm == "copy":
        return copy_example(rng.integers(0, 2, (length, spec.width)))
    if spec.algorithm == "repeat_copy":
        return repeat_copy_example(rng.integers(0, 2, (length, spec.width)), repeats, spec.repeat_scale)
    while True:
        items = rng.integers(0, 2, (length, spec.item_size, spec.width))
        if len(np.unique(items.reshape(length, -1), axis=0)) == length:
            break
    query = int(rng.integers(0, length - 1))
    return associative_recall_example(items, query)


class ExampleSource:
    """``size`` examples of ``spec`` for one split, each a pure function of
    (seed, split, index) and, when ``fixed`` is False, of the epoch too.

    The shape (length, repeats) of example i never depends on the epoch, so a batching
    by size made once stays valid; training splits (``fixed=False``) get new contents
    every epoch, evaluation splits are the same every time.
    """

    def __init__(self, spec: AlgorithmSpec, size: int, seed: int, split: str, fixed: bool):
        if size < 1:
            raise ArminError(f"the {split} split needs at least one sequence, got size {size}")
        self.spec = spec
        self.seed = seed
        self.split = split
        self.fixed = fixed
        self.epoch = 1
        code = split_code(split)
        self.shapes = [draw_shape(spec, np.random.default_rng([seed, code, i])) for i in range(size)]
        self.sizes = np.array([spec.steps(*shape) for shape in self.shapes], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.shapes)

    def __getitem__(self, index: int) -> Example:
        epoch = 0 if self.fixed else self.epoch
        rng = np.random.default_rng([self.seed, split_code(self.split), index, epoch, 1])
        return draw_example(self.spec, self.shapes[index], rng)

