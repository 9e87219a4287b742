"""Which loop runs a call of :func:`.recurrence.run_recurrence`: "native" (csrc/recurrence.cpp,
loaded by :mod:`.native`; CPU tensors of one dtype, float32 or float64) or "python"
(:mod:`.fused_loop`; everything else, CUDA tensors above all: no GPU build exists)."""
import logging
import os
from typing import Optional

import torch

from ..errors import ArminError
from . import native

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "python", "native", "cpp")
_logged = set()


def choose_backend(tensors) -> str:
    """"native" or "python" for a call on ``tensors`` (None entries ignored), as
    ``ARMIN_BACKEND`` asks: "auto" (default) takes the compiled loop where it is built and
    supports the call, "python" forces the Python loop, "native" (or "cpp") requires the
    compiled loop to be built. Logs the active backend once per process and choice.
    """
    asked = os.environ.get("ARMIN_BACKEND", "auto").strip().lower() or "auto"
    if asked not in BACKENDS:
        raise ArminError(f"ARMIN_BACKEND must be one of {', '.join(BACKENDS)}, got {asked!r}")
    unsupported = _native_unsupported(tensors)
    if asked == "python":
        backend, why = "python", "ARMIN_BACKEND=python"
    elif native.library() is None:
        if asked != "auto":
            raise ArminError(f"ARMIN_BACKEND={asked}: the compiled ARMIN recurrence is "
                             f"{native.unavailable_reason()}")
        backend, why = "python", f"compiled recurrence {native.unavailable_reason()}"
    elif unsupported:
        backend, why = "python", unsupported
    else:
        backend, why = "native", f"compiled recurrence {native.library_path().name}"
    if (backend, why) not in _logged:
        _logged.add((backend, why))
        logger.info("ARMIN recurrence backend: %s (%s)", backend, why)
    return backend


def _native_unsupported(tensors) -> Optional[str]:
    """Why the compiled loop cannot run a call on ``tensors`` (None if it can)."""
    tensors = [t for t in tensors if t is not None]
    if any(t.device.type != "cpu" for t in tensors):
        return "the compiled loop is CPU-only: CUDA tensors run the Python loop"
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) > 1 or not dtypes <= {torch.float32, torch.float64}:
        return f"the compiled loop needs one dtype, float32 or float64 (got {sorted(map(str, dtypes))})"
    return None
