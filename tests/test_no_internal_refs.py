"""Nothing internal in the repository: no file names an internal issue number or carries a date.
Results live in the README's Results table, each with the commit it was measured at; targets
are stated, not referred to by a number nobody outside can open."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Folders that hold no source: the environment, data, runs, caches (see .gitignore).
SKIP_DIRS = {".git", ".venv", "raw", "runs", "checkpoints", ".cache", "__pycache__", ".pytest_cache"}
# Built in two parts so that this file does not match its own pattern.
ISSUE = re.compile(r"\bissue" + r"s? #?\d+", re.IGNORECASE)
DATE = re.compile(r"\b\d{4}-[01]\d-[0-3]\d\b")


def source_files():
    """(path relative to the root, text) of every text file of the repository: data-bin/ holds
    only its README; binary files (a NUL byte, or not UTF-8) are skipped."""
    stack = [ROOT]
    while stack:
        folder = stack.pop()
        for path in sorted(folder.iterdir()):
            relative = path.relative_to(ROOT)
            if path.is_dir():
                if path.name not in SKIP_DIRS and not path.name.endswith(".egg-info") \
                        and relative != Path("data-bin"):
                    stack.append(path)
                continue
            if path.suffix == ".pyc" or path.name == "hydra_train.log":
                continue
            data = path.read_bytes()
            if b"\0" in data:
                continue
            try:
                yield relative, data.decode("utf-8")
            except UnicodeDecodeError:
                continue
    readme = ROOT / "data-bin" / "README.md"
    if readme.exists():
        yield readme.relative_to(ROOT), readme.read_text()


def hits(pattern, files):
    return [f"{path}:{number}: {line.strip()[:100]}"
            for path, text in files
            for number, line in enumerate(text.splitlines(), 1) if pattern.search(line)]


def test_walk_finds_the_sources():
    paths = {path for path, _ in source_files()}
    assert Path("README.md") in paths and Path("setup.py") in paths
    assert Path("tests/test_no_internal_refs.py") in paths
    assert not any(path.suffix == ".png" for path in paths)


def test_patterns_catch_what_they_are_for():
    assert ISSUE.search("as Issue " + "13 asked") and ISSUE.search("see issues #" + "4")
    assert not ISSUE.search("the issues/5012 thread") and not ISSUE.search("an issue of speed")
    assert DATE.search("default before 2026-" + "12-06") and not DATE.search("lr 2e-3, 1,000 updates")


def test_no_file_names_an_internal_issue_number():
    found = hits(ISSUE, source_files())
    assert not found, "state the target instead of an issue number:\n" + "\n".join(found)


def test_no_file_carries_a_date():
    found = hits(DATE, source_files())
    assert not found, "no dates in code, docs or results (cite a commit):\n" + "\n".join(found)
