"""Refusing model flags that cannot build a model, naming the flag."""
from ..errors import ArminError


def require_positive_integers(cfg, *names: str):
    """Raise ArminError for the first of ``cfg.<name>`` that is below 1."""
    for name in names:
        value = getattr(cfg, name)
        if value < 1:
            raise ArminError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
