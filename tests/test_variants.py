"""The variants of docs/the-cell.md ("Variants (flags)"): what each flag changes, on cases
that can be checked by hand, and its one-line errors."""
import math

import pytest
import torch

from armin_plugin.errors import ArminError
from armin_plugin.models.lstm_stream_lm import LSTMStreamLanguageModel, LSTMStreamLanguageModelConfig
from armin_plugin.modules import ARMIN, CellVariant
from armin_plugin.modules.addressing import sample_gumbel
from helpers import (LMTask, assert_reordered_decoding_equals_full_forward, build_lm, build_translation, fresh_state,
                     grads_of_random_projection, lm_dictionary, make_model, reference_layer)

DT = torch.float64


def orthonormal(weight):
    """Rows orthonormal if there are fewer rows than columns, otherwise columns."""
    gram = weight @ weight.t() if weight.size(0) <= weight.size(1) else weight.t() @ weight
    return torch.allclose(gram, torch.eye(gram.size(0), dtype=gram.dtype), atol=1e-5)


def test_authors_init_makes_every_weight_orthogonal_and_every_bias_zero():
    model, _ = build_lm(armin_init="authors")
    for cell in model.decoder.armin.layers:
        for linear in (cell.address, cell.gate, cell.transform, cell.write):
            assert orthonormal(linear.weight.detach())
            assert not linear.bias.detach().any()
        assert cell.initial_hidden.detach().any()  # p_h keeps its N(0, 1) start


def test_pytorch_init_is_nn_linears_default():
    model, _ = build_lm()
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


# --------------------------------------------------------------------------- read history


def history_run(variant, pad=None):
    """layer_run's float64 layer with a variant, 9 steps."""
    model = make_model(d_x=3, d_h=4, d_r=5, n_slots=3, temperature=0.7, variant=variant)
    cell = model.layers[0]
    cell.record_addressing = True
    model.train()
    x = torch.randn(9, 2, 3, generator=torch.Generator().manual_seed(5), dtype=DT).requires_grad_()
    noise = sample_gumbel((1, 9, 2, 3), dtype=DT, generator=torch.Generator().manual_seed(6))
    return model, cell, x, noise


def test_no_reread_by_hand_alternates_the_two_favourite_slots():
    """Address weights 0 and biases (50, 10, 0): the paper's cell reads slot 0 at every step,
    the mask makes it alternate 0, 1, 0, 1, ... (noise below 17 cannot bridge 40)."""
    reads = {}
    for variant in (CellVariant(), CellVariant(no_reread=True)):
        model, cell, x, noise = history_run(variant)
        with torch.no_grad():
            cell.address.weight.zero_()
            cell.address.bias.copy_(torch.tensor([50.0, 10.0, 0.0]))
        _, state = model(x, gumbel_noise=noise)
        reads[variant.no_reread] = cell.last_trace.read[:, 0].tolist()
    assert reads[False] == [0] * 9
    assert reads[True] == [0, 1] * 4 + [0]
    assert state.read_age[0, 0].tolist() == [1, 2, 0]  # slot 0 read last, slot 1 before, slot 2 never


@pytest.mark.parametrize("sample", [True, False], ids=["sampled", "argmax"])
def test_no_reread_never_reads_a_slot_twice_in_a_row(sample):
    """Across pads and across calls: the slot read at the previous real step is never read."""
    model, cell, x, noise = history_run(CellVariant(no_reread=True))
    with torch.no_grad():
        cell.address.bias.copy_(torch.tensor([8.0, 0.0, 0.0]))  # the unmasked cell would repeat 0
    if not sample:
        model.eval()
    pad = torch.rand(9, 2, generator=torch.Generator().manual_seed(1)) > 0.6
    _, state = model(x[:4], padding_mask=pad[:4], gumbel_noise=noise[:, :4])
    first = cell.last_trace
    model(x[4:], state, padding_mask=pad[4:], gumbel_noise=noise[:, 4:])
    read = torch.cat([first.read, cell.last_trace.read])
    for row in range(2):
        real_reads = read[~pad[:, row], row].tolist()
        assert len(real_reads) >= 4
        assert all(a != b for a, b in zip(real_reads, real_reads[1:])), real_reads


@pytest.mark.parametrize("added, count", [("query", 5 * (3 + 4) + 5)])
def test_content_address_at_zero_weights_is_the_papers_cell(added, count):
    """W_q and b_q (d_r x (d_x + d_h) and d_r) set to zero."""
    model, cell, x, noise = content_run(query_scale=0.0)
    out, state = model(x, gumbel_noise=noise)
    plain = make_model(d_x=3, d_h=4, d_r=5, n_slots=3, temperature=0.7)
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if added not in k})
    plain.train()
    expected, plain_state = plain(x, gumbel_noise=noise)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-14)  # plain may run the compiled loop
    assert plain_state.read_age is None
    assert (state.read_age is None) == (added == "query")
    weights = list(getattr(cell, added).parameters())
    assert not any(w.detach().any() for w in weights) and sum(w.numel() for w in weights) == count


