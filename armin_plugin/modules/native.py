"""The compiled ARMIN recurrence (csrc/recurrence.cpp): build once, load fast.

``recipes/install.sh`` builds the extension through ``torch.utils.cpp_extension`` into
``<sys.prefix>/armin-native/<key>/`` (the project's ``.venv``), where ``key`` hashes the C++
source, the compiler flags and the torch version, so a second install finds it and builds
nothing, and a changed source or torch gets a new build. At run time this module never
compiles: :func:`library` only loads the prebuilt shared library, if present, with
``torch.ops.load_library`` and returns ``torch.ops.armin_native`` (ops ``forward``,
``backward`` and ``packed_products_available``), or None; :func:`unavailable_reason` then says why. A failed build leaves its
log in ``FAILED`` in the build folder and is not retried for the same key (delete the folder to retry);
a successful build removes the builds of other keys.

    python -c "from armin_plugin.modules import native; print(native.build())"  # install.sh
"""
import functools
import hashlib
import shutil
import sys
from pathlib import Path
from typing import Optional

import torch

SOURCES = [Path(__file__).resolve().parent / "csrc" / "recurrence.cpp"]
# portable x86-64 code (no -march): the vector width of SSE2, SIMD exp/tanh from libmvec
CFLAGS = ["-O3", "-fno-math-errno", "-fopenmp-simd"]
LDFLAGS = ["-lmvec"]

_loaded = False
_reason: Optional[str] = "not loaded yet"


@functools.lru_cache(maxsize=None)
def build_key() -> str:
    """Hash of the sources, the flags and the torch version (12 hex digits), read once per
    process, as :func:`library_path` is (every recurrence call names the library it runs)."""
    digest = hashlib.sha256()
    for source in SOURCES:
        digest.update(source.read_bytes())
    digest.update(" ".join(CFLAGS + LDFLAGS + [torch.__version__]).encode())
    return digest.hexdigest()[:12]


def build_directory() -> Path:
    return Path(sys.prefix) / "armin-native" / build_key()


def _name() -> str:
    return f"armin_native_{build_key()}"


@functools.lru_cache(maxsize=None)
def library_path() -> Path:
    return build_directory() / f"{_name()}.so"


def library():
    """``torch.ops.armin_native`` if the prebuilt library loads, otherwise None."""
    global _loaded, _reason
    if not _loaded:
        _loaded = True
        path = library_path()
        if not path.is_file():
            _reason = f"not built (no {path}; run bash recipes/install.sh)"
        else:
            try:
                torch.ops.load_library(str(path))
                _reason = None
            except (OSError, RuntimeError) as error:
                _reason = f"{path} does not load: {str(error).splitlines()[0]}"
    return None if _reason else torch.ops.armin_native


def unavailable_reason() -> Optional[str]:
    """Why :func:`library` returns None (None when it loads)."""
    library()
    return _reason


def build() -> str:
    """Build the library unless it is there already; return a one-line account."""
    directory = build_directory()
    failed = directory / "FAILED"
    if library_path().is_file():
        return f"compiled ARMIN recurrence is up to date ({library_path()})"
    if failed.is_file():
        return f"compiled ARMIN recurrence failed to build before (see {failed}); using the Python loop"
    from torch.utils import cpp_extension

    directory.mkdir(parents=True, exist_ok=True)
    try:
        # copies: cpp_extension.load appends to the flag lists it is given (and the key hashes them)
        cpp_extension.load(_name(), [str(s) for s in SOURCES], extra_cflags=list(CFLAGS),
                           extra_ldflags=list(LDFLAGS), build_directory=str(directory),
                           is_python_module=False)
    except Exception as error:  # any compiler or loader failure: the Python loop remains
        failed.write_text(f"{type(error).__name__}: {error}\n")
        return f"compiled ARMIN recurrence did not build (see {failed}); the plugin uses the Python loop"
    for stale in directory.parent.iterdir():
        if stale != directory and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    return f"built the compiled ARMIN recurrence ({library_path()})"

