"""ARMIN for fairseq: use with ``--user-dir armin_plugin``.

Importing this package is light: the pure-PyTorch layer lives in ``armin_plugin.modules``;
fairseq imports ``models/`` and ``tasks/`` by itself when given ``--user-dir``.
"""
from .errors import ArminError, install_excepthook

__version__ = "0.1.0"
__all__ = ["ArminError", "__version__"]

install_excepthook()
