"""armin-launch: fairseq-train on CPU ranks through the real CLIs, on a slice of real char PTB.
The launcher's and the jobs' checks of their flags run in this process (the launcher's module
run as ``__main__``); one of them as a real process too."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from helpers import (ONE_VALID_BATCH, PLUGIN, REPO, assert_one_line_error, fairseq_in_process, module_in_process,
                     python_module, update_lines)

from armin_plugin.errors import ArminError
from armin_plugin.jobs.paper_cell import block_epoch_updates
from armin_plugin.launch.launcher import cpu_cores, free_port
from armin_plugin.launch.rank import compare_replicas

# One memory slot and no dropout: no random draw changes the result, so 2 ranks x 4 rows
# must give exactly what 1 process x 4 rows x --update-freq 2 gives (same batches per update).
DETERMINISTIC_ARMIN = ["--arch", "armin_lm_tiny", "--armin-slots", 1, "--dropout", 0]
SAMPLING_ARMIN = ["--arch", "armin_lm_tiny"]


def fairseq_train(data, save_dir, max_update, model, *extra, task="language_modeling", batch_size=4):
    return [
        "fairseq-train", data, "--user-dir", PLUGIN, "--task", task,
        "--tokens-per-sample", 64, "--batch-size", batch_size, "--optimizer", "adam", "--lr", 0.003,
        "--max-update", max_update, "--save-interval-updates", 2, "--no-epoch-checkpoints",
        "--save-dir", save_dir, "--log-format", "simple", "--log-interval", 1, "--seed", 3, *ONE_VALID_BATCH,
        *model, *extra,
    ]


def launch(nprocs, command, *launcher_args):
    return python_module("armin_plugin.launch", "--nprocs", nprocs, *launcher_args, "--", *command)


def in_one_process(command):
    """The fairseq-train ``command`` in this process (the launcher with one rank: see
    test_signal_to_a_one_rank_launch_stops_cleanly)."""
    return fairseq_in_process("train", *command[1:])


def train_losses(output):
    return [float(x) for x in re.findall(r"\| train_inner \|.* loss=([0-9.]+)", output)]


def parameters(checkpoint):
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["model"]
    return {k: v for k, v in state.items() if torch.is_tensor(v) and v.is_floating_point()}


@pytest.fixture(scope="module")
def one_and_two_ranks(ptb_char_slice, built_once):
    """4 updates on 2 ranks (4 rows each, replicas checked) and on 1 process (4 rows,
    --update-freq 2; fairseq-train in this process): the same 8 rows per update (run once
    per run). The two save dirs and the two runs' results (returncode, stdout, stderr)."""
    def build(folder):
        two_ranks = launch(2, fairseq_train(ptb_char_slice, folder / "two", 4, DETERMINISTIC_ARMIN), "--check-replicas")
        assert two_ranks.returncode == 0, two_ranks.stdout[-3000:] + two_ranks.stderr[-3000:]
        one_rank = in_one_process(fairseq_train(ptb_char_slice, folder / "one", 4, DETERMINISTIC_ARMIN, "--update-freq", 2))
        assert one_rank.returncode == 0, one_rank.stdout[-3000:] + one_rank.stderr[-3000:]
        for name, result in (("two", two_ranks), ("one", one_rank)):
            (folder / f"{name}.stdout").write_text(result.stdout)
            (folder / f"{name}.stderr").write_text(result.stderr)

    folder = built_once("one_and_two_ranks", build)
    two_ranks, one_rank = (subprocess.CompletedProcess(name, 0, (folder / f"{name}.stdout").read_text(),
                                                       (folder / f"{name}.stderr").read_text()) for name in ("two", "one"))
    return folder / "two", two_ranks, folder / "one", one_rank


@pytest.mark.slow
def test_two_ranks_hold_identical_parameters(one_and_two_ranks):
    _, two_ranks, _, _ = one_and_two_ranks
    checks = re.findall(r"replica check at update (\d+): parameters identical on all (\d) ranks "
                        r"\(rank 0 ([0-9a-f]+), rank 1 ([0-9a-f]+)\)", two_ranks.stdout)
    assert [(update, ranks) for update, ranks, _, _ in checks] == [("2", "2"), ("4", "2")]
    assert all(rank0 == rank1 for _, _, rank0, rank1 in checks)
    assert checks[0][2] != checks[1][2]  # the parameters did change between the checks
    assert "2 CPU rank(s) x 1 thread(s)" in two_ranks.stdout


