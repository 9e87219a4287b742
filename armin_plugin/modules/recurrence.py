"""One layer's recurrence over a sequence as one autograd node: the buffers, the loop
(:mod:`.fused_loop` or its C++ twin csrc/recurrence.cpp, as :mod:`.backend` chooses, both
:func:`.step.armin_step` fused over T steps: tests/test_step.py) and the weight gradients.

Forward runs without autograd. When gradients are needed it keeps per-step activations of
size O(d_h + d_r + N) per row, never the memory itself: backward starts from the final
memory and unwinds it step by step from a log of the values that each write overwrote, so the
memory costs O(T B d_r) instead of O(T B N d_r). Weight gradients are accumulated after the
loop in one matrix multiply over all T * B rows each; for calls of one step each (a decoder
with input feeding), over the rows of all calls (:func:`defer_weight_gradients`).

A new cell flag is a field of :class:`.variants.CellVariant` that changes
:func:`.step.armin_step`, :mod:`.fused_loop` and ``csrc/recurrence.cpp`` (its schema and
LoopOptions) alike; tests/test_step.py checks both loops against the step with it set.

Precision (``--fp16``, ``--bf16``, ``--amp``, ``torch.autocast``): the loop always runs in
float32 (float64 stays float64) with autocast off, forward and backward; float16/bfloat16
inputs are cast up, the outputs cast back to the projections' dtype, the returned hidden and
memory stay float32 (why: docs/precision.md).
"""
from typing import NamedTuple, Optional, Tuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import native
from .backend import choose_backend
from .deferred_gradients import DeferredGradients, KeptFactors
from .fused_loop import (Activations, ContentQuery, GradientBuffers, LoopInputs, LoopOptions,
                         StepBuffers, backward_steps, forward_steps)
from .variants import CellVariant


class RecurrentWeights(NamedTuple):
    """The recurrent parts of one layer's parameters.

    from_hidden: (N + d_r, d_h) and from_hidden_bias: (N + d_r,): h -> [address logits ;
    write value] (the address part of the bias is zero: it lies in the input projection);
    gate: (G, G) from [h ; r]; transform: (P, G) from [g_h * h ; g_r * r].
    """

    from_hidden: Tensor
    from_hidden_bias: Tensor
    gate: Tensor
    transform: Tensor


class WeightFactors(NamedTuple):
    """What the gradients of the :class:`RecurrentWeights` are made of, each (R, ...) over
    R = T * B rows: grad_addr (N) (None: no gradient reached the logits), hidden h_{t-1}
    (d_h), grad_value dL/dv_t (d_r), new_hidden h_t (d_h), grad_gate_in (G), hidden_read
    [h_{t-1} ; r_t] (G), grad_trans_in (P), gated [g_h * h_{t-1} ; g_r * r_t] (G)."""

    grad_addr: Optional[Tensor]
    hidden: Tensor
    grad_value: Tensor
    new_hidden: Tensor
    grad_gate_in: Tensor
    hidden_read: Tensor
    grad_trans_in: Tensor
    gated: Tensor


def _weight_gradients(factors: WeightFactors, n_slots: int) -> RecurrentWeights:
    """The gradients of the :class:`RecurrentWeights`, one product over all rows each."""
    grad_write = factors.grad_value.t() @ factors.new_hidden
    if factors.grad_addr is not None:
        grad_address = factors.grad_addr.t() @ factors.hidden
    else:  # argmax addressing, or no read: no gradient reaches the address logits
        grad_address = grad_write.new_zeros(n_slots, factors.hidden.size(-1))
    grad_value_sum = factors.grad_value.sum(0)
    return RecurrentWeights(
        torch.cat([grad_address, grad_write]),
        torch.cat([grad_value_sum.new_zeros(n_slots), grad_value_sum]),
        factors.grad_gate_in.t() @ factors.hidden_read,
        factors.grad_trans_in.t() @ factors.gated,
    )


