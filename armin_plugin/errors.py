"""One-line errors for users.

Everything a user can get wrong (sizes, paths, data) raises :class:`ArminError`. Command-line
entry points, and fairseq's own CLIs once the plugin is imported through ``--user-dir``, print
such an error as a single ``error: ...`` line and exit with status 1 instead of a traceback.
Other exceptions keep their tracebacks.
"""
import sys


class ArminError(ValueError):
    """A problem with what the user asked for; the message names it."""


def _one_line_excepthook(previous_hook):
    def hook(exc_type, exc, tb):
        if issubclass(exc_type, ArminError):
            print(f"error: {exc}", file=sys.stderr)
        else:
            previous_hook(exc_type, exc, tb)

    hook.armin_one_line = True
    return hook


def install_excepthook():
    """Print uncaught :class:`ArminError` as one line (idempotent)."""
    if not getattr(sys.excepthook, "armin_one_line", False):
        sys.excepthook = _one_line_excepthook(sys.excepthook)
