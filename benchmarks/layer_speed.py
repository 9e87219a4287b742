"""Training speed and memory of one ARMIN layer against the naive reference and nn.LSTM."""
import math
from dataclasses import dataclass
from typing import Callable, Dict, List

import torch
from torch import nn

from armin_plugin.modules import ARMIN
from benchmarks.measure import interleaved_medians, peak_training_bytes
from benchmarks.naive_armin import naive_armin

INPUT_SIZE = 128  # d_x of every layer benchmark (an embedding size)


@dataclass(frozen=True)
class Shape:
    hidden: int  # d_h
    slot: int  # d_r
    slots: int  # N
    steps: int  # T
    batch: int  # B

    @property
    def name(self) -> str:
        return f"d_h {self.hidden} d_r {self.slot} N {self.slots} T {self.steps} B {self.batch}"


@dataclass
class LayerRow:
    shape: Shape
    model: str
    params: int
    tokens_per_s: float
    peak_mb: float


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def lstm_hidden_for(params: int, input_size: int) -> int:
    """Hidden size H of a one-layer nn.LSTM with about ``params`` parameters:
    4 H (input_size + H + 2) = params."""
    b = input_size + 2
    return max(1, round((-b + math.sqrt(b * b + params)) / 2))


def training_pass(forward: Callable[[], torch.Tensor]) -> Callable[[], Callable[[], None]]:
    """A forward that returns the backward of sum(output), as the measurers want it."""

    def run():
        output = forward()
        return lambda: output.sum().backward()

    return run


def layer_candidates(shape: Shape, device: torch.device) -> Dict[str, nn.Module]:
    """The four layers of one shape, in table order; ARMIN trains (samples addresses)."""
    armin = ARMIN(INPUT_SIZE, shape.hidden, shape.slot, shape.slots, temperature=0.5)
    equal = lstm_hidden_for(count(armin), INPUT_SIZE)
    return {
        "ARMIN (ours)": armin.to(device).train(),
        "naive ARMIN": armin,
        f"LSTM d_h {shape.hidden}": nn.LSTM(INPUT_SIZE, shape.hidden).to(device),
        f"LSTM {equal} (equal params)": nn.LSTM(INPUT_SIZE, equal).to(device),
    }


def measure_shape(shape: Shape, reps: int, device: torch.device,
                  naive_limit_mb: float) -> List[LayerRow]:
    """Rows of one shape: forward + backward tokens/s (median of ``reps``) and peak memory.

    The naive reference is left out (tokens/s NaN) when its memory, estimated as 1.5
    (B, N, d_r) float tensors saved per step (1.14 measured), would pass ``naive_limit_mb``.
    """
    torch.manual_seed(0)
    x = torch.randn(shape.steps, shape.batch, INPUT_SIZE, device=device)
    layers = layer_candidates(shape, device)
    forwards = {}
    for name, layer in layers.items():
        if name == "naive ARMIN":
            forwards[name] = lambda layer=layer: naive_armin(layer, x)[0]
        else:
            forwards[name] = lambda layer=layer: layer(x)[0]
    naive_mb = 1.5 * 4 * shape.steps * shape.batch * shape.slots * shape.slot / 1e6
    if naive_mb > naive_limit_mb:
        del forwards["naive ARMIN"]
    runs = {name: training_pass(forward) for name, forward in forwards.items()}

    def step(run):
        return lambda: (run()(), [layer.zero_grad(set_to_none=True) for layer in layers.values()])

    seconds = interleaved_medians({name: step(run) for name, run in runs.items()}, reps, device)
    rows = []
    for name, layer in layers.items():
        measured = name in runs
        rows.append(LayerRow(
            shape, name, count(layer),
            shape.steps * shape.batch / seconds[name] if measured else float("nan"),
            peak_training_bytes(runs[name], device) / 1e6 if measured else float("nan"),
        ))
        layer.zero_grad(set_to_none=True)
    return rows
