"""``reusing_weights(leading_input=...)``: the known first features of every step projected
at once (armin_plugin/modules/step_inputs.py), the calls passing only the rest; the same
outputs and gradients as calls that pass whole inputs."""
import pytest
import torch
import torch.nn.functional as F

from armin_plugin.errors import ArminError
from armin_plugin.modules import ARMIN
from armin_plugin.modules.addressing import sample_gumbel
from armin_plugin.modules.step_inputs import StepInputProjection
from native_backends import backend  # noqa: F401 (fixture)

DT = torch.float64
TOL = dict(rtol=1e-10, atol=1e-12)


def test_calls_of_one_and_several_steps_give_the_projection_of_the_whole_inputs():
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(6, 5, dtype=DT, generator=gen, requires_grad=True)
    bias = torch.randn(6, dtype=DT, generator=gen, requires_grad=True)
    leading = torch.randn(4, 2, 3, dtype=DT, generator=gen, requires_grad=True)
    rest = torch.randn(4, 2, 2, dtype=DT, generator=gen, requires_grad=True)
    leaves = [weight, bias, leading, rest]

    expected = F.linear(torch.cat([leading, rest], -1), weight, bias)
    expected_grads = torch.autograd.grad(expected.sin().sum(), leaves)

    project = StepInputProjection(weight, bias, leading)
    got = torch.cat([project(rest[:1]), project(rest[1:3]), project(rest[3:])])
    torch.testing.assert_close(got, expected, **TOL)
    for g, e in zip(torch.autograd.grad(got.sin().sum(), leaves), expected_grads):
        torch.testing.assert_close(g, e, **TOL)


def test_wrong_widths_and_too_many_steps_are_one_line_errors():
    weight, leading = torch.zeros(6, 5), torch.zeros(2, 1, 3)
    with pytest.raises(ArminError, match="leading_input has 7 features, more than the 5 of the input"):
        StepInputProjection(weight, None, torch.zeros(2, 1, 7))
    project = StepInputProjection(weight, None, leading)
    with pytest.raises(ArminError, match="passes the other 2 input features of its steps, got 5"):
        project(torch.zeros(1, 1, 5))
    project(torch.zeros(2, 1, 2))
    with pytest.raises(ArminError, match="ran past the 2 steps of leading_input"):
        project(torch.zeros(1, 1, 2))


def test_a_stack_stepped_with_leading_input_equals_whole_inputs_per_call(backend):
    """Two layers, pads, Gumbel noise: one token per call as the translation decoder steps,
    with the embeddings as leading_input, against the same calls with [e_t ; f_t]."""
    torch.manual_seed(0)
    model = ARMIN(5, 4, 3, 3, num_layers=2).to(DT)
    gen = torch.Generator().manual_seed(1)
    steps, batch = 5, 2
    known = torch.randn(steps, batch, 3, dtype=DT, generator=gen, requires_grad=True)
    fed = torch.randn(steps, batch, 2, dtype=DT, generator=gen, requires_grad=True)
    noise = sample_gumbel((2, steps, batch, 3), dtype=DT, generator=gen)
    pad = torch.zeros(steps, batch, dtype=torch.bool)
    pad[3:, 1] = True

    def loss(leading):
        state, total = None, 0
        with model.reusing_weights(leading_input=known if leading else None):
            for t in range(steps):
                x = fed[t:t + 1] if leading else torch.cat([known[t:t + 1], fed[t:t + 1]], -1)
                out, state = model(x, state, pad[t:t + 1], gumbel_noise=noise[:, t:t + 1])
                total = total + out.sin().sum()
        return total + state.memory.square().sum()

    leaves = [known, fed, *model.parameters()]
    expected = torch.autograd.grad(loss(False), leaves)
    got = torch.autograd.grad(loss(True), leaves)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, **TOL)
