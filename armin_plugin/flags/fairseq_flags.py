"""A component's flags as fairseq-train sees them: fairseq's own training parser with the
architecture's and task's flags added (``options.parse_args_and_arch``, which also applies the
architecture's function), and each flag's value in the config fairseq-train builds from
that (``convert_namespace_to_omegaconf``): a named architecture's sizes show as its defaults."""
import argparse
import warnings
from typing import Dict, List, NamedTuple, Optional

from fairseq import options
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq.registry import REGISTRIES
from fairseq.tasks import TASK_DATACLASS_REGISTRY, TASK_REGISTRY

from ..cli.process import PLUGIN

MODEL_GROUP = "Model-specific configuration"  # fairseq's argument group of an architecture's flags


class Flag(NamedTuple):
    name: str  # "--armin-slots"
    default: object  # its value in fairseq-train's config when the flag is not given
    help: str
    choices: tuple


def training_argv(arch: str, task: str, components: Dict[str, str]) -> List[str]:
    """fairseq-train's arguments for ``arch`` on ``task``, with ``components`` ({"criterion":
    name, "lr_scheduler": name, ...}); a placeholder data-bin where the task takes one
    (nothing is read)."""
    argv = ["--user-dir", PLUGIN, "--arch", arch, "--task", task]
    for kind, name in components.items():
        argv += [f"--{kind.replace('_', '-')}", name]
    config = TASK_DATACLASS_REGISTRY.get(task)
    if config is not None and "data" in config.__dataclass_fields__:
        argv.append("DATA")
    return argv


def _flags(actions, section) -> List[Flag]:
    """The flags a user may give: hidden ones (help SUPPRESS, e.g. the removed variants, which
    exist only to stop with one line) are left out, as fairseq-train --help leaves them out."""
    return [Flag(action.option_strings[0], getattr(section, action.dest, None), action.help or "",
                 tuple(action.choices or ()))
            for action in actions
            if action.option_strings and action.dest != "help" and action.help != argparse.SUPPRESS]


def fairseq_flags(arch: str, task: str, criterion: Optional[str] = None,
                  lr_scheduler: Optional[str] = None) -> Dict[str, List[Flag]]:
    """{"model": the flags ``--arch arch`` adds, "task": ``--task task``'s, and "criterion",
    "lr_scheduler" where named}, in fairseq's order."""
    components = {kind: name for kind, name in (("criterion", criterion), ("lr_scheduler", lr_scheduler)) if name}
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, training_argv(arch, task, components))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # hydra's notes about its own version
        cfg = convert_namespace_to_omegaconf(args)
    group = next(group for group in parser._action_groups if group.title == MODEL_GROUP)
    flags = {"model": _flags(group._group_actions, cfg.model)}
    owners = {"task": TASK_REGISTRY[task], **{kind: REGISTRIES[kind]["registry"][name]
                                               for kind, name in components.items()}}
    for kind, owner in owners.items():
        alone = argparse.ArgumentParser(add_help=False)
        owner.add_args(alone)  # what parse_args_and_arch adds for this component
        flags[kind] = _flags(alone._actions, cfg[kind])
    return flags
