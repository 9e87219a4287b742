"""The variants of docs/the-cell.md ("Variants (flags)"): what each flag changes, on cases
that can be checked by hand, and its one-line errors."""
import logging

import pytest
import torch

from armin_plugin.errors import ArminError
from armin_plugin.modules import ARMIN, CellVariant, native, recurrence
from armin_plugin.modules.addressing import sample_gumbel
from native_backends import backend  # noqa: F401 (fixture: each recurrence test per backend)
from test_armin_layer import grads_of_random_projection, make_model
from test_armin_lm import build

DT = torch.float64


def orthonormal(weight):
    """Rows orthonormal if there are fewer rows than columns, otherwise columns."""
    gram = weight @ weight.t() if weight.size(0) <= weight.size(1) else weight.t() @ weight
    return torch.allclose(gram, torch.eye(gram.size(0), dtype=gram.dtype), atol=1e-5)


def test_authors_init_makes_every_weight_orthogonal_and_every_bias_zero():
    model, _ = build(armin_init="authors")
    for cell in model.decoder.armin.layers:
        for linear in (cell.address, cell.gate, cell.transform, cell.write):
            assert orthonormal(linear.weight.detach())
            assert not linear.bias.detach().any()
        assert cell.initial_hidden.detach().any()  # p_h keeps its N(0, 1) start


def test_pytorch_init_is_nn_linears_default():
    model, _ = build()
    cell = model.decoder.armin.layers[0]
    bound = cell.gate.in_features ** -0.5
    assert cell.gate.bias.detach().any() and cell.gate.weight.detach().abs().max() <= bound
    assert not orthonormal(cell.gate.weight.detach())


def test_unknown_init_is_one_line():
    with pytest.raises(ArminError, match="ARMIN init must be one of pytorch, authors, got 'xavier'"):
        ARMIN(3, 4, 5, 2, init="xavier")


# --------------------------------------------------------------------------- --armin-no-read


def layer_run(variant, memory_seed=0, grad=False, pad=None):
    """One float64 layer in training mode with fixed noise: outputs, final state, the cell
    and (with ``grad``) the gradients of a random projection of the outputs and state."""
    model = make_model(d_x=3, d_h=4, d_r=5, n_slots=3, temperature=0.7, variant=variant)
    cell = model.layers[0]
    cell.record_addressing = True
    with torch.no_grad():
        cell.initial_memory.copy_(torch.randn(3, 5, generator=torch.Generator().manual_seed(memory_seed), dtype=DT))
    model.train()
    x = torch.randn(7, 2, 3, generator=torch.Generator().manual_seed(5), dtype=DT).requires_grad_()
    noise = sample_gumbel((1, 7, 2, 3), dtype=DT, generator=torch.Generator().manual_seed(6))
    out, state = model(x, padding_mask=pad, gumbel_noise=noise)
    grads = None
    if grad:
        grads = dict(zip([n for n, _ in model.named_parameters()],
                         grads_of_random_projection(model, x, out, state)))
    return out, state, cell, grads


@pytest.mark.usefixtures("backend")
def test_no_read_zeroes_the_read_and_ignores_the_memory():
    out, state, cell, grads = layer_run(CellVariant(no_read=True), grad=True)
    other, _, _, _ = layer_run(CellVariant(no_read=True), memory_seed=1)
    assert not out[..., 4:].any()  # sigmoid(o_m) * r with r = 0
    torch.testing.assert_close(other, out, rtol=0, atol=0)  # what the memory holds is never used
    assert cell.last_trace.read.numel() == 14  # the address is still computed
    for name in ("layers.0.address.weight", "layers.0.initial_memory"):
        assert grads[name] is None or not grads[name].any(), name
    # the memory is still written: slots fill 0, 1, 2 and then the slot read
    assert not torch.equal(state.memory[0], cell.initial_memory.detach().expand(2, -1, -1))


def test_no_read_equals_the_cell_with_a_zero_read_slot():
    """By hand: with d_r columns of the read zero, the gates and transform see [x ; h ; 0]."""
    out, _, cell, _ = layer_run(CellVariant(no_read=True))
    model = make_model(d_x=3, d_h=4, d_r=5, n_slots=3, temperature=0.7)
    with torch.no_grad():
        ref = model.layers[0]
        ref.load_state_dict(cell.state_dict())
        ref.initial_memory.zero_()
        ref.write.weight.zero_()
        ref.write.bias.zero_()  # every slot holds zeros for ever: each read is 0
    model.train()
    x = torch.randn(7, 2, 3, generator=torch.Generator().manual_seed(5), dtype=DT)
    noise = sample_gumbel((1, 7, 2, 3), dtype=DT, generator=torch.Generator().manual_seed(6))
    expected, _ = model(x, gumbel_noise=noise)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-14)


def test_step_variants_fall_back_to_the_python_loop(monkeypatch, caplog):
    monkeypatch.setattr(recurrence, "_logged", set())
    cpu = torch.zeros(2)
    for asked in ("auto", "native"):
        monkeypatch.setenv("ARMIN_BACKEND", asked)
        for variant in (CellVariant(no_read=True), CellVariant(entropy_bonus=1e-5),
                        CellVariant(load_balance=0.01)):
            with caplog.at_level(logging.INFO, logger=recurrence.__name__):
                assert recurrence.choose_backend([cpu], variant) == "python"
    assert any("paper's cell only (set: no_read)" in r.getMessage() for r in caplog.records)
    if native.library() is not None:
        assert recurrence.choose_backend([cpu], CellVariant()) == "native"