def defer_weight_gradients(weights: RecurrentWeights) -> DeferredGradients:
    """The :class:`RecurrentWeights` for a run of calls of :func:`run_recurrence` (pass its
    ``weights`` and, as ``deferred_weights``, its ``factors``) whose weight gradients are
    computed once, over the rows of all calls (see :mod:`.deferred_gradients`), instead of
    once per call."""
    slot_size = weights.transform.size(1) - weights.from_hidden.size(1)  # G - d_h
    n_slots = weights.from_hidden.size(0) - slot_size

    def gradients(kept):
        addressed = [f for f in kept if f.grad_addr is not None]
        if addressed and len(addressed) < len(kept):  # some calls sampled, some did not
            kept = [f if f.grad_addr is not None else f._replace(grad_addr=f.grad_value.new_zeros(
                f.grad_value.size(0), n_slots)) for f in kept]
        joined = WeightFactors(*(None if parts[0] is None else torch.cat(parts) for parts in zip(*kept)))
        return _weight_gradients(joined, n_slots)

    return DeferredGradients(weights, gradients)


def _run_forward(inputs: LoopInputs, state, weights: RecurrentWeights, options: LoopOptions,
                 backend: str, keep: bool, record=None, overwrite_memory=False):
    """The forward loop of ``backend`` ("python" or "native") on ``state`` (hidden, memory,
    steps, read_age or None). Returns outputs (T, B, G), hidden, memory, steps, the
    :class:`Activations` (of all steps with ``keep``, else one step's scratch space) and
    read_age. With a list ``record``, appends the noise-free address logits (T, B, N), slots
    read (T, B) and slots written (T, B). ``overwrite_memory``: write into the memory itself,
    when it is contiguous, instead of into a copy."""
    hidden, memory, steps, read_age = state
    steps_total, batch, n_slots = inputs.addr_in.shape
    d_h, d_r = hidden.size(-1), memory.size(-1)
    kept = steps_total if keep else 1
    like = dict(dtype=inputs.addr_in.dtype, device=inputs.addr_in.device)
    index = dict(dtype=torch.long, device=inputs.addr_in.device)
    acts = Activations(
        *(torch.empty(kept, batch, width, **like) for width in (d_h + d_r, d_h + d_r, 4 * d_h + d_r, d_h)),
        torch.empty(kept, batch, **index), torch.empty(kept, batch, **index),
        torch.empty(kept, batch, d_r, **like),
        None if inputs.noise is None else torch.empty(kept, batch, n_slots, **like),
    )
    recorded = None
    if record is not None:
        recorded = (torch.empty(steps_total, batch, n_slots, **like),
                    torch.empty(steps_total, batch, **index), torch.empty(steps_total, batch, **index))
    buffers = StepBuffers(torch.empty(steps_total, batch, d_h + d_r, **like), acts, recorded)
    if not (overwrite_memory and memory.is_contiguous()):  # an expanded p_M is never written
        memory = memory.clone(memory_format=torch.contiguous_format)
    if backend == "native":
        steps = steps.clone(memory_format=torch.contiguous_format)
        read_age = None if read_age is None else read_age.clone(memory_format=torch.contiguous_format)
        hidden = native.library().forward(inputs.native(), weights, [hidden, memory, steps, read_age],
                                          buffers.native(), *options.native())
    else:
        hidden, steps, read_age = forward_steps(inputs, (hidden, memory, steps, read_age), weights,
                                                buffers, options)
    if record is not None:
        record.extend(recorded)
    return buffers.outputs, hidden, memory, steps, acts, read_age


