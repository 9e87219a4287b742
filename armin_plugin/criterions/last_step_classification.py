"""``last_step_classification``: cross-entropy of a sequence classifier's logits (the
model's output at the last step), for ``--task armin_pixel_mnist``.

Logged metrics (fairseq-train/validate logs and TensorBoard):
    loss      cross-entropy in bits per sequence;
    accuracy  fraction of sequences whose arg-max class is the label.
The gradient is that of the mean cross-entropy over the batch's sequences.
"""
from dataclasses import dataclass

import torch.nn.functional as F
from fairseq.criterions import register_criterion
from fairseq.dataclass import FairseqDataclass

from ..errors import ArminError
from .per_sequence import PerSequenceCriterion


@dataclass
class LastStepClassificationConfig(FairseqDataclass):
    pass


@register_criterion("last_step_classification", dataclass=LastStepClassificationConfig)
class LastStepClassificationCriterion(PerSequenceCriterion):
    RATES = {"accuracy": "correct"}

    def forward(self, model, sample, reduce=True):
        logits = model(**sample["net_input"])  # (B, classes)
        target = sample["target"]  # (B,)
        if logits.dim() != 2:
            raise ArminError(f"last_step_classification needs (batch, classes) logits, the model gave "
                             f"{tuple(logits.shape)}: use --arch armin_pixel or lstm_pixel")
        loss = F.cross_entropy(logits, target, reduction="sum")
        sequences = target.size(0)
        logging_output = {
            "loss": loss.data,
            "ntokens": sample["ntokens"],
            "nsentences": sequences,
            "sample_size": sequences,
            "correct": int((logits.detach().argmax(dim=-1) == target).sum()),
        }
        return loss, sequences, logging_output
