"""Reading what fairseq-train wrote to its ``--tensorboard-logdir`` (subfolders ``train``,
``train_inner``, ``valid`` and any other validation subset): the one reader of the jobs."""
import logging
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

from ..errors import ArminError
from .results import Point


PREFIX = "events.out.tfevents."


@dataclass(frozen=True)
class Event:
    """One scalar: its update, value, time (seconds since the epoch) and the fairseq-train
    call that wrote it (the host and pid in its event file's name)."""

    step: int
    value: float
    wall_time: float
    call: str


def _call(path: Path) -> str:
    """'host.pid' of an event file named events.out.tfevents.TIME.HOST.PID.N."""
    parts = path.name[len(PREFIX):].split(".")
    return ".".join(parts[1:-1])


def scalars(folder: Path) -> Dict[str, List[Event]]:
    """{tag: [event, ...]} of the scalar events in ``folder`` ({} when it does not exist)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not folder.is_dir():
        return {}
    logging.getLogger("tensorboard").setLevel(logging.WARNING)
    found: Dict[str, List[Event]] = {}
    for path in sorted(folder.glob(PREFIX + "*")):
        events = EventAccumulator(str(path), size_guidance={"scalars": 0})
        events.Reload()
        for tag in events.Tags()["scalars"]:
            found.setdefault(tag, []).extend(
                Event(e.step, e.value, e.wall_time, _call(path)) for e in events.Scalars(tag))
    return {tag: sorted(events, key=lambda e: e.wall_time) for tag, events in found.items()}


@dataclass
class RunLog:
    """One run's event files. Curves are :data:`Point` lists, in seconds of the run's own
    calls (:func:`_clock`: pauses between an interrupted call and its resume left out):
    ``train`` the training loss of every logged interval (train_inner),
    ``memory`` the ARMIN memory diagnostics logged with it (``armin_*`` tags), ``valid`` one
    curve per validation subset and metric tag."""

    name: str
    train: List[Point] = field(default_factory=list)
    memory: Dict[str, List[Point]] = field(default_factory=dict)
    valid: Dict[str, Dict[str, List[Point]]] = field(default_factory=dict)
    words_per_second: Optional[float] = None
    peak_memory_gb: Optional[float] = None
    minutes: Optional[float] = None

    def curve(self, tag: str = "loss", subset: str = "valid") -> List[Point]:
        return self.valid.get(subset, {}).get(tag, [])


def _points(events: List[Event], seconds: Callable[[Event], float]) -> List[Point]:
    by_step = {e.step: (e.step, seconds(e), e.value) for e in events}  # last write wins
    return [by_step[step] for step in sorted(by_step)]


def _clock(groups) -> Callable[[Event], float]:
    """Seconds into the run of an event: the time since its call's first event, plus the
    length of the calls before it (from first to last event), so the pause between an
    interrupted fairseq-train and the one that resumed it does not count. (fairseq's own
    ``wall`` meter cannot serve: a resumed call logs it stuck at the checkpoint's value.)"""
    spans: Dict[str, List[float]] = {}
    for group in groups:
        for events in group.values():
            for e in events:
                span = spans.setdefault(e.call, [e.wall_time, e.wall_time])
                span[0], span[1] = min(span[0], e.wall_time), max(span[1], e.wall_time)
    offsets, total = {}, 0.0
    for call, (first, last) in sorted(spans.items(), key=lambda item: item[1][0]):
        offsets[call] = total - first
        total += last - first
    return lambda event: event.wall_time + offsets[event.call]


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
    seconds = _clock(groups)
    stamps = [seconds(e) for group in groups for events in group.values() for e in events]
    run = RunLog(logdir.name, minutes=max(stamps) / 60)
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
