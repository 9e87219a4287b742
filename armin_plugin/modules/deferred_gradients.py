"""Weight gradients of a loop that uses the same weights once per step, computed once for all steps.

A decoder with input feeding runs ARMIN one step of B rows per call. Every weight gradient is a
sum over the calls, :math:`\\sum_t g_t^\\top x_t`; autograd would take it as T products with
only B rows each (on the CPU about half as fast per multiply-add as one product over all T x B
rows), plus T accumulations of a full-size gradient. :class:`DeferredGradients` lets each
call's backward keep its factors :math:`(g_t, x_t)` instead, and turns them into the weights'
gradients in one go when backward reaches the weights, after every call is done. Values and
gradients are those of the undeferred calls, to float rounding (the sums run in another order).

    linear = DeferredLinear(weight, bias)     # once per forward pass (weights with autograd)
    for x in steps:                           # x: (..., in_features)
        y = linear(x)                         # (..., out_features)
"""
from typing import Callable, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

# from what the calls kept, in the order their backward ran, to the gradient of each weight
GradientsOf = Callable[[List], Sequence[Optional[Tensor]]]


class DeferredGradients:
    """Weights whose gradients are computed once from what every call kept.

    weights: the tensors (None entries allowed) that the calls use, as ``self.weights``;
    gradients: from the list of what the calls kept (:meth:`KeptFactors.keep`, in the order
    their backward ran) to the gradient of each weight (None where it has none; ignored for a
    None weight). The calls' backward keeps its factors in ``self.factors``, which is all the
    autograd graph holds of this object (so no reference cycle keeps the graph alive). Without
    autograd, or when no weight needs a gradient, ``self.weights`` are the weights themselves
    and ``tracked`` is False: the calls then compute as usual. A gradient that reaches
    ``self.weights`` through autograd (a call that did not defer) is added to the deferred one.
    """

    def __init__(self, weights: Sequence[Optional[Tensor]], gradients: GradientsOf):
        self.factors = KeptFactors(gradients)
        self.tracked = torch.is_grad_enabled() and any(w is not None and w.requires_grad for w in weights)
        self.weights = tuple(_Gather.apply(self.factors, *weights)) if self.tracked else tuple(weights)


class KeptFactors:
    """What the calls' backward kept, until the weights' gradients are made of it."""

    def __init__(self, gradients: GradientsOf):
        self.kept: List = []
        self.gradients = gradients

    def keep(self, factors):
        """Called by a call's backward with its share of the weight gradients (tensors
        without autograd history)."""
        self.kept.append(factors)


class _Gather(torch.autograd.Function):
    """The weights as every call sees them; its backward, which autograd runs after the
    backward of every call that used them, turns what the calls kept into their gradients."""

    @staticmethod
    def forward(ctx, factors, *weights):
        ctx.factors = factors
        ctx.dtypes = [None if w is None else w.dtype for w in weights]
        ctx.set_materialize_grads(False)
        return tuple(None if w is None else w.view_as(w) for w in weights)

    @staticmethod
    @once_differentiable
    def backward(ctx, *incoming):
        factors = ctx.factors
        grads = list(incoming)
        if factors.kept:
            for index, kept in enumerate(factors.gradients(factors.kept)):
                if kept is not None and ctx.dtypes[index] is not None:
                    kept = kept.to(ctx.dtypes[index])  # a loop that ran in float32 for half weights
                    grads[index] = kept if grads[index] is None else grads[index] + kept
        factors.kept = []  # a second backward (retain_graph) keeps them again
        return (None, *grads)


class DeferredLinear:
    """``F.linear(x, weight, bias)`` for any number of calls, whose weight and bias
    gradients are summed over all calls in one product (see the module docstring).

    weight: (out_features, in_features); bias: (out_features,) or None. Without autograd each
    call is plain ``F.linear``; under autocast too (its casts would change the dtypes backward
    sees), with gradients through autograd as usual.
    """

    def __init__(self, weight: Tensor, bias: Optional[Tensor] = None):
        self.deferred = DeferredGradients([weight, bias], _linear_gradients)

    def __call__(self, x: Tensor) -> Tensor:
        weight, bias = self.deferred.weights
        if not (self.deferred.tracked and torch.is_grad_enabled()) or torch.is_autocast_enabled(x.device.type):
            return F.linear(x, weight, bias)
        return _Call.apply(self.deferred.factors, x, weight, bias)


def _linear_gradients(kept):
    """dL/dW and dL/db from the (x, dL/dy) of every call, each (R_i, in) and (R_i, out)."""
    inputs, grads = (torch.cat(part) for part in zip(*kept))
    return grads.t() @ inputs, grads.sum(0)


class _Call(torch.autograd.Function):
    """One call: y = x W^T + b; backward gives dL/dx and keeps (x, dL/dy)."""

    @staticmethod
    def forward(ctx, factors, x, weight, bias):
        ctx.factors = factors
        ctx.save_for_backward(x, weight)
        return F.linear(x, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        ctx.factors.keep((x.detach().reshape(-1, weight.size(1)), grad.reshape(-1, weight.size(0))))
        grad_x = grad @ weight if ctx.needs_input_grad[1] else None
        return None, grad_x, None, None
