"""The criterion base of the sequence tasks: every metric is per sequence."""
import math
from typing import Dict

from fairseq import metrics
from fairseq.criterions import FairseqCriterion


class PerSequenceCriterion(FairseqCriterion):
    """Logs ``loss`` (the summed cross-entropy of the logging outputs, natural log) in bits
    per sequence, and each metric of ``RATES`` ({metric: logging-output key}) as its summed
    key per sequence; the logging outputs sum across workers."""

    RATES: Dict[str, str] = {}

    @classmethod
    def reduce_metrics(cls, logging_outputs) -> None:
        def total(key):
            return sum(float(log.get(key, 0)) for log in logging_outputs)

        sequences = total("nsentences")
        if sequences == 0:
            return
        metrics.log_scalar("loss", total("loss") / sequences / math.log(2), sequences, round=4)
        for metric, key in cls.RATES.items():
            metrics.log_scalar(metric, total(key) / sequences, sequences, round=4)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