@pytest.mark.slow
def test_two_ranks_match_one_process_with_the_same_global_batch(one_and_two_ranks):
    two, two_ranks, one, one_rank = one_and_two_ranks
    assert train_losses(two_ranks.stdout) == train_losses(one_rank.stdout)
    assert len(train_losses(two_ranks.stdout)) == 4
    assert "bsz=8" in two_ranks.stdout and "bsz=8" in one_rank.stdout
    distributed, single = parameters(two / "checkpoint_last.pt"), parameters(one / "checkpoint_last.pt")
    assert distributed.keys() == single.keys()
    for name in single:
        torch.testing.assert_close(distributed[name], single[name], rtol=1e-5, atol=1e-6, msg=name)
    initial = parameters(two / "checkpoint_1_2.pt")
    assert any(not torch.equal(initial[name], single[name]) for name in single)


@pytest.mark.slow
def test_two_machines_match_one_machine(one_and_two_ranks, ptb_char_slice, tmp_path):
    """--nnodes 2: one launcher per "machine" (both here), one rank each, rendezvous on
    machine 0's address: the same training as 2 ranks on one machine."""
    two, _, _, _ = one_and_two_ranks
    save_dir, port = tmp_path / "checkpoints", free_port()
    command = [str(part) for part in fairseq_train(ptb_char_slice, save_dir, 4, DETERMINISTIC_ARMIN)]
    nodes = [
        subprocess.Popen(
            [sys.executable, "-m", "armin_plugin.launch", "--nprocs", "1", "--nnodes", "2",
             "--node-rank", str(node), "--master-addr", "127.0.0.1", "--port", str(port),
             "--check-replicas", "--", *command],
            cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS="1"), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
        for node in (0, 1)
    ]
    outputs = [node.communicate(timeout=300) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], [err[-3000:] for _, err in outputs]
    assert "1 CPU rank(s) x 1 thread(s) (world size 2)" in outputs[0][0]
    assert "rank 1 pid" in outputs[1][0]
    assert "replica check at update 4: parameters identical on all 2 ranks" in outputs[0][0]
    one_machine, two_machines = parameters(two / "checkpoint_last.pt"), parameters(save_dir / "checkpoint_last.pt")
    assert all(torch.equal(one_machine[name], two_machines[name]) for name in one_machine)


@pytest.mark.slow
def test_stream_training_on_two_ranks_matches_one_process(ptb_char_slice, tmp_path):
    """--task armin_tbptt_lm: 2 ranks x 2 streams are the 4 streams of one process, each
    rank carrying the hidden state and memory of its own rows; with no random draw the
    losses and parameters agree to float tolerance (rows summed in another order).

    Plain SGD: from the second segment on, the learned initial state gets no gradient;
    fairseq's legacy_ddp then hands the optimizer zeros where one process has None, and
    Adam's momentum moves a parameter with a zero gradient but skips one without."""
    runs = {}
    for nprocs, streams in ((2, 2), (1, 4)):
        save_dir = tmp_path / f"{nprocs}_ranks"
        command = fairseq_train(ptb_char_slice, save_dir, 4, DETERMINISTIC_ARMIN,
                                "--optimizer", "sgd", "--lr", 0.5, task="armin_tbptt_lm", batch_size=streams)
        result = launch(nprocs, command) if nprocs > 1 else in_one_process(command)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        runs[nprocs] = train_losses(result.stdout), parameters(save_dir / "checkpoint_last.pt")
    (losses_two, two), (losses_one, one) = runs[2], runs[1]
    assert len(losses_two) == 4 and losses_two == pytest.approx(losses_one, abs=1e-3)
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-4, atol=1e-5, msg=name)


