"""The jobs' reader of fairseq's TensorBoard logs: curves in seconds of the run's own calls."""
import os

import pytest
from torch.utils.tensorboard import SummaryWriter

from armin_plugin.jobs.tensorboard_logs import read_run


def write_call(logdir, pid, scalars):
    """One fairseq-train call's event files: {subfolder: [(tag, step, value, time)]}, named
    as process ``pid`` would name them."""
    for folder, points in scalars.items():
        with SummaryWriter(str(logdir / folder)) as writer:
            for tag, step, value, when in points:
                writer.add_scalar(tag, value, step, walltime=when)
        for path in (logdir / folder).iterdir():
            if f".{os.getpid()}." in path.name:
                path.rename(path.with_name(path.name.replace(f".{os.getpid()}.", f".{pid}.")))


def test_the_pause_between_an_interrupted_call_and_its_resume_does_not_count(tmp_path):
    """Updates 10 and 20 and a validation at 20 in a first call (100 s from first to last
    event), an hour's pause, then updates 30 and 40 and a validation at 40 (60 s)."""
    start, resumed = 1_000_000.0, 1_000_000.0 + 3600
    write_call(tmp_path, 1111, {"train_inner": [("loss", 10, 3.0, start), ("loss", 20, 2.5, start + 90)],
                                "valid": [("loss", 20, 2.6, start + 100)]})
    write_call(tmp_path, 2222, {"train_inner": [("loss", 30, 2.2, resumed), ("loss", 40, 2.0, resumed + 50)],
                                "valid": [("loss", 40, 2.1, resumed + 60)]})
    run = read_run(tmp_path)
    assert [(step, seconds) for step, seconds, _ in run.train] == [(10, 0.0), (20, 90.0), (30, 100.0), (40, 150.0)]
    assert [(step, seconds) for step, seconds, _ in run.curve()] == [(20, 100.0), (40, 160.0)]
    assert run.minutes == pytest.approx(160 / 60)


def test_one_call_counts_from_its_first_event(tmp_path):
    write_call(tmp_path, 1111, {"valid": [("loss", 1, 3.0, 50.0), ("loss", 2, 2.5, 80.0)]})
    assert [seconds for _, seconds, _ in read_run(tmp_path).curve()] == [0.0, 30.0]
