"""--lr-scheduler cosine_over_time: half a cosine over the training time, on a fake clock,
across a resume, its one-line errors, and through the real fairseq-train."""
import re

import pytest
import torch
from fairseq.optim import FairseqOptimizer

from armin_plugin.errors import ArminError
from armin_plugin.optim.cosine_over_time import CosineOverTime, CosineOverTimeConfig, cosine_factor
from helpers import PLUGIN, assert_one_line_error, fairseq_in_process


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class SGD(FairseqOptimizer):
    def __init__(self, lr):
        super().__init__(None)
        self._optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr)


def scheduler(clock, hours=0.01, lr=0.008):
    optimizer = SGD(lr)
    return CosineOverTime(CosineOverTimeConfig(lr=[lr], stop_time_hours=hours), optimizer, clock=clock)


def test_the_rate_follows_half_a_cosine_over_the_time_budget():
    clock = Clock()
    lrs = scheduler(clock, hours=0.01)  # 36 seconds
    assert lrs.optimizer.get_lr() == 0.008
    for seconds, factor in ((0, 1.0), (9, (1 + 2 ** -0.5) / 2), (18, 0.5), (27, (1 - 2 ** -0.5) / 2), (36, 0.0), (50, 0.0)):
        clock.now = seconds
        assert lrs.step_update(7) == pytest.approx(0.008 * factor, abs=1e-12)
    assert cosine_factor(-1.0, 10.0) == 1.0


def test_a_resumed_run_goes_on_from_the_training_time_it_saved():
    first_clock = Clock()
    first = scheduler(first_clock)
    first_clock.now = 18.0
    first.step(1, val_loss=2.5)
    saved = first.state_dict()
    assert saved == {"best": 2.5, "seconds": 18.0}
    second_clock = Clock()
    second_clock.now = 3.0  # the new process's trainer started 3 seconds ago
    second = scheduler(second_clock)
    second.load_state_dict(saved)
    assert second.step_update(0) == pytest.approx(0.004) and second.best == 2.5
    second_clock.now = 12.0
    assert second.step_update(1) == pytest.approx(0.008 * cosine_factor(27.0, 36.0))


def test_without_a_time_budget_it_is_one_line():
    with pytest.raises(ArminError, match="decays over the training time: set --stop-time-hours"):
        scheduler(Clock(), hours=0.0)


def logged_rates(text: str):
    return [float(lr) for lr in re.findall(r"num_updates=\d+, lr=([0-9.e-]+)", text)]


@pytest.mark.slow  # fairseq-train (in process) for 5.4 seconds
def test_fairseq_train_decays_the_rate_to_zero_as_the_time_runs_out(ptb_char_slice, tmp_path):
    flags = [ptb_char_slice, "--user-dir", PLUGIN, "--task", "armin_tbptt_lm", "--tokens-per-sample", 16, "--batch-size", 4,
             "--arch", "lstm_stream_lm", "--decoder-embed-dim", 8, "--decoder-hidden-size", 8,
             "--optimizer", "adam", "--lr", 0.01, "--lr-scheduler", "cosine_over_time",
             "--max-update", 100000, "--cpu", "--num-workers", 0, "--log-format", "simple", "--log-interval", 1,
             "--save-dir", tmp_path / "ck", "--no-epoch-checkpoints", "--no-save"]
    # 5.4 seconds: well beyond the time from the trainer's start to its first update (about a
    # second in this process), even on a loaded machine (the clock, as fairseq's own, counts
    # that time too)
    result = fairseq_in_process("train", *flags, "--stop-time-hours", 0.0015)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rates = logged_rates(result.stdout + result.stderr)
    assert len(rates) >= 3 and 0.01 >= rates[0] > rates[-1]
    assert all(later <= earlier for earlier, later in zip(rates, rates[1:]))
    assert rates[-1] < 0.1 * 0.01  # the time ran out, and the rate with it
    no_budget = fairseq_in_process("train", *flags)
    assert_one_line_error(no_budget, "--lr-scheduler cosine_over_time decays over the training time", only_line=False)
