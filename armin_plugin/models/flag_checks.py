"""Refusing model flags that cannot build a model, naming the flag."""
from ..errors import ArminError


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def require_positive_integers(cfg, *names: str):
    """Raise ArminError for the first of ``cfg.<name>`` that is below 1."""
    for name in names:
        value = getattr(cfg, name)
        if value < 1:
            raise ArminError(f"{_flag(name)} must be a positive integer, got {value}")


def require_annealing_temperatures(cfg):
    """--armin-tau-start and --armin-tau-end positive, the end not above the start."""
    for name in ("armin_tau_start", "armin_tau_end"):
        value = getattr(cfg, name)
        if not value > 0:
            raise ArminError(f"{_flag(name)} must be positive, got {value}")
    if cfg.armin_tau_end > cfg.armin_tau_start:
        raise ArminError(
            f"--armin-tau-end {cfg.armin_tau_end} is above --armin-tau-start "
            f"{cfg.armin_tau_start}: the temperature anneals downwards"
        )
