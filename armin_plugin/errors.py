"""One-line errors for users.

Everything a user can get wrong (sizes, paths, data) raises :class:`ArminError`. Command-line
entry points, and fairseq's own CLIs once the plugin is imported through ``--user-dir``, print
such an error as a single ``error: ...`` line and exit with status 1 instead of a traceback.
So are the user errors that fairseq reports with a traceback of its own and
:mod:`armin_plugin.training.fairseq_errors` recognises (unreadable checkpoints, checkpoints of another
model), and an ``ArminError`` that fairseq re-raised wrapped in another exception.
Other exceptions keep their tracebacks.
"""
import sys
from types import TracebackType
from typing import Callable, Optional


class ArminError(ValueError):
    """A problem with what the user asked for; the message names it."""


def _armin_error_in_chain(exc):
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ArminError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _one_line_excepthook(previous_hook, describe):
    def hook(exc_type, exc, tb):
        armin_error = _armin_error_in_chain(exc)
        message = str(armin_error) if armin_error is not None else describe(exc, tb)
        if message is not None:
            print(f"error: {message}", file=sys.stderr)
            # objects left half-built by the failure (e.g. fairseq's datasets) may complain
            # from __del__ while the interpreter exits: the one line has said what happened
            sys.unraisablehook = lambda unraisable: None
        else:
            previous_hook(exc_type, exc, tb)

    hook.armin_one_line = True
    return hook


def install_excepthook(describe: Callable[[BaseException, TracebackType], Optional[str]]):
    """Print uncaught :class:`ArminError` as one line, and other exceptions for which
    ``describe(exc, traceback)`` returns a line (idempotent)."""
    if not getattr(sys.excepthook, "armin_one_line", False):
        sys.excepthook = _one_line_excepthook(sys.excepthook, describe)
