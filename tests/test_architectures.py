"""Every registered architecture of the plugin builds both ways fairseq builds models: from
the dataclass config (fairseq-train's path) and from the argparse Namespace (fairseq's
scripts: ``options.parse_args_and_arch`` then ``task.build_model(args)``), alike."""
import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import PLUGIN
from fairseq import options
from fairseq.data import Dictionary
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq.models import ARCH_MODEL_NAME_REGISTRY, ARCH_MODEL_REGISTRY, MODEL_DATACLASS_REGISTRY, import_models
from fairseq.tasks import TASK_REGISTRY, import_tasks

# What --user-dir imports (fairseq skips it for a package already imported, as here)
import_models(os.path.join(PLUGIN, "models"), "armin_plugin.models")
import_tasks(os.path.join(PLUGIN, "tasks"), "armin_plugin.tasks")

ARCHS = sorted(arch for arch, model in ARCH_MODEL_REGISTRY.items() if model.__module__.startswith("armin_plugin."))
# The task each model of the plugin is built for, and its flags (no data is read).
TASK_FLAGS = {
    "armin_lm": ["/dev/null", "--task", "language_modeling"],
    "lstm_stream_lm": ["/dev/null", "--task", "armin_tbptt_lm"],
    "armin": ["/dev/null", "--task", "translation", "--source-lang", "de", "--target-lang", "en"],
    "armin_algorithmic": ["--task", "armin_algorithmic", "--criterion", "algorithmic_bits"],
    "lstm_algorithmic": ["--task", "armin_algorithmic", "--criterion", "algorithmic_bits"],
    "armin_pixel": ["/dev/null", "--task", "armin_pixel_mnist", "--criterion", "last_step_classification"],
    "lstm_pixel": ["/dev/null", "--task", "armin_pixel_mnist", "--criterion", "last_step_classification"],
}


def dictionary():
    vocabulary = Dictionary()
    for index in range(20):
        vocabulary.add_symbol(f"w{index}")
    return vocabulary


def build_task(name, cfg):
    """Task ``name`` over in-process dictionaries (the algorithmic task generates its data;
    the pixel-MNIST task is given its pixel order instead of reading its data-bin)."""
    task = TASK_REGISTRY[name]
    if name == "armin_pixel_mnist":
        return task(cfg, Path(cfg.data), np.arange(784))
    if name == "translation":
        return task(cfg, dictionary(), dictionary())
    if name == "armin_algorithmic":
        return task.setup_task(cfg)
    return task(cfg, dictionary())


def shapes(model):
    return {name: tuple(parameter.shape) for name, parameter in model.named_parameters()}


def test_every_model_of_the_plugin_has_named_architectures_here():
    assert {ARCH_MODEL_NAME_REGISTRY[arch] for arch in ARCHS} == set(TASK_FLAGS)
    assert {"armin_lm_tiny", "armin_tiny", "armin_iwslt_de_en", "armin_lm_ptb_char"} <= set(ARCHS)


@pytest.mark.parametrize("arch", ARCHS)
def test_namespace_and_dataclass_builds_agree(arch):
    model_name = ARCH_MODEL_NAME_REGISTRY[arch]
    flags = TASK_FLAGS[model_name]
    args = options.parse_args_and_arch(options.get_training_parser(), [*flags, "--arch", arch])
    cfg = convert_namespace_to_omegaconf(args)
    # Under the model's own name fairseq reads the Namespace into the dataclass (its defaults
    # for what is missing); every other architecture must have set each flag itself.
    config = MODEL_DATACLASS_REGISTRY[model_name]
    namespace_view = config.from_namespace(args) if arch == model_name else args
    for field in dataclasses.fields(config):
        if not field.name.startswith("_") and not str(field.default).startswith("${"):
            assert getattr(namespace_view, field.name) == cfg.model[field.name], field.name
    from_dataclass = build_task(flags[flags.index("--task") + 1], cfg.task).build_model(cfg.model)
    from_namespace = build_task(flags[flags.index("--task") + 1], args).build_model(args)
    assert type(from_namespace) is type(from_dataclass)
    assert shapes(from_namespace) == shapes(from_dataclass)
