"""armin-study: grids, their one-line errors, and a tiny grid end to end through the real
fairseq-train (numbers equal to the training logs, resuming, Ctrl-C)."""
import json
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from armin_plugin.errors import ArminError
from armin_plugin.jobs.study import command
from armin_plugin.jobs.study.grid import load_grid, parse_grid
from armin_plugin.jobs.study.runs import StudyRun, plan
from armin_plugin.jobs.study.summary import run_numbers, spread
from helpers import REPO, assert_one_line_error, module_in_process, python_module

STUDIES = REPO / "recipes" / "studies"
TINY = load_grid(STUDIES / "tiny.py")
VALID_LINE = re.compile(r"valid on 'valid' subset \| loss ([0-9.]+) \|(.*)\| num_updates (\d+)")


def study(*args, **kwargs):
    """armin-study as a process (``kwargs``: :func:`helpers.run`'s, such as ``cwd``)."""
    return python_module("armin_plugin.jobs.study", *map(str, args), **kwargs)


def study_in_process(*args):
    """armin-study in this process (its trainings still processes)."""
    return module_in_process("armin_plugin.jobs.study", *args)


def one_line_exit(argv, expected):
    with pytest.raises(SystemExit) as exited:
        command.main(argv)
    message = str(exited.value.code)
    assert message.startswith("error: ") and "\n" not in message and expected in message, message


# --- grids, in process ---------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(STUDIES.glob("*.*")), ids=lambda p: p.name)
def test_every_shipped_grid_loads_and_prints_its_commands(path, capsys, tmp_path):
    command.main([str(path), "--out", str(tmp_path), "--dry-run"])
    printed = capsys.readouterr().out
    grid = load_grid(path)
    assert printed.count("fairseq-train --user-dir") == len(grid.variants) * len(grid.seeds)
    assert f"--validate-interval-updates {grid.validate_interval} " in printed
    assert "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1" in printed and "OMP_WAIT_POLICY=PASSIVE" in printed


def test_seeds_choose_a_subset_of_the_grid_s_runs_or_add_runs(capsys):
    command.main(["tiny", "--seeds", "2", "--dry-run"])
    printed = capsys.readouterr().out
    assert printed.count("fairseq-train --user-dir") == 2 and "--seed 2 " in printed and "--seed 1 " not in printed
    command.main(["tiny", "--seeds", "1,3", "--dry-run"])  # a seed the grid does not list: runs of its own
    printed = capsys.readouterr().out
    assert printed.count("fairseq-train --user-dir") == 4 and "--seed 3 " in printed and "--seed 2 " not in printed
    assert "runs/armin/seed3/checkpoints" in printed


def test_the_validation_interval_is_the_gcd_of_the_report_counts():
    grid = parse_grid("g", dict(variants={"a": []}, max_update=2000, report_at=[2000, 500, 750]))
    assert grid.report_at == [500, 750, 2000] and grid.validate_interval == 250
    assert parse_grid("g", dict(variants={"a": []}, max_update=30)).report_at == [30]


def test_a_shorter_budget_keeps_the_report_counts_below_it_and_its_own_folder(capsys):
    grid = parse_grid("g", dict(variants={"a": []}, max_update=2000, report_at=[250, 500, 1000, 2000]))
    assert grid.shortened(600).report_at == [250, 500, 600] and grid.shortened(600).validate_interval == 50
    assert grid.shortened(2000) == grid
    command.main(["tiny", "--max-update", "4", "--dry-run"])
    printed = capsys.readouterr().out
    assert "--max-update 4 " in printed and "runs/study/tiny-4u/runs/armin/seed1" in printed
    one_line_exit(["tiny", "--max-update", str(TINY.max_update + 1), "--dry-run"],
                  f"--max-update must be a positive integer of at most grid tiny's {TINY.max_update}")
    one_line_exit(["tiny", "--max-update", "0", "--dry-run"], "--max-update must be a positive integer")


def test_variant_flags_follow_the_shared_ones_and_the_study_adds_its_own(tmp_path):
    grid = parse_grid("g", dict(variants={"a": ["--lr", 0.004]}, flags=["--lr", 0.001], seeds=[3], max_update=8))
    (run,) = plan(grid, tmp_path, Path("bin"))
    assert run.flags[:6] == ["bin", "--task", "armin_tbptt_lm", "--lr", "0.001", "--lr"]
    assert run.flags[6:10] == ["0.004", "--seed", "3", "--max-update"]
    assert run.dir == tmp_path / "runs" / "a" / "seed3" and "--cpu" in run.flags


