"""ARMIN for fairseq: use with ``--user-dir armin_plugin``.

Importing this package is light: the pure-PyTorch layer lives in ``armin_plugin.modules``;
fairseq imports ``models/`` and ``tasks/`` by itself when given ``--user-dir``.
"""
import atexit

from .errors import ArminError, install_excepthook
from .training.data_threads import stop_prefetch_threads

__version__ = "0.1.0"
__all__ = ["ArminError", "__version__"]

install_excepthook()
atexit.register(stop_prefetch_threads)
