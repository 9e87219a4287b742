"""How the linear maps of an ARMIN cell start: PyTorch's default, or the authors' orthogonal
weights and zero biases (``--armin-init``; docs/the-cell.md, Variants)."""
from torch import nn

from ..errors import ArminError

INITS = ("pytorch", "authors")


def initialise(cell: nn.Module, init: str):
    """Re-initialise ``cell``'s four linear maps in place as ``init`` says.

    "pytorch": keep ``nn.Linear``'s default, U(-sqrt(k), sqrt(k)), k = 1/in_features.
    "authors": W_a (N, d_x + d_h), W_g (d_h + d_r, d_x + d_h + d_r), W (4 d_h + d_r,
    d_x + d_h + d_r) and W_v (d_r, d_h) each orthogonal as one whole matrix
    (``nn.init.orthogonal_``: orthonormal rows or columns, whichever are fewer), every bias
    zero. p_h and p_M keep their initialisation; the constant forget bias is still added.
    """
    if init not in INITS:
        raise ArminError(f"ARMIN init must be one of {', '.join(INITS)}, got {init!r}")
    if init == "pytorch":
        return
    for linear in (cell.address, cell.gate, cell.transform, cell.write):
        nn.init.orthogonal_(linear.weight)
        nn.init.zeros_(linear.bias)
