"""Training speed and memory of one ARMIN layer against the naive reference and nn.LSTM.

The ARMIN row runs the backend ``ARMIN_BACKEND`` selects (the compiled loop where built)
and, in the same interleaved rounds, the Python loop (``python_tokens_per_s``)."""
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Dict, List

import torch
from torch import nn

from armin_plugin.modules import ARMIN
from armin_plugin.modules.sizing import lstm_hidden_for
from benchmarks.measure import interleaved_medians, peak_training_bytes
from benchmarks.naive_armin import naive_armin

INPUT_SIZE = 128  # d_x of every layer benchmark (an embedding size)
OURS, NAIVE = "ARMIN (ours)", "naive ARMIN"
PYTHON_LOOP = "ARMIN (ours), Python loop"  # a column of the OURS row, not a row


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
    python_tokens_per_s: float = float("nan")  # ARMIN rows: the same layer on the Python loop


@contextmanager
def python_loop():
    """Run ARMIN's recurrence on the Python loop inside the block."""
    saved = os.environ.get("ARMIN_BACKEND")
    os.environ["ARMIN_BACKEND"] = "python"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["ARMIN_BACKEND"]
        else:
            os.environ["ARMIN_BACKEND"] = saved


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def training_pass(forward: Callable[[], torch.Tensor]) -> Callable[[], Callable[[], None]]:
    """A forward that returns the backward of sum(output), as the measurers want it."""

    def run():
        output = forward()
        return lambda: output.sum().backward()

    return run


def python_pass(layer: nn.Module, x: torch.Tensor) -> Callable[[], Callable[[], None]]:
    """:func:`training_pass` of ``layer(x)`` on the Python loop (backward runs the backend
    that its forward ran)."""

    def forward():
        with python_loop():
            return layer(x)[0]

    return training_pass(forward)


def layer_candidates(shape: Shape, device: torch.device) -> Dict[str, nn.Module]:
    """The four layers of one shape, in table order; ARMIN trains (samples addresses)."""
    armin = ARMIN(INPUT_SIZE, shape.hidden, shape.slot, shape.slots, temperature=0.5)
    equal = lstm_hidden_for(count(armin), INPUT_SIZE)
    return {
        OURS: armin.to(device).train(),
        NAIVE: armin,
        f"LSTM d_h {shape.hidden}": nn.LSTM(INPUT_SIZE, shape.hidden).to(device),
        f"LSTM {equal} (equal params)": nn.LSTM(INPUT_SIZE, equal).to(device),
    }


def measure_group(shapes: List[Shape], reps: int, device: torch.device,
                  naive_limit_mb: float) -> List[LayerRow]:
    """Rows of shapes that differ only in N: forward + backward tokens/s and peak memory.

    All candidates of all the shapes run in the same interleaved rounds (median of
    ``reps``), so that ratios between them, across N too, see the same machine load; the
    LSTM of equal d_h is the same layer for every N and runs once. The naive reference is
    left out (NaN) when its memory, estimated as 1.5 (B, N, d_r) float tensors saved per
    step (1.14 measured), would pass ``naive_limit_mb``.
    """
    torch.manual_seed(0)
    first = shapes[0]
    x = torch.randn(first.steps, first.batch, INPUT_SIZE, device=device)
    layers, runs, keys = {}, {}, {shape: [] for shape in shapes}
    for shape in shapes:
        assert (shape.hidden, shape.slot, shape.steps, shape.batch) == (
            first.hidden, first.slot, first.steps, first.batch)
        for name, layer in layer_candidates(shape, device).items():
            key = (None if name.startswith("LSTM d_h") else shape, name)
            layers.setdefault(key, layer)
            keys[shape].append(key)
            naive_mb = 1.5 * 4 * shape.steps * shape.batch * shape.slots * shape.slot / 1e6
            if key in runs or (name == NAIVE and naive_mb > naive_limit_mb):
                continue
            if name == NAIVE:
                runs[key] = training_pass(lambda layer=layer: naive_armin(layer, x)[0])
            else:
                runs[key] = training_pass(lambda layer=layer: layer(x)[0])
            if name == OURS:
                runs[(shape, PYTHON_LOOP)] = python_pass(layer, x)

    def step(run):
        return lambda: (run()(), [layer.zero_grad(set_to_none=True) for layer in layers.values()])

    seconds = interleaved_medians({key: step(run) for key, run in runs.items()}, reps, device)
    peak_mb = {key: peak_training_bytes(run, device) / 1e6 for key, run in runs.items()
               if key[1] != PYTHON_LOOP}
    rows = []
    for shape in shapes:
        for key in keys[shape]:
            layer = layers[key]
            tokens = first.steps * first.batch / seconds[key] if key in runs else float("nan")
            row = LayerRow(shape, key[1], count(layer), tokens, peak_mb.get(key, float("nan")))
            if key[1] == OURS:
                row.python_tokens_per_s = first.steps * first.batch / seconds[(shape, PYTHON_LOOP)]
            rows.append(row)
            layer.zero_grad(set_to_none=True)
    return rows
