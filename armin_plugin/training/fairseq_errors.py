"""One-line messages for the user errors that fairseq itself reports with a traceback.

The plugin's excepthook (:mod:`armin_plugin.errors`) asks :func:`describe` about every
uncaught exception that is not an ``ArminError``; it recognises, from the exception and the
frames it passed through (nothing in fairseq is patched):

- a checkpoint file that cannot be read (truncated, corrupt, not a checkpoint), raised inside
  fairseq's ``load_checkpoint_to_cpu`` by fairseq-train, eval-lm, generate or the hub; the
  message names the file and the newest readable checkpoint beside it, to resume from on
  request (``--restore-file``) or evaluate instead (``--path``);
- a checkpoint whose parameters do not fit the model being trained (another ``--arch``, or
  other sizes), which fairseq's trainer reports as "Cannot load model parameters";
- a checkpoint given to ``--path`` that does not exist ("Model file not found");
- a data directory whose files are missing, empty or not fairseq's binary format (raised
  in fairseq's dictionary or indexed-dataset readers);
- a block size that cannot work (``--tokens-per-sample 0`` of ``language_modeling``);
- fairseq's own "gradients are Nan/Inf" (models the plugin does not guard, e.g. ``lstm_lm``),
  with the update number.

Light: imports neither torch nor fairseq at module level.
"""
import os
import re
import zipfile
from pathlib import Path
from typing import Optional

_CANNOT_LOAD = re.compile(r"Cannot load model parameters from checkpoint (.+?); please ensure")


def _frames(tb):
    while tb is not None:
        yield tb.tb_frame
        tb = tb.tb_next


def readable(path: Path) -> bool:
    """Whether ``path`` is a complete torch zip checkpoint (every member's CRC checked)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile):
        return False


_NUMBERED = re.compile(r"checkpoint(_\d+_\d+|\d+)\.pt$")


def newest_readable_checkpoint(directory: Path, other_than: Path) -> Optional[Path]:
    """The readable ``checkpoint*.pt`` of ``directory`` to fall back to, if any: the most
    recently written of fairseq's numbered ones (``checkpoint_E_U.pt``, ``checkpointE.pt``),
    else ``checkpoint_last``/``checkpoint_best``."""
    candidates = sorted(
        (p for p in directory.glob("checkpoint*.pt") if p.resolve() != other_than.resolve()),
        key=lambda p: (_NUMBERED.search(p.name) is not None, p.stat().st_mtime), reverse=True,
    )
    return next((p for p in candidates if readable(p)), None)


def _unreadable_checkpoint(exc, frames) -> Optional[str]:
    loader = next((f for f in frames if f.f_code.co_name == "load_checkpoint_to_cpu"
                   and "fairseq" in f.f_code.co_filename), None)
    if loader is None or "path" not in loader.f_locals:
        return None
    path = Path(str(loader.f_locals["path"]))
    training = any(f.f_code.co_filename.endswith(os.path.join("fairseq_cli", "train.py")) for f in frames)
    message = (f"checkpoint {path} cannot be read: it is truncated or corrupt "
               f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'})")
    fallback = newest_readable_checkpoint(path.parent, path) if path.parent.is_dir() else None
    if fallback is None:
        return message + "; no other readable checkpoint is next to it"
    option = "--restore-file" if training else "--path"
    return message + f"; to use the newest readable one instead, pass {option} {fallback}"


def _model_settings(cfg) -> dict:
    """{name: value} of a model config (DictConfig or legacy Namespace); "arch" names it."""
    settings = dict(cfg.items() if hasattr(cfg, "items") else vars(cfg).items())
    settings["arch"] = settings.get("_name") or settings.get("arch")
    return {key: value for key, value in settings.items() if not key.startswith("_")}


def _differences(saved: dict, current: dict) -> str:
    """"--arch lstm_lm, not armin_lm" or "--armin-hidden-size 24, not 32; ..." (flags that differ)."""
    if saved["arch"] != current["arch"]:
        return f"it holds --arch {saved['arch']}, not {current['arch']}"
    differing = [f"--{key.replace('_', '-')} {saved[key]}, not {current[key]}"
                 for key in sorted(saved.keys() & current.keys()) if saved[key] != current[key]]
    return "it was trained with " + "; ".join(differing) if differing else ""


def _first_problem(exc) -> str:
    """The first line that torch's load_state_dict error lists (e.g. one size mismatch)."""
    problems = [line.strip().rstrip(".") for line in str(exc).splitlines()[1:] if line.strip()]
    return (problems[0] if problems else str(exc).splitlines()[0])[:300]


