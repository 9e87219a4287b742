"""The jobs' reader of fairseq's TensorBoard logs: curves in training wall-clock seconds."""
import pytest
from torch.utils.tensorboard import SummaryWriter

from armin_plugin.jobs.tensorboard_logs import read_run


def write(folder, tag, points):
    """Scalars (step, value, event time in seconds since the epoch)."""
    with SummaryWriter(str(folder)) as writer:
        for step, value, when in points:
            writer.add_scalar(tag, value, step, walltime=when)


def test_a_pause_between_resumed_calls_does_not_count_towards_the_curves_seconds(tmp_path):
    """Updates 10 and 20 in a first call, 30 in a second one an hour later: fairseq's wall
    meter (carried over by the checkpoint) says 100, 200, 300 s; so do the curves."""
    start, hour = 1_000_000.0, 3600.0
    events = [(10, 100.0, start + 100), (20, 200.0, start + 200), (30, 300.0, start + hour + 300)]
    write(tmp_path / "train_inner", "wall", events)
    write(tmp_path / "train_inner", "loss", [(step, 5.0 - step / 10, when) for step, _, when in events])
    write(tmp_path / "valid", "loss", [(15, 3.0, start + 160), (30, 2.0, start + hour + 310), (5, 4.0, start + 55)])
    run = read_run(tmp_path)
    assert [seconds for _, seconds, _ in run.train] == [100.0, 200.0, 300.0]
    # between logged updates: interpolated; before the first: in proportion; at the end: the last wall
    assert [(step, seconds) for step, seconds, _ in run.curve()] == [(5, 50.0), (15, 150.0), (30, 300.0)]
    assert run.minutes == pytest.approx(5.0)


def test_without_a_wall_meter_the_events_own_times_count(tmp_path):
    write(tmp_path / "valid", "loss", [(1, 3.0, 50.0), (2, 2.5, 80.0)])
    assert [seconds for _, seconds, _ in read_run(tmp_path).curve()] == [0.0, 30.0]
