"""Refusing a ``--restore-file`` that does not exist.

fairseq-train given a ``--restore-file`` that is not there logs "No existing checkpoint
found" and trains from scratch, and its first save then overwrites ``checkpoint_last.pt``
of ``--save-dir``: a typo costs the run that was to be resumed. The plugin's models and
tasks call :func:`check_restore_file` while fairseq-train builds them, so such a run stops
with one line before anything is written.
"""
import os
import sys
from typing import Optional

from omegaconf import DictConfig

from ..errors import ArminError

DEFAULT_RESTORE_FILE = "checkpoint_last.pt"


def in_fairseq_train() -> bool:
    """Whether fairseq-train's main() is on the stack (and not eval-lm or generate, which
    build models from a checkpoint's stored configuration)."""
    frame = sys._getframe(1)
    train_py = os.path.join("fairseq_cli", "train.py")
    while frame is not None:
        if frame.f_code.co_name == "main" and frame.f_code.co_filename.endswith(train_py):
            return True
        frame = frame.f_back
    return False


def root_config(cfg):
    """The whole fairseq configuration that ``cfg`` (a task's or a model's node) is part of."""
    while isinstance(cfg, DictConfig) and cfg._get_parent() is not None:
        cfg = cfg._get_parent()
    return cfg


def _checkpoint_config(cfg):
    """The running configuration's ``checkpoint`` part, within fairseq-train; else None."""
    root = root_config(cfg)
    if not (isinstance(root, DictConfig) and "checkpoint" in root) or not in_fairseq_train():
        return None
    return root.checkpoint


def check_restore_file(cfg):
    """``cfg``: any node of the running configuration (a task's or a model's)."""
    checkpoint = _checkpoint_config(cfg)
    if checkpoint is None:
        return
    restore_file = checkpoint.restore_file
    if restore_file != DEFAULT_RESTORE_FILE and not os.path.exists(restore_file):
        raise ArminError(
            f"--restore-file {restore_file} does not exist (fairseq would start afresh and "
            f"overwrite {os.path.join(checkpoint.save_dir, DEFAULT_RESTORE_FILE)})"
        )


def restored_checkpoint(cfg) -> Optional[str]:
    """The checkpoint that fairseq-train resumes from (``--restore-file``, by default
    checkpoint_last.pt of ``--save-dir``) where it exists; None otherwise and outside
    fairseq-train. ``cfg`` as in :func:`check_restore_file`."""
    checkpoint = _checkpoint_config(cfg)
    if checkpoint is None:
        return None
    path = checkpoint.restore_file
    if path == DEFAULT_RESTORE_FILE:
        path = os.path.join(checkpoint.save_dir, path)
    return path if os.path.exists(path) else None


def stored_model_config(path: str):
    """The model settings stored in checkpoint ``path`` (hydra's ``cfg.model``, or the
    argparse Namespace of older checkpoints); the tensors are not read (mmap). None where the
    file cannot be read: fairseq's own load of it then stops with the plugin's one line
    (truncated or corrupt, and the readable checkpoint to use instead)."""
    import torch

    try:
        saved = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
        return saved["cfg"]["model"] if saved.get("cfg") is not None else saved["args"]
    except Exception:  # noqa: BLE001 (any unreadable file: reported by the real load)
        return None
