"""``armin-flags``: the flags of the plugin's architectures, tasks, criterions and learning-rate
schedulers, with their defaults and help.

    armin-flags                                  # what --user-dir armin_plugin registers
    armin-flags armin_lm_ptb_char                # an architecture's flags, at its defaults
    armin-flags armin_lm --task armin_tbptt_lm   # and a task's
    armin-flags --criterion algorithmic_bits     # a criterion's (--lr-scheduler NAME likewise)

fairseq-train --help prints its help before it adds an architecture's flags, so it never lists
them. This builds the parser fairseq-train builds for --user-dir armin_plugin --arch ARCH and
shows each flag's value in the config fairseq-train makes when the flag is not given: a
named architecture's sizes appear as its own.
"""
import argparse
import logging
import sys
import textwrap
from collections.abc import Sequence
from typing import Dict, List

from ..errors import ArminError

WIDTH = 100
COMPONENTS = ("task", "criterion", "lr_scheduler")  # named by --task, --criterion, --lr-scheduler


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="armin-flags", description=__doc__.split("\n\n")[0].replace("``", ""),
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("arch", nargs="?", help="an architecture of the plugin (fairseq-train --arch)")
    parser.add_argument("--task", help="also list this task's flags (and parse the architecture with it)")
    parser.add_argument("--criterion", help="list this criterion's flags")
    parser.add_argument("--lr-scheduler", help="list this learning-rate scheduler's flags")
    return parser.parse_args(argv)


def shown(value) -> str:
    """A default as a user types it: on/off for switches, none for unset, lists comma-joined."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "none"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return ",".join(str(item) for item in value)
    return str(value)


def flag_lines(flags: list) -> List[str]:
    """One row per :class:`.fairseq_flags.Flag`: name, default, help (wrapped; the choices
    added where it omits one)."""
    if not flags:
        return ["  (no flags of its own)"]
    name_width = max(len(flag.name) for flag in flags)
    default_width = max(len(shown(flag.default)) for flag in flags)
    lines = []
    for flag in flags:
        text = flag.help
        if any(str(choice) not in text for choice in flag.choices):
            text += f" {{{','.join(str(choice) for choice in flag.choices)}}}"
        start = f"  {flag.name:<{name_width}}  {shown(flag.default):<{default_width}}  "
        wrapped = textwrap.wrap(text, max(WIDTH - len(start), 30), break_on_hyphens=False) or [""]
        lines += [start + wrapped[0]] + [" " * len(start) + line for line in wrapped[1:]]
    return lines


def names_lines(names: Dict[str, List[str]]) -> List[str]:
    """What the plugin registers: each model with its tasks and architectures, then the rest."""
    from .registered import MODEL_TASKS, model_of

    lines = ["--user-dir armin_plugin registers (armin-flags ARCH, or --task/--criterion/--lr-scheduler "
             "NAME, lists the flags):"]
    for model in names["model"]:
        archs = [arch for arch in names["architecture"] if model_of(arch) == model]
        lines.append(f"  model {model} (--task {' or '.join(MODEL_TASKS[model])}): --arch {', '.join(archs)}")
    for kind in sorted(set(names) - {"model", "architecture"}):
        lines.append(f"  {kind}: {', '.join(names[kind])}")
    return lines


def _check(kind: str, name, names: Dict[str, List[str]]):
    if name is not None and name not in names.get(kind, []):
        raise ArminError(f"unknown {kind.replace('_', ' ')} {name!r}; the plugin's: "
                         f"{', '.join(names.get(kind, [])) or 'none'}")


def flags_text(arch=None, task=None, criterion=None, lr_scheduler=None) -> str:
    """What armin-flags prints for these names (none given: the registered names)."""
    from .fairseq_flags import fairseq_flags
    from .registered import MODEL_TASKS, model_of, registered

    names = registered()
    asked = {"architecture": arch, "task": task, "criterion": criterion, "lr_scheduler": lr_scheduler}
    for kind, name in asked.items():
        _check(kind, name, names)
    if not any(asked.values()):
        return "\n".join(names_lines(names))
    if arch is None:  # a model of the task, or the language model, to parse with
        arch = next((model for model, tasks in MODEL_TASKS.items() if task in tasks), "armin_lm")
    model = model_of(arch)
    flags = fairseq_flags(arch, task or MODEL_TASKS[model][0], criterion, lr_scheduler)
    sections = []
    if asked["architecture"]:
        sections.append([f"--arch {arch} (model {model}, for --task {' or '.join(MODEL_TASKS[model])}): "
                         "its flags, at the defaults fairseq-train uses"] + flag_lines(flags["model"]))
    for kind in COMPONENTS:
        if asked[kind]:
            sections.append([f"--{kind.replace('_', '-')} {asked[kind]}: flags"] + flag_lines(flags[kind]))
    return "\n\n".join("\n".join(section) for section in sections)


def main(argv=None):
    args = parse_args(argv)
    # before fairseq is imported: some of its modules set up logging at DEBUG when imported
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        text = flags_text(args.arch, args.task, args.criterion, args.lr_scheduler)
    except ArminError as error:
        sys.exit(f"error: {error}")
    print(text)
