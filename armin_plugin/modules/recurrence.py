"""The recurrent loop of one ARMIN layer over a whole sequence, with a hand-written BPTT.

It computes :func:`.step.armin_step` (the definition of a step, which the tests run step by
step as the oracle: tests/test_step.py) for T steps, fused: the x_t parts of the step's
address, gate, transform and query products come in precomputed for all steps (one matrix
multiply, :meth:`.armin_cell.ARMINCell.arranged_weights`); h_t's address part (for step t + 1)
and write value are one product; the read is a gather of slot k_t (the forward value of the
dense read), the write a store in place; the softmax y_t is kept for backward only. This
module runs only what depends on the recurrence. Forward runs without autograd. When gradients are needed it keeps
per-step activations of size O(d_h + d_r + N) per row, never the memory itself: backward
starts from the final memory and unwinds it step by step from a log of the values that each
write overwrote, so the memory costs O(T B d_r) instead of O(T B N d_r). Weight gradients are
accumulated after the loop in one matrix multiply over all T * B rows each; for calls of one
step each (a decoder with input feeding), over the rows of all calls
(:func:`defer_weight_gradients`).

Shapes: T steps, B rows, N slots, d_h hidden, d_r slot, G = d_h + d_r, P = 4 d_h + d_r.

Two backends run the same loop, chosen per call by :func:`choose_backend` (``ARMIN_BACKEND``
= auto, python or native): the Python loop :func:`_forward_steps` / :func:`_backward_steps`
and its C++ twin ``csrc/recurrence.cpp``
(loaded by :mod:`.native`; built by ``recipes/install.sh``), which runs the same arithmetic
as plain loops over the B rows plus ATen matrix products (in float32, oneDNN's products on
packed weights where the weights are 384 x 384 or larger; see the .cpp). Everything
around the loops (the buffers, the weight gradients after the loop, autograd, precision) is
shared. The compiled
loop runs CPU tensors of one dtype, float32 or float64; anything else (CUDA tensors above
all: no GPU build exists, the ATen calls would work but the row loops read host memory)
runs the Python loop. Both agree with the step, and with each other, to float64 rounding in
outputs, state and every gradient (tests/test_step.py, tests/test_native_recurrence.py).

A new cell flag is a field of :class:`.variants.CellVariant` that changes
:func:`.step.armin_step`, the Python loop and ``csrc/recurrence.cpp`` (its schema,
``forward_impl`` / ``backward_impl``) alike; tests/test_step.py checks both backends against
the step with it set.

Precision (``--fp16``, ``--bf16``, ``--amp``, ``torch.autocast``): the loop always runs in
float32 (float64 stays float64) with autocast switched off, in forward and in backward. The
inputs that arrive in float16/bfloat16 (the input projections of all steps, computed in low
precision as one large matrix multiply, the recurrent weights of a half model, a low-precision
state) are cast up, and the outputs are cast back to the dtype of the projections; the
returned hidden state and memory stay float32. Reasons: the memory is written once and read
back hundreds of steps later, and the cell state accumulates over all steps (rounding to
bfloat16's 8 bits compounds); the address softmax at a low temperature (tau 0.1 divides the
logits by 0.1) and its straight-through gradient need more than float16's range and 11 bits;
the recurrent products have only B rows per step, so low precision would gain little speed.
"""
import logging
import os
from typing import NamedTuple, Optional, Tuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..errors import ArminError
from . import native
from .deferred_gradients import DeferredGradients, KeptFactors
from .variants import REREAD_PENALTY, CellVariant

logger = logging.getLogger(__name__)


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


def key_scale(memory: Tensor, dim: int = -1) -> Tensor:
    """1 / sqrt(|M_k|^2 + 1) per slot, the norm taken over ``dim`` (kept, size 1): the keys of
    ``content_address`` are ``memory * key_scale(memory)``, of norm below 1, near M_k where
    it is small (the initial memory p_M starts at zero)."""
    return (memory * memory).sum(dim, keepdim=True).add(1.0).rsqrt()


