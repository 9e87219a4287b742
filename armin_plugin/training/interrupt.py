"""Stopping fairseq-train cleanly on SIGINT or SIGTERM: finish the update, save, exit.

fairseq's training loop stops, and saves ``checkpoint_last.pt`` (after the usual validation),
when ``validate_and_save`` finds ``num_updates >= --max-update``. The first SIGINT or SIGTERM
lowers ``--max-update`` of the running configuration to the update in progress, so fairseq's
own stopping and checkpointing code does the rest; the run then exits with status 0 and a
later run with the same command resumes from that checkpoint exactly. A second signal acts
as usual (SIGINT: KeyboardInterrupt, SIGTERM: terminate) for a user who cannot wait.

The plugin's tasks arm it at their first training step, and so do ``armin_lm`` and the
``armin`` translation model under any task (for example fairseq's ``language_modeling``).

Several ranks (``armin-launch``, fairseq's own GPU spawning, torchrun): a signal may reach
the ranks during different updates, and a rank that stopped alone would leave the others
waiting in the gradient all-reduce. So on several ranks the handler only notes the signal,
and at the start of every update the ranks agree (one all-reduce of one number) whether any
of them got one; if so, they all stop after that same update. The stored ``cfg`` of a
checkpoint written this way shows the lowered ``--max-update``; resuming takes the value
from the command line.
"""
import logging
import signal
import threading

import torch
import torch.distributed as dist
from omegaconf import DictConfig

from .ranks import rank_and_world_size
from .restore_file import root_config

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _any_rank(flag: bool) -> bool:
    """Whether ``flag`` is set on any rank (a collective: every rank must call it)."""
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


class _StopAfterUpdate:
    """The signal handler and the per-update agreement between ranks."""

    def __init__(self, training_cfg: DictConfig):
        self.training_cfg = training_cfg
        self.several_ranks = rank_and_world_size()[1] > 1
        self.updates_done = -1
        self.signalled = False
        self.stopping = False
        self.previous = {sig: signal.signal(sig, self) for sig in SIGNALS}

    def __call__(self, signum, frame):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.signalled = True
        logger.warning(
            "received %s: finishing the update in progress, then saving checkpoint_last.pt and "
            "stopping (send it again to stop at once, without saving)", signal.Signals(signum).name,
        )
        if not self.several_ranks:
            self.stop_after(self.updates_done + 1)

    def stop_after(self, update: int):
        self.stopping = True
        self.training_cfg.optimization.max_update = update

    def starting_update(self, updates_done: int):
        """Called with the same ``updates_done`` sequence on every rank (several calls per
        update are fine: only the first of each new value communicates)."""
        if updates_done <= self.updates_done:
            return
        self.updates_done = updates_done
        if self.several_ranks and not self.stopping and _any_rank(self.signalled):
            if not self.signalled:
                logger.warning("another rank received a signal: stopping after this update too")
            self.stop_after(updates_done + 1)


_handler = None


def stop_cleanly_on_signals(cfg, updates_done: int):
    """Arm the handler once per process (main thread only), and record ``updates_done``.

    ``cfg``: any node of the running fairseq configuration (a task's or a model's); the
    handler changes ``optimization.max_update`` of its root.
    """
    global _handler
    if _handler is None:
        root = root_config(cfg)
        if not (isinstance(root, DictConfig) and "optimization" in root):
            return
        if threading.current_thread() is not threading.main_thread():
            return
        _handler = _StopAfterUpdate(root)
    _handler.starting_update(updates_done)
