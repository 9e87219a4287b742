"""Shared fixtures: a small slice of real character-level PTB, and a CLI runner."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from filelock import FileLock

from armin_plugin.data import ptb
from armin_plugin.cli.process import fairseq_command

REPO = Path(__file__).resolve().parents[1]
PLUGIN = str(REPO / "armin_plugin")

# Under pytest-xdist (recipes/test.sh runs one worker per core), every worker and every
# process it starts computes on one thread, so the workers share the cores in proportion
# instead of spinning OpenMP threads against each other.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def ptb_char_slice(tmp_path_factory):
    """data-bin of the first 120 lines of each split of character-level PTB."""
    return ptb.prepare("char", tmp_path_factory.mktemp("ptb") / "ptb_char", max_lines=120)


def run(command, cwd=REPO, timeout=600):
    """Run a command with one thread per process (2-core machines), capturing its output."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout,
    )


def fairseq(tool, *args, **kwargs):
    """Run ``fairseq-<tool> ARGS`` of this environment."""
    return run(fairseq_command(tool) + list(args), **kwargs)


def python_module(module, *args, **kwargs):
    return run([sys.executable, "-m", module, *args], **kwargs)


def assert_one_line_error(result, expected, only_line=True):
    """The process exited 1 and its stderr ends with one ``error: <...expected...>`` line,
    with no traceback; ``only_line``: nothing else on stderr (fairseq's CLIs print warnings
    there before)."""
    assert result.returncode == 1, (result.returncode, result.stderr[-3000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert lines and lines[-1].startswith("error: "), result.stderr[-3000:]
    assert expected in lines[-1], lines[-1]
    if only_line:
        assert len(lines) == 1, result.stderr


# The two LibreOffice help packages, fetched once (apt-get download) and kept here between
# sessions (.gitignore ignores .cache/).
LIBREOFFICE_DEBS = REPO / ".cache" / "libreoffice-debs"


@pytest.fixture(scope="session")
def libreoffice_raw(tmp_path_factory):
    """Raw text of the real LibreOffice help corpus: the first 300 pairs of train, the
    first 40 of valid and test."""
    from armin_plugin.data import libreoffice

    LIBREOFFICE_DEBS.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(LIBREOFFICE_DEBS) + ".lock"):  # one worker fetches, the others wait
        raw = libreoffice.write_raw(LIBREOFFICE_DEBS, tmp_path_factory.mktemp("libreoffice") / "raw", max_lines=300)
    for split in ("valid", "test"):
        for language in ("de", "en"):
            path = raw / f"{split}.{language}"
            path.write_text("".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:40]), encoding="utf-8")
    return raw


@pytest.fixture(scope="session")
def libreoffice_slice(libreoffice_raw, tmp_path_factory):
    """data-bin (joint BPE of 600 pieces) of :func:`libreoffice_raw`."""
    from armin_plugin.data.parallel import prepare_parallel

    return prepare_parallel(libreoffice_raw, tmp_path_factory.mktemp("libreoffice_bin") / "de_en", "de", "en", 600)
