"""Non-finite losses: stop with the update number, or skip the batch (--armin-skip-nonfinite).

Without the flag a NaN or inf loss stops the run with one line naming the update, before
fairseq saves anything for it: ``checkpoint_last.pt`` stays the last good state (fairseq
itself writes ``crash.pt``, the parameters before the failed update, for debugging). With
the flag the batch contributes no gradient and the rows of carried stream states start
fresh at the next segment; an update in which every batch was skipped (on
every rank) leaves the parameters and the optimizer state untouched.
"""
import logging
from dataclasses import dataclass, field

import torch
from fairseq.dataclass import FairseqDataclass
from fairseq.logging import metrics

from ..errors import ArminError
from .carried_state import CarriedStates
from .interrupt import stop_cleanly_on_signals
from .restore_file import check_restore_file

logger = logging.getLogger(__name__)


class NonFiniteLoss(ArminError):
    """A training loss (or the output it is computed from) is NaN or inf."""

    def __init__(self, update: int, what: str):
        super().__init__(
            f"update {update}: {what} is NaN or inf; stopped before saving this update "
            f"(the checkpoints saved before are intact). Lower --lr or set --clip-norm; "
            f"--armin-skip-nonfinite skips such batches (tasks armin_tbptt_lm, armin_algorithmic)"
        )
        self.update = update


@dataclass
class GuardedTrainingConfig(FairseqDataclass):
    armin_skip_nonfinite: bool = field(
        default=False,
        metadata={"help": "skip a batch whose loss is NaN or inf (with a warning) instead of stopping"},
    )


class _CheckedCriterion:
    """Calls the criterion and refuses (or zeroes) a non-finite loss of update ``update``."""

    def __init__(self, criterion, update: int, skip: bool):
        self.criterion = criterion
        self.update = update
        self.skip = skip
        self.skipped = False

    def __call__(self, model, sample):
        try:
            loss, sample_size, logging_output = self.criterion(model, sample)
            if torch.isfinite(loss).all():
                return loss, sample_size, logging_output
            failure = NonFiniteLoss(self.update, f"the loss ({loss.item()})")
        except NonFiniteLoss as raised:
            failure = raised
            sample_size = sample["ntokens"]  # what fairseq's LM criteria divide by
            logging_output = {"ntokens": sample_size, "nsentences": sample["nsentences"],
                              "sample_size": sample_size}
        if not self.skip:
            raise failure
        logger.warning(
            "update %d: non-finite loss, batch skipped (--armin-skip-nonfinite); carried "
            "stream states are dropped", self.update,
        )
        for module in model.modules():
            if isinstance(module, CarriedStates):
                module.clear()  # a non-finite state would spoil the following segments
        self.skipped = True
        logging_output = dict(logging_output, loss=0.0, nll_loss=0.0, armin_skipped=1)
        return torch.zeros((), requires_grad=True), sample_size, logging_output


class GuardedTraining:
    """FairseqTask mixin: refuses a missing --restore-file, arms the signal handler and
    checks every training loss.

    The task's dataclass config must include :class:`GuardedTrainingConfig`'s field.
    """

    _skipped_this_update = False

    def build_model(self, cfg, from_checkpoint=False):
        if not from_checkpoint:
            check_restore_file(self.cfg)
        return super().build_model(cfg, from_checkpoint)

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False, **kwargs):
        stop_cleanly_on_signals(self.cfg, update_num)
        checked = _CheckedCriterion(criterion, update_num + 1, self.cfg.armin_skip_nonfinite)
        result = super().train_step(sample, model, checked, optimizer, update_num, ignore_grad, **kwargs)
        self._skipped_this_update |= checked.skipped
        return result

    def optimizer_step(self, optimizer, model, update_num):
        skipped, self._skipped_this_update = self._skipped_this_update, False
        if skipped and all(p.grad is None or not p.grad.any() for p in model.parameters()):
            return  # no rank had a finite batch: nothing to learn from
        super().optimizer_step(optimizer, model, update_num)

    def reduce_metrics(self, logging_outputs, criterion):
        super().reduce_metrics(logging_outputs, criterion)
        skipped = sum(log.get("armin_skipped", 0) for log in logging_outputs)
        if skipped:
            metrics.log_scalar("armin_skipped", skipped, weight=0, priority=950, round=0)
