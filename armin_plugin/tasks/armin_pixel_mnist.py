"""``armin_pixel_mnist``: sequential and permuted pixel-by-pixel MNIST (one pixel per step,
784 steps, the class read from the last step), the ARMIN paper's own benchmark.

    python -m armin_plugin.data.mnist                     # -> data-bin/pixel_mnist
    fairseq-train data-bin/pixel_mnist --user-dir armin_plugin --task armin_pixel_mnist \\
        --arch armin_pixel --criterion last_step_classification --optimizer adam --lr 1e-3 \\
        --batch-size 128 --clip-norm 1.0 --best-checkpoint-metric accuracy \\
        --maximize-best-checkpoint-metric [--permute]

``--permute`` reads the pixels in the order of the data-bin's ``permutation.npy`` (one
fixed permutation for every split and every run); without it, in row order. Pixels are
scaled to [0, 1]. Splits: train, valid, test (see :mod:`armin_plugin.data.mnist`).

``--pixels-per-step K`` (not the paper's task: a shorter CPU variant) reads K consecutive
pixels of that order per step, 784 / K steps of K inputs; K = 1, the default, is the paper's.
"""
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from fairseq.data import FairseqDataset
from fairseq.tasks import FairseqTask, register_task
from omegaconf import II

from .. import criterions  # noqa: F401  (registers last_step_classification)
from ..data.mnist import CLASSES, PIXELS, SPLITS, read_manifest, steps_per_image
from ..errors import ArminError
from ..training.nonfinite import GuardedTraining, GuardedTrainingConfig
from .vector_sequences import VectorSequences

logger = logging.getLogger(__name__)


@dataclass
class PixelMNISTConfig(GuardedTrainingConfig):
    data: str = field(default="", metadata={"help": "data-bin of python -m armin_plugin.data.mnist"})
    permute: bool = field(default=False, metadata={"help": "permuted pixel MNIST: the data-bin's fixed pixel order"})
    pixels_per_step: int = field(default=1, metadata={
        "help": f"pixels read per step, a divisor of {PIXELS}: 1 is the paper's task; K > 1 a shorter CPU "
                f"variant of {PIXELS} / K steps of K pixels"})
    seed: int = II("common.seed")


