"""A naive ARMIN stack: the spec's step (armin_plugin/modules/step.py) in a Python loop.

Every step reads with a dense straight-through weight w = onehot(k) - y.detach() + y
(forward: one-hot) over all N slots, writes by selecting the slot over all N, and leaves
everything to autograd, which then saves the whole memory at every step. It shares the
parameters of an :class:`~armin_plugin.modules.ARMIN` and is the yardstick of the benchmark
and of tests/test_fast_layer.py.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from armin_plugin.modules import ARMIN, ARMINState
from armin_plugin.modules.addressing import sample_gumbel


def naive_armin(
    model: ARMIN,
    inputs: Tensor,
    state: Optional[ARMINState] = None,
    padding_mask: Optional[Tensor] = None,
    gumbel_noise: Optional[Tensor] = None,
) -> Tuple[Tensor, ARMINState]:
    """``model(inputs, state, padding_mask, gumbel_noise)`` the naive way (time-major).

    inputs (T, B, d_x); padding_mask (T, B) True at pads; gumbel_noise (L, T, B, N), used
    when ``model`` samples addresses (sampled here when not given). Dropout between layers
    is applied as in the model. Returns output (T, B, d_h + d_r) and the final ARMINState.
    """
    steps_total, batch = inputs.shape[:2]
    if state is None:
        state = model.initial_state(batch)
    if not model.samples_addresses:
        gumbel_noise = None
    elif gumbel_noise is None:
        gumbel_noise = sample_gumbel((model.num_layers, steps_total, batch, model.num_slots),
                                     device=inputs.device, dtype=inputs.dtype)
    real = None if padding_mask is None else ~padding_mask
    output, finals = inputs, []
    for index, cell in enumerate(model.layers):
        if index > 0 and model.dropout > 0:
            output = F.dropout(output, model.dropout, model.training)
        layer_state, outs = state.layer(index), []
        for t in range(steps_total):
            out, layer_state, _ = cell.step(output[t], layer_state, model.temperature,
                                            None if gumbel_noise is None else gumbel_noise[index, t],
                                            None if real is None else real[t])
            outs.append(out)
        output = torch.stack(outs)
        finals.append(layer_state)
    return output, ARMINState.stack(finals)
