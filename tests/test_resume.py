"""Exact resume: a run stopped at any update (by --max-update or by SIGINT/SIGTERM) and resumed
from its checkpoint logs the same per-update values and ends with the same parameters as an
uninterrupted run; for --task armin_tbptt_lm this needs the carried states of every row.
Runs stopped by a signal are fairseq-train processes; the others call fairseq-train's entry
function in this process."""
import os
import re
import signal
import subprocess
import sys

import pytest
import torch
from helpers import REPO, assert_same_run, stop_with_signal, train_args, train_in_process, update_lines

pytestmark = pytest.mark.slow  # every test here runs fairseq's CLIs

def test_stopped_and_resumed_run_equals_an_uninterrupted_one(ptb_char_slice, tmp_path):
    """--max-update 3, then 7; lstm_stream_lm (the signal tests below cover armin_lm)."""
    setup = "lstm_stream_lm"
    reference = train_in_process(ptb_char_slice, tmp_path / "whole", setup, 7)
    first = train_in_process(ptb_char_slice, tmp_path / "pieces", setup, 3)
    second = train_in_process(ptb_char_slice, tmp_path / "pieces", setup, 7)
    for result in (reference, first, second):
        assert result.returncode == 0, result.stderr[-3000:]
    assert "Loaded checkpoint" in second.stdout and "@ 3 updates" in second.stdout
    assert_same_run(reference, [first, second], tmp_path / "whole", tmp_path / "pieces")


@pytest.mark.parametrize("variant", [["--armin-no-read"], ["--armin-no-reread", "--armin-content-address"]],
                         ids=["no-read", "read-history-content"])
def test_resume_is_exact_with_the_step_variants(ptb_char_slice, tmp_path, variant):
    """--max-update 2, then 5, armin_lm on streams with a step-level variant flag on."""
    setup = "armin_tbptt_lm"
    reference = train_in_process(ptb_char_slice, tmp_path / "whole", setup, 5, *variant)
    first = train_in_process(ptb_char_slice, tmp_path / "pieces", setup, 2, *variant)
    second = train_in_process(ptb_char_slice, tmp_path / "pieces", setup, 5, *variant)
    for result in (reference, first, second):
        assert result.returncode == 0, result.stderr[-3000:]
    assert "@ 2 updates" in second.stdout
    assert_same_run(reference, [first, second], tmp_path / "whole", tmp_path / "pieces")


@pytest.mark.parametrize("setup, signum", [("armin_tbptt_lm", signal.SIGINT),
                                           ("language_modeling", signal.SIGTERM)])
def test_signal_saves_a_checkpoint_and_resume_is_exact(ptb_char_slice, tmp_path, setup, signum):
    stopped = stop_with_signal(train_args(ptb_char_slice, tmp_path / "pieces", setup, 10000), signum, after_update=3)
    assert stopped.returncode == 0, stopped.stdout[-3000:]
    assert f"received {signal.Signals(signum).name}: finishing the update in progress" in stopped.stdout
    stop = int(re.search(r"Stopping training due to num_updates: (\d+)", stopped.stdout).group(1))
    assert stop >= 3 and max(update_lines(stopped.stdout)) == stop
    assert (tmp_path / "pieces" / "checkpoint_last.pt").is_file()
    resumed = train_in_process(ptb_char_slice, tmp_path / "pieces", setup, stop + 2)
    reference = train_in_process(ptb_char_slice, tmp_path / "whole", setup, stop + 2)
    assert resumed.returncode == 0 and reference.returncode == 0, resumed.stderr[-3000:]
    assert f"@ {stop} updates" in resumed.stdout
    assert_same_run(reference, [stopped, resumed], tmp_path / "whole", tmp_path / "pieces")


def test_interrupted_main_job_leaves_a_checkpoint_to_resume_from(ptb_char_slice, tmp_path):
    """Ctrl-C on ``python -m armin_plugin.jobs.compare_lm`` (what the recipes run) reaches the
    fairseq-train it runs as one SIGINT: that run saves, and the job stops with one line."""
    command = [sys.executable, "-m", "armin_plugin.jobs.compare_lm", "--data", str(ptb_char_slice), "--out",
               str(tmp_path / "runs"), "--tokens-per-sample", "40", "--batch-size", "4", "--log-interval", "1"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    for line in process.stdout:
        if "num_updates=2," in line:
            process.send_signal(signal.SIGINT)
            break
    output = process.stdout.read()
    stderr = process.stderr.read()
    assert process.wait(timeout=300) == 1
    assert stderr.splitlines()[-1] == (f"error: interrupted; the run in progress saved its checkpoint_last.pt "
                                       f"under {tmp_path / 'runs'}: the same command resumes it")
    stop = int(re.search(r"Stopping training due to num_updates: (\d+)", output).group(1))
    checkpoint = torch.load(tmp_path / "runs" / "armin" / "checkpoints" / "checkpoint_last.pt",
                            map_location="cpu", weights_only=False)
    assert checkpoint["optimizer_history"][-1]["num_updates"] == stop
    assert not (tmp_path / "runs" / "lstm").exists()  # the job stopped, it did not go on
