"""The speed benchmark runs end to end on tiny shapes (no timing is asserted)."""
import json
import math

import pytest
import torch

from armin_plugin.errors import ArminError
from benchmarks import run
from benchmarks.model_speed import ModelPreset, measure_models


def test_layer_benchmark_writes_rows_ratios_and_targets(tmp_path, monkeypatch):
    asked = [torch.get_num_threads()]  # pytest's threads are left alone; the run sees what it set
    monkeypatch.setattr(torch, "set_num_threads", asked.append)
    monkeypatch.setattr(torch, "get_num_threads", lambda: asked[-1])
    monkeypatch.setattr(run.platform, "processor", lambda: "")  # its first call runs uname -p
    out = tmp_path / "bench.json"
    run.main(["--shapes", "8x4x2x5x2,8x4x256x5x2", "--reps", "1", "--no-models",
              "--naive-limit-mb", "0.01", "--json", str(out)])
    result = json.loads(out.read_text())
    assert result["command"].startswith("python -m benchmarks.run --shapes")
    cpu = result["results"][0]
    assert cpu["device"] == "cpu"
    rows = {(r["shape"]["slots"], r["model"]) for r in cpu["layers"]}
    assert len(cpu["layers"]) == 8 and (2, run.OURS) in rows and (256, run.NAIVE) in rows
    naive_256 = next(r for r in cpu["layers"] if r["shape"]["slots"] == 256 and r["model"] == run.NAIVE)
    assert naive_256["tokens_per_s"] != naive_256["tokens_per_s"]  # NaN: over the memory limit
    assert all(r["peak_mb"] > 0 for r in cpu["layers"] if r["model"] == run.OURS)
    targets = {t["target"] for t in cpu["targets"]}
    assert "N 16 -> 256: training time" not in targets  # needs an N 16 shape
    assert "layer training speed vs nn.LSTM at equal params" in targets
    assert "| shape | layer |" in cpu["markdown"] and "CPU, " in cpu["markdown"]
    assert [(r["device"], r["threads"]) for r in result["results"]][:2] == [("cpu", 1), ("cpu", 2)]
    table = run.threads_table(result["results"])
    assert "| 1 thread(s) | 2 thread(s) |" in table and "vs nn.LSTM at equal params" in table


@pytest.mark.slow
def test_missing_model_data_is_refused_before_any_timing(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "run_on", lambda *args: pytest.fail("measured before checking the data"))
    with pytest.raises(ArminError, match=f"no character-level PTB data-bin at {tmp_path} for the model benchmarks"):
        run.main(["--quick", "--data", str(tmp_path)])


def test_model_benchmark_runs_the_three_models_through_fairseq(ptb_char_slice):
    rows = measure_models(ModelPreset(embed=8, hidden=8, slot=4, slots=2), ptb_char_slice,
                          steps=10, batch=2, beam=2, decode_len=2, reps=1,
                          device=torch.device("cpu"))
    assert [row.model.split()[0] for row in rows] == ["armin_lm", "lstm_lm", "lstm_stream_lm"]
    assert all(abs(row.params - rows[0].params) / rows[0].params < 0.05 for row in rows)
    assert all(row.train_tokens_per_s > 0 for row in rows)
    assert rows[0].decode_ms_per_step > 0 and rows[1].decode_ms_per_step > 0
    assert math.isnan(rows[2].decode_ms_per_step)  # no incremental decoder


def test_step_loop_benchmark_times_all_three_loops():
    from benchmarks.step_loop_speed import measure_step_loops

    medians = measure_step_loops(input_size=6, hidden=5, slot=3, slots=2, lstm_hidden=4,
                                 steps=3, batch=2, reps=1)
    assert set(medians) == {"ARMIN, reusing weights", "ARMIN, weights per call", "nn.LSTMCell"}
    assert all(seconds > 0 for seconds in medians.values())


@pytest.mark.slow  # a busy-loop process beside benchmark processes, and a fairseq-train
def test_threads_benchmark_times_the_jobs_choice_beside_a_busy_loop(ptb_char_slice):
    from armin_plugin.cli.threads import cpu_cores
    from benchmarks.threads_speed import fairseq_tokens_per_s, tokens_per_s

    speed, threads = tokens_per_s(None, None, True, steps=2, reps=1)
    assert speed > 0 and 1 <= threads <= max(1, cpu_cores() - 1)  # the busy loop holds a core
    model = ["--arch", "armin_lm", "--decoder-embed-dim", 8, "--armin-hidden-size", 8, "--armin-slot-size", 4,
             "--armin-slots", 4]
    speed, threads = fairseq_tokens_per_s(ptb_char_slice, model, 1, False, updates=20)
    assert speed > 0 and threads == 1


@pytest.mark.slow
def test_translation_benchmark_runs_both_translation_models_through_fairseq(libreoffice_slice):
    from benchmarks.run import targets
    from benchmarks.translation_speed import ARCHS, measure_translation, table

    tiny = [part for side in ("encoder", "decoder") for size in ("embed-dim", "hidden-size")
            for part in (f"--{side}-{size}", 16)] + ["--decoder-out-embed-dim", 16]
    rows = measure_translation(libreoffice_slice, reps=1, device=torch.device("cpu"), max_tokens=300,
                               train_batches=2, sentences=4, generate_batches=1, length=5, sizes=tiny)
    assert [row.model for row in rows] == list(ARCHS)
    assert all(row.train_tokens_per_s > 0 and row.generate_ms_per_sentence > 0 for row in rows)
    assert all(row.params > 0 for row in rows)  # equal only at the recipe's sizes
    assert table(rows).count("\n") == 3
    found = {item["target"]: item for item in targets([], [], rows)}
    ratio = found["armin_iwslt_de_en training step vs lstm_wiseman_iwslt_de_en"]["measured"]["armin_iwslt_de_en"]
    assert ratio == pytest.approx(rows[0].train_tokens_per_s / rows[1].train_tokens_per_s)


def test_layer_profile_names_the_compiled_phases_and_a_total(monkeypatch, capsys):
    from armin_plugin.modules import native
    from benchmarks import profile_layer

    monkeypatch.setattr(torch, "set_num_threads", lambda threads: None)  # leave pytest's alone
    profile_layer.main(["--shape", "8x4x2x5x2", "--reps", "1", "--threads", "1", "--top", "500"])
    table = capsys.readouterr().out
    assert "| op | 1 thread(s) |" in table and "| total |" in table
    assert ("| rows: integration |" in table) == (native.library() is not None)