def test_differing_replicas_are_named():
    assert "identical on all 2 ranks" in compare_replicas(["ab" * 32, "ab" * 32], 6)
    with pytest.raises(ArminError, match="ranks hold different parameters at update 6: rank 0 abab.*, rank 1 cdcd"):
        compare_replicas(["ab" * 32, "cd" * 32], 6)


def _wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _start_launcher(command, log_dir, nprocs=2):
    stdout, stderr = open(log_dir / "stdout", "w"), open(log_dir / "stderr", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "armin_plugin.launch", "--nprocs", str(nprocs), "--",
         *[str(part) for part in command]],
        cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS="1"), stdout=stdout, stderr=stderr,
    )
    return process


def _rank_pids(log_dir):
    found = re.search(r"rank 0 pid (\d+), rank 1 pid (\d+)", (log_dir / "stdout").read_text())
    return None if found is None else [int(found.group(1)), int(found.group(2))]


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _updates_in(checkpoint):
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    return state["optimizer_history"][-1]["num_updates"]


# The update both runs below reach: the run killed after it is the reference of the one
# stopped by a signal (near update 2) and resumed to it.
REFERENCE_UPDATE = 12


@pytest.fixture(scope="module")
def killed_after_reference_update(ptb_char_slice, tmp_path_factory):
    """2 ranks of SAMPLING_ARMIN launched with no end, rank 1 killed (SIGKILL) once
    checkpoint_1_12.pt is saved: the save dir, the launcher's exit code, stdout and stderr,
    and the pids of the killed rank and the other."""
    folder = tmp_path_factory.mktemp("killed")
    save_dir, logs = folder / "checkpoints", folder / "logs"
    logs.mkdir()
    launcher = _start_launcher(fairseq_train(ptb_char_slice, save_dir, 100000, SAMPLING_ARMIN), logs)
    try:
        _wait_for(lambda: _rank_pids(logs) is not None, 60, "the launcher's rank pids")
        _wait_for(lambda: (save_dir / f"checkpoint_1_{REFERENCE_UPDATE}.pt").exists(), 180,
                  f"the checkpoint of update {REFERENCE_UPDATE}")
        rank0, rank1 = _rank_pids(logs)
        os.kill(rank1, signal.SIGKILL)
        launcher.wait(timeout=60)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    return save_dir, launcher.returncode, (logs / "stdout").read_text(), (logs / "stderr").read_text(), rank1, rank0


@pytest.mark.slow
def test_killed_rank_stops_the_job_and_leaves_its_checkpoints(killed_after_reference_update):
    """The launcher stops the other rank and names the killed one; the checkpoints stay (a
    relaunch resumes from checkpoint_last.pt as after a signal: the test below)."""
    save_dir, returncode, _, stderr, killed, other = killed_after_reference_update
    assert returncode == 128 + signal.SIGKILL, stderr[-3000:]
    assert stderr.splitlines()[-1] == f"error: rank 1 of 2 (pid {killed}) was killed by SIGKILL; stopped the other ranks"
    assert _gone(other)
    assert _updates_in(save_dir / "checkpoint_last.pt") >= REFERENCE_UPDATE


def _signal_during_training(command, logs, nprocs, signum):
    """Launch ``command`` on ``nprocs`` ranks, send ``signum`` to the launcher once update 2
    is logged; the launcher's exit code, stdout and stderr."""
    logs.mkdir()
    launcher = _start_launcher(command, logs, nprocs=nprocs)
    try:
        _wait_for(lambda: "num_updates=2," in (logs / "stdout").read_text(), 120, "training to start")
        launcher.send_signal(signum)
        launcher.wait(timeout=120)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    return launcher.returncode, (logs / "stdout").read_text(), (logs / "stderr").read_text()


