"""armin-inspect on checkpoints written by fairseq-train on a slice of real PTB-char, and
the TensorBoard pictures of validation. armin-inspect runs once as the installed console
script (its one-line error); the trainings and the other calls run in this process."""
import re
import sys
from pathlib import Path

import pytest
import torch
from helpers import PLUGIN, TINY_ARMIN, assert_one_line_error, fairseq_in_process, in_process, run

from armin_plugin.inspector import command
from armin_plugin.training.memory_board import SUBFOLDER

PNG = b"\x89PNG\r\n\x1a\n"
SLOTS = {"a": 1, "b": 2, "c": 3}  # forced reads: a, b, c read slots 1, 2, 3; every other symbol slot 0
pytestmark = pytest.mark.slow


def train(data, save_dir, *model, logdir=None):
    flags = ["--tensorboard-logdir", logdir, "--validate-interval-updates", 2, "--max-valid-steps", 1] if logdir else []
    result = fairseq_in_process(
        "train", data, "--user-dir", PLUGIN, "--task", "language_modeling", "--tokens-per-sample", 64,
        "--batch-size", 8, "--optimizer", "adam", "--lr", 0.003, "--max-update", 4, "--save-dir", save_dir,
        "--no-epoch-checkpoints", "--log-format", "simple", "--log-interval", 1, "--cpu", *flags, *model,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return save_dir / "checkpoint_last.pt"


@pytest.fixture(scope="module")
def trained(ptb_char_slice, built_once):
    """A tiny armin_lm after 4 updates, validated every 2 into TensorBoard (built once per
    run); its logdir."""
    folder = built_once("inspector_armin", lambda folder: train(
        ptb_char_slice, folder / "checkpoints", *TINY_ARMIN, logdir=folder / "tb"))
    return folder / "checkpoints" / "checkpoint_last.pt", folder / "tb"


def forced(checkpoint, path):
    """``checkpoint`` with layer 0's address logits the embedding's first N dims, and the
    embedding of each character 10 * one-hot at its slot in SLOTS: every step reads the slot
    of its token."""
    from fairseq.data import Dictionary

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = state["model"]
    embed, weight = model["decoder.embed_tokens.weight"], model["decoder.armin.layers.0.address.weight"]
    slots = weight.size(0)
    dictionary = Dictionary.load(str(state["cfg"]["task"]["data"]) + "/dict.txt")
    embed.zero_()
    for index, symbol in enumerate(dictionary.symbols):
        embed[index, SLOTS.get(symbol, 0)] = 10.0
    weight.zero_()
    weight[:, :slots] = torch.eye(slots)
    model["decoder.armin.layers.0.address.bias"].zero_()
    torch.save(state, path)
    return path


def inspect(*args):
    """armin-inspect in this process; returns the files written."""
    return command.inspect(command.parse_args([str(arg) for arg in args]))


def test_forced_addresses_give_the_hand_computed_table(trained, tmp_path):
    checkpoint = forced(trained[0], tmp_path / "forced.pt")
    written = inspect("--path", checkpoint, "--text", "cab bac", "--out", tmp_path / "out")
    # 4 slots: steps 0-3 fill slots 0-3, then each step writes the slot it read
    assert (tmp_path / "out" / "reads.txt").read_text().splitlines() == [
        "step 0 'c' read slot 3, the initial memory; wrote slot 0",
        "step 1 'a' read slot 1, the initial memory; wrote slot 1",
        "step 2 'b' read slot 2, the initial memory; wrote slot 2",
        "step 3 ' ' read slot 0, the state parked at step 0 'c'; wrote slot 3",
        "step 4 'b' read slot 2, the state parked at step 2 'b'; wrote slot 2",
        "step 5 'a' read slot 1, the state parked at step 1 'a'; wrote slot 1",
        "step 6 'c' read slot 3, the state parked at step 3 ' '; wrote slot 3",
    ]
    for path in written:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == PNG


def test_the_table_is_the_layers_trace(trained, tmp_path):
    """A segment of the valid split: reads.txt lists the trace's reads, writes and parked positions."""
    from armin_plugin.inspector.loading import load
    from armin_plugin.inspector.recording import record_language_model
    from armin_plugin.modules.slot_history import slot_history

    out = tmp_path / "out"
    written = inspect("--path", trained[0], "--out", out, "--length", 40, "--rows", 3)
    assert sorted(p.name for p in written) == ["address_map.png", "read_arcs.png", "read_histograms.png", "reads.txt"]
    assert all(p.read_bytes()[:8] == PNG for p in written if p.suffix == ".png")
    loaded = load(trained[0], None)
    from fairseq.data import data_utils

    valid = data_utils.load_indexed_dataset(str(loaded.data / "valid"), loaded.task.dictionary)
    tokens = torch.cat([valid[i] for i in range(len(valid))])[:120].view(3, 40)
    trace = record_language_model(loaded.model, tokens, 0, False)
    history = slot_history(trace)
    lines = (out / "reads.txt").read_text().splitlines()
    assert len(lines) == 40
    for step, line in enumerate(lines):
        origin = history.origin[step, 0].item()
        held = "the initial memory" if origin < 0 else f"the state parked at step {origin} "
        assert line.startswith(f"step {step} ")
        assert f"read slot {trace.read[step, 0].item()}, {held}" in line
        assert line.endswith(f"; wrote slot {trace.written[step, 0].item()}")


def test_sampling_reads_other_slots_than_argmax(trained, tmp_path):
    text = "the cat sat on the mat " * 4
    inspect("--path", trained[0], "--text", text, "--out", tmp_path / "argmax")
    inspect("--path", trained[0], "--text", text, "--out", tmp_path / "sampled", "--sample")
    assert (tmp_path / "argmax" / "reads.txt").read_text() != (tmp_path / "sampled" / "reads.txt").read_text()


def test_validation_writes_the_address_map_and_histograms_to_tensorboard(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(trained[1] / SUBFOLDER), size_guidance={"images": 0, "histograms": 0})
    events.Reload()
    assert events.Tags()["images"] == ["layer0/address_map"]
    assert set(events.Tags()["histograms"]) == {"layer0/read_age", "layer0/parked", "layer0/slot_read"}
    assert [image.step for image in events.Images("layer0/address_map")] == [2, 4]  # the validations
    assert events.Images("layer0/address_map")[0].encoded_image_string[:8] == PNG
    slots = events.Histograms("layer0/slot_read")[0].histogram_value
    assert 7 * 64 < slots.num <= 8 * 64  # every real step of the first validation batch (8 rows, one short)
    assert slots.bucket_limit[:4] == [0.5, 1.5, 2.5, 3.5]  # one bin per slot


def inspector(*args):
    """The installed console script, as a process."""
    return run([Path(sys.executable).with_name("armin-inspect"), *args])


def inspector_in_process(*args):
    """What that console script calls, in this process."""
    return in_process(["armin-inspect", *args], command.main)


def test_bad_input_is_one_line(trained, ptb_char_slice, tmp_path):
    lstm = train(ptb_char_slice, tmp_path / "lstm", "--arch", "lstm_lm", "--decoder-embed-dim", 8,
                 "--decoder-hidden-size", 8, "--decoder-out-embed-dim", 8)
    checkpoint = trained[0]
    out = ["--out", tmp_path / "out"]
    assert_one_line_error(inspector("--path", lstm, "--text", "abc", *out),
                          "holds --arch lstm_lm (model lstm_lm): armin-inspect reads armin_lm and armin checkpoints")
    assert_one_line_error(inspector_in_process("--path", checkpoint, "--text", "  ", *out), "--text is empty")
    assert_one_line_error(inspector_in_process("--path", checkpoint, "--text", "abc", "--layer", 1, *out),
                          "--layer 1 is out of range: the model has 1 ARMIN layer(s), 0 to 0")
    assert_one_line_error(inspector_in_process("--path", tmp_path / "none.pt", "--text", "abc", *out), "does not exist")


@pytest.fixture(scope="module")
def translation_checkpoint(libreoffice_slice, built_once):
    """armin_tiny after 2 updates on the LibreOffice help slice, built once per run."""
    def train(folder):
        result = fairseq_in_process(
            "train", libreoffice_slice, "--user-dir", PLUGIN, "--task", "translation", "--source-lang", "de",
            "--target-lang", "en", "--arch", "armin_tiny", "--optimizer", "adam", "--lr", 0.005, "--max-tokens", 500,
            "--max-update", 2, "--save-dir", folder / "checkpoints", "--no-epoch-checkpoints", "--cpu",
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    return built_once("inspector_translation", train) / "checkpoints" / "checkpoint_last.pt"


SOURCE, TARGET = "Wählen Sie Bearbeiten – Alles auswählen.", "Choose Edit - Select All."


@pytest.mark.parametrize("pair", [["--source", SOURCE, "--target", TARGET], []])
def test_translation_reads_beside_attention(translation_checkpoint, tmp_path, pair):
    written = inspect("--path", translation_checkpoint, "--out", tmp_path, *pair)
    assert sorted(p.name for p in written) == [
        "address_map.png", "read_arcs.png", "read_histograms.png", "reads.txt", "translation_reads.png"]
    assert all(p.read_bytes()[:8] == PNG for p in written if p.suffix == ".png")
    lines = (tmp_path / "reads.txt").read_text().splitlines()
    # the decoder continues from the encoder's final state: its first step (reading eos) comes
    # after the source's steps, and with more source tokens than its 4 slots, every slot holds
    # a state the encoder parked at one of them, named by its source token
    first = re.match(r"^step (\d+) '</s>' read slot (\d), the state parked at step (\d+) '([^']+)'; wrote slot (\d)$",
                     lines[0])
    assert first, lines[0]
    step, read, parked, token, written = first.groups()
    assert int(step) > 4 and int(parked) < int(step) and read == written
    assert "the initial memory" not in "".join(lines)
