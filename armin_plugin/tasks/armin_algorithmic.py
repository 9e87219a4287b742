"""``armin_algorithmic``: the NTM memory tasks (copy, repeat copy, associative recall).

Sequences are generated on the fly from ``--seed``; no data directory is read, so
fairseq-train takes no data argument::

    fairseq-train --user-dir armin_plugin --task armin_algorithmic --algorithm copy \\
        --arch armin_algorithmic --criterion algorithmic_bits --optimizer adam --lr 1e-3 \\
        --batch-size 32 --valid-subset valid,valid_long --best-checkpoint-metric bit_errors

Splits: ``train`` (new contents every epoch), ``valid`` and ``test`` at the training lengths,
``valid_long`` and ``test_long`` at the longer evaluation lengths (both fixed: the same
sequences at every validation). See :mod:`armin_plugin.data.algorithmic` for the layout of
inputs and targets.
"""
import logging
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
from fairseq.data import FairseqDataset
from fairseq.dataclass import ChoiceEnum
from fairseq.tasks import FairseqTask, register_task
from omegaconf import II

from .. import criterions  # noqa: F401  (registers algorithmic_bits)
from ..data.algorithmic import ALGORITHMS, AlgorithmSpec, ExampleSource, check_range
from ..errors import ArminError
from ..training.nonfinite import GuardedTraining, GuardedTrainingConfig
from .vector_sequences import VectorSequences

logger = logging.getLogger(__name__)

# Per algorithm: (min, max) of the length at training and evaluation-long lengths, and of
# the repeat count of repeat_copy. "length" is the number of items for associative recall.
DEFAULT_RANGES = {
    "copy": dict(length=(1, 10), long_length=(11, 20)),
    "repeat_copy": dict(length=(1, 5), long_length=(6, 8), repeats=(1, 5), long_repeats=(6, 8)),
    "associative_recall": dict(length=(2, 6), long_length=(7, 12)),
}
SPLITS = ("train", "valid", "test", "valid_long", "test_long")


def _range_field(what: str):
    return field(default=None, metadata={"help": f"{what} (default: depends on --algorithm)"})


@dataclass
class AlgorithmicConfig(GuardedTrainingConfig):
    algorithm: ChoiceEnum(ALGORITHMS) = field(default="copy", metadata={"help": "which memory task"})
    width: int = field(default=8, metadata={"help": "bits per vector"})
    min_length: Optional[int] = _range_field("shortest training sequence (items for associative_recall)")
    max_length: Optional[int] = _range_field("longest training sequence")
    long_min_length: Optional[int] = _range_field("shortest sequence of the *_long splits")
    long_max_length: Optional[int] = _range_field("longest sequence of the *_long splits")
    min_repeats: Optional[int] = _range_field("repeat_copy: fewest repeats in training")
    max_repeats: Optional[int] = _range_field("repeat_copy: most repeats in training")
    long_min_repeats: Optional[int] = _range_field("repeat_copy: fewest repeats of the *_long splits")
    long_max_repeats: Optional[int] = _range_field("repeat_copy: most repeats of the *_long splits")
    item_size: int = field(default=3, metadata={"help": "associative_recall: vectors per item"})
    train_size: int = field(default=10000, metadata={"help": "training sequences per epoch"})
    valid_size: int = field(default=512, metadata={"help": "sequences of each evaluation split"})
    seed: int = II("common.seed")


def resolve(cfg: AlgorithmicConfig):
    """(training spec, long spec) of ``cfg``, with per-algorithm defaults filled in."""
    algorithm = str(cfg.algorithm)
    if algorithm not in ALGORITHMS:
        raise ArminError(f"--algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    defaults = DEFAULT_RANGES[algorithm]

    def pick(name, key, index):
        value = getattr(cfg, name)
        if value is None:
            value = defaults.get(key, (1, 1))[index]
        return int(value)

    length = pick("min_length", "length", 0), pick("max_length", "length", 1)
    long_length = pick("long_min_length", "long_length", 0), pick("long_max_length", "long_length", 1)
    repeats = pick("min_repeats", "repeats", 0), pick("max_repeats", "repeats", 1)
    long_repeats = pick("long_min_repeats", "long_repeats", 0), pick("long_max_repeats", "long_repeats", 1)
    least = 2 if algorithm == "associative_recall" else 1
    check_range("length", *length, least)
    check_range("length", *long_length, least, prefix="long-")
    if algorithm == "repeat_copy":
        check_range("repeats", *repeats, 1)
        check_range("repeats", *long_repeats, 1, prefix="long-")
    for name in ("train_size", "valid_size"):
        if getattr(cfg, name) < 1:
            raise ArminError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(cfg, name)}")
    common = dict(algorithm=algorithm, width=cfg.width, item_size=cfg.item_size, repeat_scale=float(repeats[1]))
    train = AlgorithmSpec(min_length=length[0], max_length=length[1],
                          min_repeats=repeats[0], max_repeats=repeats[1], **common)
    long = AlgorithmSpec(min_length=long_length[0], max_length=long_length[1],
                         min_repeats=long_repeats[0], max_repeats=long_repeats[1], **common)
    return train, long


