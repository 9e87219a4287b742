"""The variants that did not beat the plain cell are gone: a command or a checkpoint that
sets one (also one that fairseq-train resumes) stops with one line naming the flag, the
study page and the last commit with it;
set to their defaults (as every checkpoint from before their removal has them) they are
ignored."""
import os
import re
import subprocess

import pytest
import torch
from fairseq.data import Dictionary

from armin_plugin.cli.process import fairseq_command
from armin_plugin.errors import ArminError
from armin_plugin.models.armin_lm import ARMINLanguageModel, ARMINLanguageModelConfig
from armin_plugin.models.armin_parts import REMOVED_VARIANTS

PLUGIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "armin_plugin")
WHY = ("was removed: it did not beat the plain cell (docs/studies/ptb-char-variants.md); "
       "the last commit with it is ea39414")


class _Task:
    def __init__(self):
        self.source_dictionary = self.target_dictionary = Dictionary()


def build(**settings):
    cfg = ARMINLanguageModelConfig(decoder_embed_dim=4, armin_hidden_size=4, armin_slot_size=4,
                                   armin_slots=2, max_target_positions=100)
    for key, value in settings.items():
        setattr(cfg, key, value)
    return ARMINLanguageModel.build_model(cfg, _Task())


@pytest.mark.parametrize("name, value", [("armin_usage_input", True), ("armin_soft_to_hard", 0.0015),
                                         ("armin_entropy_bonus", 0.01), ("armin_load_balance", 0.01)])
def test_stored_settings_with_a_removed_variant_stop_with_one_line(name, value):
    assert name in REMOVED_VARIANTS
    flag = "--" + name.replace("_", "-")
    with pytest.raises(ArminError, match=re.escape(f"this checkpoint was trained with {flag}, which {WHY}")):
        build(**{name: value})
    build(**{name: type(value)()})  # at the default: the plain cell


def cli(tool, *args):
    return subprocess.run(fairseq_command(tool) + [str(a) for a in args], capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=600)


def one_line_error(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and "Traceback" not in result.stderr and "usage:" not in result.stderr, \
        result.stderr[-3000:]
    return lines[-1]


@pytest.mark.slow
def test_a_command_or_a_checkpoint_with_a_removed_variant_stops_with_one_line(ptb_char_slice, tmp_path):
    train = ["--user-dir", PLUGIN, "--task", "language_modeling", "--arch", "armin_lm_tiny",
             "--tokens-per-sample", 16, "--batch-size", 4, "--optimizer", "adam", "--lr", 0.003,
             "--max-update", 1, "--save-dir", tmp_path, "--no-epoch-checkpoints", "--cpu"]
    refused = cli("train", ptb_char_slice, *train, "--armin-usage-input")
    assert one_line_error(refused) == f"error: --armin-usage-input {WHY}"
    assert not list(tmp_path.glob("*.pt"))
    assert cli("train", ptb_char_slice, *train).returncode == 0
    evaluate = ["--user-dir", PLUGIN, "--task", "language_modeling", "--tokens-per-sample", 16,
                "--max-valid-steps", 1, "--cpu"]
    assert cli("eval-lm", ptb_char_slice, "--path", tmp_path / "checkpoint_last.pt", *evaluate).returncode == 0
    state = torch.load(tmp_path / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    state["cfg"]["model"]["armin_entropy_bonus"] = 0.01
    torch.save(state, tmp_path / "entropy.pt")
    refused = cli("eval-lm", ptb_char_slice, "--path", tmp_path / "entropy.pt", *evaluate)
    assert one_line_error(refused) == f"error: this checkpoint was trained with --armin-entropy-bonus, which {WHY}"
    # resuming it without the flag: the stored settings are read too
    (tmp_path / "resume").mkdir()
    state["cfg"]["model"].update(armin_entropy_bonus=0.0, armin_soft_to_hard=0.0015)
    torch.save(state, tmp_path / "resume" / "checkpoint_last.pt")
    refused = cli("train", ptb_char_slice, *train, "--save-dir", tmp_path / "resume", "--max-update", 2)
    assert one_line_error(refused) == (f"error: checkpoint {tmp_path / 'resume' / 'checkpoint_last.pt'} was "
                                       f"trained with --armin-soft-to-hard, which {WHY}")