class PixelMNISTDataset(FairseqDataset):
    """One split. A batch is ``{"id", "net_input": {"src_inputs": (B, 784 / K, K) float in
    [0, 1]}, "target": (B,) long, "nsentences", "ntokens"}``, pixels in the order ``order``
    (784,), K = ``pixels_per_step`` of them per step; ``ntokens`` counts pixels. With
    ``shuffle_seed`` the order of the examples is drawn anew every epoch; without it, they
    come in the split's order."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, order: np.ndarray, shuffle_seed=None,
                 pixels_per_step: int = 1):
        super().__init__()
        self.images, self.labels, self.order = images, labels, order
        self.pixels_per_step = pixels_per_step
        self.shuffle_seed = shuffle_seed
        self.epoch = 1
        self.sizes = np.full(len(labels), PIXELS)

    def __getitem__(self, index):
        return index

    def __len__(self):
        return len(self.labels)

    def num_tokens(self, index):
        return PIXELS

    def size(self, index):
        return PIXELS

    def set_epoch(self, epoch):
        self.epoch = epoch

    @property
    def can_reuse_epoch_itr_across_epochs(self):
        return self.shuffle_seed is None

    def ordered_indices(self):
        if self.shuffle_seed is None:
            return np.arange(len(self))
        return np.random.default_rng([self.shuffle_seed, self.epoch]).permutation(len(self))

    def batch_by_size(self, indices, max_tokens=None, max_sentences=None, required_batch_size_multiple=1):
        """Consecutive batches of ``indices`` of the largest size that ``max_sentences`` and
        ``max_tokens`` allow, the last one smaller: every example is kept (fairseq's own
        batching drops a remainder of fewer than ``required_batch_size_multiple`` examples)."""
        size = min(max_sentences or len(indices), (max_tokens or PIXELS * len(indices)) // PIXELS)
        if size < 1:
            raise ArminError(f"--max-tokens {max_tokens} is below the {PIXELS} pixels of one image")
        return [indices[start:start + size] for start in range(0, len(indices), size)]

    def collater(self, samples):
        if not samples:
            return {}
        rows = np.asarray(samples, dtype=np.int64)
        pixels = self.images[rows][:, self.order].astype(np.float32) / 255.0
        return {
            "id": torch.from_numpy(rows),
            "net_input": {"src_inputs": torch.from_numpy(pixels).view(len(rows), -1, self.pixels_per_step)},
            "target": torch.from_numpy(self.labels[rows].astype(np.int64)),
            "nsentences": len(rows),
            "ntokens": len(rows) * PIXELS,
        }


def load_array(path: Path) -> np.ndarray:
    try:
        return np.load(path)
    except (OSError, ValueError) as error:
        raise ArminError(f"cannot read {path} of the pixel-MNIST data-bin: {error}") from None


def load_permutation(data: Path) -> np.ndarray:
    permutation = load_array(data / "permutation.npy")
    if permutation.shape != (PIXELS,) or not np.array_equal(np.sort(permutation), np.arange(PIXELS)):
        raise ArminError(f"{data}/permutation.npy is not a permutation of the {PIXELS} pixels")
    return permutation


@register_task("armin_pixel_mnist", dataclass=PixelMNISTConfig)
class PixelMNISTTask(GuardedTraining, VectorSequences, FairseqTask):
    """Classify an MNIST digit from its 784 pixels read one (``--pixels-per-step``: K) per step."""

    output_size = CLASSES

    def __init__(self, cfg: PixelMNISTConfig, data: Path, order: np.ndarray):
        super().__init__(cfg)
        self.pixels_per_step = getattr(cfg, "pixels_per_step", None) or 1  # checkpoints from before the flag
        steps_per_image(self.pixels_per_step)
        self.data, self.order = data, order
        self.input_size = self.pixels_per_step

    @classmethod
    def setup_task(cls, cfg: PixelMNISTConfig, **kwargs):
        data = Path(cfg.data.split(":")[0])
        manifest = read_manifest(data)
        order = load_permutation(data) if cfg.permute else np.arange(PIXELS)
        task = cls(cfg, data, order)
        sizes = ", ".join(f"{split} {size}" for split, size in manifest["sizes"].items())
        k = task.pixels_per_step
        steps = "one pixel per step" if k == 1 else f"{k} pixels per step, {steps_per_image(k)} steps (a CPU variant)"
        logger.info("%s pixel MNIST from %s%s, %s: %s", "permuted" if cfg.permute else "sequential",
                    manifest["source"], " (a SUBSET of MNIST)" if manifest["subset"] else "", steps, sizes)
        return task

    def load_dataset(self, split, epoch=1, combine=False, **kwargs):
        if split not in SPLITS:
            raise ArminError(f"armin_pixel_mnist has the splits {', '.join(SPLITS)}; got {split!r}")
        images = load_array(self.data / f"{split}.images.npy")
        labels = load_array(self.data / f"{split}.labels.npy")
        if images.shape != (len(labels), PIXELS) or images.dtype != np.uint8:
            raise ArminError(f"{self.data}/{split}.images.npy: shape {images.shape} {images.dtype}, "
                             f"expected ({len(labels)}, {PIXELS}) uint8")
        shuffle = self.cfg.seed if split == "train" else None
        self.datasets[split] = PixelMNISTDataset(images, labels, self.order, shuffle, self.pixels_per_step)
        self.datasets[split].set_epoch(epoch)

    def build_criterion(self, cfg, from_checkpoint=False):
        if getattr(cfg, "_name", None) != "last_step_classification":
            raise ArminError(f"--task armin_pixel_mnist is trained with --criterion last_step_classification, "
                             f"got --criterion {getattr(cfg, '_name', cfg)}")
        return super().build_criterion(cfg, from_checkpoint=from_checkpoint)