class AlgorithmicDataset(FairseqDataset):
    """One split: examples of an :class:`ExampleSource`, batched by fairseq by their number
    of steps and right-padded by :meth:`collater`.

    A batch is ``{"id", "net_input": {"src_inputs": (B, T, input_size), "src_lengths": (B,)},
    "target": (B, T, output_size), "target_mask": (B, T) bool, "nsentences", "ntokens"}``;
    ``ntokens`` counts answer steps. Padding only ever follows a sequence's real steps, so a
    left-to-right model's outputs on real steps do not depend on it.
    """

    def __init__(self, source: ExampleSource):
        super().__init__()
        self.source = source
        self.sizes = source.sizes

    def __getitem__(self, index):
        inputs, targets, mask = self.source[index]
        return {
            "id": index,
            "inputs": torch.from_numpy(inputs),
            "targets": torch.from_numpy(targets),
            "mask": torch.from_numpy(mask),
        }

    def __len__(self):
        return len(self.source)

    def set_epoch(self, epoch):
        self.source.epoch = epoch

    def num_tokens(self, index):
        return int(self.sizes[index])

    def size(self, index):
        return int(self.sizes[index])

    def ordered_indices(self):
        return np.argsort(self.sizes, kind="mergesort")

    def collater(self, samples):
        if not samples:
            return {}
        steps = max(len(s["inputs"]) for s in samples)
        batch = len(samples)
        inputs = samples[0]["inputs"].new_zeros(batch, steps, samples[0]["inputs"].size(1))
        targets = samples[0]["targets"].new_zeros(batch, steps, samples[0]["targets"].size(1))
        mask = torch.zeros(batch, steps, dtype=torch.bool)
        for row, sample in enumerate(samples):
            length = len(sample["inputs"])
            inputs[row, :length] = sample["inputs"]
            targets[row, :length] = sample["targets"]
            mask[row, :length] = sample["mask"]
        return {
            "id": torch.tensor([s["id"] for s in samples]),
            "net_input": {
                "src_inputs": inputs,
                "src_lengths": torch.tensor([len(s["inputs"]) for s in samples]),
            },
            "target": targets,
            "target_mask": mask,
            "nsentences": batch,
            "ntokens": int(mask.sum()),
        }


@register_task("armin_algorithmic", dataclass=AlgorithmicConfig)
class AlgorithmicTask(GuardedTraining, VectorSequences, FairseqTask):
    """Copy, repeat copy and associative recall as binary-vector sequence tasks."""

    def __init__(self, cfg: AlgorithmicConfig):
        super().__init__(cfg)
        self.train_spec, self.long_spec = resolve(cfg)
        logger.info(
            "%s: lengths %d-%d, long lengths %d-%d", self.train_spec.algorithm,
            self.train_spec.min_length, self.train_spec.max_length,
            self.long_spec.min_length, self.long_spec.max_length,
        )

    @classmethod
    def setup_task(cls, cfg: AlgorithmicConfig, **kwargs):
        return cls(cfg)

    @property
    def input_size(self) -> int:
        return self.train_spec.input_size

    @property
    def output_size(self) -> int:
        return self.train_spec.output_size

    def load_dataset(self, split, epoch=1, combine=False, **kwargs):
        if split not in SPLITS:
            raise ArminError(f"armin_algorithmic has the splits {', '.join(SPLITS)}; got {split!r}")
        spec = self.long_spec if split.endswith("_long") else self.train_spec
        size = self.cfg.train_size if split == "train" else self.cfg.valid_size
        source = ExampleSource(spec, size, self.cfg.seed, split, fixed=split != "train")
        source.epoch = epoch
        self.datasets[split] = AlgorithmicDataset(source)

    def build_criterion(self, cfg, from_checkpoint=False):
        if getattr(cfg, "_name", None) != "algorithmic_bits":
            raise ArminError(
                f"--task armin_algorithmic is trained with --criterion algorithmic_bits, "
                f"got --criterion {getattr(cfg, '_name', cfg)}"
            )
        return super().build_criterion(cfg, from_checkpoint=from_checkpoint)
