"""``algorithmic_bits``: bitwise sigmoid cross-entropy on the answer steps of the memory tasks.

Logged metrics (fairseq-train/validate logs and TensorBoard):
    loss        cross-entropy in bits per sequence, summed over the answer bits (the NTM
                paper's "cost per sequence");
    bit_errors  wrong bits per sequence on the answer steps (a bit is predicted 1 where its
                logit is > 0);
    seq_acc     fraction of sequences whose answer has no wrong bit.
The gradient is that of the summed loss divided by the number of sequences.
"""
from dataclasses import dataclass

import torch.nn.functional as F
from fairseq.criterions import register_criterion
from fairseq.dataclass import FairseqDataclass
from torch import Tensor

from .per_sequence import PerSequenceCriterion


def bit_errors_per_sequence(logits: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Wrong bits of each sequence on its answer steps.

    logits, target: (B, T, W); mask: (B, T) bool, True on answer steps. Returns (B,) long.
    """
    wrong = (logits > 0) != (target > 0.5)
    return (wrong & mask.unsqueeze(-1)).sum(dim=(1, 2))


@dataclass
class AlgorithmicBitsConfig(FairseqDataclass):
    pass


@register_criterion("algorithmic_bits", dataclass=AlgorithmicBitsConfig)
class AlgorithmicBitsCriterion(PerSequenceCriterion):
    RATES = {"bit_errors": "bit_errors", "seq_acc": "correct"}

    def forward(self, model, sample, reduce=True):
        logits = model(**sample["net_input"])
        target, mask = sample["target"], sample["target_mask"]
        per_bit = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        loss = (per_bit * mask.unsqueeze(-1).to(per_bit.dtype)).sum()
        errors = bit_errors_per_sequence(logits.detach(), target, mask)
        sequences = target.size(0)
        logging_output = {
            "loss": loss.data,
            "ntokens": int(mask.sum()),
            "nsentences": sequences,
            "sample_size": sequences,
            "bit_errors": int(errors.sum()),
            "correct": int((errors == 0).sum()),
        }
        return loss, sequences, logging_output