@pytest.mark.parametrize("text, expected", [
    ("GRID = dict(variants={'a': []}, max_update=4, seed=[1])", "unknown key seed"),
    ("GRID = dict(variants={'a': []})", "has no max_update"),
    ("GRID = dict(variants={}, max_update=4)", "variants must be a non-empty mapping"),
    ("GRID = dict(variants={'a/b': []}, max_update=4)", "variant name 'a/b'"),
    ("GRID = dict(variants={'a': ['--seed', 3]}, max_update=4)", "variant a sets --seed, which the study sets"),
    ("GRID = dict(variants={'a': []}, flags=['--max-update=9'], max_update=4)", "flags sets --max-update"),
    ("GRID = dict(variants={'a': '--lr 1'}, max_update=4)", "variant a must be a list of flags"),
    ("GRID = dict(variants={'a': []}, max_update=4, report_at=[2, 8])", "report_at 8 is beyond max_update 4"),
    ("GRID = dict(variants={'a': []}, max_update=0)", "max_update must be a positive integer, got 0"),
    ("GRID = dict(variants={'a': []}, max_update=4, seeds=[1, 1])", "seeds repeat"),
    ("raise ValueError('boom')", "failed to load (ValueError: boom)"),
    ("grid = {}", "defines no GRID dict"),
])
def test_bad_python_grids_are_one_line(tmp_path, text, expected):
    path = tmp_path / "bad.py"
    path.write_text(text + "\n")
    one_line_exit([str(path), "--dry-run"], expected)


def test_the_time_budget_is_the_last_stop_time_hours_of_the_shared_flags():
    grid = parse_grid("timed", {"variants": {"a": ["--stop-time-hours", 3]}, "max_update": 9,
                                "flags": ["--stop-time-hours", 1, "--lr", 0.1, "--stop-time-hours=0.5"]})
    assert grid.max_hours == 0.5
    assert parse_grid("timed", {"variants": {"a": []}, "max_update": 9}).max_hours is None
    with pytest.raises(ArminError, match="--stop-time-hours must be a number of hours, got 'soon'"):
        parse_grid("timed", {"variants": {"a": ["--stop-time-hours", "soon"]}, "max_update": 9})


@pytest.mark.parametrize("text, expected", [
    ("variants: [a, b]\nmax_update: 4\n", "variants must be a non-empty mapping"),
    ("variants: {a: [--lr}\n", "is not valid YAML"),
    ("- 1\n", "is not a YAML mapping"),
    ("variants: {a: [--lr, 1]}\nmax_update: 4\nmetric: 3\n", "metric must be a string"),
])
def test_bad_yaml_grids_are_one_line(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    one_line_exit([str(path), "--dry-run"], expected)


def test_unknown_grids_and_variants_are_one_line(tmp_path):
    one_line_exit(["no_such_grid"], "no grid no_such_grid: not a file, nor a grid in")
    one_line_exit(["tiny", "--variants", "armin,gru", "--dry-run"], "grid tiny has no variant gru (its variants: armin, lstm)")
    one_line_exit(["tiny", "--jobs", "0"], "--jobs must be >= 1")
    one_line_exit(["tiny", "--variants", ",", "--dry-run"], "--variants names no variant")
    one_line_exit(["tiny", "--seeds", "1,0", "--dry-run"], "--seeds must be distinct positive integers, got 1, 0")
    one_line_exit(["tiny", "--seeds", "3,3", "--dry-run"], "--seeds must be distinct positive integers, got 3, 3")
    one_line_exit(["tiny", "--seeds", "one", "--dry-run"], "--seeds must be comma-separated integers, got 'one'")
    one_line_exit(["tiny", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path)], "nothing does not exist")


