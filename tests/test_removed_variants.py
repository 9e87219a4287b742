"""The variants that did not beat the plain cell are gone: a command or a checkpoint that
sets one (also one that fairseq-train resumes) stops with one line naming the flag, the
study page and the last commit with it;
set to their defaults (as every checkpoint from before their removal has them) they are
ignored."""
import re

import pytest
import torch

from armin_plugin.errors import ArminError
from armin_plugin.models.armin_parts import REMOVED_VARIANTS
from helpers import PLUGIN, assert_one_line_error, build_lm, fairseq, fairseq_in_process

WHY = ("was removed: it did not beat the plain cell (docs/studies/ptb-char-variants.md); "
       "the last commit with it is ea39414")


@pytest.mark.parametrize("name, value", [("armin_usage_input", True), ("armin_soft_to_hard", 0.0015),
                                         ("armin_entropy_bonus", 0.01), ("armin_load_balance", 0.01)])
def test_stored_settings_with_a_removed_variant_stop_with_one_line(name, value):
    assert name in REMOVED_VARIANTS
    flag = "--" + name.replace("_", "-")
    with pytest.raises(ArminError, match=re.escape(f"this checkpoint was trained with {flag}, which {WHY}")):
        build_lm(**{name: value})
    build_lm(**{name: type(value)()})  # at the default: the plain cell


TRAIN = ["--user-dir", PLUGIN, "--task", "language_modeling", "--arch", "armin_lm_tiny",
         "--tokens-per-sample", 16, "--batch-size", 4, "--optimizer", "adam", "--lr", 0.003,
         "--max-update", 1, "--no-epoch-checkpoints", "--cpu"]
EVALUATE = ["--user-dir", PLUGIN, "--task", "language_modeling", "--tokens-per-sample", 16,
            "--max-valid-steps", 1, "--cpu"]


@pytest.mark.slow
def test_a_command_with_a_removed_variant_stops_with_one_line(ptb_char_slice, tmp_path):
    """The real command line: the flag is refused before anything is written."""
    refused = fairseq("train", ptb_char_slice, *TRAIN, "--save-dir", tmp_path, "--armin-usage-input")
    assert_one_line_error(refused, f"error: --armin-usage-input {WHY}", only_line=False)
    assert "usage:" not in refused.stderr and not list(tmp_path.glob("*.pt"))


@pytest.mark.slow  # three fairseq runs in process, about 5 s
def test_a_checkpoint_with_a_removed_variant_stops_with_one_line(ptb_char_slice, tmp_path):
    assert fairseq_in_process("train", ptb_char_slice, *TRAIN, "--save-dir", tmp_path).returncode == 0
    assert fairseq_in_process("eval-lm", ptb_char_slice, "--path", tmp_path / "checkpoint_last.pt",
                              *EVALUATE).returncode == 0
    state = torch.load(tmp_path / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    state["cfg"]["model"]["armin_entropy_bonus"] = 0.01
    torch.save(state, tmp_path / "entropy.pt")
    refused = fairseq_in_process("eval-lm", ptb_char_slice, "--path", tmp_path / "entropy.pt", *EVALUATE)
    assert_one_line_error(refused, f"error: this checkpoint was trained with --armin-entropy-bonus, which {WHY}",
                          only_line=False)
    # resuming it without the flag: the stored settings are read too
    (tmp_path / "resume").mkdir()
    state["cfg"]["model"].update(armin_entropy_bonus=0.0, armin_soft_to_hard=0.0015)
    torch.save(state, tmp_path / "resume" / "checkpoint_last.pt")
    refused = fairseq_in_process("train", ptb_char_slice, *TRAIN, "--save-dir", tmp_path / "resume",
                                 "--max-update", 2)
    assert_one_line_error(refused, f"error: checkpoint {tmp_path / 'resume' / 'checkpoint_last.pt'} was "
                                   f"trained with --armin-soft-to-hard, which {WHY}", only_line=False)
