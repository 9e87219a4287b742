"""Recurrent state that a decoder carries from one stream batch to the next."""
from typing import Dict, NamedTuple, Optional, Tuple

from torch import Tensor


class _Carried(NamedTuple):
    state: Tuple[Tensor, ...]
    next_position: int


class CarriedStates:
    """One detached state per stream key (e.g. the split name).

    ``take(key, position, batch_size)`` returns the state left by segment ``position - 1`` of
    the same streams, or None (start fresh) at position 0, after a skipped segment, or when
    the batch layout changed. States are NamedTuples of tensors whose dim 1 is the batch
    (``ARMINState``, ``LSTMState``).
    """

    def __init__(self):
        self._carried: Dict[str, _Carried] = {}

    def take(self, key: str, position: int, batch_size: int) -> Optional[Tuple[Tensor, ...]]:
        carried = self._carried.pop(key, None)
        if carried is None or position == 0 or carried.next_position != position:
            return None
        if carried.state[0].size(1) != batch_size:
            return None
        return carried.state

    def keep(self, key: str, position: int, state: Tuple[Tensor, ...]):
        detached = type(state)(*(tensor.detach() for tensor in state))
        self._carried[key] = _Carried(detached, position + 1)

    def clear(self):
        self._carried.clear()