class ContentQuery(NamedTuple):
    """The query of ``content_address``, q_t = W_q [x_t ; h_{t-1}] + b_q, in two parts:
    query_in (T, B, d_r), W_q x_t + b_q of every step, and weight (d_r, d_h), W_q's h part."""

    query_in: Tensor
    weight: Tensor

    def of_steps(self, hidden: Tensor) -> Tensor:
        """q_t of every step (T, B, d_r) from h_{t-1} of every step (T, B, d_h)."""
        return self.query_in + hidden @ self.weight.t()


class Activations(NamedTuple):
    """What backward needs of every step, each (T, B, ...).

    hidden_read: [h_{t-1} ; r_t] (G); gates: sigmoid gates (G); transform:
    [sigmoid(i) ; tanh(j) ; sigmoid(f + forget_bias) ; sigmoid(o) ; sigmoid(o_m)] (P);
    new_hidden: tanh(c_t) (d_h), before the pad mask; slots: the read slot k (long);
    targets: the written slot (long); overwritten: the slot's value before the write (d_r);
    probs: the Gumbel-softmax probabilities (N), or None without sampling.
    """

    hidden_read: Tensor
    gates: Tensor
    transform: Tensor
    new_hidden: Tensor
    slots: Tensor
    targets: Tensor
    overwritten: Tensor
    probs: Optional[Tensor]


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


def _run_forward(addr_in, gate_in, trans_in, hidden, memory, steps, weights, noise, real,
                 temperature, keep, record=None, backend="python", variant=CellVariant(),
                 read_age=None, overwrite_memory=False, query=None):
    """The forward loop. ``trans_in`` already holds the forget bias in its f part;
    ``variant``: the :class:`.variants.CellVariant` to run; ``read_age``: (B, N) long where
    ``variant.reads_history``, else None; ``query``: the :class:`ContentQuery` of
    ``content_address``, else None.

    Returns outputs (T, B, G), hidden (B, d_h), memory (B, N, d_r), steps (B,), with
    ``keep`` the :class:`Activations` of all steps (otherwise one step's scratch space), and
    the final read_age (None without it).
    With a list ``record``, appends to it the noise-free address logits (T, B, N), the slots
    read (T, B) and the slots written (T, B). ``backend``: "python" runs
    :func:`_forward_steps`, "native" its C++ twin. ``overwrite_memory``: write into
    ``memory`` itself, when it is contiguous, instead of into a copy.
    """
    steps_total, batch, n_slots = addr_in.shape
    d_h, d_r = hidden.size(-1), memory.size(-1)
    kept = steps_total if keep else 1
    like = dict(dtype=addr_in.dtype, device=addr_in.device)
    acts = Activations(
        torch.empty(kept, batch, d_h + d_r, **like),
        torch.empty(kept, batch, d_h + d_r, **like),
        torch.empty(kept, batch, 4 * d_h + d_r, **like),
        torch.empty(kept, batch, d_h, **like),
        torch.empty(kept, batch, dtype=torch.long, device=addr_in.device),
        torch.empty(kept, batch, dtype=torch.long, device=addr_in.device),
        torch.empty(kept, batch, d_r, **like),
        None if noise is None else torch.empty(kept, batch, n_slots, **like),
    )
    outputs = torch.empty(steps_total, batch, d_h + d_r, **like)
    if not (overwrite_memory and memory.is_contiguous()):  # an expanded p_M is never written
        memory = memory.clone(memory_format=torch.contiguous_format)
    recorded = None
    if record is not None:
        slot_log = torch.empty(steps_total, batch, dtype=torch.long, device=addr_in.device)
        recorded = (torch.empty_like(addr_in, memory_format=torch.contiguous_format), slot_log,
                    torch.empty_like(slot_log))
    if backend == "native":
        steps = steps.clone(memory_format=torch.contiguous_format)
        read_age = None if read_age is None else read_age.clone(memory_format=torch.contiguous_format)
        hidden = native.library().forward(
            addr_in, gate_in, trans_in, hidden, memory, steps, *weights, noise, real,
            temperature, outputs, *acts, *(recorded or (None, None, None)), read_age,
            REREAD_PENALTY if variant.no_reread else 0.0, *(query or (None, None)), variant.no_read,
        )
    else:
        hidden, steps, read_age = _forward_steps(
            addr_in, gate_in, trans_in, hidden, memory, steps, weights, noise, real, temperature,
            acts, outputs, recorded, variant, read_age, query,
        )
    if record is not None:
        record.extend(recorded)
    return outputs, hidden, memory, steps, acts, read_age


