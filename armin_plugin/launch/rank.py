"""One rank of ``armin-launch``: fairseq-train's command line, run in this process.

    python -m armin_plugin.launch.rank [--check-replicas] -- FAIRSEQ_TRAIN_ARGS...

The launcher starts this module once per rank with the distributed flags added. It sets
torch's thread counts from ``OMP_NUM_THREADS`` and runs ``fairseq_cli.train.cli_main``.
With ``--check-replicas``, every rank computes a SHA-256 digest of its parameters (the
exact bytes, in parameter order) each time fairseq saves a checkpoint; the digests are
gathered, rank 0 logs them, and every rank stops with a one-line error if they differ.
"""
import functools
import hashlib
import logging
import os
import sys
from pathlib import Path
from typing import List

import torch

from ..errors import ArminError
from ..training.ranks import rank_and_world_size
from .launcher import flag_value

logger = logging.getLogger("armin_plugin.launch.rank")


def parameter_digest(module: torch.nn.Module) -> str:
    """SHA-256 of the bytes of every parameter of ``module``, in order."""
    digest = hashlib.sha256()
    for name, parameter in module.named_parameters():
        digest.update(name.encode())
        digest.update(parameter.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def compare_replicas(digests: List[str], num_updates: int) -> str:
    """The log line for the digests of ranks 0, 1, ...; ArminError when they differ."""
    listed = ", ".join(f"rank {rank} {digest[:16]}" for rank, digest in enumerate(digests))
    if len(set(digests)) > 1:
        raise ArminError(f"ranks hold different parameters at update {num_updates}: {listed}")
    return f"replica check at update {num_updates}: parameters identical on all {len(digests)} ranks ({listed})"


def check_replicas(model: torch.nn.Module, num_updates: int):
    """Gather every rank's :func:`parameter_digest` and compare them (a collective call)."""
    rank, world_size = rank_and_world_size()
    digests = [parameter_digest(model)]
    if world_size > 1:
        digests = [None] * world_size
        torch.distributed.all_gather_object(digests, parameter_digest(model))
    line = compare_replicas(digests, num_updates)
    if rank == 0:
        logger.info(line)


def _checking_replicas(save_checkpoint):
    """fairseq's ``checkpoint_utils.save_checkpoint``, comparing replicas first (every rank
    calls it at the same points of training)."""

    @functools.wraps(save_checkpoint)
    def save_after_check(cfg, trainer, epoch_itr, val_loss):
        check_replicas(trainer.model, trainer.get_num_updates())
        return save_checkpoint(cfg, trainer, epoch_itr, val_loss)

    return save_after_check


def import_plugin_parts(fairseq_args: List[str]):
    """Register this plugin's tasks and models when ``--user-dir`` names it: fairseq imports
    a user dir's ``tasks/`` and ``models/`` only if the package is not imported yet, and
    running this module has imported it."""
    from fairseq.models import import_models
    from fairseq.tasks import import_tasks

    plugin = Path(__file__).resolve().parents[1]
    user_dir = flag_value(fairseq_args, "--user-dir")
    if user_dir is not None and Path(user_dir).resolve() == plugin:
        import_tasks(str(plugin / "tasks"), f"{plugin.name}.tasks")
        import_models(str(plugin / "models"), f"{plugin.name}.models")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    split = argv.index("--")
    options, fairseq_args = argv[:split], argv[split + 1:]
    threads = int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads()))
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)
    from fairseq_cli import train  # first: it sets up fairseq's logging

    from fairseq import checkpoint_utils

    import_plugin_parts(fairseq_args)
    if "--check-replicas" in options:
        checkpoint_utils.save_checkpoint = _checking_replicas(checkpoint_utils.save_checkpoint)
    sys.argv = ["fairseq-train", *fairseq_args]
    train.cli_main()


if __name__ == "__main__":
    main()
