"""Reading what fairseq-train wrote to its ``--tensorboard-logdir`` (subfolders ``train``,
``train_inner``, ``valid`` and any other validation subset): the one reader of the jobs."""
import bisect
import logging
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from ..errors import ArminError
from .results import Point


def scalars(folder: Path) -> Dict[str, list]:
    """{tag: [event, ...]} of the scalar events in ``folder`` ({} when it does not exist)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not folder.is_dir():
        return {}
    logging.getLogger("tensorboard").setLevel(logging.WARNING)
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: events.Scalars(tag) for tag in events.Tags()["scalars"]}


@dataclass
class RunLog:
    """One run's event files. Curves are :data:`Point` lists, seconds of the run's training
    wall-clock (fairseq's ``wall`` meter, pauses between resumed calls left out): ``train`` the training loss of every logged interval (train_inner),
    ``memory`` the ARMIN memory diagnostics logged with it (``armin_*`` tags), ``valid`` one
    curve per validation subset and metric tag."""

    name: str
    start: float
    train: List[Point] = field(default_factory=list)
    memory: Dict[str, List[Point]] = field(default_factory=dict)
    valid: Dict[str, Dict[str, List[Point]]] = field(default_factory=dict)
    words_per_second: Optional[float] = None
    peak_memory_gb: Optional[float] = None
    minutes: Optional[float] = None

    def curve(self, tag: str = "loss", subset: str = "valid") -> List[Point]:
        return self.valid.get(subset, {}).get(tag, [])


def _points(events, seconds: Callable[[Any], float]) -> List[Point]:
    by_step = {e.step: (e.step, seconds(e), e.value) for e in events}  # last write wins
    return [by_step[step] for step in sorted(by_step)]


def _clock(train_inner, train, start: float) -> Callable[[Any], float]:
    """Seconds into the run of an event: fairseq's ``wall`` meter (which a resumed run carries
    on from its checkpoint, so a pause between two calls does not count), interpolated
    between the updates that logged it; the event's own time since ``start`` when no wall
    was logged."""
    logged = sorted({e.step: e.value for group in (train_inner, train) for e in group.get("wall", [])}.items())
    if not logged:
        return lambda event: event.wall_time - start
    steps, walls = [step for step, _ in logged], [wall for _, wall in logged]

    def seconds(event) -> float:
        at = bisect.bisect_left(steps, event.step)
        if at < len(steps) and steps[at] == event.step:
            return walls[at]
        if at == 0:  # before the first logged update: in proportion
            return walls[0] * event.step / steps[0] if steps[0] else walls[0]
        if at == len(steps):  # after the last one (a final validation): its wall
            return walls[-1]
        (s0, w0), (s1, w1) = logged[at - 1], logged[at]
        return w0 + (w1 - w0) * (event.step - s0) / (s1 - s0)

    return seconds


def read_run(logdir, subsets=("valid",)) -> RunLog:
    """Read the event files of one run directory; ``subsets``: its validation subsets."""
    logdir = Path(logdir)
    if not logdir.is_dir():
        raise ArminError(f"run directory {logdir} does not exist")
    train_inner, train = scalars(logdir / "train_inner"), scalars(logdir / "train")
    valid = {subset: scalars(logdir / subset) for subset in subsets}
    groups = [train_inner, train, *valid.values()]
    if not any(groups):
        raise ArminError(f"no fairseq TensorBoard events under {logdir}")
    start = min(e.wall_time for group in groups for events in group.values() for e in events)
    walls = [e.value for group in (train_inner, train) for e in group.get("wall", [])]  # fairseq's seconds
    run = RunLog(logdir.name, start, minutes=max(walls) / 60 if walls else None)
    seconds = _clock(train_inner, train, start)
    run.train = _points(train_inner.get("loss", []), seconds)
    run.memory = {tag: _points(events, seconds) for tag, events in train_inner.items() if tag.startswith("armin_")}
    run.valid = {subset: {tag: _points(events, seconds) for tag, events in found.items()}
                 for subset, found in valid.items()}
    speeds = train_inner.get("wps") or train.get("wps")
    if speeds:
        run.words_per_second = statistics.median(e.value for e in speeds)
    memory = [e.value for tag in ("gb_mem", "peak_memory_gb") for e in train_inner.get(tag, [])]
    if memory:
        run.peak_memory_gb = max(memory)
    return run