def _forward_steps(addr_in, gate_in, trans_in, hidden, memory, steps, weights, noise, real,
                   temperature, acts, outputs, recorded, variant, read_age=None, query=None):
    """The forward loop in PyTorch, :func:`.step.armin_step` fused over T steps (address
    with the variants' terms, slot, read, gates, transform, h_t, out_t, write value, slot
    written, write, pad mask, in that order): fills ``outputs``,
    ``acts`` (at step t, or at 0 when they hold one step), ``recorded`` (None or logits,
    slots read, slots written) and ``memory`` in place;
    returns the final hidden, steps and read_age (None without it).
    ``variant.no_read``: the read is zeros (the slot is still chosen, and written back).
    ``variant.no_reread``: the slot read at the previous real step loses REREAD_PENALTY;
    ``variant.content_address``: the logits get <key_k, q_t> (:func:`key_scale`), q_t from
    ``query`` (a :class:`ContentQuery`). The recorded logits are the noise-free ones after both.
    """
    steps_total, batch, n_slots = addr_in.shape
    d_h, d_r = hidden.size(-1), memory.size(-1)
    keep = acts.hidden_read.size(0) > 1
    rows = torch.arange(batch, device=addr_in.device)
    # h_t feeds both the next step's address logits and this step's write value.
    w_from_h, b_from_h = weights.from_hidden.t(), weights.from_hidden_bias
    w_gate, w_trans = weights.gate.t(), weights.transform.t()
    addr_rec = hidden @ w_from_h[:, :n_slots]
    no_read = memory.new_zeros(batch, d_r) if variant.no_read else None
    read_age = None if read_age is None else read_age.clone()
    for t in range(steps_total):
        s = t if keep else 0
        logits = addr_in[t] + addr_rec
        if query is not None:  # <key(M_{t-1}[k]), q_t> per slot
            q = torch.addmm(query.query_in[t], hidden, query.weight.t())
            logits = logits + torch.bmm(memory * key_scale(memory), q.unsqueeze(-1)).squeeze(-1)
        if variant.no_reread:
            logits = logits.sub((read_age == 1).to(logits.dtype), alpha=REREAD_PENALTY)
        if recorded is not None:
            recorded[0][t] = logits
        if noise is None:
            slot = torch.argmax(logits, -1, out=acts.slots[s])
        else:
            logits += noise[t]
            slot = torch.argmax(logits, -1, out=acts.slots[s])
            acts.probs[s] = torch.softmax(logits / temperature, -1)
        read = memory[rows, slot] if no_read is None else no_read
        hidden_read = torch.cat([hidden, read], -1, out=acts.hidden_read[s])
        gates = torch.addmm(gate_in[t], hidden_read, w_gate, out=acts.gates[s]).sigmoid_()
        trans = torch.addmm(trans_in[t], gates * hidden_read, w_trans, out=acts.transform[s])
        trans[:, d_h:2 * d_h].tanh_()
        trans[:, :d_h].sigmoid_()
        trans[:, 2 * d_h:].sigmoid_()
        s_i, t_j, s_f, s_o, s_om = trans.split([d_h, d_h, d_h, d_h, d_r], -1)
        new_hidden = torch.tanh(
            torch.addcmul(s_f * hidden, s_i, t_j), out=acts.new_hidden[s]
        )
        torch.mul(s_o, new_hidden, out=outputs[t, :, :d_h])
        torch.mul(s_om, read, out=outputs[t, :, d_h:])
        new_addr_rec, value = torch.addmm(b_from_h, new_hidden, w_from_h).split([n_slots, d_r], -1)
        target = torch.where(steps < n_slots, steps, slot, out=acts.targets[s])
        if recorded is not None:
            recorded[1][t], recorded[2][t] = slot, target
        overwritten = memory[rows, target]
        acts.overwritten[s] = overwritten
        if read_age is not None:
            new_age = torch.where(read_age > 0, read_age + 1, read_age)
            new_age[rows, slot] = 1
        if real is None:
            hidden, addr_rec, steps = new_hidden, new_addr_rec, steps + 1
            read_age = new_age if read_age is not None else None
        else:
            keep_row = real[t].unsqueeze(-1)
            value = torch.where(keep_row, value, overwritten)
            hidden = torch.where(keep_row, new_hidden, hidden)
            addr_rec = torch.where(keep_row, new_addr_rec, addr_rec)
            steps = steps + real[t]
            if read_age is not None:
                read_age = torch.where(keep_row, new_age, read_age)
        memory[rows, target] = value
    return hidden.clone(), steps, read_age


