"""Step-level variants of the ARMIN cell (docs/the-cell.md, "Variants (flags)"): departures
from the paper that change the recurrent loop, carried to :func:`.recurrence.run_recurrence`."""
from typing import NamedTuple, Optional

from ..errors import ArminError


class CellVariant(NamedTuple):
    """no_read: the read r_t is replaced by zeros wherever it is used (gates, z_t, out_t), the
    ablation "the cell without memory"; the address is still computed and the memory written.
    entropy_bonus W >= 0 and load_balance A >= 0: weights of the auxiliary address losses of
    :mod:`.address_losses`. The default is the paper's cell."""

    no_read: bool = False
    entropy_bonus: float = 0.0
    load_balance: float = 0.0

    @property
    def has_address_loss(self) -> bool:
        return self.entropy_bonus > 0 or self.load_balance > 0

    def check(self) -> "CellVariant":
        """Raise ArminError for impossible values; returns self."""
        for name in ("entropy_bonus", "load_balance"):
            value = getattr(self, name)
            if not value >= 0:
                raise ArminError(f"ARMIN {name} must be non-negative, got {value}")
        return self

    def native_unsupported(self) -> Optional[str]:
        """Why csrc/recurrence.cpp cannot run this variant (None: the paper's cell)."""
        changed = [name for name, value in self._asdict().items() if value != self._field_defaults[name]]
        if changed:
            return f"the compiled loop implements the paper's cell only (set: {', '.join(changed)})"
        return None
