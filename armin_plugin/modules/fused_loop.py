"""The ARMIN loop in PyTorch: :func:`.step.armin_step` fused over T steps, forward and its
hand-written backward (csrc/recurrence.cpp runs the same phases as row functions). Fused:
the x_t parts of the step's address, gate, transform and query products arrive precomputed
(:class:`LoopInputs`); h_t's address part (for step t + 1) and write value are one product;
the read is a gather of slot k_t (the forward value of the step's straight-through read), the
write a store in place; backward unwinds the memory from the values each write overwrote.
Shapes: T steps, B rows, N slots, d_h hidden, d_r slot, G = d_h + d_r, P = 4 d_h + d_r."""
from typing import NamedTuple, Optional

import torch
from torch import Tensor

from .variants import REREAD_PENALTY, CellVariant


def key_scale(memory: Tensor, dim: int = -1) -> Tensor:
    """1 / sqrt(|M_k|^2 + 1) per slot over ``dim`` (kept): the keys of ``content_address`` are
    ``memory * key_scale(memory)``, of norm below 1, near M_k where it is small."""
    return (memory * memory).sum(dim, keepdim=True).add(1.0).rsqrt()


class ContentQuery(NamedTuple):
    """The query of ``content_address``, q_t = W_q [x_t ; h_{t-1}] + b_q, in two parts:
    query_in (T, B, d_r), W_q x_t + b_q of every step, and weight (d_r, d_h), W_q's h part."""

    query_in: Tensor
    weight: Tensor

    def of_steps(self, hidden: Tensor) -> Tensor:
        """q_t of every step (T, B, d_r) from h_{t-1} of every step (T, B, d_h)."""
        return self.query_in + hidden @ self.weight.t()


class LoopOptions(NamedTuple):
    """Per call: tau of the Gumbel softmax and the cell's :class:`.variants.CellVariant`."""

    temperature: float
    variant: CellVariant

    def native(self):  # the C++ loop's LoopOptions
        return self.temperature, REREAD_PENALTY if self.variant.no_reread else 0.0, self.variant.no_read


class LoopInputs(NamedTuple):
    """The input-side projections addr_in (T, B, N), gate_in (T, B, G), trans_in (T, B, P)
    (f part with the forget bias); noise (T, B, N) or None (argmax); real (T, B) bool, False
    at pads, or None; query: the :class:`ContentQuery` of ``content_address`` or None."""

    addr_in: Tensor
    gate_in: Tensor
    trans_in: Tensor
    noise: Optional[Tensor]
    real: Optional[Tensor]
    query: Optional[ContentQuery]

    def native(self):
        return [*self[:5], *(self.query or (None, None))]


class Activations(NamedTuple):
    """What backward needs of every step, each (T, B, ...) ((1, B, ...) without autograd):
    hidden_read: [h_{t-1} ; r_t] (G); gates: sigmoid gates (G); transform:
    [sigmoid(i) ; tanh(j) ; sigmoid(f + forget_bias) ; sigmoid(o) ; sigmoid(o_m)] (P);
    new_hidden: tanh(c_t) (d_h), before the pad mask; slots: the read slot k (long);
    targets: the written slot (long); overwritten: the slot's value before the write (d_r);
    probs: the Gumbel-softmax probabilities (N), or None without sampling."""

    hidden_read: Tensor
    gates: Tensor
    transform: Tensor
    new_hidden: Tensor
    slots: Tensor
    targets: Tensor
    overwritten: Tensor
    probs: Optional[Tensor]


class StepBuffers(NamedTuple):
    """What forward fills: outputs (T, B, G), the :class:`Activations` and the record, None or
    (noise-free address logits (T, B, N), slots read (T, B), slots written (T, B))."""

    outputs: Tensor
    acts: Activations
    recorded: Optional[tuple]

    def native(self):
        return [self.outputs, *self.acts, *(self.recorded or (None, None, None))]