def _run_backward(grad_out, grad_hidden, grad_memory, memory, weights, acts, real, temperature,
                  backend="python", variant=CellVariant(), deferred=None, query=None):
    """Backpropagate through all steps, last first, unwinding ``memory`` (the final memory,
    (B, N, d_r)); ``backend`` and ``variant`` as in :func:`_run_forward`; ``deferred``: the ``factors`` of the
    weights' :func:`defer_weight_gradients`, which keep this call's factors of their gradients
    (the returned ones are then None), or None; ``query``: the :class:`ContentQuery` of
    ``content_address``, or None.

    Returns gradients of (the projection (T, B, N + G + P), hidden, memory), of the
    :class:`RecurrentWeights` and of ``query`` (a :class:`ContentQuery` of gradients; None
    without it).
    """
    steps_total, batch, _ = grad_out.shape
    d_h = weights.from_hidden.size(1)
    d_r = weights.transform.size(1) - d_h
    n_slots = weights.from_hidden.size(0) - d_r
    # the logits get a gradient through the straight-through read
    addressed = acts.probs is not None and not variant.no_read
    # one buffer for the gradient of the whole projection: autograd then has no split to undo
    width = n_slots + acts.gates.size(-1) + acts.transform.size(-1)
    grad_projected = grad_out.new_empty(steps_total, batch, width)
    grad_addr, grad_gate_in, grad_trans_in = split_projection(grad_projected, n_slots, d_h + d_r)
    grad_addr.zero_()
    if not addressed:
        grad_addr = None
    grad_value = torch.empty_like(acts.overwritten)
    queries = grad_query_in = None
    if query is not None:
        queries = query.of_steps(acts.hidden_read[..., :d_h])
        grad_query_in = torch.zeros_like(queries)
    if backend == "native":  # without a gradient to the logits it needs no probabilities
        grad_state, grad_memory = native.library().backward(
            grad_out, grad_hidden, grad_memory, memory, weights.from_hidden, weights.gate,
            weights.transform, *acts[:-1], acts.probs if addressed else None, real, temperature,
            grad_addr, grad_gate_in, grad_trans_in, grad_value, queries,
            None if query is None else query.weight, grad_query_in, variant.no_read,
        )
    else:
        grad_state, grad_memory = _backward_steps(
            grad_out, grad_hidden, grad_memory, memory, weights, acts, real, temperature,
            grad_addr, grad_gate_in, grad_trans_in, grad_value, variant, queries,
            None if query is None else query.weight, grad_query_in,
        )

    def flat(x):
        return x.reshape(steps_total * batch, -1)

    factors = WeightFactors(
        flat(grad_addr) if addressed else None, flat(acts.hidden_read[..., :d_h]), flat(grad_value),
        flat(acts.new_hidden), flat(grad_gate_in), flat(acts.hidden_read), flat(grad_trans_in),
        flat(acts.gates * acts.hidden_read),
    )
    if deferred is not None:
        deferred.keep(factors)
        weight_grads = RecurrentWeights(None, None, None, None)
    else:
        weight_grads = _weight_gradients(factors, n_slots)
    grad_query = None
    if query is not None:  # q_t = query_in[t] + h_{t-1} W_q^T
        grad_query = ContentQuery(grad_query_in, flat(grad_query_in).t() @ factors.hidden)
    return (grad_projected, grad_state, grad_memory), weight_grads, grad_query


