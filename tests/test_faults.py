"""Faults during training: non-finite losses, unreadable checkpoints, checkpoints of another
model. Each stops with one line naming the problem and leaves earlier outputs as they were.
fairseq-eval-lm runs as a real process once (its one line printed by the plugin's hook); the
other runs call fairseq's entry functions in this process, through the same hook."""
import shutil

import pytest
import torch
from helpers import PLUGIN, assert_one_line_error, fairseq, fairseq_in_process, parameters, snapshot, train_in_process

pytestmark = pytest.mark.slow  # every test here runs fairseq's CLIs (in process but one)

HUGE_LR = ["--lr", 1e38]  # Adam moves every weight by ~1e38: the next forward overflows


@pytest.fixture(scope="module")
def three_updates(ptb_char_slice, built_once):
    """Checkpoints of 3 updates of armin_lm (language_modeling), one per update (built once per run)."""
    def build(folder):
        result = train_in_process(ptb_char_slice, folder / "ck", "language_modeling", 3, "--save-interval-updates", 1)
        assert result.returncode == 0, result.stderr[-3000:]

    return built_once("three_updates", build) / "ck"


@pytest.fixture
def save_dir(three_updates, tmp_path):
    """A copy of ``three_updates`` that a test may change."""
    return shutil.copytree(three_updates, tmp_path / "ck")


def test_nonfinite_output_stops_before_saving(ptb_char_slice, save_dir):
    before = snapshot(save_dir)
    result = train_in_process(ptb_char_slice, save_dir, "language_modeling", 8, *HUGE_LR)
    assert_one_line_error(result, "error: update 5: the output of armin_lm is NaN or inf; stopped "
                          "before saving this update", only_line=False)
    after = snapshot(save_dir)
    assert {name: after[name] for name in before} == before  # crash.pt is fairseq's own addition
    assert set(after) - set(before) <= {"crash.pt"}


def test_nonfinite_loss_of_any_model_stops_the_stream_task(ptb_char_slice, tmp_path):
    result = train_in_process(ptb_char_slice, tmp_path / "ck", "lstm_stream_lm", 4, *HUGE_LR)
    assert_one_line_error(result, "error: update 2: the loss (nan) is NaN or inf", only_line=False)
    assert not (tmp_path / "ck" / "checkpoint_last.pt").exists()


def test_skip_nonfinite_skips_batches_without_changing_parameters(ptb_char_slice, tmp_path):
    save_dir = tmp_path / "ck"
    result = train_in_process(ptb_char_slice, save_dir, "armin_tbptt_lm", 3, *HUGE_LR, "--armin-skip-nonfinite",
                   "--save-interval-updates", 1)
    assert result.returncode == 0, result.stderr[-3000:]
    for update in (2, 3):
        assert f"update {update}: non-finite loss, batch skipped (--armin-skip-nonfinite)" in result.stdout
    after_first, last = parameters(save_dir / "checkpoint_1_1.pt"), parameters(save_dir / "checkpoint_last.pt")
    assert all(torch.equal(after_first[name], last[name]) for name in last)
    assert torch.isfinite(last["decoder.embed_tokens.weight"]).all()


def test_truncated_checkpoint_is_refused_and_the_previous_one_used_on_request(ptb_char_slice, save_dir):
    last = save_dir / "checkpoint_last.pt"
    last.write_bytes(last.read_bytes()[:20000])
    before = snapshot(save_dir)
    result = train_in_process(ptb_char_slice, save_dir, "language_modeling", 5)
    assert_one_line_error(
        result, f"error: checkpoint {last} cannot be read: it is truncated or corrupt", only_line=False
    )
    fallback = save_dir / "checkpoint_1_3.pt"
    assert result.stderr.rstrip().endswith(f"to use the newest readable one instead, pass --restore-file {fallback}")
    assert snapshot(save_dir) == before
    resumed = train_in_process(ptb_char_slice, save_dir, "language_modeling", 5, "--restore-file", fallback)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Loaded checkpoint {fallback} (epoch 1 @ 3 updates)" in resumed.stdout


def test_garbage_checkpoint_is_refused_by_eval_lm(ptb_char_slice, tmp_path):
    garbage = tmp_path / "model.pt"
    garbage.write_bytes(b"not a checkpoint at all\n" * 100)
    result = fairseq("eval-lm", ptb_char_slice, "--user-dir", PLUGIN, "--path", garbage, "--cpu")
    assert_one_line_error(result, f"error: checkpoint {garbage} cannot be read", only_line=False)
    assert "no other readable checkpoint is next to it" in result.stderr
    assert garbage.read_bytes() == b"not a checkpoint at all\n" * 100


def test_checkpoint_of_another_architecture_or_size_is_refused(ptb_char_slice, tmp_path):
    save_dir = tmp_path / "ck"
    assert train_in_process(ptb_char_slice, save_dir, "lstm_stream_lm", 2).returncode == 0
    before = snapshot(save_dir)
    other_arch = train_in_process(ptb_char_slice, save_dir, "armin_tbptt_lm", 4)
    assert_one_line_error(other_arch, f"error: checkpoint {save_dir / 'checkpoint_last.pt'} does not fit "
                          "the model being trained: it holds --arch lstm_stream_lm, not armin_lm_tiny",
                          only_line=False)
    other_size = train_in_process(ptb_char_slice, save_dir, "lstm_stream_lm", 4, "--decoder-hidden-size", 20)
    assert_one_line_error(other_size, "it was trained with --decoder-hidden-size 16, not 20", only_line=False)
    assert snapshot(save_dir) == before


def test_eval_lm_with_sizes_that_do_not_fit_the_checkpoint(ptb_char_slice, save_dir):
    checkpoint = save_dir / "checkpoint_last.pt"
    before = checkpoint.read_bytes()
    result = fairseq_in_process("eval-lm", ptb_char_slice, "--user-dir", PLUGIN, "--path", checkpoint, "--cpu",
                     "--tokens-per-sample", 40, "--model-overrides", "{'armin_hidden_size': 32}")
    assert_one_line_error(result, f"error: checkpoint {checkpoint} does not fit the model built for it "
                          "(--model-overrides?): size mismatch for decoder.armin", only_line=False)
    assert checkpoint.read_bytes() == before


def test_nonfinite_gradients_of_fairseqs_own_lstm_are_one_line(ptb_char_slice, tmp_path):
    result = fairseq_in_process("train", ptb_char_slice, "--user-dir", PLUGIN, "--task", "language_modeling",
                     "--tokens-per-sample", 40, "--batch-size", 4, "--optimizer", "adam", *HUGE_LR,
                     "--max-update", 5, "--save-dir", tmp_path / "ck", "--cpu", "--arch", "lstm_lm",
                     "--decoder-embed-dim", 16, "--decoder-hidden-size", 16, "--decoder-out-embed-dim", 16)
    assert_one_line_error(result, "error: update 2: gradients are Nan/Inf (fairseq stopped before saving",
                          only_line=False)
    assert not (tmp_path / "ck" / "checkpoint_last.pt").exists()
