"""One ARMIN layer: the cell of ../shared/armin-spec.md run over a sequence."""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .addressing import choose_slot, read_slot, write_slot
from .memory_diagnostics import AddressingTrace

LayerState = Tuple[Tensor, Tensor, Tensor]  # hidden (B, d_h), memory (B, N, d_r), steps (B,)


class ARMINCell(nn.Module):
    """One recurrent layer with an external memory of ``num_slots`` slots.

    Parameters follow the spec's matrices, each over the concatenation it names:
    ``address``: [x ; h] -> N logits, ``gate``: [x ; h ; r] -> d_h + d_r gates,
    ``transform``: [x ; g_h*h ; g_r*r] -> [i ; j ; f ; o ; o_m], ``write``: h -> d_r,
    ``initial_hidden`` p_h (h_0 = tanh(p_h)) and ``initial_memory`` p_M (M_0 = p_M).
    The input parts of ``address``, ``gate`` and ``transform`` are applied to all steps in
    one matrix multiply; the loop does only the recurrent parts.
    """

    def __init__(self, input_size, hidden_size, slot_size, num_slots, forget_bias=1.0):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.slot_size = slot_size
        self.num_slots = num_slots
        self.forget_bias = forget_bias
        d_x, d_h, d_r = input_size, hidden_size, slot_size
        self.address = nn.Linear(d_x + d_h, num_slots)
        self.gate = nn.Linear(d_x + d_h + d_r, d_h + d_r)
        self.transform = nn.Linear(d_x + d_h + d_r, 4 * d_h + d_r)
        self.write = nn.Linear(d_h, d_r)
        self.initial_hidden = nn.Parameter(torch.randn(d_h))
        self.initial_memory = nn.Parameter(torch.zeros(num_slots, d_r))
        # When set, forward() leaves an AddressingTrace of its last call in ``last_trace``.
        self.record_addressing = False
        self.last_trace: Optional[AddressingTrace] = None

    @property
    def output_size(self) -> int:
        return self.hidden_size + self.slot_size

    def initial_state(self, batch_size: int) -> LayerState:
        """h_0 = tanh(p_h) (B, d_h), M_0 = p_M (B, N, d_r), steps 0 (B,)."""
        hidden = torch.tanh(self.initial_hidden).expand(batch_size, -1)
        memory = self.initial_memory.expand(batch_size, -1, -1)
        steps = torch.zeros(batch_size, dtype=torch.long, device=hidden.device)
        return hidden, memory, steps

    def forward(
        self,
        inputs: Tensor,
        state: LayerState,
        step_mask: Optional[Tensor] = None,
        temperature: float = 1.0,
        gumbel_noise: Optional[Tensor] = None,
    ) -> Tuple[Tensor, LayerState]:
        """Run T steps.

        inputs: (T, B, d_x); state: (hidden, memory, steps) as from :meth:`initial_state`;
        step_mask: (T, B) bool, True where the step is real (pad steps change no state);
        gumbel_noise: (T, B, N) noise for the hard Gumbel-softmax, or None for argmax.
        Returns outputs (T, B, d_h + d_r) and the state after the last step.
        """
        d_x, d_h, d_r, n_slots = self.input_size, self.hidden_size, self.slot_size, self.num_slots
        w_addr, w_gate, w_trans = self.address.weight, self.gate.weight, self.transform.weight

        # Input-side parts of the three projections, for all steps at once.
        projected = F.linear(
            inputs,
            torch.cat([w_addr[:, :d_x], w_gate[:, :d_x], w_trans[:, :d_x]]),
            torch.cat([self.address.bias, self.gate.bias, self.transform.bias]),
        )
        addr_in, gate_in, trans_in = projected.split(
            [n_slots, d_h + d_r, 4 * d_h + d_r], dim=-1
        )
        # h_t feeds both the next step's address logits and this step's write value.
        w_from_h = torch.cat([w_addr[:, d_x:], self.write.weight])
        b_from_h = torch.cat([self.write.bias.new_zeros(n_slots), self.write.bias])
        w_gate_rec, w_trans_rec = w_gate[:, d_x:], w_trans[:, d_x:]

        hidden, memory, steps = state
        addr_rec = F.linear(hidden, w_addr[:, d_x:])
        # unbind once: per-step indexing of a (T, ...) tensor costs O(T^2) in backward.
        per_step = [addr_in.unbind(0), gate_in.unbind(0), trans_in.unbind(0)]
        per_step.append(gumbel_noise.unbind(0) if gumbel_noise is not None else [None] * len(inputs))
        per_step.append(step_mask.unbind(0) if step_mask is not None else [None] * len(inputs))

        outputs = []
        trace = [] if self.record_addressing else None
        steps_before = steps
        for a_in, g_in, t_in, noise, real in zip(*per_step):
            logits = a_in + addr_rec
            slot, probs = choose_slot(logits, temperature, noise)
            read = read_slot(memory, slot, probs)
            hidden_read = torch.cat([hidden, read], dim=-1)
            gates = torch.sigmoid(g_in + F.linear(hidden_read, w_gate_rec))
            i, j, f, o, o_m = (t_in + F.linear(gates * hidden_read, w_trans_rec)).split(
                [d_h, d_h, d_h, d_h, d_r], dim=-1
            )
            new_hidden = torch.tanh(
                torch.sigmoid(f + self.forget_bias) * hidden + torch.sigmoid(i) * torch.tanh(j)
            )
            outputs.append(torch.cat([torch.sigmoid(o) * new_hidden, torch.sigmoid(o_m) * read], -1))

            new_addr_rec, value = F.linear(new_hidden, w_from_h, b_from_h).split([n_slots, d_r], -1)
            target = torch.where(steps < n_slots, steps, slot)
            if trace is not None:
                trace.append((logits.detach(), slot, target))
            if real is None:
                hidden, addr_rec, steps = new_hidden, new_addr_rec, steps + 1
            else:
                keep = real.unsqueeze(-1)
                value = torch.where(keep, value, read_slot(memory, target, None))
                hidden = torch.where(keep, new_hidden, hidden)
                addr_rec = torch.where(keep, new_addr_rec, addr_rec)
                steps = steps + real.long()
            memory = write_slot(memory, target, value)
        if trace is not None:
            logits, read, written = (torch.stack(column) for column in zip(*trace))
            real = torch.ones_like(read, dtype=torch.bool) if step_mask is None else step_mask
            self.last_trace = AddressingTrace(logits, read, written, real, steps_before)
        return torch.stack(outputs), (hidden, memory, steps)

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"slot_size={self.slot_size}, num_slots={self.num_slots}, "
            f"forget_bias={self.forget_bias}"
        )
