"""Huge pages for child training processes (armin_plugin/cli/memory_pages.py)."""
from armin_plugin.cli.memory_pages import VARIABLE, huge_page_environment
from armin_plugin.jobs import fairseq_runs
from armin_plugin.jobs.study import runs


def test_children_get_huge_pages_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    assert huge_page_environment() == {VARIABLE: "1"}
    monkeypatch.setenv(VARIABLE, "0")
    assert huge_page_environment() == {}


def test_jobs_and_study_runs_pass_them_on(monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    env = fairseq_runs.child_environment()
    assert env[VARIABLE] == "1" and env["OMP_NUM_THREADS"]
    assert runs.THREADS[VARIABLE] == "1" and runs.THREADS["OMP_NUM_THREADS"] == "1"
