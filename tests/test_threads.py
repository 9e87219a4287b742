"""armin_plugin.cli.threads: the threads and environment of a child training process."""
import subprocess
import sys
import time

import pytest

from armin_plugin.cli.threads import thread_environment
from armin_plugin.errors import ArminError


def test_passive_environment_sets_every_pool_and_stops_spinning():
    env = thread_environment(2)
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "2"
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    assert env["GOMP_SPINCOUNT"] == "0" and env["KMP_BLOCKTIME"] == "0"
    assert all(isinstance(v, str) for v in env.values())


def test_active_policy_leaves_the_spin_settings_to_openmp():
    env = thread_environment(1, "active")
    assert env["OMP_WAIT_POLICY"] == "ACTIVE" and "GOMP_SPINCOUNT" not in env


@pytest.mark.parametrize("threads", [0, -1, 1.5, "2", True])
def test_bad_thread_counts_are_one_line_errors(threads):
    with pytest.raises(ArminError, match="thread count"):
        thread_environment(threads)


def test_bad_wait_policy_is_a_one_line_error():
    with pytest.raises(ArminError, match="wait policy"):
        thread_environment(1, "sometimes")


def test_processes_share_the_cores_and_respect_omp_num_threads(monkeypatch):
    from armin_plugin.cli.threads import cpu_cores, threads_per_process

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = cpu_cores()
    assert threads_per_process(1, idle=cores) == cores
    assert threads_per_process(cores + 1, idle=cores) == 1  # never zero
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads_per_process(1, idle=cores) == 1


def test_a_run_gets_only_the_cores_other_work_leaves_idle(monkeypatch):
    from armin_plugin.cli import threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "cpu_cores", lambda: 4)
    assert [threads.threads_per_process(1, idle=idle) for idle in (4.0, 3.6, 3.4, 1.2, 0.0)] == [4, 4, 3, 1, 1]
    assert threads.threads_per_process(2, idle=3.0) == 1  # 3 idle cores for 2 processes
    monkeypatch.setattr(threads, "idle_cores", lambda: 2.0)  # what a call without idle measures
    assert threads.threads_per_process(1) == 2


@pytest.mark.slow  # a busy-loop process
def test_idle_cores_sees_a_busy_process():
    """Measured, not assumed: a busy loop takes at least half a core from the idle count
    (loose: these machines run other work too)."""
    from armin_plugin.cli.threads import cpu_cores, idle_cores

    assert 0.0 <= idle_cores(0.3) <= cpu_cores()
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        beside = idle_cores(0.5)
    finally:
        busy.kill()
        busy.wait()
    assert beside <= cpu_cores() - 0.5


def test_the_jobs_children_get_their_share_of_the_cores(monkeypatch):
    from armin_plugin.jobs.fairseq_runs import child_environment

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    env = child_environment()  # what run_streamed adds to this environment
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"
    assert "OMP_WAIT_POLICY" not in env  # passive waiting slows a run alone 2-4x (cli/threads.py)