def padded_run_against_reference(model, cell, x, noise, **history):
    """One training call of ``model`` (one layer, ``cell``) with pads in row 1 against the
    spec's dense loop (``history``: the read_age it starts from, for a history variant):
    outputs, final memory and the gradients of every parameter of the cell of a random
    function of outputs and state. Returns the state, the gradients by name, the
    reference's final state and its slots read."""
    pad = torch.zeros(9, 2, dtype=torch.bool)
    pad[[2, 6, 7], 1] = True
    out, state = model(x, padding_mask=pad, gumbel_noise=noise)
    got = dict(zip([n for n, _ in model.named_parameters()], grads_of_random_projection(model, x, out, state)))
    ref_out, final, reads = reference_layer(cell, x, *fresh_state(cell, 2), tau=0.7, noise=noise[0],
                                            real=~pad, **history)
    hidden, memory = final[:2]
    torch.testing.assert_close(out, ref_out, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(state.memory[0], memory, rtol=1e-12, atol=1e-13)
    gen = torch.Generator().manual_seed(7)  # as grads_of_random_projection draws its weights
    loss = (ref_out * torch.randn(ref_out.shape, generator=gen, dtype=DT)).sum()
    loss = loss + (hidden * torch.randn((1, *hidden.shape), generator=gen, dtype=DT)[0]).sum()
    loss = loss + (memory * torch.randn((1, *memory.shape), generator=gen, dtype=DT)[0]).sum()
    names = [n for n, _ in cell.named_parameters()]
    want = torch.autograd.grad(loss, list(cell.parameters()), allow_unused=True)
    for name, expected in zip(names, want):
        torch.testing.assert_close(got[f"layers.0.{name}"], expected, rtol=1e-10, atol=1e-12,
                                   msg=lambda m: f"{name}: {m}")
    return state, got, final, reads


@pytest.mark.parametrize("variant", [CellVariant(no_reread=True)], ids=["no-reread"])
def test_history_variants_equal_the_reference_loop(variant):
    """Outputs, final state (read ages included) and every gradient against the
    spec's dense loop with the variant's logits written out (tests/test_armin_layer.py), pads
    included; then a second call continuing from the state."""
    model, cell, x, noise = history_run(variant)
    state, got, (_, _, steps, read_age), _ = padded_run_against_reference(
        model, cell, x, noise, read_age=torch.zeros(2, 3, dtype=torch.long))
    assert torch.equal(state.read_age[0], read_age) and torch.equal(state.steps[0], steps)
    with torch.no_grad():  # continuing from the returned state
        more, _ = model(x[:3], state, gumbel_noise=noise[:, :3])
        ref_more, _, _ = reference_layer(cell, x[:3], state.hidden[0], state.memory[0], state.steps[0],
                                         tau=0.7, noise=noise[0, :3], read_age=state.read_age[0])
    torch.testing.assert_close(more, ref_more, rtol=1e-12, atol=1e-13)


def test_no_reread_needs_two_slots():
    with pytest.raises(ArminError, match=r"no_reread \(--armin-no-reread\) needs at least 2 slots, got 1"):
        ARMIN(3, 4, 5, 1, variant=CellVariant(no_reread=True))
    with pytest.raises(ArminError, match="needs at least 2 slots"):
        build_lm(armin_slots=1, armin_no_reread=True)


@pytest.mark.parametrize("flags", [dict(armin_no_reread=True), dict(armin_content_address=True)],
                         ids=["history", "content"])
def test_history_and_content_variants_decode_incrementally_and_follow_beam_reordering(flags):
    """armin_lm with the no-reread mask or content addressing (W_q random): one token at a time,
    with rows reordered midway, equals full forwards; the read ages travel in fairseq's
    incremental state."""
    model, dictionary = build_lm(**flags)
    with torch.no_grad():
        for cell in model.decoder.armin.layers:
            if cell.query is not None:
                cell.query.weight.normal_(0.0, 2.0)
    model.eval()
    assert_reordered_decoding_equals_full_forward(model, dictionary, 11, 6)


# --------------------------------------------------------------------------- --armin-content-address


def content_run(variant=CellVariant(content_address=True), query_scale=1.0):
    """history_run's float64 layer with content addressing, W_q and b_q drawn from N(0, scale)."""
    model, cell, x, noise = history_run(variant)
    with torch.no_grad():
        gen = torch.Generator().manual_seed(4)
        for tensor in (cell.query.weight, cell.query.bias):
            tensor.normal_(0.0, query_scale, generator=gen)
    return model, cell, x, noise


def test_content_address_by_hand_reads_the_slot_most_like_the_query():
    """Location logits 0, W_q 0 and b_q = c: each row reads argmax_k <M[k], c> / sqrt(|M[k]|^2
    + 1), here slot 1 for row 0 and slot 2 for row 1, whatever the input."""
    model, cell, x, _ = content_run()
    query = torch.tensor([1.0, -1.0, 0.0, 0.0, 2.0], dtype=DT)
    memory = torch.zeros(2, 3, 5, dtype=DT)
    memory[0, 1] = query  # row 0: <M[1], c> = 6 with |M[1]|^2 = 6, the others 0
    memory[1, 0], memory[1, 2] = query / 2, query  # row 1: 3 (|M[0]|^2 = 1.5) and 6 (6)
    with torch.no_grad():
        cell.address.weight.zero_()
        cell.address.bias.zero_()
        cell.query.weight.zero_()
        cell.query.bias.copy_(query)
        model.eval()
        start = (fresh_state(cell, 2)[0], memory, torch.full((2,), 3, dtype=torch.long))
        cell(x[:1], start)
    assert cell.last_trace.read[0].tolist() == [1, 2]
    expected = torch.tensor([[0, 6 / math.sqrt(7), 0], [3 / math.sqrt(2.5), 0, 6 / math.sqrt(7)]], dtype=DT)
    torch.testing.assert_close(cell.last_trace.logits[0], expected, rtol=0, atol=1e-14)


@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize("variant", [CellVariant(content_address=True),
                                     CellVariant(content_address=True, no_reread=True)],
                         ids=["content", "content-mask"])
def test_content_address_equals_the_reference_loop(variant):
    """Outputs, final state and every gradient, W_q's too, against the spec's dense loop with
    the content logits written out, pads included, in training; then evaluation."""
    model, cell, x, noise = content_run(variant)
    history = dict(read_age=torch.zeros(2, 3, dtype=torch.long)) if variant.reads_history else {}
    _, got, _, reads = padded_run_against_reference(model, cell, x, noise, **history)
    assert torch.equal(cell.last_trace.read, reads)
    assert got["layers.0.query.weight"].abs().sum() > 0 and got["layers.0.query.bias"].abs().sum() > 0
    model.eval()
    with torch.no_grad():
        evaluated, _ = model(x)
        ref_eval, _, _ = reference_layer(cell, x, *fresh_state(cell, 2), **history)
    torch.testing.assert_close(evaluated, ref_eval, rtol=1e-12, atol=1e-13)


# --------------------------------------------------------------------------- --lstm-forget-bias


def lstm_stream(forget_bias):
    cfg = LSTMStreamLanguageModelConfig(decoder_embed_dim=6, decoder_hidden_size=5, decoder_layers=2,
                                        max_target_positions=100, lstm_forget_bias=forget_bias)
    torch.manual_seed(0)
    return LSTMStreamLanguageModel.build_model(cfg, LMTask(lm_dictionary())).decoder.lstm


def test_lstm_forget_bias_sets_the_forget_rows_only():
    default, trick = lstm_stream(0.0), lstm_stream(1.0)
    for layer in range(2):
        for kind, forget in (("ih", 1.0), ("hh", 0.0)):
            got = getattr(trick, f"bias_{kind}_l{layer}").detach()
            before = getattr(default, f"bias_{kind}_l{layer}").detach()
            assert torch.equal(got[5:10], torch.full((5,), forget))  # gates i, f, g, o
            assert torch.equal(got[:5], before[:5]) and torch.equal(got[10:], before[10:])
    for name, value in default.named_parameters():  # 0: PyTorch's init, untouched
        assert torch.equal(value, dict(trick.named_parameters())[name]) or "bias" in name


# --------------------------------------------------------------------------- --armin-tau-schedule


@pytest.mark.parametrize("slots, expected", [(16, {0: 1.0, 9: 1.0, 10: 0.5, 25: 1 / 3, 149: 1 / 15, 10**6: 1 / 15}),
                                             (2, {0: 1.0, 100: 1.0}), (1, {0: 1.0, 100: 1.0})])
def test_authors_tau_is_one_over_min_epoch_plus_one_and_n_minus_one(slots, expected):
    model, _ = build_lm(armin_slots=slots, armin_tau_schedule="authors", armin_tau_epoch_updates=10)
    for updates, tau in expected.items():
        model.set_num_updates(updates)
        assert model.decoder.armin.temperature == pytest.approx(tau)


def test_authors_tau_follows_each_stacks_slots_in_translation():
    model = build_translation("armin_iwslt_de_en", 40, "--encoder-slots", 3, "--decoder-slots", 8,
                              "--decoder-start", "summary", "--armin-tau-schedule", "authors",
                              "--armin-tau-epoch-updates", 5)[0]
    model.set_num_updates(100)
    assert model.encoder.forward_stack.temperature == pytest.approx(1 / 2)
    assert model.decoder.armin.temperature == pytest.approx(1 / 7)


def test_authors_tau_needs_the_epoch_length():
    with pytest.raises(ArminError, match="--armin-tau-schedule authors needs --armin-tau-epoch-updates"):
        build_lm(armin_tau_schedule="authors")
