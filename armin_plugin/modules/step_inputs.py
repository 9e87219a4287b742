"""The input projection of a run of one-step calls, part of whose inputs is known in advance.

A decoder with input feeding gives ARMIN [e_t ; f_{t-1}] at step t: the embedding e_t of
every step is known before the first step, only the fed-back f_{t-1} is not. Projecting the
known columns of all steps in one product, and only the rest at each step, saves about half
of the per-step input product (forward and backward), where products of B rows run at about
half the speed per multiply-add of one product over all T x B rows.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ArminError
from .deferred_gradients import DeferredLinear


class StepInputProjection:
    """``F.linear(x_t, weight, bias)`` for calls that bring the next steps' inputs, in order.

    weight: (out, d_x); bias: (out,) or None. Without ``leading`` each call passes its whole
    input (T', B, d_x). With ``leading`` (T, B, E), the first E features of every step, known
    before the first call, those are projected at once, and each call passes only the other
    d_x - E features (T', B, d_x - E) of its T' steps, which follow the previous calls' steps.
    The weight gradients are summed over all calls in one product
    (:class:`.deferred_gradients.DeferredLinear`).
    """

    def __init__(self, weight: Tensor, bias: Optional[Tensor], leading: Optional[Tensor] = None):
        self.known = None
        if leading is None:
            self.rest = DeferredLinear(weight, bias)
            return
        width = leading.size(-1)
        if width > weight.size(1):
            raise ArminError(f"ARMIN leading_input has {width} features, more than the {weight.size(1)} of the input")
        self.known = F.linear(leading, weight[:, :width], bias).unbind(0)
        self.rest = DeferredLinear(weight[:, width:])
        self.rest_width = weight.size(1) - width
        self.position = 0

    def __call__(self, x: Tensor) -> Tensor:
        """x: (T', B, features) -> (T', B, out)."""
        if self.known is None:
            return self.rest(x)
        steps = x.size(0)
        if x.size(-1) != self.rest_width:
            raise ArminError(f"with leading_input each ARMIN call passes the other {self.rest_width} "
                             f"input features of its steps, got {x.size(-1)}")
        if self.position + steps > len(self.known):
            raise ArminError(f"ARMIN calls ran past the {len(self.known)} steps of leading_input")
        known = self.known[self.position:self.position + steps]
        self.position += steps
        known = known[0].unsqueeze(0) if steps == 1 else torch.stack(known)
        return self.rest(x) + known