class GradientBuffers(NamedTuple):
    """What backward fills, each (T, B, ...): grad_addr (N) (None: no gradient reaches the
    logits), grad_gate_in (G), grad_trans_in (P), dL/dv_t (d_r), dL/dq_t (d_r) or None."""

    grad_addr: Optional[Tensor]
    grad_gate_in: Tensor
    grad_trans_in: Tensor
    grad_value: Tensor
    grad_query: Optional[Tensor]


def forward_steps(inputs: LoopInputs, state, weights, buffers: StepBuffers, options: LoopOptions):
    """The step's phases for t = 0 .. T - 1: address (+ <key_k, q_t> with content_address,
    - REREAD_PENALTY at the slot read last with no_reread; recorded after both, before the
    noise), slot, read (zeros with no_read), gates, transform, h_t, out_t, write value, slot
    written, write, pad mask. ``state``: hidden (B, d_h), memory (B, N, d_r) (written in
    place), steps (B,), read_age (B, N) or None. Returns the final hidden, steps, read_age."""
    addr_in, gate_in, trans_in, noise, real, query = inputs
    hidden, memory, steps, read_age = state
    acts, outputs, recorded, variant = buffers.acts, buffers.outputs, buffers.recorded, options.variant
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
            acts.probs[s] = torch.softmax(logits / options.temperature, -1)
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


def backward_steps(grads, memory, weights, acts: Activations, real, query, out: GradientBuffers,
                   options: LoopOptions):
    """The gradient of the step's phases, last step first (write, h_t's products, out_t, h_t,
    transform, gates, read, straight-through softmax, content address), each step undoing
    the write to get M_{t-1} back from the final ``memory``. ``grads``: dL/d(outputs, final
    hidden, final memory); ``query``: (q_t of every step (T, B, d_r), W_q's h part) or None.
    Fills ``out``; returns the gradients of the initial hidden and memory."""
    grad_out, grad_hidden, grad_memory = grads
    grad_addr, grad_gate_in, grad_trans_in, grad_value, grad_query_in = out
    steps_total, batch, _ = grad_out.shape
    d_h = weights.from_hidden.size(1)
    d_r = weights.transform.size(1) - d_h
    n_slots = weights.from_hidden.size(0) - d_r
    rows = torch.arange(batch, device=grad_out.device)
    # slots last: the straight-through product <M_{t-1}[k], dL/dr> is then a fast row x matrix
    memory = memory.transpose(1, 2).contiguous()
    grad_memory = grad_memory.clone()
    grad_state = grad_hidden.clone()  # dL/dh_t, except through the address of step t + 1
    straight_through = acts.probs is not None and not options.variant.no_read
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
            grad_next_addr = torch.mul(probs, grad_probs, out=grad_addr[t]).div_(options.temperature)
        if query is not None and grad_addr is not None:  # a_t[k] += <key_k, q_t>
            # key_k = M_k / s_k, s_k = sqrt(|M_k|^2 + 1): dkey_k = (I - key_k key_k^T) dM_k / s_k
            q = query[0][t]
            scale = key_scale(memory, 1)  # 1 / s_k (B, 1, N)
            keys = memory * scale  # (B, d_r, N)
            grad_q = torch.bmm(keys, grad_next_addr.unsqueeze(-1)).squeeze(-1)
            grad_query_in[t] = grad_q
            content = torch.bmm(q.unsqueeze(1), keys).squeeze(1)  # <key_k, q_t> (B, N)
            along = (grad_next_addr * scale.squeeze(1)).unsqueeze(-1)
            grad_memory.add_(along * (q.unsqueeze(1) - keys.transpose(1, 2) * content.unsqueeze(-1)))
            grad_state = torch.addmm(grad_state, grad_q, query[1])
        if not options.variant.no_read:  # a zero read uses no slot
            grad_memory.index_put_((rows, slot), grad_read, accumulate=True)
    if grad_addr is not None:
        grad_state = torch.addmm(grad_state, grad_next_addr, w_back[:n_slots])
    return grad_state, grad_memory
