"""ARMIN as in the paper: the fairseq flags that turn the shipped cell into the one the
authors trained (docs/the-cell.md, "Variants"), for the jobs' "ARMIN (paper)" rows."""
import math
from pathlib import Path
from typing import List


def paper_cell_flags(epoch_updates: int) -> List:
    """The authors' initialisation (orthogonal weights, zero biases) and temperature (a logit
    multiplier min(epoch + 1, N - 1)), an epoch being ``epoch_updates`` updates."""
    return ["--armin-init", "authors", "--armin-tau-schedule", "authors", "--armin-tau-epoch-updates", epoch_updates]


def block_epoch_updates(data: Path, tokens_per_sample: int, batch_size: int) -> int:
    """Updates per epoch of fairseq's ``language_modeling`` task (``--sample-break-mode
    none``) over ``data``'s train split: its tokens in blocks of ``tokens_per_sample``, in
    batches of ``batch_size`` blocks."""
    from fairseq.data import data_utils

    train = data_utils.load_indexed_dataset(str(data / "train"), None)
    if train is None:
        return 1
    blocks = math.ceil(int(train.sizes.sum()) / tokens_per_sample)
    return max(1, math.ceil(blocks / batch_size))
