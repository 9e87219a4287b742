"""--task armin_tbptt_lm: stream batches, carried (detached) state, resets, fairseq's CLIs
(in this process, through their entry functions) and the report job (a real process)."""
import argparse
import math
import re

import pytest
import torch
from helpers import PLUGIN, assert_one_line_error, build_lm, fairseq_in_process, python_module, random_tokens
from fairseq import tasks

from armin_plugin.data.streams import StreamSegments
from armin_plugin.errors import ArminError
from armin_plugin.training.carried_state import CarriedStates
from armin_plugin.tasks import armin_tbptt_lm  # noqa: F401 (registers the task in-process)


def test_rows_continue_their_stream_across_batches():
    tokens = torch.arange(103)
    batches = StreamSegments(tokens, rows_per_rank=4, segment_length=7)
    # 4 streams of 25 tokens (3 dropped): stream b is tokens[25 b : 25 b + 25]
    assert len(batches) == 4  # 24 predicted tokens per stream: 7 + 7 + 7 + 3
    joined = torch.cat([batches[i][1] for i in range(len(batches))], dim=1)
    targets = torch.cat([batches[i][2] for i in range(len(batches))], dim=1)
    for b in range(4):
        assert joined[b].tolist() == list(range(25 * b, 25 * b + 24))
        assert targets[b].tolist() == list(range(25 * b + 1, 25 * b + 25))
    assert batches[3][1].size(1) == 3


def test_two_ranks_share_the_streams_of_one_global_batch():
    tokens = torch.arange(200)
    single = StreamSegments(tokens, rows_per_rank=6, segment_length=5)
    ranks = [StreamSegments(tokens, rows_per_rank=3, segment_length=5, rank=r, world_size=2) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == len(single)
    for i in range(len(single)):
        together = torch.cat([ranks[0][i][1], ranks[1][i][1]])
        assert torch.equal(together, single[i][1])
    for r in (0, 1):  # each rank's row b continues row b of its previous batch
        assert torch.equal(ranks[r][1][1][:, 0], ranks[r][0][1][:, -1] + 1)


def test_impossible_stream_layout_is_refused():
    with pytest.raises(ArminError, match="too few for 64 streams"):
        StreamSegments(torch.arange(100), rows_per_rank=32, segment_length=10, world_size=2)


def test_carried_states_reset_rules():
    state = build_lm()[0].decoder.armin.initial_state(3)
    carried = CarriedStates(type(state))
    assert carried.take("train", 0, 3) is None
    carried.keep("train", 0, state)
    assert carried.take("valid", 1, 3) is None  # another stream key
    assert carried.take("train", 1, 3) is not None  # continues
    carried.keep("train", 1, state)
    assert carried.take("train", 3, 3) is None  # a skipped segment
    carried.keep("train", 3, state)
    assert carried.take("train", 4, 5) is None  # another batch layout
    carried.keep("train", 4, state)
    assert carried.take("train", 0, 3) is None  # a new pass starts fresh


def test_stream_segments_continue_like_one_long_sequence():
    model, dictionary = build_lm()
    tokens = random_tokens(dictionary, batch=3, length=12)
    with torch.no_grad():
        whole, _ = model(tokens)
        parts = [model(tokens[:, s : s + 4], stream_key="valid", stream_position=i)[0]
                 for i, s in enumerate(range(0, 12, 4))]
        fresh, _ = model(tokens[:, 8:], stream_key="valid", stream_position=0)
    torch.testing.assert_close(torch.cat(parts, dim=1), whole, rtol=0, atol=1e-5)
    torch.testing.assert_close(fresh, model(tokens[:, 8:])[0], rtol=0, atol=1e-6)


@pytest.mark.slow  # in process, above ~3 s on a quiet 2-core machine
def test_carried_state_is_detached_so_the_graph_does_not_grow():
    model, dictionary = build_lm()
    model.train()
    tokens = random_tokens(dictionary, batch=2, length=30)
    for position in range(5):
        logits, extra = model(tokens[:, position * 6 : position * 6 + 6], stream_key="train",
                              stream_position=position)
        logits.sum().backward()  # a second backward through an old graph would fail
        carried = model.decoder.carried._carried["train"].state
        assert all(t.grad_fn is None and not t.requires_grad for t in carried if t is not None)
        assert extra["state"].hidden.grad_fn is not None


@pytest.fixture(scope="module")
def stream_task(ptb_char_slice):
    args = argparse.Namespace(
        task="armin_tbptt_lm", data=str(ptb_char_slice), tokens_per_sample=40, batch_size=4,
        user_dir=PLUGIN,
    )
    return tasks.setup_task(args)


@pytest.mark.slow
def test_every_pass_over_a_split_starts_at_position_zero(stream_task):
    for split in ("train", "valid"):
        stream_task.load_dataset(split)
        iterator = stream_task.get_batch_iterator(stream_task.dataset(split))
        for _ in range(2):  # two epochs
            positions = [s["net_input"]["stream_position"] for s in iterator.next_epoch_itr(shuffle=False)]
            assert positions == list(range(len(stream_task.dataset(split))))
        first = next(iter(iterator.next_epoch_itr(shuffle=False)))
        assert first["net_input"]["stream_key"] == split
        assert first["target"][:, :-1].equal(first["net_input"]["src_tokens"][:, 1:])


STREAM = ["--user-dir", PLUGIN, "--task", "armin_tbptt_lm", "--tokens-per-sample", 40,
          "--batch-size", 4, "--cpu"]
ARCHS = {
    "armin": ["--arch", "armin_lm_tiny", "--armin-tau-updates", 10000],
    "lstm": ["--arch", "lstm_stream_lm", "--decoder-embed-dim", 16, "--decoder-hidden-size", 32],
}


@pytest.fixture(scope="module")
def stream_runs(ptb_char_slice, built_once):
    """Two tiny real runs in stream mode (built once per run): {name: (save_dir, tensorboard
    dir, stdout)}."""
    def build(root):
        for name, arch in ARCHS.items():
            result = fairseq_in_process(
                "train", ptb_char_slice, *STREAM, *arch, "--optimizer", "adam", "--lr", 0.003,
                "--max-update", 8, "--validate-interval-updates", 4, "--save-dir", root / name / "ck",
                "--tensorboard-logdir", root / name / name, "--log-format", "simple", "--log-interval", 2,
            )
            assert result.returncode == 0, result.stderr[-3000:]
            (root / name / "stdout.txt").write_text(result.stdout)

    root = built_once("stream_runs", build)
    return {name: (root / name / "ck", root / name / name, (root / name / "stdout.txt").read_text()) for name in ARCHS}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ARCHS))