def _backward_steps(grad_out, grad_hidden, grad_memory, memory, weights, acts, real, temperature,
                    grad_addr, grad_gate_in, grad_trans_in, grad_value, variant,
                    queries=None, query_weight=None, grad_query_in=None):
    """The backward loop in PyTorch, the gradient of :func:`.step.armin_step` written out and
    run from the last step to the first (write, h_t's products, out_t, h_t, transform,
    gates, read, straight-through softmax, content address, each step undoing the write to
    get M_{t-1} back):
    fills the (T, B, ...) gradients ``grad_addr`` (None when no gradient reaches the logits),
    ``grad_gate_in``, ``grad_trans_in`` and ``grad_value`` (dL/dv_t, the write values);
    returns the gradients of the initial hidden (B, d_h) and memory (B, N, d_r).
    ``queries`` (T, B, d_r): q_t of every step (``content_address``), or None, with
    ``query_weight`` (d_r, d_h), W_q's h part; ``grad_query_in`` (T, B, d_r) receives dL/dq_t.
    """
    steps_total, batch, _ = grad_out.shape
    d_h = weights.from_hidden.size(1)
    d_r = weights.transform.size(1) - d_h
    n_slots = weights.from_hidden.size(0) - d_r
    rows = torch.arange(batch, device=grad_out.device)
    # slots last: the straight-through product <M_{t-1}[k], dL/dr> is then a fast row x matrix
    memory = memory.transpose(1, 2).contiguous()
    grad_memory = grad_memory.clone()
    grad_state = grad_hidden.clone()  # dL/dh_t, except through the address of step t + 1
    straight_through = acts.probs is not None and not variant.no_read
    grad_next_addr = grad_out.new_zeros(batch, n_slots)
    w_back = weights.from_hidden
    real_rows = None if real is None else real.unsqueeze(-1).to(grad_out.dtype)
    for t in range(steps_total - 1, -1, -1):
        target, slot = acts.targets[t], acts.slots[t]
        # write: M_t = M_{t-1} with slot `target` replaced by v_t (pad rows: unchanged)
        value_grad = grad_memory[rows, target]
        if real_rows is None:
            grad_memory[rows, target] = 0.0
        else:
            grad_memory[rows, target] = value_grad * (1.0 - real_rows[t])
            value_grad = value_grad * real_rows[t]
        grad_value[t] = value_grad
        memory[rows, :, target] = acts.overwritten[t]  # memory is now M_{t-1}
        # [a_{t+1} ; v_t] = h_t W^T: pad rows have value_grad 0, so one matmul serves both
        grad_state = torch.addmm(grad_state, torch.cat([grad_next_addr, value_grad], -1), w_back)
        if real_rows is None:
            grad_new_hidden, grad_state = grad_state, None
        else:
            grad_new_hidden = grad_state * real_rows[t]
            grad_state = grad_state - grad_new_hidden
        s_i, t_j, s_f, s_o, s_om = acts.transform[t].split([d_h, d_h, d_h, d_h, d_r], -1)
        grad_h_out, grad_r_out = grad_out[t, :, :d_h], grad_out[t, :, d_h:]
        new_hidden = acts.new_hidden[t]
        hidden_read = acts.hidden_read[t]
        hidden, read = hidden_read[:, :d_h], hidden_read[:, d_h:]
        grad_new_hidden = torch.addcmul(grad_new_hidden, grad_h_out, s_o)
        grad_c = grad_new_hidden * (1.0 - new_hidden * new_hidden)
        grad_pre = grad_trans_in[t]
        gi, gj, gf, go, gom = grad_pre.split([d_h, d_h, d_h, d_h, d_r], -1)
        torch.mul(grad_c * t_j, s_i * (1.0 - s_i), out=gi)
        torch.mul(grad_c * s_i, 1.0 - t_j * t_j, out=gj)
        torch.mul(grad_c * hidden, s_f * (1.0 - s_f), out=gf)
        torch.mul(grad_h_out * new_hidden, s_o * (1.0 - s_o), out=go)
        torch.mul(grad_r_out * read, s_om * (1.0 - s_om), out=gom)
        grad_z = grad_pre @ weights.transform
        gates = acts.gates[t]
        grad_gate_pre = torch.mul(grad_z * hidden_read, gates * (1.0 - gates), out=grad_gate_in[t])
        grad_hidden_read = torch.addmm(grad_z * gates, grad_gate_pre, weights.gate)
        grad_h = grad_hidden_read[:, :d_h] + grad_c * s_f
        grad_state = grad_h if grad_state is None else grad_state + grad_h
        grad_read = torch.addcmul(grad_hidden_read[:, d_h:], grad_r_out, s_om)
        # read: r = M_{t-1}[k]; straight through: dL/dy_k = <M_{t-1}[k], dL/dr>
        if straight_through:
            probs = acts.probs[t]
            grad_probs = torch.bmm(grad_read.unsqueeze(1), memory).squeeze(1)
            grad_probs -= (probs * grad_probs).sum(-1, keepdim=True)
            grad_next_addr = torch.mul(probs, grad_probs, out=grad_addr[t]).div_(temperature)
        if queries is not None and grad_addr is not None:  # a_t[k] += <key_k, q_t>
            # key_k = M_k / s_k, s_k = sqrt(|M_k|^2 + 1): dkey_k = (I - key_k key_k^T) dM_k / s_k
            q = queries[t]
            scale = key_scale(memory, 1)  # 1 / s_k (B, 1, N)
            keys = memory * scale  # (B, d_r, N)
            grad_q = torch.bmm(keys, grad_next_addr.unsqueeze(-1)).squeeze(-1)
            grad_query_in[t] = grad_q
            content = torch.bmm(q.unsqueeze(1), keys).squeeze(1)  # <key_k, q_t> (B, N)
            along = (grad_next_addr * scale.squeeze(1)).unsqueeze(-1)
            grad_memory.add_(along * (q.unsqueeze(1) - keys.transpose(1, 2) * content.unsqueeze(-1)))
            grad_state = torch.addmm(grad_state, grad_q, query_weight)
        if not variant.no_read:  # a zero read uses no slot
            grad_memory.index_put_((rows, slot), grad_read, accumulate=True)
    if grad_addr is not None:
        grad_state = torch.addmm(grad_state, grad_next_addr, w_back[:n_slots])
    return grad_state, grad_memory


