"""Recurrent state that a decoder carries from one stream batch to the next."""
import logging
from typing import Dict, NamedTuple, Optional, Tuple, Type

import torch
from torch import Tensor, nn

from .ranks import rank_and_world_size

logger = logging.getLogger(__name__)


class _Carried(NamedTuple):
    state: Tuple[Tensor, ...]
    next_position: int


class CarriedStates(nn.Module):
    """One detached state per stream key (e.g. the split name).

    ``take(key, position, batch_size)`` returns the state left by segment ``position - 1`` of
    the same streams, or None (start fresh) at position 0, after a skipped segment, or when
    the batch layout changed. States are ``state_type`` NamedTuples of tensors whose dim 1 is
    the batch (``ARMINState``, ``LSTMState``), or None (fields a model does not use).

    A module without parameters so that the carried states travel in the model's state dict
    (``<prefix>._extra_state``): a checkpoint written mid-epoch holds the hidden state and
    memory of every row, and training resumed from it continues each row exactly. A state
    saved by another rank or world size is not restored (those rows start fresh).
    """

    def __init__(self, state_type: Type[Tuple]):
        super().__init__()
        self.state_type = state_type
        self._carried: Dict[str, _Carried] = {}

    def take(self, key: str, position: int, batch_size: int,
             device: Optional[torch.device] = None) -> Optional[Tuple[Tensor, ...]]:
        carried = self._carried.pop(key, None)
        if carried is None or position == 0 or carried.next_position != position:
            return None
        if carried.state[0].size(1) != batch_size:
            return None
        if device is not None:
            return self.state_type(*(None if t is None else t.to(device) for t in carried.state))
        return carried.state

    def keep(self, key: str, position: int, state: Tuple[Optional[Tensor], ...]):
        detached = self.state_type(*(None if t is None else t.detach() for t in state))
        self._carried[key] = _Carried(detached, position + 1)

    def clear(self):
        self._carried.clear()

    def get_extra_state(self) -> Dict:
        """{"rank", "world_size", "streams": {key: {"next_position", "state": {field: tensor}}}}"""
        rank, world_size = rank_and_world_size()
        streams = {
            key: {"next_position": carried.next_position, "state": carried.state._asdict()}
            for key, carried in self._carried.items()
        }
        return {"rank": rank, "world_size": world_size, "streams": streams}

    def set_extra_state(self, saved: Dict):
        self._carried.clear()
        if not saved["streams"]:
            return
        if (saved["rank"], saved["world_size"]) != rank_and_world_size():
            logger.warning(
                "carried stream states were saved by rank %d of %d: this rank starts its rows fresh",
                saved["rank"], saved["world_size"],
            )
            return
        for key, carried in saved["streams"].items():
            self._carried[key] = _Carried(self.state_type(**carried["state"]), carried["next_position"])

    def upgrade_state_dict_named(self, state_dict: Dict, name: str):
        """Checkpoints written before states were saved carry none (fairseq's upgrade hook)."""
        state_dict.setdefault(f"{name}._extra_state", {"rank": 0, "world_size": 1, "streams": {}})
