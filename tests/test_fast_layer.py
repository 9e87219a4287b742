"""The fast ARMIN layer against the naive per-step reference of the benchmark.

benchmarks/naive_armin.py reads and writes densely over all N slots and leaves the whole
backward to autograd; the layer runs a hand-written BPTT that unwinds the memory. Both must
give the same outputs, final state and gradients (float64) in every mode.
"""
import pytest
import torch

from armin_plugin.modules import ARMIN
from armin_plugin.modules.addressing import sample_gumbel
from benchmarks.naive_armin import naive_armin

pytestmark = pytest.mark.usefixtures("backend")  # every test: once per recurrence backend

DT = torch.float64
TOL = dict(rtol=1e-9, atol=1e-11)


def build(d_x, d_h, d_r, n_slots, layers=1, seed=0, **kwargs):
    torch.manual_seed(seed)
    model = ARMIN(d_x, d_h, d_r, n_slots, num_layers=layers, **kwargs).to(DT)
    with torch.no_grad():  # p_M is 0 at init: give the slots distinct contents
        for cell in model.layers:
            cell.initial_memory.normal_()
    return model


def run_both(model, steps, batch, pad=None, seed=1):
    """Outputs, final states and gradients of a random loss for the layer and the naive one."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(steps, batch, model.layers[0].input_size, generator=gen, dtype=DT)
    noise = sample_gumbel((model.num_layers, steps, batch, model.num_slots), dtype=DT,
                          generator=gen)
    weights = [torch.randn(s, generator=gen, dtype=DT) for s in [
        (steps, batch, model.output_size),
        (model.num_layers, batch, model.hidden_size),
        (model.num_layers, batch, model.num_slots, model.slot_size),
    ]]
    params = list(model.parameters())
    results = []
    for run in (model, lambda *a, **k: naive_armin(model, *a, **k)):
        inputs = x.clone().requires_grad_()
        out, state = run(inputs, padding_mask=pad, gumbel_noise=noise)
        loss = sum((w * t).sum() for w, t in zip(weights, (out, state.hidden, state.memory)))
        grads = torch.autograd.grad(loss, params + [inputs], allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params + [inputs], grads)]
        results.append((out, state, grads))
    return results


def assert_same(fast, naive, model):
    (out, state, grads), (ref_out, ref_state, ref_grads) = fast, naive
    torch.testing.assert_close(out, ref_out, **TOL)
    torch.testing.assert_close(state.hidden, ref_state.hidden, **TOL)
    torch.testing.assert_close(state.memory, ref_state.memory, **TOL)
    assert torch.equal(state.steps, ref_state.steps)
    names = [name for name, _ in model.named_parameters()] + ["input"]
    for name, g, e in zip(names, grads, ref_grads):
        torch.testing.assert_close(g, e, **TOL, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("sizes", [(4, 6, 3, 5), (3, 4, 9, 3)], ids=["d_r<d_h", "d_r>d_h"])
def test_fast_layer_equals_naive_reference(training, sizes):
    model = build(*sizes, layers=2, temperature=0.6, forget_bias=0.4).train(training)
    fast, naive = run_both(model, steps=12, batch=3)  # 12 > N: writes go to read slots
    assert_same(fast, naive, model)
    if training:  # the straight-through path reaches the address weights
        assert fast[2][0].abs().sum() > 0


@pytest.mark.parametrize("training", [False, True])
def test_fast_layer_equals_naive_reference_with_padding(training):
    model = build(3, 5, 4, 3, layers=2, temperature=0.8).train(training)
    pad = torch.zeros(9, 4, dtype=torch.bool)
    pad[:3, 1] = True  # left padded
    pad[6:, 2] = True  # right padded
    pad[2:5, 3] = True  # in the middle
    fast, naive = run_both(model, steps=9, batch=4, pad=pad, seed=3)
    assert_same(fast, naive, model)


def test_inference_path_equals_training_path():
    """Under no_grad the layer keeps nothing for backward; the values are the same."""
    model = build(3, 5, 4, 3, layers=2).eval()
    x = torch.randn(10, 2, 3, dtype=DT)
    out, state = model(x)
    with torch.no_grad():
        out_ng, state_ng = model(x)
    assert torch.equal(out.detach(), out_ng)
    assert torch.equal(state.memory.detach(), state_ng.memory)


def test_inference_cache_follows_parameter_changes():
    """Under no_grad the arranged weights are reused; changing a parameter rebuilds them."""
    model = build(3, 5, 4, 3).eval()
    x = torch.randn(6, 2, 3, dtype=DT)
    with torch.no_grad():
        before, _ = model(x)
        model.layers[0].transform.weight.mul_(0.5)
        after, _ = model(x)
        model.layers[0].forget_bias = -2.0
        shifted, _ = model(x)
    expected, _ = naive_armin(model, x)
    torch.testing.assert_close(shifted, expected.detach(), **TOL)
    assert not torch.allclose(before, after) and not torch.allclose(after, shifted)


def test_inference_cache_is_dropped_by_training_mode():
    """fairseq's optimizers update ``param.data``, which no version counter sees: a switch to
    training mode (where updates happen) must drop the cached weights."""
    model = build(3, 5, 4, 3).eval()
    x = torch.randn(6, 2, 3, dtype=DT)
    with torch.no_grad():
        model(x)  # fills the cache
    model.train()
    model.layers[0].transform.weight.data.mul_(0.5)  # an optimizer step
    model.eval()
    with torch.no_grad():
        after, _ = model(x)
    expected, _ = naive_armin(model, x)
    torch.testing.assert_close(after, expected.detach(), **TOL)


def test_reused_weights_give_the_naive_values_and_gradients_one_step_at_a_time():
    """Stepping the stack one token per call inside ``reusing_weights()`` (as the
    translation decoder does) gives the naive reference's outputs and parameter gradients;
    outside the block each call arranges the weights again."""
    model = build(3, 5, 4, 3, layers=2)
    steps, batch = 6, 2
    x = torch.randn(steps, batch, 3, dtype=DT)
    noise = sample_gumbel((2, steps, batch, 3), dtype=DT, generator=torch.Generator().manual_seed(4))
    expected, _ = naive_armin(model, x, gumbel_noise=noise)
    expected_grads = torch.autograd.grad(expected.square().sum(), list(model.parameters()))

    arranged = []
    state, outputs = None, []
    with model.reusing_weights():
        for t in range(steps):
            out, state = model(x[t:t + 1], state, gumbel_noise=noise[:, t:t + 1])
            outputs.append(out)
            arranged.append(model.layers[0].arranged_weights()[0])
    got = torch.cat(outputs)
    torch.testing.assert_close(got, expected, **TOL)
    grads = torch.autograd.grad(got.square().sum(), list(model.parameters()))
    for (name, _), g, e in zip(model.named_parameters(), grads, expected_grads):
        torch.testing.assert_close(g, e, **TOL, msg=lambda m: f"{name}: {m}")
    assert all(a is arranged[0] for a in arranged)
    assert model.layers[0].arranged_weights()[0] is not arranged[0]
