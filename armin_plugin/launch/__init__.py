"""The CPU launcher: ``armin-launch`` (:mod:`.launcher`) starts one process per rank, each
running fairseq-train through :mod:`.rank`."""
from .launcher import main

__all__ = ["main"]
