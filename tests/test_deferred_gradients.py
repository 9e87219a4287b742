"""Weight gradients summed once over the calls of a one-step-per-call loop
(armin_plugin/modules/deferred_gradients.py, used by ``reusing_weights()``): the same
gradients as autograd's per-call ones, however the calls run."""
import gc
import weakref

import pytest
import torch
import torch.nn.functional as F

from armin_plugin.modules import ARMIN, ARMINCell
from armin_plugin.modules.addressing import sample_gumbel
from armin_plugin.modules.deferred_gradients import DeferredLinear

DT = torch.float64
TOL = dict(rtol=1e-10, atol=1e-12)


def linear_parts(bias=True, seed=0):
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(5, 3, dtype=DT, generator=gen, requires_grad=True)
    b = torch.randn(5, dtype=DT, generator=gen, requires_grad=True) if bias else None
    xs = [torch.randn(*shape, 3, dtype=DT, generator=gen, requires_grad=True) for shape in [(2,), (4, 2), (1, 3, 2)]]
    return weight, b, xs


@pytest.mark.parametrize("bias", [True, False])
def test_deferred_linear_gives_f_linears_values_and_gradients_over_calls_of_any_shape(bias):
    weight, b, xs = linear_parts(bias)
    leaves = [weight, *xs] + ([b] if bias else [])

    expected_out = [F.linear(x, weight, b) for x in xs]
    expected = torch.autograd.grad(sum((y.sin()).sum() for y in expected_out), leaves)

    linear = DeferredLinear(weight, b)
    out = [linear(x) for x in xs]
    got = torch.autograd.grad(sum((y.sin()).sum() for y in out), leaves)
    for y, e in zip(out, expected_out):
        torch.testing.assert_close(y, e, **TOL)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, **TOL)


def test_a_second_backward_of_a_kept_graph_gives_the_same_gradients_again():
    weight, b, xs = linear_parts()
    linear = DeferredLinear(weight, b)
    loss = sum(linear(x).square().sum() for x in xs)
    first = torch.autograd.grad(loss, [weight, b], retain_graph=True)
    second = torch.autograd.grad(loss, [weight, b])
    for one, two in zip(first, second):
        torch.testing.assert_close(one, two, **TOL)


def test_without_autograd_and_under_autocast_the_calls_are_plain_linear_maps():
    weight, b, xs = linear_parts()
    with torch.no_grad():
        linear = DeferredLinear(weight, b)
        assert not linear.deferred.tracked
        torch.testing.assert_close(linear(xs[0]), F.linear(xs[0], weight, b))
    weight = weight.detach().float().requires_grad_()
    x = xs[0].detach().float()
    linear = DeferredLinear(weight, b.detach().float())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = linear(x)
    assert y.dtype == torch.bfloat16  # autocast's cast, through autograd as usual
    grad_weight, = torch.autograd.grad(y.float().sum(), [weight])
    torch.testing.assert_close(grad_weight, x.sum(0).expand(5, 3), rtol=2e-2, atol=2e-2)


def test_cell_steps_with_and_without_noise_in_one_block_give_the_per_call_gradients(backend):
    """Within ``reusing_weights()`` some calls sample their slot (gradient to the address
    logits) and some read the argmax (none): the joined gradients equal those of the same
    calls outside the block, where every call computes its own."""
    torch.manual_seed(0)
    cell = ARMINCell(3, 5, 4, 3).to(DT)
    with torch.no_grad():
        cell.initial_memory.normal_()
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(4, 2, 3, dtype=DT, generator=gen)
    noise = [sample_gumbel((1, 2, 3), dtype=DT, generator=gen) if t % 2 == 0 else None for t in range(4)]

    def loss():
        state, total = cell.initial_state(2), 0
        for t in range(4):
            out, state = cell(x[t:t + 1], state, gumbel_noise=noise[t], temperature=0.7)
            total = total + out.sin().sum() + state[1].square().sum()
        return total

    expected = torch.autograd.grad(loss(), list(cell.parameters()))
    with cell.reusing_weights():
        got = torch.autograd.grad(loss(), list(cell.parameters()))
    for (name, _), g, e in zip(cell.named_parameters(), got, expected):
        torch.testing.assert_close(g, e, **TOL, msg=lambda m: f"{name}: {m}")


def test_a_bfloat16_stack_stepped_in_a_block_gets_gradients_of_its_own_dtype(backend):
    """The loop runs in float32 for half weights; the joined gradients come back in the
    weights' dtype, close to the per-call ones."""
    torch.manual_seed(0)
    model = ARMIN(3, 5, 4, 3).to(torch.bfloat16)
    x = torch.randn(4, 2, 3, dtype=torch.bfloat16)
    noise = sample_gumbel((1, 4, 2, 3))

    def grads():
        model.zero_grad()
        state, total = None, 0
        for t in range(4):
            out, state = model(x[t:t + 1], state, gumbel_noise=noise[:, t:t + 1])
            total = total + out.float().square().sum()
        total.backward()
        return [p.grad.clone() for p in model.parameters()]

    expected = grads()
    with model.reusing_weights():
        got = grads()
    for g, e in zip(got, expected):
        assert g.dtype == torch.bfloat16
        torch.testing.assert_close(g.float(), e.float(), rtol=5e-2, atol=5e-2)


def test_the_graph_of_a_block_is_freed_after_backward_by_reference_counting():
    """The autograd graph holds only the kept factors, not the weights it hands out: no
    reference cycle keeps a training step's graph (and its arranged weights) alive."""
    torch.manual_seed(0)
    model = ARMIN(4, 3, 2, 3)
    state, total = None, 0
    with model.reusing_weights():
        watched = [weakref.ref(model.layers[0]._deferred[0].deferred),
                   weakref.ref(model.layers[0]._deferred[1]),
                   *(weakref.ref(w) for w in model.layers[0].arranged_weights()[2])]
        for _ in range(3):
            out, state = model(torch.randn(1, 2, 4), state)
            total = total + out.sum()
    total.backward()
    gc.disable()  # reference counting alone must free them
    try:
        del total, out, state
        assert all(ref() is None for ref in watched)
    finally:
        gc.enable()
