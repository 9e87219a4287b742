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

    def work(self):
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
    workers = [threading.Thread(target=pool.work, name=f"run-{index}", daemon=True)
               for index in range(min(jobs, len(runs)))]
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        for worker in workers:
            worker.start()
        _wait(workers)
    except KeyboardInterrupt:
        pool.interrupt()
        while True:
            try:
                _wait(workers)
                break
            except KeyboardInterrupt:
                pool.interrupt()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    return pool.failures


def _wait(workers: List[threading.Thread]):
    for worker in workers:
        while worker.is_alive():
            worker.join(0.5)
