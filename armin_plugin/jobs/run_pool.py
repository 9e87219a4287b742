"""Running training runs ``jobs`` at a time, each fairseq-train in a thread of this process
(armin-study's grid, the translation job's ``--side-by-side``).

Ctrl-C or SIGTERM stops them all: each running fairseq-train gets one SIGINT (the plugin
then finishes its update and saves checkpoint_last.pt), no new run starts, and
KeyboardInterrupt is raised once every run has exited. A second Ctrl-C is passed on too.
"""
import logging
import signal
import subprocess
import threading
from typing import Callable, Dict, List, Protocol

from ..errors import ArminError

logger = logging.getLogger(__name__)


class NamedRun(Protocol):
    name: str  # names the run in logs and in the failures


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


class _Pool:
    def __init__(self, runs: List[NamedRun], train: Callable):
        self.pending = list(runs)
        self.train = train
        self.lock = threading.Lock()
        self.stopping = False
        self.processes: List[subprocess.Popen] = []
        self.failures: Dict[str, str] = {}

    def started(self, process: subprocess.Popen):
        with self.lock:
            self.processes.append(process)
            if self.stopping:  # started while the others were being stopped
                process.send_signal(signal.SIGINT)

    def interrupt(self):
        with self.lock:
            self.stopping = True
            for process in self.processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)

    def work(self, done: threading.Event):
        try:
            self._work()
        finally:
            done.set()

    def _work(self):
        while True:
            with self.lock:
                if self.stopping or not self.pending:
                    return
                run = self.pending.pop(0)
            try:
                self.train(run, self.started)
            except ArminError as error:
                if not self.stopping:
                    logger.error("%s failed: %s", run.name, error)
                    self.failures[run.name] = str(error)


def run_all(runs: List[NamedRun], jobs: int, train: Callable[[NamedRun, Callable], None]) -> Dict[str, str]:
    """Call ``train(run, started)`` for every run, ``jobs`` at once (``started`` is the
    :func:`~armin_plugin.cli.process.run_streamed` callback); returns {run name: error} of
    the runs that failed (the others went on)."""
    pool = _Pool(runs, train)
    done = [threading.Event() for _ in range(min(jobs, len(runs)))]
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        for index, finished in enumerate(done):
            threading.Thread(target=pool.work, args=(finished,), name=f"run-{index}", daemon=True).start()
        _wait(done)
    except KeyboardInterrupt:
        pool.interrupt()
        while True:
            try:
                _wait(done)
                break
            except KeyboardInterrupt:
                pool.interrupt()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    return pool.failures


def _wait(done: List[threading.Event]):
    """Wait until every worker has set its event. Not Thread.join: on Python 3.11 a Ctrl-C
    that interrupts join() marks the thread as stopped while it still runs, and this process
    would exit before its runs had saved (and before their logs were written)."""
    for finished in done:
        while not finished.wait(0.5):
            pass
