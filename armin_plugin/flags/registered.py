"""What the plugin registers in fairseq's registries, read from the registries themselves."""
from pathlib import Path
from typing import Dict, List

from fairseq.models import ARCH_MODEL_NAME_REGISTRY, ARCH_MODEL_REGISTRY, MODEL_REGISTRY, import_models
from fairseq.registry import REGISTRIES
from fairseq.tasks import TASK_REGISTRY, import_tasks

from ..cli.process import PLUGIN

# The tasks each model of the plugin is built for, the first being the usual one.
MODEL_TASKS = {
    "armin_lm": ("language_modeling", "armin_tbptt_lm"),
    "lstm_stream_lm": ("armin_tbptt_lm",),
    "armin": ("translation",),
    "armin_algorithmic": ("armin_algorithmic",),
    "lstm_algorithmic": ("armin_algorithmic",),
    "armin_pixel": ("armin_pixel_mnist",),
    "lstm_pixel": ("armin_pixel_mnist",),
}


def register_plugin():
    """Register the plugin's models, tasks, criterions and schedulers, as ``--user-dir``
    does (which skips a package already imported, as this one is)."""
    import_tasks(str(Path(PLUGIN) / "tasks"), "armin_plugin.tasks")
    import_models(str(Path(PLUGIN) / "models"), "armin_plugin.models")


def _plugin(obj) -> bool:
    return getattr(obj, "__module__", "").startswith("armin_plugin.")


def registered() -> Dict[str, List[str]]:
    """{kind: sorted names} of what the plugin registers: "model", "architecture" (each
    model's own name included), "task" and fairseq's other registries by their names
    ("criterion", "lr_scheduler", "optimizer", ...; kinds with none left out)."""
    register_plugin()
    names = {
        "model": [name for name, cls in MODEL_REGISTRY.items() if _plugin(cls)],
        "architecture": [arch for arch, cls in ARCH_MODEL_REGISTRY.items() if _plugin(cls)],
        "task": [name for name, cls in TASK_REGISTRY.items() if _plugin(cls)],
    }
    for kind, registry in REGISTRIES.items():
        names[kind] = [name for name, cls in registry["registry"].items() if _plugin(cls)]
    return {kind: sorted(found) for kind, found in names.items() if found}


def model_of(arch: str) -> str:
    """The model an architecture builds."""
    return ARCH_MODEL_NAME_REGISTRY[arch]