def test_a_report_count_that_was_never_validated_is_one_line(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    run = StudyRun("a", 1, tmp_path / "a", [])
    with SummaryWriter(str(run.tensorboard / "valid")) as writer:
        writer.add_scalar("loss", 3.0, 2)
    grid = parse_grid("g", dict(variants={"a": []}, max_update=6, report_at=[2, 6]))
    with pytest.raises(ArminError, match=r"^a/seed1 was never validated at update 6 \(validated at 2\)$"):
        run_numbers(grid, run)
    with pytest.raises(ArminError, match="logged no bit_errors on validation subset valid .it logged loss"):
        run_numbers(parse_grid("g", dict(variants={"a": []}, max_update=2, metric="bit_errors")), run)


def test_spread_over_seeds():
    assert spread([1.0, 3.0, None]) == dict(mean=2.0, std=pytest.approx(2 ** 0.5), min=1.0, max=3.0, n=2)
    assert spread([None]) is None and spread([2.0])["std"] == 0.0


def test_the_console_script_is_installed():
    assert Path(sys.executable).with_name("armin-study").exists()


# --- the tiny grid through fairseq-train ---------------------------------------------------

def logged_validations(run_dir: Path):
    """{update: {"loss": ..., "armin_...": ...}} of the valid lines of a run's train.log."""
    found = {}
    for line in (run_dir / "train.log").read_text().splitlines():
        match = VALID_LINE.search(line)
        if match:
            fields = dict(re.findall(r"(\w+) ([-0-9.e]+)", match.group(2)))
            found[int(match.group(3))] = dict(loss=float(match.group(1)), **{k: float(v) for k, v in fields.items()})
    return found


def table_cells(markdown: str):
    """{first cell: {header: cell}} of the Markdown table in ``markdown``."""
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in markdown.splitlines() if line.startswith("|")]
    return {cells[0]: dict(zip(rows[0], cells)) for cells in rows[2:]}


def snapshot(out: Path):
    """Each run's train.log and finished marker, as text."""
    return {path.relative_to(out): path.read_text() for path in sorted((out / "runs").rglob("*"))
            if path.name in ("train.log", "finished")}


@pytest.fixture(scope="session")
def tiny_study(ptb_char_slice, built_once):
    """The tiny grid trained once per run (2 jobs): the folder it ran in, with ``--out study``
    relative to it so that a copy of the folder (:func:`copy_of`) is the same study, and the
    study's stdout."""
    def build(folder):
        result = study("tiny", "--data", ptb_char_slice, "--out", "study", "--jobs", 2, cwd=folder)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        (folder / "stdout.txt").write_text(result.stdout)

    folder = built_once("tiny_study", build)
    return folder, (folder / "stdout.txt").read_text()


def copy_of(tiny_study, tmp_path):
    """A copy of the tiny study's folder, for a test that runs the study there again."""
    copy = tmp_path / "copy"
    shutil.copytree(tiny_study[0], copy)
    return copy


@pytest.mark.slow
def test_the_table_and_json_equal_the_training_logs(tiny_study):
    folder, stdout = tiny_study
    out = folder / "study"
    saved = json.loads((out / "results.json").read_text())
    assert len(saved["runs"]) == 4
    logs = {}
    for run in saved["runs"]:
        run_dir = out / "runs" / run["variant"] / f"seed{run['seed']}"
        logs[run["run"]] = logged = logged_validations(run_dir)
        assert run["updates"] == 4 and (run_dir / "finished").exists()
        for update in (2, 4):
            assert run["valid"][str(update)] == pytest.approx(logged[update]["loss"], abs=1e-6)
        if run["variant"] == "armin":
            for name in ("entropy", "slots_read", "read_age"):
                assert run["memory"][name] == pytest.approx(logged[4][f"armin_{name}"], abs=1e-6)
        else:
            assert run["memory"] is None
        assert f"--seed {run['seed']} --max-update 4 --validate-interval-updates 2" in run["command"]
        assert (run_dir / "command.sh").read_text().splitlines()[1] == run["command"]
    table = table_cells((out / "results.md").read_text())
    assert stdout.count("| armin |") == 1
    for row in saved["rows"]:
        seeds = [logs[f"{row['variant']}/seed{seed}"] for seed in (1, 2)]
        for update in (2, 4):
            losses = [seed[update]["loss"] for seed in seeds]
            expected = [statistics.fmean(losses), min(losses), max(losses)]
            assert [row[f"valid_{update}"][key] for key in ("mean", "min", "max")] == pytest.approx(expected, abs=1e-6)
            shown = [float(number) for number in re.findall(r"\d+\.\d+", table[row["variant"]][f"valid BPC @{update}"])]
            assert shown == pytest.approx(expected, abs=5e-4 + 1e-6)  # 3 decimals shown
    assert [table["lstm"][name] for name in ("entropy", "slots read", "read age")] == ["-", "-", "-"]
    assert float(table["armin"]["read age"]) == pytest.approx(
        statistics.fmean(logs[f"armin/seed{seed}"][4]["armin_read_age"] for seed in (1, 2)), abs=5e-3 + 1e-6)
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "params.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # armin and lstm differ in size
    assert "Plots: study/curves.png, study/params.png" in stdout  # --out study, relative
    assert (out / "commands.sh").read_text().count("fairseq-train --user-dir") == 4


