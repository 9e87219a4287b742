"""What a fairseq checkpoint records about its run."""
from pathlib import Path
from typing import NamedTuple

import torch


class CheckpointFacts(NamedTuple):
    params: int
    updates: int
    train_minutes: float


def checkpoint_facts(checkpoint: Path) -> CheckpointFacts:
    """Parameters, updates and training minutes stored in a fairseq checkpoint."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    params = sum(value.numel() for value in state["model"].values() if torch.is_tensor(value))
    updates = int(state["optimizer_history"][-1]["num_updates"])
    # a tensor after distributed training (fairseq all-reduces the clock), a float otherwise
    minutes = float(state["extra_state"]["previous_training_time"]) / 60
    return CheckpointFacts(params, updates, minutes)
