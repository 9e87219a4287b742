"""A naive ARMIN stack, written plainly from the specification (docs/the-cell.md).

Every step reads with a dense straight-through weight w = onehot(k) - y.detach() + y
(forward: one-hot) blended over all N slots, writes by blending the new value into all N
slots through a one-hot mask, and leaves everything to autograd, which then saves the whole
memory at every step. It shares the parameters of an :class:`~armin_plugin.modules.ARMIN`
and is the yardstick of the benchmark and of tests/test_fast_layer.py.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from armin_plugin.modules import ARMIN, ARMINState
from armin_plugin.modules.addressing import sample_gumbel


def naive_step(cell, x, hidden, memory, steps, temperature, noise, real):
    """One spec step of ``cell`` (an ARMINCell) for x (B, d_x).

    hidden (B, d_h), memory (B, N, d_r), steps (B,); noise (B, N) or None (argmax);
    real (B,) bool or None. Returns out (B, d_h + d_r) and the new (hidden, memory, steps).
    """
    d_h, d_r, n_slots = cell.hidden_size, cell.slot_size, cell.num_slots
    logits = cell.address(torch.cat([x, hidden], -1))
    if noise is None:
        chosen = logits.argmax(-1)
        weight = F.one_hot(chosen, n_slots).to(logits.dtype)
    else:
        soft = torch.softmax((logits + noise) / temperature, -1)
        chosen = soft.argmax(-1)
        weight = F.one_hot(chosen, n_slots).to(soft.dtype) - soft.detach() + soft
    read = torch.einsum("bn,bnr->br", weight, memory)
    gate_h, gate_r = torch.sigmoid(cell.gate(torch.cat([x, hidden, read], -1))).split(
        [d_h, d_r], -1
    )
    i, j, f, o, o_m = cell.transform(torch.cat([x, gate_h * hidden, gate_r * read], -1)).split(
        [d_h, d_h, d_h, d_h, d_r], -1
    )
    new_hidden = torch.tanh(
        torch.sigmoid(f + cell.forget_bias) * hidden + torch.sigmoid(i) * torch.tanh(j)
    )
    out = torch.cat([torch.sigmoid(o) * new_hidden, torch.sigmoid(o_m) * read], -1)
    slot = torch.where(steps < n_slots, steps, chosen)
    mask = F.one_hot(slot, n_slots).to(memory.dtype).unsqueeze(-1)
    new_memory = memory * (1.0 - mask) + mask * cell.write(new_hidden).unsqueeze(1)
    if real is None:
        return out, (new_hidden, new_memory, steps + 1)
    return out, (
        torch.where(real[:, None], new_hidden, hidden),
        torch.where(real[:, None, None], new_memory, memory),
        steps + real.long(),
    )


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
            out, layer_state = naive_step(
                cell, output[t], *layer_state, model.temperature,
                None if gumbel_noise is None else gumbel_noise[index, t],
                None if real is None else real[t],
            )
            outs.append(out)
        output = torch.stack(outs)
        finals.append(layer_state)
    return output, ARMINState.stack(finals)