@pytest.mark.slow
def test_signal_stops_every_rank_after_the_same_update_and_resume_is_exact(
        ptb_char_slice, tmp_path, killed_after_reference_update):
    """SIGTERM to the launcher reaches both ranks; they agree on the update to stop after,
    save checkpoint_last.pt there and exit 0; a re-launch continues exactly as a run that
    was never interrupted (losses and parameters; that run: the one killed after update 12,
    the same training up to its checkpoint of update 12)."""
    save_dir, logs = tmp_path / "checkpoints", tmp_path / "logs"
    returncode, stdout, stderr = _signal_during_training(
        fairseq_train(ptb_char_slice, save_dir, 100000, SAMPLING_ARMIN), logs, 2, signal.SIGTERM)
    assert returncode == 0, stderr[-3000:]
    assert "got SIGTERM: forwarding it to ranks [0, 1]" in stdout
    assert "received SIGTERM: finishing the update in progress" in stdout  # rank 0
    assert "[rank 1]" in stderr and "received SIGTERM: finishing the update in progress" in stderr
    stop = int(re.search(r"Stopping training due to num_updates: (\d+)", stdout).group(1))
    assert _updates_in(save_dir / "checkpoint_last.pt") == stop < REFERENCE_UPDATE
    assert all(_gone(pid) for pid in _rank_pids(logs))

    resumed = launch(2, fairseq_train(ptb_char_slice, save_dir, REFERENCE_UPDATE, SAMPLING_ARMIN), "--check-replicas")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f"@ {stop} updates)" in resumed.stdout  # "Loaded checkpoint ... (epoch E @ N updates)"
    assert f"replica check at update {REFERENCE_UPDATE}: parameters identical on all 2 ranks" in resumed.stdout
    reference_dir, _, reference_stdout, _, _, _ = killed_after_reference_update
    reference = {update: line for update, line in update_lines(reference_stdout).items() if update <= REFERENCE_UPDATE}
    pieces = {**update_lines(stdout), **update_lines(resumed.stdout)}
    assert pieces == reference and max(pieces) == REFERENCE_UPDATE
    final = parameters(reference_dir / f"checkpoint_1_{REFERENCE_UPDATE}.pt")
    got = parameters(save_dir / "checkpoint_last.pt")
    assert final.keys() == got.keys() and all(torch.equal(final[k], got[k]) for k in final)


@pytest.mark.slow
def test_signal_to_a_one_rank_launch_stops_cleanly(ptb_char_slice, tmp_path):
    """One rank: the plugin's clean stop (finish the update, save, exit 0) works through
    the launcher, and the launcher exits 0."""
    save_dir, logs = tmp_path / "checkpoints", tmp_path / "logs"
    returncode, stdout, stderr = _signal_during_training(
        fairseq_train(ptb_char_slice, save_dir, 100000, SAMPLING_ARMIN), logs, 1, signal.SIGINT)
    assert returncode == 0, stderr[-3000:]
    assert "got SIGINT: forwarding it to ranks [0]" in stdout
    assert "interrupted by SIGINT (forwarded to every rank): rank 0 exited with code 0" in stdout
    assert _updates_in(save_dir / "checkpoint_last.pt") >= 2


@pytest.mark.parametrize("launcher_args, command, expected", [
    (["--nprocs", "0"], ["fairseq-train", "data"], "--nprocs must be at least 1, got 0"),
    (["--nprocs", "two"], ["fairseq-train", "data"], "argument --nprocs: invalid int value: 'two'"),
    (["--nprocs", "2", "--threads", "0"], ["fairseq-train", "data"], "--threads must be at least 1, got 0"),
    (["--nprocs", "2"], [], "no command after --"),
    (["--nprocs", "2"], ["python", "train.py"], "armin-launch runs fairseq-train, got 'python train.py'"),
    (["--nprocs", "2"], ["/elsewhere/bin/fairseq-train", "data"], "runs the fairseq-train of its own environment"),
    (["--nprocs", "2"], ["fairseq-train", "data", "--distributed-rank", "1"],
     "remove --distributed-rank from the fairseq-train command"),
    (["--nprocs", "2"], ["fairseq-train", "data", "--ddp-backend=c10d"],
     "--ddp-backend c10d does not work on CPU ranks; armin-launch uses --ddp-backend legacy_ddp"),
    (["--nprocs", "1", "--nnodes", "2"], ["fairseq-train", "data"], "--nnodes > 1 needs --port"),
    (["--nprocs", "1", "--nnodes", "2", "--node-rank", "2", "--port", "29500"], ["fairseq-train", "data"],
     "--node-rank must be in 0 .. --nnodes - 1 with --nnodes >= 1, got --nnodes 2 --node-rank 2"),
    (["--nprocs", str(cpu_cores() + 1)], ["fairseq-train", "data"],
     f"{cpu_cores() + 1} ranks x 1 threads is more than the {cpu_cores()} CPU cores here"),
])
def test_bad_launcher_input_is_one_line(launcher_args, command, expected):
    assert_one_line_error(module_in_process("armin_plugin.launch", *launcher_args, "--", *command), expected)