class _Recurrence(torch.autograd.Function):
    """Autograd node for the whole loop; see :func:`run_recurrence` for the arguments."""

    @staticmethod
    def forward(ctx, backend, variant, steps, noise, real, temperature, record, read_age,
                query_in, query_weight, deferred, projected, hidden, memory, *weights):
        weights = RecurrentWeights(*weights)
        addr_in, gate_in, trans_in = split_projection(
            projected, memory.size(1), hidden.size(-1) + memory.size(-1))
        query = None if query_in is None else ContentQuery(query_in, query_weight)
        outputs, hidden, memory, steps, acts, read_age = _run_forward(
            addr_in, gate_in, trans_in, hidden, memory, steps, weights, noise, real,
            temperature, keep=True, record=record, backend=backend, variant=variant,
            read_age=read_age, query=query,
        )
        ctx.variant = variant
        ctx.backend = backend
        ctx.temperature = temperature
        ctx.sampled = acts.probs is not None
        ctx.masked = real is not None
        ctx.content = query is not None
        ctx.deferred = deferred
        saved = list(acts[:-1]) + ([acts.probs] if ctx.sampled else [])
        saved += [real] if ctx.masked else []
        saved += list(query) if ctx.content else []
        ctx.save_for_backward(memory, *weights, *saved)
        extra = [read_age] if read_age is not None else []
        ctx.mark_non_differentiable(steps, *extra)
        return (outputs, hidden, memory, steps, *extra)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out, grad_hidden, grad_memory, _grad_steps, *_grad_extra):
        memory, *rest = ctx.saved_tensors
        weights = RecurrentWeights(*rest[:4])
        rest = rest[4:]
        query = ContentQuery(*rest[-2:]) if ctx.content else None
        rest = rest[:-2] if ctx.content else rest
        real = rest.pop() if ctx.masked else None
        probs = rest.pop() if ctx.sampled else None
        acts = Activations(*rest, probs)
        with torch.autocast(grad_out.device.type, enabled=False):  # as forward ran
            inputs, weight_grads, grad_query = _run_backward(
                grad_out, grad_hidden, grad_memory, memory, weights, acts, real, ctx.temperature,
                backend=ctx.backend, variant=ctx.variant, deferred=ctx.deferred, query=query,
            )
        grad_query = grad_query or (None, None)
        return (None, None, None, None, None, None, None, None, *grad_query, None,
                *inputs, *weight_grads)


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
    # float16/bfloat16 (a --fp16/--bf16 model, or autocast's projections): the loop runs in
    # float32 with autocast off, so the memory, the cell state and the address softmax never
    # round to 8 or 11 bits over hundreds of steps; see module docstring.
    projected, hidden, memory, noise, query_in, query_weight = (
        _in_float32(t) for t in (projected, hidden, memory, noise, query_in, query_weight)
    )
    weights = RecurrentWeights(*(_in_float32(weight) for weight in weights))
    tensors = (projected, hidden, memory, *weights)
    backend = choose_backend(tensors + (noise,))
    with torch.autocast(projected.device.type, enabled=False):
        differentiable = tensors + tuple(t for t in (query_in, query_weight) if t is not None)
        if torch.is_grad_enabled() and any(t.requires_grad for t in differentiable):
            outputs, hidden, memory, steps, *extra = _Recurrence.apply(
                backend, variant, steps, noise, real, temperature, record, read_age,
                query_in, query_weight, deferred_weights, *tensors
            )
            read_age = extra[0] if extra else None
        else:
            addr_in, gate_in, trans_in = split_projection(
                projected, memory.size(1), hidden.size(-1) + memory.size(-1))
            outputs, hidden, memory, steps, _, read_age = _run_forward(
                addr_in, gate_in, trans_in, hidden, memory, steps, weights, noise, real,
                temperature, keep=False, record=record, backend=backend, variant=variant,
                read_age=read_age, overwrite_memory=overwrite_memory,
                query=None if query_in is None else ContentQuery(query_in, query_weight),
            )
    final = (hidden, memory, steps) if read_age is None else (hidden, memory, steps, read_age)
    return outputs.to(output_dtype), final


