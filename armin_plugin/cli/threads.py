"""Thread settings for a child training process on shared cores.

The problem: with one other busy process on the 2 cores, ``fairseq-train`` at its default 2
threads ran 10 to 20 times slower (about 1k
instead of 19k tokens/s). torch's CPU build runs its parallel regions on OpenMP (GNU
libgomp; MKL through the same layer), whose idle threads spin-wait for the next region
(``OMP_WAIT_POLICY=ACTIVE``-like behaviour for a while after each region). Every
recurrent step is a parallel region of a few tens of microseconds, so with a busy process on
the other core one of the two threads is descheduled, and the other spins at each barrier
until it is back: the run proceeds at the scheduler's time slice, not at its own speed. One
thread per process has no barrier to wait at and slows down only in proportion to the load;
more threads need the passive wait policy (threads sleep at once at a barrier instead of
spinning) and no more threads than free cores.

Measured (``python -m benchmarks.threads_speed --steps 40 --reps 3``: one ARMIN layer,
d_h 256, d_r 128, N 16, T 40, B 32, forward + backward, compiled recurrence; the 2 cores
were already loaded by 3 other sessions, load average about 4, so "quiet" is not idle):

    threads  wait policy  quiet tokens/s  beside a busy loop  busy / quiet
    1        PASSIVE      2,224           1,049               0.47x
    2        ACTIVE         493             188               0.38x
    2        PASSIVE      1,429             927               0.65x

On shared cores one thread per process is the fastest; two spinning threads are 4.5x
slower than one even before the busy loop is added; PASSIVE removes most of that.

The passive policy costs a run alone on the machine dearly, though: the main job's
fairseq-train at 2 threads with ``OMP_WAIT_POLICY=PASSIVE GOMP_SPINCOUNT=0`` made about 9k
(ARMIN) and 5.5k (fairseq's ``lstm_lm``, a Python loop of small ops) tokens/s on the quiet
machine, against 19k and 22.7k with OpenMP's default policy: every small parallel region
then pays a sleep and a wake-up. So the jobs (:mod:`armin_plugin.jobs.fairseq_runs`) and the
launcher keep OpenMP's default wait policy (``wait_policy=None``), and armin-study's
one-thread runs have no barrier to wait at.

What the jobs and the launcher do about shared cores: they count the cores that other work
leaves idle when a run starts (:func:`idle_cores`, 0.25 s of /proc/stat) and give the run
only those (:func:`threads_per_process`): alone on 2 cores a run gets 2 threads and
OpenMP's fast default policy; started beside a busy process it gets 1 thread, which slows
down in proportion. Work that starts *after* a run still meets its 2 spinning threads: that
case is not solved (docs/speed.md, "Threads beside a busy process").
"""
import os
import time
from typing import Dict, Optional

from ..errors import ArminError

WAIT_POLICIES = ("PASSIVE", "ACTIVE")


def thread_environment(threads: int, wait_policy: Optional[str] = "PASSIVE") -> Dict[str, str]:
    """The environment variables that give a child process ``threads`` compute threads.

    Sets the thread count of OpenMP (torch's intra-op pool), MKL and OpenBLAS, and the
    OpenMP wait policy (PASSIVE: idle threads sleep instead of spinning, and GOMP_SPINCOUNT=0,
    KMP_BLOCKTIME=0 say the same to GNU and Intel OpenMP; ACTIVE: they spin; None: OpenMP's
    default, left unset). Returns a new dict of strings, to be merged into the child's
    environment.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ArminError(f"thread count must be a positive integer, got {threads!r}")
    count = str(threads)
    env = {"OMP_NUM_THREADS": count, "MKL_NUM_THREADS": count, "OPENBLAS_NUM_THREADS": count}
    if wait_policy is None:
        return env
    policy = str(wait_policy).upper()
    if policy not in WAIT_POLICIES:
        raise ArminError(f"OpenMP wait policy must be PASSIVE or ACTIVE, got {wait_policy!r}")
    env["OMP_WAIT_POLICY"] = policy
    if policy == "PASSIVE":
        env.update(GOMP_SPINCOUNT="0", KMP_BLOCKTIME="0")
    return env


def cpu_cores() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def idle_cores(seconds: float = 0.25) -> float:
    """Cores of this process's share of the machine that other work left idle over the next
    ``seconds`` (from the kernel's counters in /proc/stat: idle and iowait time against all
    time; steal counts as busy); all of them where /proc/stat cannot be read."""
    def sample():
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(value) for value in stat.readline().split()[1:9]]
        return fields[3] + fields[4], sum(fields)

    try:
        idle_before, total_before = sample()
        time.sleep(seconds)
        idle_after, total_after = sample()
    except (OSError, ValueError, IndexError):
        return float(cpu_cores())
    if total_after <= total_before:
        return float(cpu_cores())
    share = (idle_after - idle_before) / (total_after - total_before)
    return min(float(cpu_cores()), share * (os.cpu_count() or 1))


def threads_per_process(processes: int = 1, idle: Optional[float] = None) -> int:
    """Threads for each of ``processes`` processes that share this machine's cores: the idle
    cores (``idle``, measured by :func:`idle_cores` when None, rounded to the nearest whole
    core) split between them, at least 1 each, at most ``$OMP_NUM_THREADS`` when that is set.
    Beside a busy process a run so gets one thread fewer, not a thread that waits for a core
    (the module's docstring)."""
    idle = idle_cores() if idle is None else idle
    free = min(cpu_cores(), int(idle + 0.5))
    threads = max(1, free // processes)
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return min(threads, int(limit)) if limit.isdigit() and int(limit) > 0 else threads