@pytest.mark.slow  # a real armin-launch process: its one-line error
def test_missing_separator_is_one_line():
    result = python_module("armin_plugin.launch", "--nprocs", 2, "fairseq-train", "data")
    assert_one_line_error(result, "give the command after --")


@pytest.mark.slow
def test_failing_rank_exit_code_is_returned(tmp_path):
    """fairseq-train refusing its arguments on every rank: the launcher returns its code."""
    result = launch(2, ["fairseq-train", tmp_path / "missing", "--arch", "no_such_arch"])
    assert result.returncode == 2, result.stderr[-3000:]
    last = result.stderr.splitlines()[-1]
    assert re.fullmatch(r"error: rank [01] of 2 \(pid \d+\) failed with exit code 2; stopped the other ranks", last)


@pytest.mark.slow
def test_main_job_trains_through_the_launcher(ptb_char_slice, tmp_path):
    """compare_lm --nprocs 2 (a real process): the run trains on 2 ranks with half the rows
    each; the run is the paper's cell, whose temperature counts epochs of the global batch."""
    out = tmp_path / "runs"
    result = python_module(
        "armin_plugin.jobs.compare_lm", "--data", ptb_char_slice, "--out", out, "--nprocs", 2,
        "--batch-size", 8, "--tokens-per-sample", 64, "--max-update", 2, "--minutes", 30,
        "--validate-every", 2, "--log-interval", 1, "--runs", "ARMIN-paper", "--lr-schedule", "cosine",
    )  # a time budget: the ranks share cosine_over_time's clock
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert sorted(path.name for path in out.iterdir() if path.is_dir()) == ["armin-paper", "tensorboard"]
    log = (out / "armin-paper" / "train.log").read_text()
    assert "2 CPU rank(s) x 1 thread(s)" in log
    assert "'distributed_world_size': 2" in log and "'batch_size': 4" in log
    assert "bsz=8" in log  # the global batch: 2 ranks x 4 rows
    assert "'_name': 'cosine_over_time'" in log and "num_updates=2, lr=" in log
    epoch = block_epoch_updates(ptb_char_slice, 64, 8)  # the paper's temperature counts epochs of the blocks
    assert "'armin_init': authors," in log and f"'armin_tau_epoch_updates': {epoch}" in log
    assert "| ARMIN-paper |" in (out / "results.md").read_text()


@pytest.mark.parametrize("job, args, expected", [
    ("compare_lm", ["--nprocs", 3, "--batch-size", 8], "--batch-size 8 does not split evenly over --nprocs 3 processes"),
    ("compare_lm", ["--nprocs", 2, "--gpu"], "--nprocs is for CPU processes"),
    ("compare_lm", ["--nprocs", 0], "--nprocs must be >= 1, got 0"),
    ("compare_translation", ["--nprocs", 2, "--gpu"], "--nprocs is for CPU processes"),
    ("compare_translation", ["--nprocs", 0], "--nprocs must be >= 1, got 0"),
    ("compare_translation", ["--side-by-side", "--nprocs", 2], "--side-by-side trains two CPU processes at once"),
    ("compare_translation", ["--side-by-side", "--gpu"], "--side-by-side trains two CPU processes at once"),
    ("compare_translation", ["--runs", "ARMIN,GRU"], "--runs: unknown GRU; this job has ARMIN, LSTM"),
])
def test_bad_job_flags_are_one_line(tmp_path, job, args, expected):
    result = module_in_process(f"armin_plugin.jobs.{job}", "--out", tmp_path / "runs", *args)
    assert_one_line_error(result, expected)
    assert not (tmp_path / "runs").exists()
