"""Schedules of the Gumbel-softmax temperature over training updates: ours (geometric
annealing) and the authors' (an inverse temperature rising once per epoch)."""
from dataclasses import dataclass

from ..errors import ArminError


@dataclass(frozen=True)
class TemperatureSchedule:
    """tau falls geometrically from ``start`` to ``end`` over ``updates`` updates, then stays.

    tau(u) = start * (end / start) ** min(u / updates, 1); ``updates`` 0 means tau = end.
    """

    start: float = 1.0
    end: float = 0.1
    updates: int = 10000

    def __post_init__(self):
        if not self.start > 0 or not self.end > 0:
            raise ArminError(
                f"temperatures must be positive, got start {self.start} and end {self.end}"
            )
        if self.end > self.start:
            raise ArminError(
                f"temperature end {self.end} is above its start {self.start}: "
                "the schedule anneals downwards"
            )
        if self.updates < 0:
            raise ArminError(f"temperature updates must be >= 0, got {self.updates}")

    def __call__(self, num_updates: int) -> float:
        if self.updates == 0:
            return self.end
        progress = min(max(num_updates, 0) / self.updates, 1.0)
        return self.start * (self.end / self.start) ** progress


@dataclass(frozen=True)
class AuthorsTemperature:
    """The authors' convention (``--armin-tau-schedule authors``): the logits are multiplied
    by an inverse temperature min(epoch + 1, N - 1), i.e. tau = 1 / min(epoch + 1, N - 1)
    (1 / max(N - 1, 1): tau stays 1 for N <= 2), with epoch = u // ``epoch_updates``
    counted in updates u, since fairseq's tasks give a model no epoch.
    """

    epoch_updates: int
    num_slots: int

    def __post_init__(self):
        if self.epoch_updates < 1:
            raise ArminError(f"updates per epoch must be a positive integer, got {self.epoch_updates}")

    def __call__(self, num_updates: int) -> float:
        epoch = max(num_updates, 0) // self.epoch_updates
        return 1.0 / min(epoch + 1, max(self.num_slots - 1, 1))