@pytest.mark.slow
def test_a_second_call_trains_only_what_is_missing(tiny_study, ptb_char_slice, tmp_path):
    folder = copy_of(tiny_study, tmp_path)
    out = folder / "study"
    before = json.loads((out / "results.json").read_text())["runs"]
    (out / "runs" / "lstm" / "seed2" / "finished").unlink()  # as if stopped before the marker
    redone = out / "runs" / "armin" / "seed2"
    shutil.rmtree(redone)
    logs = snapshot(out)
    result = study("tiny", "--data", ptb_char_slice, "--out", "study", "--jobs", 2, cwd=folder)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "4 runs, 2 finished before, 2 to train" in result.stdout
    after = snapshot(out)
    trained = {path for path in after if after[path] != logs.get(path)}
    assert trained == {Path("runs/armin/seed2/train.log"), Path("runs/armin/seed2/finished"),
                       Path("runs/lstm/seed2/finished")}  # lstm/seed2 held its budget: only marked
    again = {run["run"]: run for run in json.loads((out / "results.json").read_text())["runs"]}
    for run in before:
        if run["run"] != "armin/seed2":
            assert again[run["run"]] == run
    assert again["armin/seed2"]["valid"] == {
        str(update): pytest.approx(values["loss"], abs=1e-6) for update, values in logged_validations(redone).items()}


@pytest.mark.slow
def test_a_changed_grid_under_a_started_run_is_one_line(tiny_study, ptb_char_slice, tmp_path):
    folder = copy_of(tiny_study, tmp_path)
    grid = tmp_path / "tiny.py"
    grid.write_text((STUDIES / "tiny.py").read_text().replace('"--lr", 0.01', '"--lr", 0.02'))
    result = study(grid, "--data", ptb_char_slice, "--out", "study", cwd=folder)
    assert_one_line_error(result, "armin/seed1 was started with another command", only_line=False)


def lstm_grid(path: Path, flags, rest: str) -> Path:
    """A YAML grid of one 8-unit lstm_stream_lm variant with the tiny grid's flags and
    ``flags``; ``rest``: its other keys, as YAML lines."""
    shared = ["--tokens-per-sample", 16, "--batch-size", 4, "--optimizer", "adam", "--lr", 0.01,
              "--num-workers", 0, *flags]
    path.write_text(f"flags: [{', '.join(map(str, shared))}]\n"
                    "variants:\n  lstm: [--arch, lstm_stream_lm, --decoder-embed-dim, 8, --decoder-hidden-size, 8]\n"
                    f"log_interval: 1\n{rest}")
    return path


@pytest.mark.slow
def test_ctrl_c_stops_the_runs_and_the_same_command_resumes(ptb_char_slice, tmp_path):
    """Ctrl-C on armin-study (a real process) stops its run, which saves; the same command
    resumes it (a finished run is left alone: test_a_second_call_trains_only_what_is_missing)."""
    grid = lstm_grid(tmp_path / "longer.yaml", [], "seeds: [1]\nmax_update: 150\nreport_at: [75, 150]\n")
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "armin_plugin.jobs.study", grid, "--data", ptb_char_slice, "--out", out, "--jobs", "1"]
    with open(tmp_path / "stdout", "w") as stdout:  # a pipe nobody reads would fill and block it
        process = subprocess.Popen([str(a) for a in argv], cwd=REPO, stdout=stdout, stderr=subprocess.PIPE, text=True)
        log = out / "runs" / "lstm" / "seed1" / "train.log"
        deadline = time.time() + 300
        while not (log.exists() and "num_updates=5," in log.read_text()):
            assert process.poll() is None and time.time() < deadline, (tmp_path / "stdout").read_text()[-3000:]
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, (tmp_path / "stdout").read_text()[-3000:] + stderr[-3000:]
    assert stderr.strip().splitlines()[-1].startswith("error: interrupted; the runs in progress saved")
    assert not (out / "runs" / "lstm" / "seed1" / "finished").exists()
    assert "done training" in log.read_text().splitlines()[-1]  # the study waited for its run

    result = study(grid, "--data", ptb_char_slice, "--out", out, "--jobs", 1)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 run, 0 finished before, 1 to train" in result.stdout
    assert not (out / "params.png").exists()  # one size: nothing to draw against parameters
    assert "Loaded checkpoint" in log.read_text()
    run, = json.loads((out / "results.json").read_text())["runs"]
    logged = logged_validations(out / "runs" / "lstm" / "seed1")
    assert run["updates"] == 150
    assert run["valid"] == {"75": pytest.approx(logged[75]["loss"], abs=1e-6),
                            "150": pytest.approx(logged[150]["loss"], abs=1e-6)}