def _run_backward(grads, memory, weights, acts, real, options: LoopOptions, backend, deferred=None,
                  query=None):
    """Backpropagate through all steps, last first, unwinding ``memory`` (the final memory,
    (B, N, d_r)); ``grads``: dL/d(outputs, final hidden, final memory); ``deferred``: the
    ``factors`` of the weights' :func:`defer_weight_gradients`, which keep this call's
    factors of their gradients (the returned ones are then None), or None; ``query``: the
    :class:`ContentQuery` of ``content_address``, or None.

    Returns gradients of (the projection (T, B, N + G + P), hidden, memory), of the
    :class:`RecurrentWeights` and of ``query`` (a :class:`ContentQuery` of gradients; None
    without it).
    """
    steps_total, batch, _ = grads[0].shape
    d_h = weights.from_hidden.size(1)
    d_r = weights.transform.size(1) - d_h
    n_slots = weights.from_hidden.size(0) - d_r
    # the logits get a gradient through the straight-through read
    addressed = acts.probs is not None and not options.variant.no_read
    # one buffer for the gradient of the whole projection: autograd then has no split to undo
    width = n_slots + acts.gates.size(-1) + acts.transform.size(-1)
    grad_projected = grads[0].new_empty(steps_total, batch, width)
    grad_addr, grad_gate_in, grad_trans_in = split_projection(grad_projected, n_slots, d_h + d_r)
    grad_addr.zero_()
    queries = None if query is None else query.of_steps(acts.hidden_read[..., :d_h])
    out = GradientBuffers(grad_addr if addressed else None, grad_gate_in, grad_trans_in,
                          torch.empty_like(acts.overwritten),
                          None if query is None else torch.zeros_like(queries))
    query_parts = None if query is None else (queries, query.weight)
    if backend == "native":  # without a gradient to the logits it needs no probabilities
        acts_in = acts._replace(probs=acts.probs if addressed else None)
        grad_state, grad_memory = native.library().backward(
            grads, memory, weights, acts_in, real, query_parts or [None, None], out,
            options.temperature, options.variant.no_read)
    else:
        grad_state, grad_memory = backward_steps(grads, memory, weights, acts, real, query_parts,
                                                 out, options)

    def flat(x):
        return x.reshape(steps_total * batch, -1)

    factors = WeightFactors(
        flat(out.grad_addr) if addressed else None, flat(acts.hidden_read[..., :d_h]),
        flat(out.grad_value), flat(acts.new_hidden), flat(grad_gate_in), flat(acts.hidden_read),
        flat(grad_trans_in), flat(acts.gates * acts.hidden_read),
    )
    if deferred is not None:
        deferred.keep(factors)
        weight_grads = RecurrentWeights(None, None, None, None)
    else:
        weight_grads = _weight_gradients(factors, n_slots)
    grad_query = None
    if query is not None:  # q_t = query_in[t] + h_{t-1} W_q^T
        grad_query = ContentQuery(out.grad_query, flat(out.grad_query).t() @ factors.hidden)
    return (grad_projected, grad_state, grad_memory), weight_grads, grad_query


class _Call(NamedTuple):
    """The non-differentiable arguments of :class:`_Recurrence` (see :func:`run_recurrence`)."""

    backend: str
    options: LoopOptions
    steps: Tensor
    noise: Optional[Tensor]
    real: Optional[Tensor]
    record: Optional[list]
    read_age: Optional[Tensor]
    deferred: Optional[KeptFactors]


class _Recurrence(torch.autograd.Function):
    """Autograd node for the whole loop: ``forward(call, projected, hidden, memory,
    *weights[, query_in, query_weight])``; backward returns one gradient per tensor."""

    @staticmethod
    def forward(ctx, call: _Call, projected, hidden, memory, *rest):
        weights = RecurrentWeights(*rest[:4])
        inputs = _loop_inputs(projected, hidden, memory, call.noise, call.real, *rest[4:])
        query = inputs.query
        outputs, hidden, memory, steps, acts, read_age = _run_forward(
            inputs, (hidden, memory, call.steps, call.read_age), weights, call.options, call.backend,
            keep=True, record=call.record)
        ctx.call = call._replace(steps=None, noise=None, real=None, record=None, read_age=None)
        ctx.save_for_backward(memory, *weights, *acts, call.real, *(query or (None, None)))
        extra = [read_age] if read_age is not None else []
        ctx.mark_non_differentiable(steps, *extra)
        return (outputs, hidden, memory, steps, *extra)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out, grad_hidden, grad_memory, _grad_steps, *_grad_extra):
        memory, *rest = ctx.saved_tensors
        weights, acts, real = RecurrentWeights(*rest[:4]), Activations(*rest[4:12]), rest[12]
        query = None if rest[13] is None else ContentQuery(*rest[13:])
        with torch.autocast(grad_out.device.type, enabled=False):  # as forward ran
            inputs, weight_grads, grad_query = _run_backward(
                (grad_out, grad_hidden, grad_memory), memory, weights, acts, real,
                ctx.call.options, ctx.call.backend, deferred=ctx.call.deferred, query=query)
        return (None, *inputs, *weight_grads, *(grad_query or ()))


