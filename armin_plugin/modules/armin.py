"""A multi-layer ARMIN stack with an ``nn.LSTM``-like interface."""
from contextlib import ExitStack, contextmanager
from typing import Callable, Iterator, Optional, Tuple

import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ArminError
from .addressing import sample_gumbel
from .armin_cell import ARMINCell
from .armin_state import ARMINState
from .variants import CellVariant


class ARMIN(nn.Module):
    r"""A stack of ARMIN layers (Li et al., IJCAI 2019) with an ``nn.LSTM``-like interface.

    Every layer is an :class:`ARMINCell`, whose docstring gives the equations of one step:
    address logits :math:`a_t = W_a [x_t ; h_{t-1}] + b_a`, one slot :math:`k_t` read through
    a hard straight-through Gumbel-softmax, gates on :math:`h_{t-1}` and the read
    :math:`r_t`, the state update
    :math:`h_t = \tanh(\sigma(f + \text{forget\_bias}) h_{t-1} + \sigma(i) \tanh(j))`,
    the output :math:`out_t = [\sigma(o) h_t ; \sigma(o_m) r_t]`, and the write of
    :math:`v_t = W_v h_t + b_v` to slot :math:`n_{t-1}` while the memory fills, then to the
    slot just read. Layer 0 reads ``input_size`` features; layer :math:`l > 0` reads the
    output of layer :math:`l - 1` (size :math:`d_h + d_r`, after dropout when ``dropout``
    > 0), and the last layer's output is the stack's.

    Addressing: in training mode every layer samples its slot with fresh Gumbel noise at
    ``temperature`` (noise drawn in float32, also for float16/bfloat16 inputs); in eval mode
    it reads the argmax of the address logits (deterministic), unless ``sample_in_eval``
    keeps the sampling. The temperature changes only the gradient, not the slot read.

    Args:
        input_size: :math:`d_x`, the features of the input.
        hidden_size: :math:`d_h`, the carried state of each layer.
        slot_size: :math:`d_r`, the size of one memory slot (any size, also above :math:`d_h`).
        num_slots: :math:`N`, the memory slots of each layer.
        num_layers: :math:`L`, stacked layers. Default: 1
        dropout: dropout on the output of each layer except the last, as ``nn.LSTM``.
            Default: 0
        batch_first: inputs and outputs (and ``padding_mask``) are :math:`(B, T, \dots)`
            instead of :math:`(T, B, \dots)`; the state is not affected. Default: False
        forget_bias: constant added to every forget-gate pre-activation. Default: 1.0
        temperature: :math:`\tau` of the Gumbel-softmax, positive; settable between calls.
            Default: 1.0
        temperature_schedule: :math:`\tau` of each update count (a callable, e.g. a
            :class:`.temperature.TemperatureSchedule`): :meth:`set_num_updates` sets
            ``temperature`` from it, and it gives the first one. Default: None (fixed)
        sample_in_eval: sample addresses in eval mode too. Default: False
        init: how the cells' linear maps start, "pytorch" or "authors" (orthogonal weights,
            zero biases). Default: "pytorch"
        variant: the :class:`.variants.CellVariant` of every layer (no read, no re-read,
            content addressing). Default: the paper's cell

    Inputs: input, state, padding_mask, gumbel_noise, overwrite_state
        - **input** of shape :math:`(T, B, d_x)`, or :math:`(B, T, d_x)` with ``batch_first``.
        - **state**: an :class:`ARMINState` to continue from (from a previous call, after
          ``detach()`` for truncated BPTT, or ``index_select`` for beam search); None: the
          learned start state of every layer (:meth:`initial_state`).
        - **padding_mask** of shape :math:`(T, B)` (:math:`(B, T)` with ``batch_first``),
          bool, True at pads, anywhere in the sequence: pad steps leave hidden state, memory
          and step counter of every layer unchanged, so left- and right-padded rows end in
          the state of the unpadded sequence. None: no pads.
        - **gumbel_noise** of shape :math:`(L, T, B, N)`: the noise to use instead of drawing
          it (tests); used only when addresses are sampled.
        - **overwrite_state**: without autograd, the new memory may be written into
          ``state.memory`` instead of a copy (decoding one token at a time). Default: False

    Outputs: output, state
        - **output** of shape :math:`(T, B, d_h + d_r)` (or :math:`(B, T, d_h + d_r)`): the
          last layer's :math:`out_t` at every step; at pad steps meant to be ignored.
        - **state**: the :class:`ARMINState` after the last step: ``hidden``
          :math:`(L, B, d_h)`, ``memory`` :math:`(L, B, N, d_r)`, ``steps`` :math:`(L, B)`
          (long, real steps taken; slots fill 0..N-1 first). Calling again with it continues
          exactly: one call over T steps equals calls over chunks of them (in eval mode, or
          with the same noise).

    Attributes:
        layers: ``nn.ModuleList`` of :math:`L` :class:`ARMINCell`; the parameters are
            ``layers.{l}.address.weight`` :math:`(N, d_x + d_h)` (:math:`d_x` is
            ``input_size`` for :math:`l = 0`, :math:`d_h + d_r` above), ``.address.bias``
            :math:`(N)`, ``.gate.weight`` :math:`(d_h + d_r, d_x + d_h + d_r)`,
            ``.gate.bias`` :math:`(d_h + d_r)`, ``.transform.weight``
            :math:`(4 d_h + d_r, d_x + d_h + d_r)`, ``.transform.bias`` :math:`(4 d_h + d_r)`,
            ``.write.weight`` :math:`(d_r, d_h)`, ``.write.bias`` :math:`(d_r)`,
            ``.initial_hidden`` :math:`(d_h)` and ``.initial_memory`` :math:`(N, d_r)`.
        output_size: :math:`d_h + d_r`.

    Examples::

        >>> armin = ARMIN(input_size=64, hidden_size=256, slot_size=64, num_slots=16, num_layers=2)
        >>> x = torch.randn(150, 32, 64)                 # (T, B, d_x)
        >>> out, state = armin(x)                        # out: (150, 32, 320)
        >>> out2, state = armin(x, state.detach())       # carry h, M and n (truncated BPTT)
        >>> state = state.index_select(torch.tensor([2, 0]))   # reorder or drop rows (beam search)
        >>> armin.temperature = 0.5
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        slot_size: int,
        num_slots: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        batch_first: bool = False,
        forget_bias: float = 1.0,
        temperature: float = 1.0,
        temperature_schedule: Optional[Callable[[int], float]] = None,
        sample_in_eval: bool = False,
        init: str = "pytorch",
        variant: CellVariant = CellVariant(),
    ):
        super().__init__()
        for name, value in [
            ("input_size", input_size),
            ("hidden_size", hidden_size),
            ("slot_size", slot_size),
            ("num_slots", num_slots),
            ("num_layers", num_layers),
        ]:
            if int(value) != value or value < 1:
                raise ArminError(f"ARMIN {name} must be a positive integer, got {value}")
        if not 0.0 <= dropout < 1.0:
            raise ArminError(f"ARMIN dropout must be in [0, 1), got {dropout}")
        self.hidden_size = hidden_size
        self.slot_size = slot_size
        self.num_slots = num_slots
        self.num_layers = num_layers
        self.dropout = dropout
        self.batch_first = batch_first
        self.sample_in_eval = sample_in_eval
        self.temperature_schedule = temperature_schedule
        self.temperature = temperature if temperature_schedule is None else temperature_schedule(0)
        self.variant = variant
        self.num_updates = 0  # the trainer's update count (set_num_updates)
        self.layers = nn.ModuleList(
            ARMINCell(
                input_size if index == 0 else hidden_size + slot_size,
                hidden_size,
                slot_size,
                num_slots,
                forget_bias,
                init,
                variant,
            )
            for index in range(num_layers)
        )

    @property
    def output_size(self) -> int:
        return self.hidden_size + self.slot_size

    @property
    def temperature(self) -> float:
        return self._temperature

    @temperature.setter
    def temperature(self, value: float):
        if not value > 0:
            raise ArminError(f"ARMIN temperature must be positive, got {value}")
        self._temperature = float(value)

    def set_num_updates(self, num_updates: int):
        """The trainer's update count (fairseq models pass it to every module that has this
        method): sets the scheduled temperature."""
        self.num_updates = num_updates
        if self.temperature_schedule is not None:
            self.temperature = self.temperature_schedule(num_updates)

    @property
    def samples_addresses(self) -> bool:
        """True when reads are chosen by Gumbel sampling (training, or ``sample_in_eval``)."""
        return self.training or self.sample_in_eval

    def initial_state(self, batch_size: int) -> ARMINState:
        """The learned start state of a fresh sequence for ``batch_size`` rows."""
        return ARMINState.stack(layer.initial_state(batch_size) for layer in self.layers)

    def forward(
        self,
        input: Tensor,
        state: Optional[ARMINState] = None,
        padding_mask: Optional[Tensor] = None,
        gumbel_noise: Optional[Tensor] = None,
        overwrite_state: bool = False,
    ) -> Tuple[Tensor, ARMINState]:
        """Run the stack over a sequence.

        input: (T, B, d_x), or (B, T, d_x) with ``batch_first``.
        state: an :class:`ARMINState` to continue from; None starts fresh.
        padding_mask: (T, B) bool (or (B, T) with ``batch_first``), True at pad positions;
            pad steps leave hidden, memory and step counter unchanged.
        gumbel_noise: (L, T, B, N) noise to use instead of sampling (tests); used only
            when addresses are sampled.
        overwrite_state: without autograd, write the new memory into ``state.memory``
            (where it is contiguous) instead of into a copy: for a caller that owns
            ``state`` and drops it after the call, as incremental decoding does; the
            returned state may then share its memory with ``state``.
        Returns output (T, B, d_h + d_r) (or (B, T, ...)) and the final :class:`ARMINState`.
        """
        if self.batch_first:
            input = input.transpose(0, 1)
            if padding_mask is not None:
                padding_mask = padding_mask.transpose(0, 1)
        steps, batch_size = input.shape[:2]
        if state is None:
            state = self.initial_state(batch_size)
        step_mask = None if padding_mask is None else ~padding_mask
        if self.samples_addresses and gumbel_noise is None:
            gumbel_noise = sample_gumbel(
                (self.num_layers, steps, batch_size, self.num_slots),
                device=input.device,
                dtype=input.dtype,
            )
        elif not self.samples_addresses:
            gumbel_noise = None

        final = []
        output = input
        for index, layer in enumerate(self.layers):
            if index > 0 and self.dropout > 0:
                output = F.dropout(output, self.dropout, self.training)
            output, layer_state = layer(
                output,
                state.layer(index),
                step_mask,
                self.temperature,
                None if gumbel_noise is None else gumbel_noise[index],
                overwrite_state,
            )
            final.append(layer_state)
        if self.batch_first:
            output = output.transpose(0, 1)
        return output, ARMINState.stack(final)

    @contextmanager
    def reusing_weights(self) -> Iterator[None]:
        """Every layer arranges its parameters once for the whole block instead of once per
        call (see :meth:`ARMINCell.reusing_weights`): for one-step-per-call loops."""
        with ExitStack() as layers:
            for layer in self.layers:
                layers.enter_context(layer.reusing_weights())
            yield

    def extra_repr(self) -> str:
        return (
            f"hidden_size={self.hidden_size}, slot_size={self.slot_size}, "
            f"num_slots={self.num_slots}, num_layers={self.num_layers}, "
            f"dropout={self.dropout}, batch_first={self.batch_first}, "
            f"temperature={self.temperature}, sample_in_eval={self.sample_in_eval}"
        )
