"""Named architectures that build from an argparse Namespace as well as from a dataclass.

fairseq adds a dataclass model's flags to argparse without their defaults, so that a named
architecture (``register_model_architecture``) can set its own; the rest are filled in from
the dataclass only on the way to a config (``convert_namespace_to_omegaconf``, as
fairseq-train does). A script that builds from the Namespace itself
(``options.parse_args_and_arch`` then ``task.build_model(args)``) reaches the model with
those flags missing, unless the architecture was the model's own name (fairseq then reads
the Namespace into the dataclass). :func:`register_architecture` registers an architecture
whose function also gives every flag it leaves unset the dataclass default.
"""
import argparse
import dataclasses

from fairseq.models import MODEL_DATACLASS_REGISTRY, register_model_architecture


def _default(field: dataclasses.Field, args: argparse.Namespace):
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    value = field.default
    if isinstance(value, str) and value.startswith("${"):
        # II("task.x"): the flag x of the flat Namespace, None (the model's default) without it
        return getattr(args, value[2:-1].rsplit(".", 1)[-1], None)
    return value


def fill_dataclass_defaults(args: argparse.Namespace, config_class):
    """Set every field of ``config_class`` that ``args`` lacks to its default."""
    for field in dataclasses.fields(config_class):
        if not field.name.startswith("_") and not hasattr(args, field.name):
            setattr(args, field.name, _default(field, args))


def register_architecture(model_name: str, arch_name: str):
    """``register_model_architecture(model_name, arch_name)`` for a dataclass model: after
    the decorated function, a Namespace holds every flag of the model's dataclass."""
    config_class = MODEL_DATACLASS_REGISTRY[model_name]

    def register(set_defaults):
        def architecture(cfg):
            set_defaults(cfg)
            if isinstance(cfg, argparse.Namespace):
                fill_dataclass_defaults(cfg, config_class)

        architecture.__name__ = architecture.__qualname__ = set_defaults.__name__
        architecture.__doc__ = set_defaults.__doc__
        register_model_architecture(model_name, arch_name)(architecture)
        return set_defaults

    return register