def test_train_and_evaluate_in_stream_mode(stream_runs, ptb_char_slice, name):
    save_dir, _, stdout = stream_runs[name]
    assert "num_updates 8" in stdout
    evaluated = fairseq_in_process("eval-lm", ptb_char_slice, *STREAM, "--path", save_dir / "checkpoint_last.pt",
                        "--gen-subset", "test")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    output = evaluated.stdout + evaluated.stderr
    loss = float(re.search(r"Loss \(base 2\): ([0-9.]+)", output).group(1))
    assert 0 < loss < 5.8


@pytest.mark.slow
def test_memory_diagnostics_reach_logs_and_tensorboard(stream_runs):
    from armin_plugin.jobs.tensorboard_logs import scalars as _scalars

    _, logdir, stdout = stream_runs["armin"]
    line = [row for row in stdout.splitlines() if "train_inner" in row][-1]
    for name in ("armin_tau", "armin_entropy", "armin_slots_read", "armin_read_age"):
        assert f"{name}=" in line
    entropy = float(re.search(r"armin_entropy=([0-9.]+)", line).group(1))
    assert 0 <= entropy <= math.log(4) + 1e-3  # 4 slots
    assert 1 <= float(re.search(r"armin_slots_read=([0-9.]+)", line).group(1)) <= 4
    assert {"armin_entropy", "armin_read_age"} <= set(_scalars(logdir / "train_inner"))


@pytest.mark.slow
def test_report_reads_the_event_files(stream_runs, tmp_path):
    logdirs = [stream_runs[name][1] for name in sorted(stream_runs)]
    result = python_module("armin_plugin.jobs.report", *logdirs, "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = [line for line in (tmp_path / "results.md").read_text().splitlines() if line.startswith("|")]
    rows = {line.split("|")[1].strip(): line.split("|") for line in table[2:]}
    assert set(rows) == set(ARCHS)
    for name in ARCHS:
        stdout = stream_runs[name][2]
        last_valid = re.findall(r"valid on 'valid' subset \| loss ([0-9.]+)", stdout)[-1]
        assert rows[name][3].strip() == "8"  # updates at the last validation
        assert rows[name][5].strip() == f"{float(last_valid):.3f}"  # valid BPC = base-2 loss


@pytest.mark.slow
def test_missing_batch_size_is_one_line(ptb_char_slice, tmp_path):
    result = fairseq_in_process("train", ptb_char_slice, "--user-dir", PLUGIN, "--task", "armin_tbptt_lm",
                                "--max-tokens", 1000, "--arch", "armin_lm", "--save-dir", tmp_path, "--cpu")
    assert_one_line_error(result, "--task armin_tbptt_lm needs --batch-size", only_line=False)
