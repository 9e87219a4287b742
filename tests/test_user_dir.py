"""user_dir.md against the code: every name the plugin registers in fairseq's registries and
every flag it adds are on the page, the page names none that is gone, its architecture table
holds what the architecture functions set; and ``armin-flags`` prints those flags."""
import argparse
import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fairseq import options
from fairseq.models import ARCH_CONFIG_REGISTRY, ARCH_MODEL_REGISTRY, MODEL_DATACLASS_REGISTRY, MODEL_REGISTRY
from fairseq.registry import REGISTRIES
from fairseq.tasks import TASK_DATACLASS_REGISTRY, TASK_REGISTRY

from armin_plugin.flags.command import flags_text, main
from armin_plugin.flags.registered import MODEL_TASKS, model_of, registered

REPO = Path(__file__).resolve().parents[1]
PAGE = (REPO / "user_dir.md").read_text(encoding="utf-8")
NAMES = registered()  # also registers the plugin, as --user-dir does
# backticked words on the page that look like registered names but are not: the package and
# metrics the plugin logs
NOT_REGISTRY_NAMES = {"armin_plugin", "armin_skipped"}


def owners():
    """{(kind, name): class} of every model, task, criterion and scheduler of the plugin."""
    found = {("model", name): MODEL_REGISTRY[name] for name in NAMES["model"]}
    found.update({("task", name): TASK_REGISTRY[name] for name in NAMES["task"]})
    for kind in set(NAMES) & set(REGISTRIES):
        found.update({(kind, name): REGISTRIES[kind]["registry"][name] for name in NAMES[kind]})
    return found


def flags_of(owner):
    """The options ``owner.add_args`` adds: what fairseq's parsers get from it."""
    parser = argparse.ArgumentParser(add_help=False)
    owner.add_args(parser)
    return {option for action in parser._actions for option in action.option_strings}


def plugin_flags():
    return set().union(*(flags_of(owner) for owner in owners().values()))


def flag_fields(config):
    """The fields of a config dataclass that are flags (not fairseq's interpolations of its own
    options, nor the data-bin positional)."""
    return [field for field in dataclasses.fields(config) if not field.name.startswith("_")
            and field.name != "data" and not str(field.default).startswith("${")]


def page_flags(text=PAGE):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text))


def registers_table(text=PAGE):
    """{kind: names} of the page's "What the plugin registers" table."""
    section = text.split("## What the plugin registers", 1)[1].split("\n## ", 1)[0]
    table = {}
    for row in re.findall(r"^\| ([a-z ]+) \| ([^|]+) \|", section, flags=re.M):
        kind = {"lr scheduler": "lr_scheduler"}.get(row[0], row[0])
        table.setdefault(kind, set()).update(re.findall(r"`(\w+)`", row[1]))
    table.pop("kind", None)
    return table


def test_the_registry_walk_finds_what_the_sources_register():
    sources = "\n".join(path.read_text() for path in (REPO / "armin_plugin").rglob("*.py"))
    decorated = set(re.findall(r"register_(?:model|task|criterion|lr_scheduler)\(\"(\w+)\"", sources))
    decorated |= set(re.findall(r"register_architecture\(\"\w+\", \"(\w+)\"\)", sources))
    assert decorated | set(NAMES["model"]) == set().union(*map(set, NAMES.values()))
    assert {"armin_lm_ptb_char", "armin_tbptt_lm", "cosine_over_time", "algorithmic_bits"} <= decorated


def test_every_registered_name_is_on_the_page_and_the_page_names_no_other():
    named_archs = [arch for arch in NAMES["architecture"] if arch not in NAMES["model"]]
    expected = {kind: set(names) for kind, names in NAMES.items() if kind != "architecture"}
    assert registers_table() == {**expected, "architecture": set(named_archs)}
    fairseq_names = set(ARCH_MODEL_REGISTRY) | set(TASK_REGISTRY) | set().union(
        *(registry["registry"] for registry in REGISTRIES.values()))
    looks_registered = set(re.findall(r"`((?:armin|lstm)_[a-z0-9_]+)`", PAGE))
    assert looks_registered - fairseq_names - NOT_REGISTRY_NAMES == set()


