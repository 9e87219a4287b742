"""armin_plugin.cli.threads: the threads and environment of a child training process."""
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
    assert threads_per_process(1) == cpu_cores()
    assert threads_per_process(cpu_cores() + 1) == 1  # never zero
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads_per_process(1) == 1


def test_the_jobs_children_get_their_share_of_the_cores(monkeypatch):
    from armin_plugin.jobs.fairseq_runs import child_environment

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    env = child_environment()  # what run_streamed adds to this environment
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"
    assert "OMP_WAIT_POLICY" not in env  # passive waiting slows a run alone 2-4x (cli/threads.py)