def _checkpoint_does_not_fit(exc, frames) -> Optional[str]:
    """fairseq-train resuming (the trainer wraps torch's error), or eval-lm/generate/hub given
    --model-overrides that change sizes (torch's error itself)."""
    found = _CANNOT_LOAD.search(str(exc))
    if found is not None:
        path = found.group(1)
        trainer = next((f for f in frames if f.f_code.co_name == "load_checkpoint"
                        and f.f_code.co_filename.endswith(os.path.join("fairseq", "trainer.py"))), None)
        cause = exc.__cause__ or exc.__context__
        detail = "its parameters differ" if cause is None else _first_problem(cause)
        if trainer is not None:
            from .restore_file import stored_model_config  # omegaconf: not at import

            stored = stored_model_config(path)  # None: unreadable after all; the generic detail stays
            if stored is not None:
                current = trainer.f_locals["self"].cfg.model
                detail = _differences(_model_settings(stored), _model_settings(current)) or detail
        return (f"checkpoint {path} does not fit the model being trained: {detail}; "
                f"train with the checkpoint's settings, or give another --save-dir")
    loader = next((f for f in frames if f.f_code.co_name == "load_model_ensemble_and_task"), None)
    if loader is None or "Error(s) in loading state_dict" not in str(exc):
        return None
    return (f"checkpoint {loader.f_locals.get('filename')} does not fit the model built for it "
            f"(--model-overrides?): {_first_problem(exc)}")


def _missing_checkpoint(exc) -> Optional[str]:
    found = re.fullmatch(r"Model file not found: (.+)", str(exc))
    return None if found is None else f"checkpoint {found.group(1)} does not exist"


def _in_fairseq_data(frames, module: str):
    """The innermost frame of fairseq/data/<module> in the traceback, or None."""
    return next((f for f in reversed(frames)
                 if f.f_code.co_filename.endswith(os.path.join("fairseq", "data", module))), None)


def _unreadable_data(exc, frames) -> Optional[str]:
    if isinstance(exc, FileNotFoundError) and _in_fairseq_data(frames, "dictionary.py"):
        directory = Path(exc.filename).parent
        if not directory.is_dir():
            return f"data directory {directory} does not exist"
        return f"data directory {directory} has no {Path(exc.filename).name}: is it a fairseq data-bin?"
    reader = _in_fairseq_data(frames, "indexed_dataset.py")
    if reader is None or "path" not in reader.f_locals:
        return None
    prefix = reader.f_locals["path"]
    if "empty file" in str(exc):
        return f"data file {prefix}.bin is empty: the corpus of this split has no tokens"
    return (f"data files {prefix}.bin/.idx are not fairseq binary data ({str(exc).splitlines()[0]}): "
            f"rebuild the data-bin with fairseq-preprocess")


def _impossible_block_size(frames) -> Optional[str]:
    blocks = _in_fairseq_data(frames, "token_block_dataset.py")
    block_size = None if blocks is None else blocks.f_locals.get("block_size")
    if block_size is None or block_size > 0:
        return None
    return f"--tokens-per-sample must be a positive integer, got {block_size}"


def _nonfinite_gradients(exc, frames) -> Optional[str]:
    """fairseq's own check (models and tasks the plugin does not guard, e.g. lstm_lm)."""
    trainer = next((f for f in frames if f.f_code.co_name == "train_step"
                    and f.f_code.co_filename.endswith(os.path.join("fairseq", "trainer.py"))), None)
    if not isinstance(exc, FloatingPointError) or trainer is None:
        return None
    update = trainer.f_locals["self"].get_num_updates() + 1
    return (f"update {update}: {exc} (fairseq stopped before saving this update; the checkpoints "
            f"saved before are intact). Lower --lr or set --clip-norm")


def describe(exc, tb) -> Optional[str]:
    """A one-line message for a known user error, or None (keep the traceback)."""
    frames = list(_frames(tb))
    return (_unreadable_checkpoint(exc, frames) or _checkpoint_does_not_fit(exc, frames)
            or _missing_checkpoint(exc) or _unreadable_data(exc, frames)
            or _impossible_block_size(frames) or _nonfinite_gradients(exc, frames))
