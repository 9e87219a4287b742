"""One ARMIN layer: the cell (equations in :class:`ARMINCell`; docs/the-cell.md) run over a sequence."""
from contextlib import contextmanager
from typing import Iterator, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ArminError
from .addressing_trace import AddressingTrace
from .deferred_gradients import DeferredLinear
from .initialisation import initialise
from .recurrence import RecurrentWeights, defer_weight_gradients, run_recurrence
from .step import armin_step
from .variants import CellVariant

# hidden (B, d_h), memory (B, N, d_r), steps (B,), and read_age (B, N) for the variants
# with CellVariant.reads_history
LayerState = Tuple[Tensor, ...]


class ARMINCell(nn.Module):
    r"""One ARMIN layer (Li et al., IJCAI 2019): a recurrent cell with an external memory of
    ``num_slots`` slots, of which it reads exactly one per step and writes exactly one.

    For each row of the batch, one step takes the input :math:`x_t` and the state
    :math:`(h_{t-1}, M_{t-1}, n_{t-1})` and computes (:func:`.step.armin_step`, line by line;
    :meth:`step` runs it)::

        a_t     = W_a [x_t ; h_{t-1}] + b_a                          address logits     (N)
          content_address: a_t[k] += <key_k, q_t>,  q_t = W_q [x_t ; h_{t-1}] + b_q,
                  key_k = M_{t-1}[k] / sqrt(|M_{t-1}[k]|^2 + 1)
          no_reread: a_t[k_{t-1}] -= 1e4  (k_{t-1}: the slot read at the previous real step)
        k_t     = argmax(a_t + g_t),  g_t ~ Gumbel(0, 1) per slot    slot read (sampled)
        k_t     = argmax(a_t)                                        slot read (no noise)
        y_t     = softmax((a_t + g_t) / tau)                         (gradient only)
        w_t     = onehot(k_t) - sg(y_t) + y_t                        hard straight-through
        r_t     = sum_k w_t[k] M_{t-1}[k]   (= M_{t-1}[k_t])         read               (d_r)
          no_read: r_t = 0
        [g_h ; g_r] = sigmoid(W_g [x_t ; h_{t-1} ; r_t] + b_g)       gates          (d_h, d_r)
        z_t     = [x_t ; g_h * h_{t-1} ; g_r * r_t]                  (x_t is not gated)
        [i ; j ; f ; o ; o_m] = W z_t + b                            (d_h, d_h, d_h, d_h, d_r)
        h_t     = tanh(sigmoid(f + forget_bias) * h_{t-1} + sigmoid(i) * tanh(j))
        out_t   = [sigmoid(o) * h_t ; sigmoid(o_m) * r_t]            output       (d_h + d_r)
        v_t     = W_v h_t + b_v                                      write value        (d_r)
        s_t     = n_{t-1} if n_{t-1} < N else k_t                    slot written
        M_t     = M_{t-1} with row s_t replaced by v_t
        n_t     = n_{t-1} + 1
          no_reread: age_t[k_t] = 1, age_t[k] = age_{t-1}[k] + 1 for the other slots read
                  before (age > 0), 0 for slots never read

    where ``sg`` stops the gradient and ``*`` is the elementwise product. The forward value of
    :math:`w_t` is the one-hot vector of :math:`k_t`, so the read is the slot itself; in
    backward, the gradient of the read reaches slot :math:`k_t` of the memory only, and every
    slot's logit through :math:`y_t`: :math:`\partial L/\partial y_t[k] =
    \langle M_{t-1}[k], \partial L/\partial r_t\rangle`. The temperature ``tau`` therefore
    changes only the gradient, never which slot is read. Without noise (``gumbel_noise`` None,
    as :class:`ARMIN` passes in eval mode) no gradient reaches the address logits. Ties go to
    the lowest slot index (``torch.argmax``). There is one carried state vector :math:`h`, no
    separate LSTM cell state.

    Write rule: the first :math:`N` real steps of a sequence fill slots 0, 1, ..., N-1 in
    order, whatever the address; from then on the new value replaces the slot that was read
    at the same step (its index carries no gradient). Pad steps (``step_mask`` False) change
    nothing: :math:`h`, :math:`M` and :math:`n` keep their values; the output at a pad step
    is what the step would have given and is meant to be ignored.

    A fresh sequence starts from :meth:`initial_state`: :math:`h_0 = \tanh(p_h)`,
    :math:`M_0 = p_M` (every row alike), :math:`n_0 = 0`.

    Args:
        input_size: :math:`d_x`, the features of :math:`x_t`.
        hidden_size: :math:`d_h`, the size of :math:`h`.
        slot_size: :math:`d_r`, the size of one memory slot (any size, also above :math:`d_h`).
        num_slots: :math:`N`, the number of memory slots.
        forget_bias: constant added to the forget-gate pre-activation :math:`f`. Default: 1.0
        init: "pytorch" (``nn.Linear``'s default) or "authors" (orthogonal weights, zero
            biases; see :func:`.initialisation.initialise`). Default: "pytorch"
        variant: a :class:`.variants.CellVariant`, departures from the paper's step (no read,
            no re-read, content addressing). Default: the paper's cell.
            With ``no_reread`` the state carries a fourth tensor,
            read_age (B, N) long: real steps since each slot was last read (0: not yet)

    Inputs of :meth:`forward`: inputs, state, step_mask, temperature, gumbel_noise
        - **inputs** of shape :math:`(T, B, d_x)`.
        - **state**: ``(hidden, memory, steps)``, shapes :math:`(B, d_h)`, :math:`(B, N, d_r)`
          and :math:`(B,)` (long: real steps taken), as from :meth:`initial_state` or a
          previous call (chunked calls equal one long call); with a variant that reads the
          history, also read_age :math:`(B, N)` (zeros where a state comes without it).
        - **step_mask** of shape :math:`(T, B)`, bool, True at real steps; None: all real.
        - **temperature**: ``tau`` of the Gumbel-softmax (a positive float). Default: 1.0
        - **gumbel_noise** of shape :math:`(T, B, N)`, the noise :math:`g_t`; None: argmax of
          the logits without noise.

    Outputs of :meth:`forward`: outputs, (hidden, memory, steps)
        - **outputs** of shape :math:`(T, B, d_h + d_r)`: :math:`out_t` of every step.
        - the state after the last step, shapes as above. In float16/bfloat16 the loop runs
          in float32 and the returned hidden state and memory stay float32 (see
          :mod:`.recurrence`); the outputs are cast back to the input dtype.

    Attributes (each ``nn.Linear`` maps the concatenation it names, its input columns in
    that order; ``weight`` is (out_features, in_features)):
        address.weight: :math:`W_a`, shape :math:`(N, d_x + d_h)`; address.bias:
            :math:`b_a`, shape :math:`(N)`.
        gate.weight: :math:`W_g`, shape :math:`(d_h + d_r, d_x + d_h + d_r)`; gate.bias:
            :math:`b_g`, shape :math:`(d_h + d_r)`; rows :math:`g_h` then :math:`g_r`.
        transform.weight: :math:`W`, shape :math:`(4 d_h + d_r, d_x + d_h + d_r)`;
            transform.bias: :math:`b`, shape :math:`(4 d_h + d_r)`; rows
            :math:`i, j, f, o, o_m` in that order.
        write.weight: :math:`W_v`, shape :math:`(d_r, d_h)`; write.bias: :math:`b_v`, shape
            :math:`(d_r)`.
        initial_hidden: :math:`p_h`, shape :math:`(d_h)`, initialised from
            :math:`\mathcal{N}(0, 1)`.
        initial_memory: :math:`p_M`, shape :math:`(N, d_r)`, initialised to zeros.
        query.weight: :math:`W_q`, shape :math:`(d_r, d_x + d_h)`; query.bias: :math:`b_q`,
            shape :math:`(d_r)`; only with ``variant.content_address`` (``nn.Linear``'s
            initialisation under either ``init``).

    The linear maps keep ``nn.Linear``'s initialisation,
    :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})` with :math:`k = 1/\text{in\_features}`, unless
    ``init`` is "authors".

    Cost per step and row, in multiply-adds: :math:`(d_x + d_h) N + (d_x + d_h + d_r)(d_h +
    d_r) + (d_x + d_h + d_r)(4 d_h + d_r) + d_h d_r`; the read and the write copy one slot
    (:math:`O(d_r)`), and backward adds :math:`O(N d_r)` for the straight-through product
    with every slot. The input parts of ``address``, ``gate`` and ``transform`` are applied to all
    steps in one matrix multiply; :func:`.recurrence.run_recurrence` runs the recurrent
    parts with a hand-written backward through time.

    Examples::

        >>> cell = ARMINCell(input_size=10, hidden_size=20, slot_size=8, num_slots=4)
        >>> x = torch.randn(5, 3, 10)                      # (T, B, d_x)
        >>> out, (h, M, n) = cell(x, cell.initial_state(3))
        >>> out.shape, h.shape, M.shape, n.tolist()
        (torch.Size([5, 3, 28]), torch.Size([3, 20]), torch.Size([3, 4, 8]), [5, 5, 5])
    """

    def __init__(self, input_size, hidden_size, slot_size, num_slots, forget_bias=1.0,
                 init="pytorch", variant=CellVariant()):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.slot_size = slot_size
        self.num_slots = num_slots
        self.forget_bias = forget_bias
        self.variant = variant
        if variant.no_reread and num_slots < 2:
            raise ArminError(f"ARMIN no_reread (--armin-no-reread) needs at least 2 slots, got {num_slots}")
        d_x, d_h, d_r = input_size, hidden_size, slot_size
        self.address = nn.Linear(d_x + d_h, num_slots)
        self.gate = nn.Linear(d_x + d_h + d_r, d_h + d_r)
        self.transform = nn.Linear(d_x + d_h + d_r, 4 * d_h + d_r)
        self.write = nn.Linear(d_h, d_r)
        initialise(self, init)
        self.initial_hidden = nn.Parameter(torch.randn(d_h))
        self.initial_memory = nn.Parameter(torch.zeros(num_slots, d_r))
        self.query = nn.Linear(d_x + d_h, d_r) if variant.content_address else None
        self._arranged_key, self._arranged = None, None  # see arranged_weights()
        self._reused, self._deferred = None, None  # see reusing_weights()
        # When set, forward() leaves an AddressingTrace of its last call in ``last_trace``.
        self.record_addressing = False
        self.last_trace: Optional[AddressingTrace] = None

    @property
    def output_size(self) -> int:
        return self.hidden_size + self.slot_size

    def initial_state(self, batch_size: int) -> LayerState:
        """h_0 = tanh(p_h) (B, d_h), M_0 = p_M (B, N, d_r), steps 0 (B,), and read_age 0
        (B, N) where the variant reads the history."""
        hidden = torch.tanh(self.initial_hidden).expand(batch_size, -1)
        memory = self.initial_memory.expand(batch_size, -1, -1)
        steps = torch.zeros(batch_size, dtype=torch.long, device=hidden.device)
        if self.variant.reads_history:
            return hidden, memory, steps, self._unread(batch_size, hidden.device)
        return hidden, memory, steps

    def _unread(self, batch_size: int, device) -> Tensor:
        return torch.zeros(batch_size, self.num_slots, dtype=torch.long, device=device)

    def step(self, x: Tensor, state: LayerState, temperature: float = 1.0,
             gumbel_noise: Optional[Tensor] = None, real: Optional[Tensor] = None):
        """One step by :func:`.step.armin_step`, the definition that :meth:`forward` computes
        faster: x (B, d_x), state as in :meth:`forward` (with read_age where the variant
        reads the history), gumbel_noise (B, N) or None, real (B,) bool or None. Returns out_t
        (B, d_h + d_r), the new state and a :class:`.step.StepTrace`."""
        return armin_step(self, x, state, temperature, gumbel_noise, real)

    def forward(
        self,
        inputs: Tensor,
        state: LayerState,
        step_mask: Optional[Tensor] = None,
        temperature: float = 1.0,
        gumbel_noise: Optional[Tensor] = None,
        overwrite_memory: bool = False,
    ) -> Tuple[Tensor, LayerState]:
        """Run T steps.

        inputs: (T, B, d_x); state: (hidden, memory, steps) as from :meth:`initial_state`;
        step_mask: (T, B) bool, True where the step is real (pad steps change no state);
        gumbel_noise: (T, B, N) noise for the hard Gumbel-softmax, or None for argmax;
        overwrite_memory: without autograd, write the new memory into ``state``'s own (when
        contiguous) instead of a copy.
        Returns outputs (T, B, d_h + d_r) and the state after the last step.
        """
        input_weight, input_bias, weights = self.arranged_weights()
        deferred = None
        if self._deferred is not None:  # reusing_weights()
            project, deferred = self._deferred
            projected = project(inputs)
        else:
            projected = F.linear(inputs, input_weight, input_bias)  # (T, B, N + G + P)
        record = [] if self.record_addressing else None
        if self.variant.reads_history and len(state) == 3:
            state = (*state, self._unread(inputs.size(1), inputs.device))
        query_in = query_weight = None
        if self.query is not None:  # q_t = W_q [x_t ; h_{t-1}] + b_q: its input part for all steps
            query_in = F.linear(inputs, self.query.weight[:, :self.input_size], self.query.bias)
            query_weight = self.query.weight[:, self.input_size:]
        outputs, final = run_recurrence(
            projected, state, weights, gumbel_noise, step_mask, temperature, record, self.variant,
            overwrite_memory, deferred.factors if deferred is not None and deferred.tracked else None,
            query_in, query_weight,
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
        (with autograd when it is on: gradients of all calls flow back through it), and the
        weight gradients are computed once over the rows of all calls, one product per
        weight, instead of once per call (:mod:`.deferred_gradients`). For callers that run
        one step per call while training, such as a decoder with input feeding; the
        parameters must not change inside the block."""
        input_weight, input_bias, weights = self._arrange_weights()
        project = DeferredLinear(input_weight, input_bias)
        recurrent = defer_weight_gradients(RecurrentWeights(*(w.contiguous() for w in weights)))
        self._reused = input_weight, input_bias, RecurrentWeights(*recurrent.weights)
        self._deferred = project, recurrent
        try:
            yield
        finally:
            self._reused, self._deferred = None, None

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
            f"forget_bias={self.forget_bias}, variant={self.variant}"
        )
