"""Loading an ``armin_lm`` or ``armin`` checkpoint for inspection, on the CPU, in eval mode."""
from pathlib import Path
from typing import NamedTuple, Optional

from ..errors import ArminError

MODELS = ("armin_lm", "armin")  # what armin-inspect reads


class Loaded(NamedTuple):
    model: object  # the fairseq model, in eval mode
    task: object  # its fairseq task (dictionaries, datasets)
    kind: str  # "armin_lm" or "armin"
    data: Path  # the data-bin its dictionaries come from


def register_plugin():
    """Register the plugin's models and tasks with fairseq (what --user-dir does; fairseq
    skips it when the package is already imported, as here)."""
    from ..models import armin_lm, armin_translation, lstm_stream_lm  # noqa: F401
    from ..tasks import armin_algorithmic, armin_tbptt_lm  # noqa: F401


def load(path: Path, data: Optional[Path]) -> Loaded:
    """The model and task of checkpoint ``path``; ``data`` replaces the data-bin it was
    trained on (None: the one it names)."""
    from fairseq import checkpoint_utils
    from fairseq.models import ARCH_MODEL_NAME_REGISTRY

    register_plugin()
    if not path.is_file():
        raise ArminError(f"checkpoint {path} does not exist")
    state = checkpoint_utils.load_checkpoint_to_cpu(str(path), {"data": str(data)} if data else None)
    model_cfg = state["cfg"]["model"] if state.get("cfg") is not None else state["args"]
    arch = getattr(model_cfg, "_name", None) or getattr(model_cfg, "arch", None)
    kind = ARCH_MODEL_NAME_REGISTRY.get(arch, arch)
    if kind not in MODELS:
        raise ArminError(f"checkpoint {path} holds --arch {arch} (model {kind}): armin-inspect reads "
                         f"{' and '.join(MODELS)} checkpoints")
    task_cfg = state["cfg"]["task"] if state.get("cfg") is not None else state["args"]
    found = Path(str(getattr(task_cfg, "data")).split(":")[0])
    if not found.is_dir():
        raise ArminError(f"the data-bin of checkpoint {path}, {found}, does not exist: give DATA "
                         f"(a data-bin with its dictionaries)")
    models, _, task = checkpoint_utils.load_model_ensemble_and_task([str(path)], state=state)
    return Loaded(models[0].eval(), task, kind, found)
