"""ARMIN for fairseq: use with ``--user-dir armin_plugin``.

Importing this package is light (neither torch nor fairseq): it installs the one-line error
hook for user errors (:mod:`.errors`, :mod:`.training.fairseq_errors`) and the exit hook
that ends fairseq's prefetch threads (:mod:`.training.data_threads`). The pure-PyTorch layer
lives in ``armin_plugin.modules``; fairseq imports ``models/`` and ``tasks/`` by itself when
given ``--user-dir``. The layout, by layer, is in docs/layout.md.
"""
import atexit

from .errors import ArminError, install_excepthook
from .training.data_threads import stop_prefetch_threads
from .training.fairseq_errors import describe

__version__ = "0.1.0"
__all__ = ["ArminError", "__version__"]

install_excepthook(describe)
atexit.register(stop_prefetch_threads)