def _loop_inputs(projected, hidden, memory, noise, real, query_in=None, query_weight=None) -> LoopInputs:
    return LoopInputs(*split_projection(projected, memory.size(1), hidden.size(-1) + memory.size(-1)),
                      noise, real, None if query_in is None else ContentQuery(query_in, query_weight))


def split_projection(projected: Tensor, n_slots: int, gate_size: int) -> Tuple[Tensor, Tensor, Tensor]:
    """Views (T, B, N), (T, B, G) and (T, B, P) of the address, gate and transform parts of
    a projection (T, B, N + G + P)."""
    return projected.split([n_slots, gate_size, projected.size(-1) - n_slots - gate_size], -1)


def run_recurrence(
    projected: Tensor,
    state: Tuple[Tensor, ...],
    weights: RecurrentWeights,
    noise: Optional[Tensor],
    real: Optional[Tensor],
    temperature: float,
    record: Optional[list] = None,
    variant: CellVariant = CellVariant(),
    overwrite_memory: bool = False,
    deferred_weights: Optional[KeptFactors] = None,
    query_in: Optional[Tensor] = None,
    query_weight: Optional[Tensor] = None,
) -> Tuple[Tensor, Tuple[Tensor, ...]]:
    """Run one layer's recurrence over T steps.

    projected (T, B, N + G + P): the input-side projections with biases, [address logits ;
    gates ; transform] (the transform's f part with the forget bias added; see
    :func:`split_projection`), one tensor so that backward returns one gradient for it;
    state: hidden (B, d_h),
    memory (B, N, d_r), steps (B,) long and, where ``variant.reads_history``, read_age (B, N)
    long; noise: (T, B, N) Gumbel noise or None (argmax);
    real: (T, B) bool, True at real steps, or None; record: a list that receives the
    address logits, slots read and slots written of every step (see :func:`_run_forward`);
    variant: the :class:`.variants.CellVariant` of the cell; overwrite_memory: without
    autograd, write the new memory into ``state``'s when it is contiguous (no copy; the
    caller owns that state and drops it, as incremental decoding does); deferred_weights:
    the ``factors`` of a :func:`defer_weight_gradients` whose ``weights`` are ``weights``:
    backward keeps its factors of the weight gradients there instead of returning them;
    query_in (T, B, d_r) and query_weight (d_r, d_h): the two parts of the query of
    ``variant.content_address`` (see :class:`ContentQuery`), or None.
    Returns outputs (T, B, G) and the final state (as ``state``: (hidden, memory, steps[,
    read_age])).
    """
    hidden, memory, steps, *read_age = state
    read_age = read_age[0] if variant.reads_history else None
    output_dtype = projected.dtype
    projected, hidden, memory, noise, query_in, query_weight = (
        _in_float32(t) for t in (projected, hidden, memory, noise, query_in, query_weight)
    )
    weights = RecurrentWeights(*(_in_float32(weight) for weight in weights))
    tensors = (projected, hidden, memory, *weights)
    backend = choose_backend(tensors + (noise,))
    options = LoopOptions(temperature, variant)
    with torch.autocast(projected.device.type, enabled=False):
        differentiable = tensors + tuple(t for t in (query_in, query_weight) if t is not None)
        if torch.is_grad_enabled() and any(t.requires_grad for t in differentiable):
            call = _Call(backend, options, steps, noise, real, record, read_age, deferred_weights)
            outputs, hidden, memory, steps, *extra = _Recurrence.apply(call, *differentiable)
            read_age = extra[0] if extra else None
        else:
            inputs = _loop_inputs(projected, hidden, memory, noise, real, query_in, query_weight)
            outputs, hidden, memory, steps, _, read_age = _run_forward(
                inputs, (hidden, memory, steps, read_age), weights, options, backend, keep=False,
                record=record, overwrite_memory=overwrite_memory)
    final = (hidden, memory, steps) if read_age is None else (hidden, memory, steps, read_age)
    return outputs.to(output_dtype), final


def _in_float32(tensor: Optional[Tensor]) -> Optional[Tensor]:
    """float16 and bfloat16 tensors as float32 (autograd casts gradients back); others as they are."""
    if tensor is not None and tensor.dtype in (torch.float16, torch.bfloat16):
        return tensor.float()
    return tensor
