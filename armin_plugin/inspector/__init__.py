"""``armin-inspect`` (:mod:`.command`): a trained ARMIN's reads and writes as pictures and a
table, from a fairseq checkpoint (:mod:`.loading`, :mod:`.recording`, :mod:`.text`), drawn
by :mod:`armin_plugin.views`."""
from .command import main

__all__ = ["main"]
