"""The variants of docs/the-cell.md ("Variants (flags)"): what each flag changes, on cases
that can be checked by hand, and its one-line errors."""
import pytest
import torch

from armin_plugin.errors import ArminError
from armin_plugin.modules import ARMIN
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
