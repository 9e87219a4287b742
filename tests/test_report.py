"""The jobs' results file and its one renderer (table, plot, TensorBoard scalars), in process."""
import json

import pytest

from armin_plugin.jobs import report
from armin_plugin.jobs.results import Column, JobResults, Series, TensorBoardScores


def results(tmp_path):
    return JobResults(
        "Two runs:",
        [Column("run", "run"), Column("params", "params", "{:,}"), Column("valid", "valid BPC", "{:.3f}")],
        rows=[dict(run="ARMIN", params=586504, valid=1.86549), dict(run="LSTM", params=None, valid=1.9)],
        panels={"validation": "validation BPC"},
        series=[Series("validation", "ARMIN", [(10, 1.0, 2.5), (20, 2.0, 2.1)]),
                Series("validation", "ARMIN", [(10, 1.0, 2.7)], "long lengths")],
        test_scalars=[TensorBoardScores(str(tmp_path / "tb" / "ARMIN"), 20, {"loss": 1.8})],
    )


def test_table_formats_every_cell_and_marks_missing_values(tmp_path):
    assert report.table(results(tmp_path)).splitlines() == [
        "| run | params | valid BPC |",
        "|---|---:|---:|",
        "| ARMIN | 586,504 | 1.865 |",
        "| LSTM | - | 1.900 |",
    ]


def test_render_writes_the_results_file_table_plot_and_test_scalars(tmp_path):
    from armin_plugin.jobs.tensorboard_logs import scalars

    markdown, png = report.render(results(tmp_path), tmp_path / "out")
    assert markdown.read_text().startswith("Two runs:\n\n| run |")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["rows"][0]["valid"] == 1.86549 and saved["series"][1]["variant"] == "long lengths"
    assert JobResults.load(tmp_path / "out" / "results.json") == results(tmp_path)
    loss = scalars(tmp_path / "tb" / "ARMIN" / "test")["loss"]
    assert [(e.step, e.value) for e in loss] == [(20, pytest.approx(1.8))]


def test_redraw_from_a_jobs_folder_writes_no_second_scalars(tmp_path, capsys):
    report.render(results(tmp_path), tmp_path / "out")
    (tmp_path / "out" / "results.md").unlink()
    report.main([str(tmp_path / "out")])
    assert "| ARMIN | 586,504 | 1.865 |" in capsys.readouterr().out
    assert "| LSTM | - | 1.900 |" in (tmp_path / "out" / "results.md").read_text()
    assert len(list((tmp_path / "tb" / "ARMIN" / "test").iterdir())) == 1


def test_a_file_that_is_not_a_results_file_is_one_line(tmp_path):
    (tmp_path / "results.json").write_text("[1, 2]")
    with pytest.raises(SystemExit, match=r"^error: .*results.json is not a results file of a comparison job"):
        report.main([str(tmp_path)])


def test_log_directories_need_out(tmp_path):
    with pytest.raises(SystemExit, match="^error: --out is needed"):
        report.main([str(tmp_path / "a"), str(tmp_path / "b")])


def test_a_spread_band_and_per_run_figures_survive_the_results_file(tmp_path):
    spread = results(tmp_path)
    spread.series[0].spread = [(2.4, 2.6), (2.0, 2.2)]
    spread.runs = [dict(run="ARMIN/seed1", valid={"20": 2.0})]
    markdown, png = report.render(spread, tmp_path / "out", tensorboard=False)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert JobResults.load(tmp_path / "out" / "results.json") == spread


def test_language_model_curves_hold_training_loss_and_the_armin_runs_memory():
    from armin_plugin.jobs.lm_results import MEMORY_PANELS, lm_results
    from armin_plugin.jobs.tensorboard_logs import RunLog

    armin = RunLog("ARMIN", train=[(25, 1.0, 3.0), (50, 2.0, 2.5)],
                   memory={"armin_read_age": [(25, 1.0, 1.5), (50, 2.0, 1.1)]},
                   valid={"valid": {"loss": [(50, 2.5, 2.6)]}})
    lstm = RunLog("LSTM", train=[(25, 1.0, 2.9)], valid={"valid": {"loss": [(50, 2.5, 2.4)]}})
    results = lm_results([armin, lstm], "bpc")
    assert list(results.panels) == ["training", "validation", "armin_read_age"]
    assert results.panels["armin_read_age"] == MEMORY_PANELS["armin_read_age"]
    curves = {(s.panel, s.run): s.points for s in results.series}
    assert curves["training", "ARMIN"] == [(25, 1.0, 3.0), (50, 2.0, 2.5)]
    assert curves["armin_read_age", "ARMIN"] == [(25, 1.0, 1.5), (50, 2.0, 1.1)]
    assert ("armin_read_age", "LSTM") not in curves
