"""``armin_tbptt_lm``: language modelling over contiguous streams with carried state.

Unlike fairseq's ``language_modeling`` (independent blocks, every block from a fresh state),
the corpus becomes ``batch_size x world_size`` contiguous streams; each batch row continues
the same stream as in the previous batch, and the model carries its recurrent state (for
ARMIN: hidden state, memory and step counters) from one batch to the next, detached. The
model resets it at the first segment of every pass over a split (epoch starts, the start of
each validation, evaluation) and whenever the batch layout changes.

    fairseq-train data-bin/ptb_char --user-dir armin_plugin --task armin_tbptt_lm \\
        --arch armin_lm --tokens-per-sample 150 --batch-size 32 ...
    fairseq-eval-lm data-bin/ptb_char --user-dir armin_plugin --task armin_tbptt_lm \\
        --path CHECKPOINT --gen-subset test --tokens-per-sample 150 --batch-size 32
"""
import functools
import logging
import os
from dataclasses import dataclass, field
from typing import Optional

import torch
from fairseq import utils
from fairseq.data import Dictionary, data_utils, iterators
from fairseq.distributed import utils as distributed_utils
from fairseq.tasks import FairseqTask, register_task
from omegaconf import II

from ..data.streams import StreamSegments
from ..errors import ArminError
from ..training.nonfinite import GuardedTraining, GuardedTrainingConfig

logger = logging.getLogger(__name__)


@dataclass
class ARMINTruncatedBPTTConfig(GuardedTrainingConfig):
    data: str = field(default="???", metadata={"help": "fairseq data-bin directory"})
    tokens_per_sample: int = field(
        default=150, metadata={"help": "segment length: steps of backpropagation through time"}
    )
    batch_size: Optional[int] = II("dataset.batch_size")
    max_target_positions: Optional[int] = II("task.tokens_per_sample")
    data_parallel_rank: Optional[int] = field(
        default=None, metadata={"help": "this process's stream shard (default: its rank)"}
    )
    data_parallel_size: Optional[int] = field(
        default=None, metadata={"help": "number of stream shards (default: world size)"}
    )


@register_task("armin_tbptt_lm", dataclass=ARMINTruncatedBPTTConfig)
class ARMINTruncatedBPTTTask(GuardedTraining, FairseqTask):
    """Stream batches; each sample tells the model which stream it continues."""

    def __init__(self, cfg: ARMINTruncatedBPTTConfig, dictionary: Dictionary):
        super().__init__(cfg)
        self.dictionary = dictionary

    @classmethod
    def setup_task(cls, cfg: ARMINTruncatedBPTTConfig, **kwargs):
        path = utils.split_paths(cfg.data)[0]
        if not os.path.isfile(os.path.join(path, "dict.txt")):
            raise ArminError(f"no dict.txt in data directory {path}: is it a fairseq data-bin?")
        if not cfg.batch_size:
            raise ArminError("--task armin_tbptt_lm needs --batch-size (streams per process)")
        if cfg.data_parallel_rank is None or cfg.data_parallel_size is None:
            distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
            cfg.data_parallel_rank = distributed_utils.get_data_parallel_rank() if distributed else 0
            cfg.data_parallel_size = (
                distributed_utils.get_data_parallel_world_size() if distributed else 1
            )
        dictionary = Dictionary.load(os.path.join(path, "dict.txt"))
        logger.info("dictionary: %d types", len(dictionary))
        return cls(cfg, dictionary)

    def load_dataset(self, split, epoch=1, combine=False, **kwargs):
        path = utils.split_paths(self.cfg.data)[0]
        lines = data_utils.load_indexed_dataset(os.path.join(path, split), self.dictionary, combine=combine)
        if lines is None:
            raise ArminError(f"split '{split}' not found in {path} (expected {split}.bin/.idx)")
        tokens = torch.cat([lines[i] for i in range(len(lines))])
        self.datasets[split] = StreamSegments(
            tokens,
            self.cfg.batch_size,
            self.cfg.tokens_per_sample,
            self.cfg.data_parallel_rank,
            self.cfg.data_parallel_size,
        )
        logger.info(
            "%s: %s tokens as %d x %d streams of %d tokens, %d segments of %d",
            split, f"{tokens.numel():,}", self.cfg.data_parallel_size, self.cfg.batch_size,
            self.datasets[split].streams.size(1), len(self.datasets[split]), self.cfg.tokens_per_sample,
        )

    def get_batch_iterator(self, dataset, epoch=1, data_buffer_size=0, skip_remainder_batch=False, **ignored):
        """Every item is a whole batch, served in order (no shuffling, no re-batching), from
        this process whatever --num-workers says (``ignored``: fairseq's batching arguments,
        ``num_workers`` among them): a batch is a slice of one tensor in memory,
        cheaper to cut here than to send from a worker process (and a dropped iterator's
        workers took 5 s to stop)."""
        key = next((split for split, known in self.datasets.items() if known is dataset), "stream")
        return iterators.EpochBatchIterator(
            dataset=dataset,
            collate_fn=functools.partial(self._collate, key),
            batch_sampler=[[i] for i in range(len(dataset))],
            num_workers=0,
            epoch=epoch,
            buffer_size=data_buffer_size,
            disable_shuffling=True,
            skip_remainder_batch=skip_remainder_batch,
        )

    def eval_lm_dataloader(self, dataset, data_buffer_size=10, context_window=0, **ignored):
        if context_window > 0:
            raise ArminError("--task armin_tbptt_lm carries state instead of --context-window")
        return self.get_batch_iterator(dataset, data_buffer_size=data_buffer_size).next_epoch_itr(shuffle=False)

    @staticmethod
    def _collate(key, items):
        """One segment of every stream; ``stream_key``/``stream_position`` let the model
        continue (or reset) the state it carries for these streams."""
        ((position, inputs, targets),) = items
        rows = inputs.size(0)
        return {
            "id": torch.arange(rows) + position * rows,
            "net_input": {"src_tokens": inputs, "stream_key": key, "stream_position": position},
            "target": targets,
            "nsentences": rows,
            "ntokens": targets.numel(),
        }

    @property
    def source_dictionary(self):
        return self.dictionary

    @property
    def target_dictionary(self):
        return self.dictionary