def _in_float32(tensor: Optional[Tensor]) -> Optional[Tensor]:
    """float16 and bfloat16 tensors as float32 (autograd casts gradients back); others as they are."""
    if tensor is not None and tensor.dtype in (torch.float16, torch.bfloat16):
        return tensor.float()
    return tensor


BACKENDS = ("auto", "python", "native", "cpp")
_logged = set()


def choose_backend(tensors) -> str:
    """"native" (csrc/recurrence.cpp) or "python" (:func:`_forward_steps`,
    :func:`_backward_steps`) for a call on ``tensors`` (None entries ignored), as
    ``ARMIN_BACKEND`` asks: "auto" (default) takes the compiled loop where it is built and
    supports the call, "python" forces the Python loop, "native" (or "cpp") requires the
    compiled loop to be built. Logs the active backend once per process and choice.
    """
    asked = os.environ.get("ARMIN_BACKEND", "auto").strip().lower() or "auto"
    if asked not in BACKENDS:
        raise ArminError(f"ARMIN_BACKEND must be one of {', '.join(BACKENDS)}, got {asked!r}")
    unsupported = _native_unsupported(tensors)
    if asked == "python":
        backend, why = "python", "ARMIN_BACKEND=python"
    elif native.library() is None:
        if asked != "auto":
            raise ArminError(f"ARMIN_BACKEND={asked}: the compiled ARMIN recurrence is "
                             f"{native.unavailable_reason()}")
        backend, why = "python", f"compiled recurrence {native.unavailable_reason()}"
    elif unsupported:
        backend, why = "python", unsupported
    else:
        backend, why = "native", f"compiled recurrence {native.library_path().name}"
    if (backend, why) not in _logged:
        _logged.add((backend, why))
        logger.info("ARMIN recurrence backend: %s (%s)", backend, why)
    return backend


def _native_unsupported(tensors) -> Optional[str]:
    """Why the compiled loop cannot run a call on ``tensors`` (None if it can)."""
    tensors = [t for t in tensors if t is not None]
    if any(t.device.type != "cpu" for t in tensors):
        return "the compiled loop is CPU-only: CUDA tensors run the Python loop"
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) > 1 or not dtypes <= {torch.float32, torch.float64}:
        return f"the compiled loop needs one dtype, float32 or float64 (got {sorted(map(str, dtypes))})"
    return None
