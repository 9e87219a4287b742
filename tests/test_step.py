"""Every fast path against the step: the layer's fused loops (the Python one in
armin_plugin/modules/fused_loop.py and the compiled one, csrc/recurrence.cpp) against
``armin_step`` (armin_plugin/modules/step.py) run step by step with autograd, for every
shipped variant, in float64: outputs, final state, what each step read and wrote, and every
gradient (inputs, carried state, all parameters)."""
import pytest
import torch

from armin_plugin.modules import ARMIN, ARMINState, CellVariant
from armin_plugin.modules.backend import choose_backend
from armin_plugin.modules.addressing import sample_gumbel
from armin_plugin.modules.step import armin_step

DT = torch.float64
TIGHT = dict(rtol=1e-10, atol=1e-12)
VARIANTS = {
    "paper": CellVariant(),
    "no-read": CellVariant(no_read=True),
    "no-reread": CellVariant(no_reread=True),
    "content": CellVariant(content_address=True),
    "no-reread-content": CellVariant(no_reread=True, content_address=True),
    "no-read-no-reread-content": CellVariant(no_read=True, no_reread=True, content_address=True),
}


def build(variant, d_x=3, d_h=4, d_r=6, n_slots=3):
    """Two float64 layers (d_r > d_h) whose memory and query are far from their start."""
    torch.manual_seed(0)
    model = ARMIN(d_x, d_h, d_r, n_slots, num_layers=2, temperature=0.6, forget_bias=0.4,
                  variant=variant).to(DT)
    with torch.no_grad():
        for cell in model.layers:
            cell.initial_memory.normal_()
            cell.record_addressing = True
            if cell.query is not None:
                cell.query.weight.normal_()
                cell.query.bias.normal_()
    return model


def inputs(model, steps=9, batch=4, seed=3):
    """x (T, B, d_x), a carried state (rows filling and full, read ages where the cell keeps
    them), pads (left, right, in the middle), Gumbel noise (L, T, B, N) and loss weights."""
    gen = torch.Generator().manual_seed(seed)
    layers, n_slots = model.num_layers, model.num_slots
    x = torch.randn(steps, batch, model.layers[0].input_size, generator=gen, dtype=DT)
    state = ARMINState(
        torch.randn(layers, batch, model.hidden_size, generator=gen, dtype=DT).tanh(),
        torch.randn(layers, batch, n_slots, model.slot_size, generator=gen, dtype=DT),
        torch.tensor([0, 1, 2, 5]).expand(layers, batch).clone(),
        torch.randint(0, 3, (layers, batch, n_slots), generator=gen) if model.variant.reads_history else None,
    )
    pad = torch.zeros(steps, batch, dtype=torch.bool)
    pad[:3, 1], pad[6:, 2], pad[3:5, 3] = True, True, True
    noise = sample_gumbel((layers, steps, batch, n_slots), dtype=DT, generator=gen)
    weights = [torch.randn(s, generator=gen, dtype=DT) for s in
               [(steps, batch, model.output_size), state.hidden.shape, state.memory.shape]]
    return x, state, pad, noise, weights


def stepped(model, x, state, pad, noise):
    """The stack by ``armin_step``, one step at a time: outputs, final state and per layer
    the (logits, slots read, slots written) of every step."""
    out, finals, traces = x, [], []
    for index, cell in enumerate(model.layers):
        layer_state, outs, trace = state.layer(index), [], []
        for t in range(x.size(0)):
            step_noise = None if noise is None else noise[index, t]
            step_out, layer_state, step_trace = armin_step(cell, out[t], layer_state, model.temperature,
                                                           step_noise, ~pad[t])
            outs.append(step_out)
            trace.append(step_trace)
        out = torch.stack(outs)
        finals.append(layer_state)
        traces.append([torch.stack(part) for part in zip(*trace)])
    return out, ARMINState.stack(finals), traces


def fused(model, x, state, pad, noise):
    out, final = model(x, state, padding_mask=pad, gumbel_noise=noise)
    traces = [[cell.last_trace.logits, cell.last_trace.read, cell.last_trace.written] for cell in model.layers]
    return out, final, traces


