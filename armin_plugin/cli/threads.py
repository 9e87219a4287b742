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
launcher give every child ``cores // processes`` threads (:func:`threads_per_process`) with
OpenMP's default wait policy (``wait_policy=None``), and armin-study's one-thread runs have
no barrier to wait at; choosing a policy that is fast alone and proportional beside other
work is still open.
"""
import os
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


def threads_per_process(processes: int = 1) -> int:
    """Threads for each of ``processes`` processes that share this machine's cores, at most
    ``$OMP_NUM_THREADS`` when that is set."""
    threads = max(1, cpu_cores() // processes)
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return min(threads, int(limit)) if limit.isdigit() and int(limit) > 0 else threads
