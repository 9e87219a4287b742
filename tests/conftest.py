"""Shared fixtures: data slices built once per run (shared by the pytest-xdist workers), the
recurrence ``backend``, and the check that only tests marked ``slow`` start processes.
Plain helpers live in helpers.py."""
import os
import shutil
import subprocess

import pytest
import sklearn  # noqa: F401  (here, not in a test: fairseq imports it, and its first import runs lscpu)
import torch
from filelock import FileLock

from armin_plugin.data import ptb
from armin_plugin.modules import native
from helpers import LIBREOFFICE_DEBS

# Under pytest-xdist (recipes/test.sh runs one worker per core), every worker and every
# process it starts computes on one thread, so the workers share the cores in proportion
# instead of spinning OpenMP threads against each other.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    torch.set_num_threads(1)


class BuiltOnce:
    """Folders built once per test run, whichever worker asks first; the others wait for it
    (a file lock per folder) and reuse it. Users must not change what they get: copy first."""

    def __init__(self, root):
        self.root = root

    def __call__(self, name, build):
        """``root/name``, after ``build(folder)`` filled it (once per run)."""
        folder = self.root / name
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder) + ".lock"):
            done = self.root / f"{name}.done"
            if not done.exists():
                shutil.rmtree(folder, ignore_errors=True)  # what a failed build left
                folder.mkdir()
                build(folder)
                done.touch()
        return folder


@pytest.fixture(scope="session")
def built_once(tmp_path_factory, worker_id):
    """:class:`BuiltOnce` under this run's base temp folder: the one the xdist workers'
    folders sit in, or pytest's own without xdist."""
    base = tmp_path_factory.getbasetemp()
    return BuiltOnce((base if worker_id == "master" else base.parent) / "built-once")


@pytest.fixture(scope="session")
def ptb_char_slice(built_once):
    """data-bin of the first 120 lines of each split of character-level PTB."""
    return built_once("ptb", lambda folder: ptb.prepare("char", folder / "ptb_char", max_lines=120)) / "ptb_char"


def _write_libreoffice_raw(folder):
    from armin_plugin.data import libreoffice

    LIBREOFFICE_DEBS.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(LIBREOFFICE_DEBS) + ".lock"):  # one run fetches, the others wait
        raw = libreoffice.write_raw(LIBREOFFICE_DEBS, folder / "raw", max_lines=300)
    for split in ("valid", "test"):
        for language in ("de", "en"):
            path = raw / f"{split}.{language}"
            path.write_text("".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:40]), encoding="utf-8")


@pytest.fixture(scope="session")
def libreoffice_raw(built_once):
    """Raw text of the real LibreOffice help corpus: the first 300 pairs of train, the
    first 40 of valid and test."""
    return built_once("libreoffice", _write_libreoffice_raw) / "raw"


@pytest.fixture(scope="session")
def libreoffice_slice(libreoffice_raw, built_once):
    """data-bin (joint BPE of 600 pieces) of :func:`libreoffice_raw`."""
    from armin_plugin.data.parallel import prepare_parallel

    return built_once("libreoffice_bin", lambda folder: prepare_parallel(
        libreoffice_raw, folder / "de_en", "de", "en", 600)) / "de_en"


@pytest.fixture(params=["python", "native"])
def backend(request, monkeypatch):
    """Runs a test once per recurrence backend (armin_plugin/modules/recurrence.py). The
    native case is skipped, with the reason, only where the compiled recurrence is not
    built; ``recipes/install.sh`` builds it."""
    if request.param == "native" and native.library() is None:
        pytest.skip(f"compiled ARMIN recurrence {native.unavailable_reason()}")
    monkeypatch.setenv("ARMIN_BACKEND", request.param)
    return request.param


@pytest.fixture(autouse=True)
def only_slow_tests_start_processes(request, monkeypatch):
    """The marker means what it says: a test not marked ``slow`` that starts a process (a
    fairseq CLI, any command) fails, naming itself, so the quick loop (-m "not slow") stays
    free of them."""
    if request.node.get_closest_marker("slow") is not None:
        return

    def refuse(self, args, *rest, **kwargs):
        raise AssertionError(f"{request.node.nodeid} starts a process ({args!r}): mark it @pytest.mark.slow")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


def pytest_collection_modifyitems(config, items):
    """Share the tests out so that every pytest-xdist worker starts on slow tests and ends on
    quick ones. Under ``--dist worksteal`` worker k first gets the k-th contiguous part of this
    order and an idle worker then takes tests from the end of another's queue; so each part
    holds whole files of slow tests (a file's tests share fixtures built once: split between
    workers, one would wait for the other's build), then quick tests. The workers' long runs
    overlap from the start, and the last tests to share out are the short ones."""
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    slow, quick = [], []
    for item in items:
        (slow if item.get_closest_marker("slow") is not None else quick).append(item)
    files = {}
    for item in slow:
        files.setdefault(item.path, []).append(item)
    parts = [[] for _ in range(workers)]
    for tests in sorted(files.values(), key=len, reverse=True):  # the largest files first, each to the emptiest part
        min(parts, key=len).extend(tests)
    # the sizes worksteal's first share-out gives: floor(pending / workers left) each, in order
    sizes, pending = [], len(items)
    for left in range(workers, 0, -1):
        sizes.append(pending // left)
        pending -= sizes[-1]
    parts.sort(key=len)  # the smallest slow part where the first share is smallest
    for part, size in zip(parts, sizes):
        while len(part) < size and quick:
            part.append(quick.pop(0))
    items[:] = [item for part in parts for item in part] + quick
