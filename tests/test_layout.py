"""The package's layering (docs/layout.md): imports only run downward, the pure-PyTorch layer
imports no fairseq, and no job imports another job. The tests' own layout: shared code in
helpers.py and conftest.py, and the ``slow`` marker on every test that starts a process."""
import ast
import subprocess
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "armin_plugin"
TESTS = Path(__file__).resolve().parent
# Each part of the package and the parts it may import (besides itself and errors.py).
ALLOWED = {
    "cli": set(),
    "modules": set(),
    # pictures and tables of a layer's reads (torch and matplotlib, no fairseq): above the
    # layer they draw, below every fairseq adapter, so that both validation (training/) and
    # armin-inspect (inspector/) draw with them
    "views": {"modules"},
    "training": {"modules", "views"},
    "data": {"cli", "modules", "training"},
    "models": {"modules", "views", "training", "data"},
    "tasks": {"modules", "training", "data", "models", "criterions", "optim"},
    "criterions": {"modules", "training", "data"},
    "optim": set(),  # fairseq learning-rate schedulers, registered by tasks/
    "jobs": {"cli", "modules", "training", "data", "models", "tasks", "criterions", "optim"},
    "launch": {"cli", "modules", "training"},
    # armin-inspect: loads a fairseq checkpoint (models/, tasks/) and draws with views/; a
    # top like jobs/ and launch/, importing neither
    "inspector": {"cli", "modules", "views", "training", "data", "models", "tasks", "criterions"},
    # armin-flags: reads fairseq's registries and its training parser after registering the
    # plugin through fairseq's own import functions; a top importing no other part
    "flags": {"cli"},
}
JOBS = {"compare_lm", "compare_translation", "compare_algorithmic", "compare_pixel_mnist", "study"}  # study/ is a package


def plugin_imports(path: Path):
    """(line, target) of each import in ``path``: ``target`` is "fairseq", or a module path
    inside the package ("jobs.report"; "" for the package itself)."""
    package = list(path.relative_to(PACKAGE).parent.parts)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module]
        elif isinstance(node, ast.ImportFrom):
            base = ["armin_plugin", *package[: len(package) - node.level + 1]]
            names = [node.module] if node.module else [alias.name for alias in node.names]
            modules = [".".join(base + [name]) for name in names]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[0] == "fairseq":
                yield node.lineno, "fairseq"
            elif parts[0] == "armin_plugin":
                yield node.lineno, ".".join(parts[1:])


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if len(p.relative_to(PACKAGE).parts) > 1)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_run_downward(path):
    part = path.relative_to(PACKAGE).parts[0]
    for line, target in plugin_imports(path):
        if target == "fairseq":
            assert part not in ("modules", "cli", "views"), f"{path.name}:{line} imports fairseq"
            continue
        top = target.split(".")[0]
        assert top in ALLOWED[part] | {part, "errors", ""}, f"{path.name}:{line} ({part}/) imports {target}"
        job = path.relative_to(PACKAGE).with_suffix("").parts[1]
        if part == "jobs" and job in JOBS and top == "jobs":
            assert target.split(".")[1] not in JOBS - {job}, f"{path.name}:{line}: a job imports {target}"


def test_the_top_level_holds_only_the_package_and_its_errors():
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py", "errors.py"]


def test_the_checker_sees_imports():
    # relative, absolute and "from . import x" forms are all resolved
    found = dict((target, line) for line, target in plugin_imports(PACKAGE / "tasks" / "armin_algorithmic.py"))
    assert "criterions" in found and "data.algorithmic" in found and "errors" in found


def test_test_files_share_code_through_helpers_only():
    """No test file imports another test file or conftest (pytest loads conftest itself)."""
    local = {path.stem for path in TESTS.glob("*.py")} - {"helpers"}
    for path in sorted(TESTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] not in local, (
                    f"{path.name}:{node.lineno} imports {module}: shared code goes to helpers.py, fixtures to conftest.py")


def test_a_test_not_marked_slow_cannot_start_a_process():
    """conftest.py's check of the marker: a process started here fails the test, naming it."""
    with pytest.raises(AssertionError, match=r"test_layout\.py::test_a_test_not_marked_slow_cannot_start_a_process "
                                             r"starts a process \(\['true'\]\): mark it @pytest.mark.slow"):
        subprocess.run(["true"])
