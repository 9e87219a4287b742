"""Step-level variants of the ARMIN cell (docs/the-cell.md, "Variants (flags)"): departures
from the paper that change the recurrent loop, carried to :func:`.recurrence.run_recurrence`."""
from typing import NamedTuple, Optional

from ..errors import ArminError


# The logit penalty of the slot read at the previous step (``no_reread``): larger than any
# spread of Gumbel noise (draws lie in [-6.6, 16.2]) plus logits, so it is never read,
# yet finite, so that softmax, log-softmax and the address losses stay finite.
REREAD_PENALTY = 1e4
# The variant flags that csrc/recurrence.cpp implements besides the paper's cell.
NATIVE_VARIANTS = ("no_reread", "content_address")
# The decay per real step of a slot's recency (``usage_input``): the Santoro et al. (2016)
# usage decay.
USAGE_DECAY = 0.95


class CellVariant(NamedTuple):
    """no_read: the read r_t is replaced by zeros wherever it is used (gates, z_t, out_t), the
    ablation "the cell without memory"; the address is still computed and the memory written.
    entropy_bonus W >= 0 and load_balance A >= 0: weights of the auxiliary address losses of
    :mod:`.address_losses`.
    no_reread (TARDIS's mask): REREAD_PENALTY is subtracted from the logit of the slot read at
    the previous real step, so a slot is never read twice in a row (needs N >= 2).
    usage_input (TARDIS's usage vector, in the recency form of Santoro et al.): the address
    logits get ``W_u u_t``, u_t[k] = USAGE_DECAY ** (age_k - 1) for a slot last read age_k
    real steps ago, 0 for a slot not read yet; W_u (N, N) is learned and starts at zero.
    Both carry each slot's read age in the state (:attr:`reads_history`).
    soft_to_hard K >= 0 (the D-NTM's curriculum): in training, each row of a call reads the
    Gumbel-softmax mixture sum_k y_t[k] M_{t-1}[k] instead of the one slot k_t with probability
    1 / sqrt(1 + K u) at update u (:meth:`soft_read_probability`); the write stays hard.
    content_address (not in the paper; the content-based addressing of the NTM and the
    D-NTM, as a term added to ARMIN's location logits): the address logits get
    ``<key_k, q_t>``, one dot product per slot of its key, key_k = M_{t-1}[k] /
    sqrt(|M_{t-1}[k]|^2 + 1), with the query q_t = W_q [x_t ; h_{t-1}] + b_q (d_r), so the
    address can match what the slots hold; W_q is learned.
    The default is the paper's cell."""

    no_read: bool = False
    entropy_bonus: float = 0.0
    load_balance: float = 0.0
    no_reread: bool = False
    usage_input: bool = False
    soft_to_hard: float = 0.0
    content_address: bool = False

    @property
    def has_address_loss(self) -> bool:
        return self.entropy_bonus > 0 or self.load_balance > 0

    @property
    def reads_history(self) -> bool:
        """True when the state carries each slot's read age (``ARMINState.read_age``)."""
        return self.no_reread or self.usage_input

    def check(self) -> "CellVariant":
        """Raise ArminError for impossible values; returns self."""
        for name in ("entropy_bonus", "load_balance", "soft_to_hard"):
            value = getattr(self, name)
            if not value >= 0:
                raise ArminError(f"ARMIN {name} must be non-negative, got {value}")
        return self

    def soft_read_probability(self, num_updates: int) -> float:
        """The share of rows that read softly at update ``num_updates`` (0 without the curriculum)."""
        return 0.0 if self.soft_to_hard <= 0 else (1.0 + self.soft_to_hard * num_updates) ** -0.5

    def native_unsupported(self) -> Optional[str]:
        """Why csrc/recurrence.cpp cannot run this variant (None: the paper's cell, alone or
        with ``no_reread`` and ``content_address``, which it implements)."""
        changed = [name for name, value in self._asdict().items()
                   if value != self._field_defaults[name] and name not in NATIVE_VARIANTS]
        if changed:
            return ("the compiled loop implements the paper's cell, no_reread and content_address only "
                    f"(set: {', '.join(changed)})")
        return None
