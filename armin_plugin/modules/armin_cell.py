"""One ARMIN layer: the cell of ../shared/armin-spec.md run over a sequence."""
from contextlib import contextmanager
from typing import Iterator, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .memory_diagnostics import AddressingTrace
from .recurrence import RecurrentWeights, run_recurrence

LayerState = Tuple[Tensor, Tensor, Tensor]  # hidden (B, d_h), memory (B, N, d_r), steps (B,)


class ARMINCell(nn.Module):
    """One recurrent layer with an external memory of ``num_slots`` slots.

    Parameters follow the spec's matrices, each over the concatenation it names:
    ``address``: [x ; h] -> N logits, ``gate``: [x ; h ; r] -> d_h + d_r gates,
    ``transform``: [x ; g_h*h ; g_r*r] -> [i ; j ; f ; o ; o_m], ``write``: h -> d_r,
    ``initial_hidden`` p_h (h_0 = tanh(p_h)) and ``initial_memory`` p_M (M_0 = p_M).
    The input parts of ``address``, ``gate`` and ``transform`` are applied to all steps in
    one matrix multiply; :func:`.recurrence.run_recurrence` does the recurrent parts.
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
        self._arranged_key, self._arranged = None, None  # see arranged_weights()
        self._reused = None  # see reusing_weights()
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
        input_weight, input_bias, weights = self.arranged_weights()
        addr_in, gate_in, trans_in = F.linear(inputs, input_weight, input_bias).split(
            [self.num_slots, self.output_size, 4 * self.hidden_size + self.slot_size], -1
        )
        record = [] if self.record_addressing else None
        outputs, final = run_recurrence(
            addr_in, gate_in, trans_in, state, weights, gumbel_noise, step_mask, temperature, record
        )
        if record is not None:
            logits, read, written = record
            real = torch.ones_like(read, dtype=torch.bool) if step_mask is None else step_mask
            self.last_trace = AddressingTrace(logits, read, written, real, state[2])
        return outputs, final

    def arranged_weights(self) -> Tuple[Tensor, Tensor, RecurrentWeights]:
        """The parameters as the loop uses them: the input-side parts of ``address``,
        ``gate`` and ``transform`` stacked ((N + G + P, d_x) and (N + G + P,), with the
        forget bias folded into the f part of the bias) and the :class:`RecurrentWeights`.

        Without autograd (inference, decoding one token at a time) they are built once and
        kept until a parameter (its storage or its version counter) or the forget bias changes,
        or the module is switched to training. Optimizers that update ``param.data`` in place
        (fairseq's do) leave the version counter alone; they run in training mode, and
        ``train()`` drops the cache.
        """
        if self._reused is not None:
            return self._reused
        if torch.is_grad_enabled():
            return self._arrange_weights()
        key = (self.forget_bias, tuple((p.data_ptr(), p._version) for p in self.parameters()))
        if self._arranged_key != key:
            input_weight, input_bias, weights = self._arrange_weights()
            weights = RecurrentWeights(*(weight.contiguous() for weight in weights))
            self._arranged = input_weight, input_bias, weights
            self._arranged_key = key
        return self._arranged

    @contextmanager
    def reusing_weights(self) -> Iterator[None]:
        """Within the block every call uses one arrangement of the parameters, built on entry
        (with autograd when it is on: gradients of all calls flow back through it). For
        callers that run one step per call while training, such as a decoder with input
        feeding; the parameters must not change inside the block."""
        input_weight, input_bias, weights = self._arrange_weights()
        self._reused = input_weight, input_bias, RecurrentWeights(*(w.contiguous() for w in weights))
        try:
            yield
        finally:
            self._reused = None

    def train(self, mode: bool = True):
        self._arranged_key, self._arranged = None, None
        return super().train(mode)

    def _arrange_weights(self) -> Tuple[Tensor, Tensor, RecurrentWeights]:
        d_x, d_h = self.input_size, self.hidden_size
        w_addr, w_gate, w_trans = self.address.weight, self.gate.weight, self.transform.weight
        forget_shift = torch.zeros_like(self.transform.bias)
        forget_shift[2 * d_h:3 * d_h] = self.forget_bias
        input_weight = torch.cat([w_addr[:, :d_x], w_gate[:, :d_x], w_trans[:, :d_x]])
        input_bias = torch.cat([self.address.bias, self.gate.bias, self.transform.bias + forget_shift])
        weights = RecurrentWeights(
            torch.cat([w_addr[:, d_x:], self.write.weight]),
            torch.cat([self.write.bias.new_zeros(self.num_slots), self.write.bias]),
            w_gate[:, d_x:],
            w_trans[:, d_x:],
        )
        return input_weight, input_bias, weights

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"slot_size={self.slot_size}, num_slots={self.num_slots}, "
            f"forget_bias={self.forget_bias}"
        )
