"""Stopping fairseq-train cleanly on SIGINT or SIGTERM: finish the update, save, exit.

fairseq's training loop stops, and saves ``checkpoint_last.pt`` (after the usual validation),
when ``validate_and_save`` finds ``num_updates >= --max-update``. The first SIGINT or SIGTERM
lowers ``--max-update`` of the running configuration to the update in progress, so fairseq's
own stopping and checkpointing code does the rest; the run then exits with status 0 and a
later run with the same command resumes from that checkpoint exactly. A second signal acts
as usual (SIGINT: KeyboardInterrupt, SIGTERM: terminate) for a user who cannot wait.

The plugin's tasks arm it at their first training step, and so does ``armin_lm`` under any
task (for example fairseq's ``language_modeling``). Single-process runs only: in a
multi-process run each rank could see the signal during a different update, stop there and
leave the others waiting in the gradient all-reduce, so signals keep their usual effect
(the launcher's business) and a re-launch resumes from the last periodic checkpoint. The stored ``cfg`` of a checkpoint written
this way shows the lowered ``--max-update``; resuming takes the value from the command line.
"""
import logging
import signal
import threading

from omegaconf import DictConfig

from .restore_file import root_config

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _StopAfterUpdate:
    """The signal handler; ``updates_done`` is kept current by :func:`stop_cleanly_on_signals`."""

    def __init__(self, training_cfg: DictConfig):
        self.training_cfg = training_cfg
        self.updates_done = 0
        self.previous = {sig: signal.signal(sig, self) for sig in SIGNALS}

    def __call__(self, signum, frame):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        logger.warning(
            "received %s: finishing the update in progress, then saving checkpoint_last.pt and "
            "stopping (send it again to stop at once, without saving)", signal.Signals(signum).name,
        )
        # the update in progress is updates_done + 1 (or, between two updates, the next one)
        self.training_cfg.optimization.max_update = self.updates_done + 1


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
        if root.distributed_training.distributed_world_size > 1:
            return  # ranks could stop after different updates and wait for each other forever
        if threading.current_thread() is not threading.main_thread():
            return
        _handler = _StopAfterUpdate(root)
    _handler.updates_done = updates_done