@pytest.mark.parametrize("training", [True, False], ids=["gumbel", "argmax"])
@pytest.mark.parametrize("variant", VARIANTS.values(), ids=VARIANTS.keys())
def test_the_fused_loop_equals_the_step_run_step_by_step(backend, variant, training):
    model = build(variant).train(training)
    x, state, pad, noise, weights = inputs(model)
    assert choose_backend([x]) == backend  # every variant runs compiled
    results = []
    for run in (fused, stepped):
        leaves = [x.clone().requires_grad_(), state.hidden.clone().requires_grad_(),
                  state.memory.clone().requires_grad_()]
        start = state._replace(hidden=leaves[1], memory=leaves[2])
        out, final, traces = run(model, leaves[0], start, pad, noise if training else None)
        loss = sum((w * t).sum() for w, t in zip(weights, (out, final.hidden, final.memory)))
        params = list(model.parameters())
        grads = torch.autograd.grad(loss, params + leaves, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params + leaves, grads)]
        results.append((out, final, traces, grads))
    (out, final, traces, grads), (ref_out, ref_final, ref_traces, ref_grads) = results
    torch.testing.assert_close(out, ref_out, **TIGHT)
    torch.testing.assert_close(final.hidden, ref_final.hidden, **TIGHT)
    torch.testing.assert_close(final.memory, ref_final.memory, **TIGHT)
    assert torch.equal(final.steps, ref_final.steps)
    assert (final.read_age is None) == (not variant.no_reread)
    if variant.no_reread:
        assert torch.equal(final.read_age, ref_final.read_age)
    for (logits, read, written), (ref_logits, ref_read, ref_written) in zip(traces, ref_traces):
        torch.testing.assert_close(logits, ref_logits, **TIGHT)
        assert torch.equal(read, ref_read) and torch.equal(written, ref_written)
    names = [name for name, _ in model.named_parameters()] + ["input", "hidden", "memory"]
    for name, grad, ref in zip(names, grads, ref_grads):
        torch.testing.assert_close(grad, ref, **TIGHT, msg=lambda m: f"{name}: {m}")
    address = dict(zip(names, grads))["layers.0.address.weight"]
    assert bool(address.any()) == (training and not variant.no_read)  # the straight-through path
    if variant.content_address:
        assert bool(dict(zip(names, grads))["layers.0.query.weight"].any()) == (training and not variant.no_read)


@pytest.mark.parametrize("variant", VARIANTS.values(), ids=VARIANTS.keys())
def test_one_token_calls_equal_the_step(backend, variant):
    """Decoding one token per call without autograd, each call overwriting its own state
    (as incremental decoding does), gives the step's outputs and state."""
    model = build(variant).eval()
    x, state, pad, _, _ = inputs(model)
    no_pads = torch.zeros_like(pad)
    expected, expected_state, _ = stepped(model, x, state, no_pads, None)
    got, current = [], ARMINState(*(None if t is None else t.clone() for t in state))
    with torch.no_grad():
        for t in range(x.size(0)):
            out, current = model(x[t:t + 1], current, overwrite_state=True)
            got.append(out)
    torch.testing.assert_close(torch.cat(got), expected.detach(), **TIGHT)
    torch.testing.assert_close(current.memory, expected_state.memory.detach(), **TIGHT)
    assert torch.equal(current.steps, expected_state.steps)


def test_a_pad_step_changes_no_part_of_the_state():
    model = build(CellVariant(no_reread=True, content_address=True)).train()
    x, state, _, noise, _ = inputs(model)
    real = torch.tensor([True, False, True, False])
    _, new, trace = armin_step(model.layers[0], x[0], state.layer(0), 0.6, noise[0, 0], real)
    for after, before in zip(new, state.layer(0)):
        assert torch.equal(after[~real], before[~real]) and not torch.equal(after[real], before[real])
    assert trace.written[real].tolist() == [0, 2]  # rows still filling write slot n_{t-1}