@pytest.mark.slow
def test_a_time_budget_finishes_runs_on_their_training_time(ptb_char_slice, tmp_path):
    grid = lstm_grid(tmp_path / "timed.yaml", ["--stop-time-hours", 0.001], "max_update: 100000\nreport_at: [1, 100000]\n")
    out = tmp_path / "out"
    result = study_in_process(grid, "--data", ptb_char_slice, "--out", out, "--jobs", 1)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_dir = out / "runs" / "lstm" / "seed1"
    logged = logged_validations(run_dir)
    saved = json.loads((out / "results.json").read_text())["runs"][0]
    assert 1 <= saved["updates"] < 100000 and saved["minutes"] >= 60 * 0.001
    assert saved["updates"] == max(logged)  # fairseq validates when the time runs out
    assert saved["valid_end"] == pytest.approx(logged[max(logged)]["loss"], abs=1e-6)
    assert (run_dir / "finished").read_text().startswith(f"{saved['updates']} updates, ")
    row = table_cells((out / "results.md").read_text())["lstm"]
    assert row["updates"] == f"{saved['updates']:,}"
    assert float(row["valid BPC at the end"].split()[0]) == pytest.approx(saved["valid_end"], abs=5e-4 + 1e-6)
    assert saved["valid"]["100000"] is None and row["valid BPC @100000"] == "-"  # a count the time did not reach
    log = (run_dir / "train.log").read_text()
    again = study_in_process(grid, "--data", ptb_char_slice, "--out", out, "--jobs", 1)
    assert again.returncode == 0 and "1 run, 1 finished before, 0 to train" in again.stdout
    assert (run_dir / "train.log").read_text() == log


@pytest.mark.slow
def test_a_failed_run_leaves_the_others_and_a_table_of_what_it_logged(ptb_char_slice, tmp_path):
    grid = lstm_grid(tmp_path / "failing.yaml", [], "max_update: 300\nreport_at: [100, 300]\n")
    text = grid.read_text()  # a second variant that stops after one epoch, short of 300 updates
    grid.write_text(text.replace("\nlog_interval", "\n  lstm-one-epoch: [--arch, lstm_stream_lm, --decoder-embed-dim, 8, "
                                 "--decoder-hidden-size, 8, --max-epoch, 1]\nlog_interval"))
    out = tmp_path / "out"
    result = study_in_process(grid, "--data", ptb_char_slice, "--out", out, "--jobs", 2)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    message = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"error: 1 of 2 runs failed: lstm-one-epoch/seed1 stopped at update (\d+) of 300; see \S+; "
                        r"what every run logged is in \S+results.md", message), message
    stopped = int(re.search(r"stopped at update (\d+)", message).group(1))
    assert 100 <= stopped < 300
    assert (out / "runs" / "lstm" / "seed1" / "finished").exists()
    assert not (out / "runs" / "lstm-one-epoch" / "seed1" / "finished").exists()
    saved = {run["run"]: run for run in json.loads((out / "results.json").read_text())["runs"]}
    failed, finished = saved["lstm-one-epoch/seed1"], saved["lstm/seed1"]
    logged = logged_validations(out / "runs" / "lstm-one-epoch" / "seed1")
    assert failed["valid"] == {"100": pytest.approx(logged[100]["loss"], abs=1e-6), "300": None}
    assert failed["updates"] == stopped and failed["failed"].startswith("lstm-one-epoch/seed1 stopped at update")
    assert "failed" not in finished and finished["updates"] == 300
    markdown = (out / "results.md").read_text()
    assert "Incomplete: lstm-one-epoch/seed1 failed" in markdown
    table = table_cells(markdown)
    assert table["lstm-one-epoch"]["seeds"] == "1 (1 failed)" and table["lstm-one-epoch"]["valid BPC @300"] == "-"
    assert table["lstm"]["seeds"] == "1" and table["lstm"]["valid BPC @300"] != "-"
