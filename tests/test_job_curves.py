"""The comparison jobs' curves show a course: the training loss of every logged interval,
at least 10 validations per run, and (ARMIN runs) the memory diagnostics."""
import json
import math
import re

import pytest
from helpers import module_in_process

from armin_plugin.jobs import compare_algorithmic, compare_lm, compare_translation

# updates per run in each job's default budget on this project's 2-core CPU, the fewest of
# its runs: compare_lm's lstm_lm measured on a slow day (README.md); the others measured on a
# fast day (docs/translation.md, docs/algorithmic.md) and halved, as the machine ran about
# half as fast on the slow day
DEFAULT_BUDGET_UPDATES = {"compare_lm": 243, "compare_translation": 1061 // 2, "compare_algorithmic": 9040}


@pytest.mark.parametrize("job, args", [
    (compare_lm, compare_lm.parse_args([])),
    (compare_translation, compare_translation.parse_args([])),
    (compare_algorithmic, compare_algorithmic.parse_args([])),
])
def test_default_validation_interval_gives_ten_points_in_the_default_budget(job, args):
    assert DEFAULT_BUDGET_UPDATES[job.__name__.split(".")[-1]] // args.validate_every >= 10


@pytest.mark.slow
def test_main_job_draws_ten_validations_training_loss_and_memory(ptb_char_slice, tmp_path):
    """compare_lm at 10 updates with the default interval scaled to 1 (50 of ~800 updates),
    ARMIN as shipped and the LSTM (the paper's cell: test_launch.py's main job); the job in
    this process (its real process: test_launch.py), its trainings and evaluations as
    processes."""
    out = tmp_path / "runs"
    result = module_in_process(
        "armin_plugin.jobs.compare_lm", "--data", ptb_char_slice, "--out", out, "--batch-size", 8,
        "--tokens-per-sample", 64, "--max-update", 10, "--minutes", 0, "--validate-every", 1,
        "--valid-steps", 1, "--log-interval", 1, "--armin-lr", 0.01, "--lstm-lr", 0.005, "--lr-schedule", "cosine",
        "--runs", "ARMIN,LSTM",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    saved = json.loads((out / "results.json").read_text())
    curves = {(s["panel"], s["run"]): s["points"] for s in saved["series"]}
    for run in ("ARMIN", "LSTM"):
        assert len(curves["validation", run]) >= 10
        assert [p[0] for p in curves["training", run]] == list(range(1, 11))
    assert {row["run"]: row["lr"] for row in saved["rows"]} == {"ARMIN": 0.01, "LSTM": 0.005}
    # what fairseq-train logged: each model's rate along the cosine over the 10 updates
    for run, rate in (("armin", 0.01), ("lstm", 0.005)):
        logged = {int(update): float(lr) for update, lr in
                  re.findall(r"num_updates=(\d+), lr=([0-9.e-]+)", (out / run / "train.log").read_text())}
        assert logged[1] == pytest.approx(rate * (1 + math.cos(math.pi * 1 / 10)) / 2, rel=1e-4)
        assert logged[9] == pytest.approx(rate * (1 + math.cos(math.pi * 9 / 10)) / 2, rel=1e-3)  # near 0
    shipped = (out / "armin" / "train.log").read_text()
    assert "'armin_init': pytorch," in shipped and "'armin_tau_schedule': anneal," in shipped
    memory = {"armin_read_age", "armin_slots_read", "armin_entropy", "armin_tau"}
    assert memory <= set(saved["panels"])
    assert all(len(curves[tag, "ARMIN"]) == 10 for tag in memory)
    assert not any((tag, "LSTM") in curves for tag in memory)
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