def test_every_model_has_its_tasks_named():
    assert set(MODEL_TASKS) == set(NAMES["model"])
    assert all(set(tasks) <= set(TASK_REGISTRY) for tasks in MODEL_TASKS.values())


def test_every_config_field_is_a_flag():
    # the flags come from the dataclasses; fairseq drops a field silently when its flag clashes
    for (kind, name), owner in owners().items():
        configs = {"model": MODEL_DATACLASS_REGISTRY, "task": TASK_DATACLASS_REGISTRY}.get(kind)
        config = (configs or REGISTRIES[kind]["dataclass_registry"])[name]
        assert {"--" + field.name.replace("_", "-") for field in flag_fields(config)} == flags_of(owner), name


def test_every_plugin_flag_is_on_the_page():
    flags = plugin_flags()
    assert {"--armin-slots", "--armin-tau-schedule", "--decoder-start", "--lstm-params", "--permute"} <= flags
    assert flags - page_flags() == set()


def test_the_page_names_no_flag_that_is_gone():
    fairseq_parsers = [options.get_training_parser(), options.get_generation_parser(interactive=True),
                       options.get_eval_lm_parser(), options.get_validation_parser(),
                       options.get_preprocessing_parser()]
    known = plugin_flags() | {option for parser in fairseq_parsers for option in parser._option_string_actions}
    assert page_flags() - known == set()
    assert page_flags(PAGE + "`--armin-slot-count`") - known == {"--armin-slot-count"}


def test_the_architecture_table_holds_what_each_architecture_sets():
    rows = dict(re.findall(r"^\| `(\w+)` \| `\w+` \| ([^|]+) \|$", PAGE, flags=re.M))
    for arch in NAMES["architecture"]:
        if arch in NAMES["model"]:
            continue
        config = MODEL_DATACLASS_REGISTRY[model_of(arch)]
        args = argparse.Namespace()
        ARCH_CONFIG_REGISTRY[arch](args)  # as fairseq applies it after parsing the flags
        sets = {f"{field.name.replace('_', '-')} {getattr(args, field.name)}" for field in flag_fields(config)
                if getattr(args, field.name) != field.default}
        assert set(rows[arch].strip().split(", ")) == sets, arch


def test_flags_of_an_architecture_show_the_defaults_it_sets():
    base, ptb_char = flags_text("armin_lm"), flags_text("armin_lm_ptb_char")
    assert re.search(r"^  --armin-slots +16 +N: number of memory slots$", base, flags=re.M)
    assert re.search(r"^  --armin-hidden-size +512 ", base, flags=re.M)
    assert re.search(r"^  --armin-hidden-size +1000 ", ptb_char, flags=re.M)
    assert re.search(r"^  --armin-sample-eval +off ", ptb_char, flags=re.M)
    assert "--task" not in base.split("\n", 1)[1]  # the model's flags alone
    # the removed variants' hidden flags (they only stop with one line) are not offered
    assert "--armin-usage-input" not in base and "SUPPRESS" not in base


def test_flags_of_a_task_and_the_registered_names(capsys):
    assert re.search(r"^  --algorithm +copy ", flags_text(task="armin_algorithmic"), flags=re.M)
    assert "(no flags of its own)" in flags_text(lr_scheduler="cosine_over_time")
    main([])
    listed = capsys.readouterr().out
    for names in NAMES.values():
        assert all(name in listed for name in names)


def test_an_unknown_architecture_is_one_line_naming_the_known_ones():
    with pytest.raises(SystemExit) as stopped:
        main(["armin_big"])
    message = str(stopped.value.code)
    assert message.startswith("error: unknown architecture 'armin_big'; the plugin's: armin, ")
    assert "armin_lm_ptb_char" in message and "\n" not in message


@pytest.mark.slow
def test_armin_flags_runs_from_the_command_line():
    result = subprocess.run([sys.executable, "-m", "armin_plugin.flags", "armin_lm"], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"^  --armin-slots +16 ", result.stdout, flags=re.M)
    assert "Traceback" not in result.stderr
