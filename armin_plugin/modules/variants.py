"""Step-level variants of the ARMIN cell (docs/the-cell.md, "Variants (flags)"): departures
from the paper's step (:func:`.step.armin_step`), carried to :func:`.recurrence.run_recurrence`
and run by both of its loops."""
from typing import NamedTuple


# The logit penalty of the slot read at the previous step (``no_reread``): larger than any
# spread of Gumbel noise (draws lie in [-6.6, 16.2]) plus logits, so it is never read,
# yet finite, so that the softmax stays finite.
REREAD_PENALTY = 1e4


class CellVariant(NamedTuple):
    """no_read: the read r_t is replaced by zeros wherever it is used (gates, z_t, out_t), the
    ablation "the cell without memory"; the address is still computed and the memory written.
    no_reread (TARDIS's mask): REREAD_PENALTY is subtracted from the logit of the slot read at
    the previous real step, so a slot is never read twice in a row (needs N >= 2); the state
    then carries each slot's read age (:attr:`reads_history`).
    content_address (not in the paper; the content-based addressing of the NTM and the
    D-NTM, as a term added to ARMIN's location logits): the address logits get
    ``<key_k, q_t>``, one dot product per slot of its key, key_k = M_{t-1}[k] /
    sqrt(|M_{t-1}[k]|^2 + 1), with the query q_t = W_q [x_t ; h_{t-1}] + b_q (d_r), so the
    address can match what the slots hold; W_q is learned.
    The default is the paper's cell."""

    no_read: bool = False
    no_reread: bool = False
    content_address: bool = False

    @property
    def reads_history(self) -> bool:
        """True when the state carries each slot's read age (``ARMINState.read_age``)."""
        return self.no_reread
