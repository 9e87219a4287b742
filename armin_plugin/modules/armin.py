"""A multi-layer ARMIN stack with an ``nn.LSTM``-like interface."""
from contextlib import ExitStack, contextmanager
from typing import Iterator, Optional, Tuple

import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ArminError
from .addressing import sample_gumbel
from .armin_cell import ARMINCell
from .armin_state import ARMINState


class ARMIN(nn.Module):
    """Stacked ARMIN layers (Li et al., IJCAI 2019).

    Layer 0 reads ``input_size`` features; layer l > 0 reads the previous layer's output
    [sigmoid(o) * h ; sigmoid(o_m) * r] of size ``hidden_size + slot_size``, which is also
    the size of the stack's output. In training mode every layer reads one memory slot per
    step through a hard straight-through Gumbel-softmax at ``temperature``; in eval mode
    through argmax of the address logits, unless ``sample_in_eval`` keeps the sampling.

    Args:
        input_size: d_x; hidden_size: d_h; slot_size: d_r; num_slots: N.
        num_layers: L; dropout: on each layer's output except the last (as ``nn.LSTM``).
        batch_first: inputs and outputs are (B, T, ...) instead of (T, B, ...).
        forget_bias: constant added to the forget gate pre-activation.
        temperature: tau of the Gumbel-softmax; settable between calls.
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
        sample_in_eval: bool = False,
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
        self.temperature = temperature
        self.layers = nn.ModuleList(
            ARMINCell(
                input_size if index == 0 else hidden_size + slot_size,
                hidden_size,
                slot_size,
                num_slots,
                forget_bias,
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
    ) -> Tuple[Tensor, ARMINState]:
        """Run the stack over a sequence.

        input: (T, B, d_x), or (B, T, d_x) with ``batch_first``.
        state: an :class:`ARMINState` to continue from; None starts fresh.
        padding_mask: (T, B) bool (or (B, T) with ``batch_first``), True at pad positions;
            pad steps leave hidden, memory and step counter unchanged.
        gumbel_noise: (L, T, B, N) noise to use instead of sampling (tests); used only
            when addresses are sampled.
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
