"""``--lr-scheduler cosine_over_time``: half a cosine from ``--lr`` down to 0 over the run's
training time, ``--stop-time-hours``.

fairseq's own ``cosine`` decays over a number of updates; a run whose budget is time (the
comparison jobs train each model for the same minutes) does not know its update count, and
a faster model makes more updates in the same time. With t the training seconds so far and
T = 3600 * stop_time_hours::

    lr(t) = lr * (1 + cos(pi * min(t / T, 1))) / 2

t is read from fairseq's own clock of the run (its "wall" meter, started with the trainer, as
the clock --stop-time-hours reads) and saved in the checkpoint, so a resumed run goes on
where it stopped, as fairseq's --stop-time-hours does. Under distributed training every rank
takes the largest clock of all ranks, so all of them use the same rate. The rate depends on the wall-clock, so two
runs of the same command are not bit-for-bit equal (a time budget never is).
"""
import math
import time
from dataclasses import dataclass
from typing import Callable, List, Optional

import torch
import torch.distributed as dist
from fairseq.dataclass import FairseqDataclass
from fairseq.logging import metrics
from fairseq.optim.lr_scheduler import FairseqLRScheduler, register_lr_scheduler
from omegaconf import II

from ..errors import ArminError


@dataclass
class CosineOverTimeConfig(FairseqDataclass):
    lr: List[float] = II("optimization.lr")
    stop_time_hours: float = II("optimization.stop_time_hours")


def cosine_factor(seconds: float, budget: float) -> float:
    """(1 + cos(pi * min(seconds / budget, 1))) / 2: 1 at the start, 0 at the budget's end."""
    return (1.0 + math.cos(math.pi * min(max(seconds, 0.0) / budget, 1.0))) / 2


def fairseq_clock() -> Callable[[], float]:
    """Seconds since fairseq's trainer started (its "wall" meter), or since this call where
    there is no trainer."""
    wall = metrics.get_meter("default", "wall")
    if wall is not None and wall.start_time is not None:
        return lambda: wall.elapsed_time
    start = time.monotonic()
    return lambda: time.monotonic() - start


@register_lr_scheduler("cosine_over_time", dataclass=CosineOverTimeConfig)
class CosineOverTime(FairseqLRScheduler):
    def __init__(self, cfg: CosineOverTimeConfig, optimizer, clock: Optional[Callable[[], float]] = None):
        """``clock``: seconds of training in this process (default: :func:`fairseq_clock`)."""
        super().__init__(cfg, optimizer)
        if not cfg.stop_time_hours or cfg.stop_time_hours <= 0:
            raise ArminError("--lr-scheduler cosine_over_time decays over the training time: "
                             "set --stop-time-hours to a positive number of hours")
        if len(cfg.lr) > 1:
            raise ArminError(f"--lr-scheduler cosine_over_time takes one --lr, got {list(cfg.lr)}")
        self.peak = cfg.lr[0]
        self.budget = 3600.0 * cfg.stop_time_hours
        self.clock = clock or fairseq_clock()
        self.before = 0.0  # training seconds of the runs this one resumes
        self.optimizer.set_lr(self.peak)

    def seconds(self) -> float:
        """Training seconds so far (the largest over the ranks under distributed training)."""
        seconds = self.before + self.clock()
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            shared = torch.tensor([seconds], dtype=torch.float64)
            dist.all_reduce(shared, op=dist.ReduceOp.MAX)
            seconds = float(shared.item())
        return seconds

    def state_dict(self):
        return dict(super().state_dict(), seconds=self.before + self.clock())

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self.before = float(state_dict.get("seconds", 0.0)) - self.clock()

    def step_update(self, num_updates):
        self.optimizer.set_lr(self.peak * cosine_factor(self.seconds(), self.budget))
        return self.optimizer.get_lr()
