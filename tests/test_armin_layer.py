"""The ARMIN layer checked against its specification, docs/the-cell.md.

Expected values come from hand computations or from ``reference_layer`` (tests/helpers.py): the spec's
step (armin_plugin/modules/step.py, dense: w = onehot - y.detach() + y, r = sum_k w_k M_k)
run step by step with autograd, on the layer's own parameters. Every test that
runs the recurrence runs once per backend (the Python loop and the compiled one).
"""
import math

import pytest
import torch

from armin_plugin.errors import ArminError
from armin_plugin.modules import ARMIN, ARMINState, TemperatureSchedule
from armin_plugin.modules.addressing import sample_gumbel
from helpers import DT, fresh_state, grads_of_random_projection, make_model, reference_layer

TIGHT = dict(rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- reference


def reference_stack(model, xs, state=None, noise=None, real=None):
    """The spec's stack: layer l > 0 reads layer l-1's out_t. Returns output, ARMINState."""
    tau = model.temperature
    out, finals = xs, []
    for index, cell in enumerate(model.layers):
        start = fresh_state(cell, xs.size(1)) if state is None else state.layer(index)
        out, final, _ = reference_layer(
            cell, out, *start, tau=tau, noise=None if noise is None else noise[index], real=real
        )
        finals.append(final)
    return out, ARMINState.stack(finals)


# --------------------------------------------------------------------------- helpers


def assert_states_equal(actual, expected, **tol):
    tol = tol or TIGHT
    torch.testing.assert_close(actual.hidden, expected.hidden, **tol)
    torch.testing.assert_close(actual.memory, expected.memory, **tol)
    assert actual.steps.dtype == torch.long
    assert torch.equal(actual.steps, expected.steps)


def random_state(model, batch, steps, seed=1):
    gen = torch.Generator().manual_seed(seed)
    layers = model.num_layers
    return ARMINState(
        torch.randn(layers, batch, model.hidden_size, generator=gen, dtype=DT).tanh(),
        torch.randn(layers, batch, model.num_slots, model.slot_size, generator=gen, dtype=DT),
        torch.as_tensor(steps, dtype=torch.long).expand(layers, batch).clone(),
    )


def read_passthrough(cell):
    """Make sigmoid(o_m) exactly 1 in float64 so the read part of out_t is r itself."""
    d_h = cell.hidden_size
    with torch.no_grad():
        cell.transform.weight[4 * d_h:] = 0
        cell.transform.bias[4 * d_h:] = 100.0
    assert torch.sigmoid(torch.tensor(100.0, dtype=DT)).item() == 1.0


def force_address(cell, slots):
    """Make the (eval) address argmax pick slot ``slots`` in every row by a huge bias."""
    with torch.no_grad():
        cell.address.bias.zero_()
        cell.address.bias[slots] = 1e3


# --------------------------------------------------------------------------- read


@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize("training", [False, True])
def test_layer_output_reads_exactly_the_chosen_slot(training):
    model = make_model(d_x=3, d_h=4, d_r=6, n_slots=5)
    cell = model.layers[0]
    read_passthrough(cell)
    model.train(training)
    batch = 4
    state = random_state(model, batch, steps=5)  # memory full: no fill
    x = torch.randn(1, batch, 3, dtype=DT)
    h0, m0, _ = state.layer(0)
    logits = x[0] @ cell.address.weight[:, :3].T + h0 @ cell.address.weight[:, 3:].T + cell.address.bias
    noise = None
    if training:
        noise = sample_gumbel((1, 1, batch, 5), dtype=DT, generator=torch.Generator().manual_seed(3))
        logits = logits + noise[0, 0]
    k = logits.argmax(-1)
    out, _ = model(x, state, gumbel_noise=noise)
    assert torch.equal(out[0, :, 4:], m0[torch.arange(batch), k])


# --------------------------------------------------------------------------- write


@pytest.mark.usefixtures("backend")
def test_sequential_fill_then_write_replaces_exactly_the_read_slot():
    n_slots, batch, d_h, d_x = 4, 3, 5, 2
    model = make_model(d_x=d_x, d_h=d_h, d_r=3, n_slots=n_slots).eval()
    cell = model.layers[0]
    read_passthrough(cell)
    # Rows start at step counts 0, 2 and N (already full).
    state = random_state(model, batch, steps=[0, 2, n_slots])
    gen = torch.Generator().manual_seed(5)
    fill_elsewhere, replaced = 0, set()
    for t in range(9):
        x = torch.randn(1, batch, d_x, generator=gen, dtype=DT)
        # force a chosen slot that differs from the fill slot n during the fill
        wanted = (t * 3 + 1) % n_slots
        force_address(cell, wanted)
        h_prev, m_prev, n_prev = (s.clone() for s in state.layer(0))
        logits = cell.address(torch.cat([x[0], h_prev], -1))  # independent argmax
        k = logits.argmax(-1)
        assert (k == wanted).all()
        out, state = model(x, state)
        h_new, m_new, n_new = state.layer(0)
        assert torch.equal(out[0, :, d_h:], m_prev[torch.arange(batch), k])  # read slot k
        assert torch.equal(n_new, n_prev + 1)
        value = cell.write(h_new)
        for b in range(batch):
            slot = n_prev[b].item() if n_prev[b] < n_slots else k[b].item()
            if n_prev[b] < n_slots:
                fill_elsewhere += int(slot != k[b])
            else:
                replaced.add(slot)
            torch.testing.assert_close(m_new[b, slot], value[b], **TIGHT)
            others = [s for s in range(n_slots) if s != slot]
            assert torch.equal(m_new[b, others], m_prev[b, others]), (t, b, slot)
    # the fill slot differed from the chosen slot, and several slots were replaced after it
    assert fill_elsewhere >= 3 and len(replaced) >= 3
    assert state.steps.tolist() == [[9, 11, 13]]


@pytest.mark.usefixtures("backend")
def test_fill_order_is_independent_of_the_address():
    """Row 0 fills slots 0, 1, 2, 3 while the address always points at slot 3."""
    n_slots = 4
    model = make_model(d_x=2, d_h=3, d_r=2, n_slots=n_slots).eval()
    cell = model.layers[0]
    force_address(cell, n_slots - 1)
    state = model.initial_state(1)
    written = []
    for t in range(n_slots + 2):
        before = state.memory[0, 0].clone()
        _, state = model(torch.randn(1, 1, 2, dtype=DT), state)
        changed = (state.memory[0, 0] != before).any(-1).nonzero().flatten().tolist()
        written.append(changed)
    assert written[:n_slots] == [[0], [1], [2], [3]]
    # after the fill, the chosen slot (3) is the one overwritten
    assert written[n_slots:] == [[3], [3]]


# --------------------------------------------------------------------------- padding


@pytest.mark.usefixtures("backend")
def test_all_pad_step_changes_nothing():
    model = make_model(layers=2, n_slots=3).train()
    state = random_state(model, 3, steps=[1, 3, 7])
    x = torch.randn(2, 3, 3, dtype=DT)
    _, after = model(x, state, padding_mask=torch.ones(2, 3, dtype=torch.bool))
    assert torch.equal(after.hidden, state.hidden)
    assert torch.equal(after.memory, state.memory)
    assert torch.equal(after.steps, state.steps)


@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize("training", [False, True])
def test_pads_anywhere_equal_the_unpadded_sequences(training):
    model = make_model(d_x=3, d_h=4, d_r=3, n_slots=3, layers=2).train(training)
    # real lengths per row, and where pads are (True = pad) in an 8-step batch
    layout = [
        "rrrrrrrr",  # no pad
        "pprrrrrr",  # left padded (fairseq source)
        "rrpprprr",  # interleaved
        "rrrrrppp",  # right padded
    ]
    steps_total, batch = len(layout[0]), len(layout)
    pad = torch.tensor([[c == "p" for c in row] for row in layout]).T  # (T, B)
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(steps_total, batch, 3, generator=gen, dtype=DT)
    noise = sample_gumbel((2, steps_total, batch, 3), dtype=DT, generator=gen)
    out, state = model(x, padding_mask=pad, gumbel_noise=noise if training else None)
    assert state.steps.tolist() == [[8, 6, 5, 5]] * 2
    for b in range(batch):
        real = ~pad[:, b]
        out_b, state_b = model(
            x[real, b:b + 1], gumbel_noise=noise[:, real, b:b + 1] if training else None
        )
        torch.testing.assert_close(out[real, b:b + 1], out_b, **TIGHT)
        assert_states_equal(state.index_select(torch.tensor([b])), state_b)
    # and against the reference with masks
    ref_out, ref_state = reference_stack(
        model, x, noise=noise if training else None, real=~pad
    )
    torch.testing.assert_close(out[~pad], ref_out[~pad], **TIGHT)
    assert_states_equal(state, ref_state)


@pytest.mark.usefixtures("backend")
def test_step_counter_counts_only_real_steps_across_calls():
    model = make_model(n_slots=2).eval()
    pad = torch.tensor([[False, True], [True, True], [False, False]])  # (T, B)
    _, state = model(torch.randn(3, 2, 3, dtype=DT), padding_mask=pad)
    assert state.steps.tolist() == [[2, 1]]
    _, state = model(torch.randn(2, 2, 3, dtype=DT), state, padding_mask=pad[:2])
    assert state.steps.tolist() == [[3, 1]]


# --------------------------------------------------------------------------- agreement


@pytest.mark.usefixtures("backend")
def test_eval_agrees_with_reference():
    model = make_model(d_x=3, d_h=5, d_r=4, n_slots=3, forget_bias=0.5).eval()
    x = torch.randn(9, 3, 3, dtype=DT)
    out, state = model(x)
    ref_out, ref_state = reference_stack(model, x)
    assert out.shape == (9, 3, 9)
    torch.testing.assert_close(out, ref_out, **TIGHT)
    assert_states_equal(state, ref_state)
    assert state.steps.tolist() == [[9, 9, 9]]


def check_training_agreement(model, x, pad=None, state=None, seed=0):
    model.train()
    steps, batch = x.shape[:2]
    noise = sample_gumbel(
        (model.num_layers, steps, batch, model.num_slots),
        dtype=DT,
        generator=torch.Generator().manual_seed(seed),
    )
    x = x.detach().requires_grad_()
    out, final = model(x, state, padding_mask=pad, gumbel_noise=noise)
    ref_out, ref_final = reference_stack(
        model, x, state=state, noise=noise, real=None if pad is None else ~pad
    )
    torch.testing.assert_close(out, ref_out, **TIGHT)
    assert_states_equal(final, ref_final)
    got = grads_of_random_projection(model, x, out, final)
    want = grads_of_random_projection(model, x, ref_out, ref_final)
    names = [n for n, _ in model.named_parameters()] + ["input"]
    for name, g, e in zip(names, got, want):
        if e is None:  # p_h, p_M unused when an explicit state is given
            assert state is not None and "initial" in name, name
            assert g is None or not g.abs().sum() > 0, name
            continue
        assert g is not None, name
        torch.testing.assert_close(g, e, **TIGHT, msg=lambda m: f"{name}: {m}")
    return got, names


@pytest.mark.usefixtures("backend")
def test_training_agrees_with_reference_outputs_and_gradients():
    model = make_model(d_x=3, d_h=5, d_r=4, n_slots=3, temperature=0.7, forget_bias=0.3)
    x = torch.randn(8, 3, 3, dtype=DT)
    got, names = check_training_agreement(model, x)
    grads = dict(zip(names, got))
    # gradients reach the address layer through the straight-through path
    assert grads["layers.0.address.weight"].abs().sum() > 0
    assert grads["layers.0.address.bias"].abs().sum() > 0
    # p_M and p_h are learned
    assert grads["layers.0.initial_memory"].abs().sum() > 0
    assert grads["layers.0.initial_hidden"].abs().sum() > 0


@pytest.mark.usefixtures("backend")
def test_training_with_pads_agrees_with_reference():
    model = make_model(d_x=3, d_h=4, d_r=5, n_slots=2, layers=2, temperature=0.5)
    pad = torch.tensor(
        [[False, True, False], [True, False, False], [False, False, True], [False, True, True],
         [False, False, False]]
    )
    state = random_state(model, 3, steps=[0, 1, 4])
    check_training_agreement(model, torch.randn(5, 3, 3, dtype=DT), pad=pad, state=state, seed=2)


@pytest.mark.usefixtures("backend")
def test_address_weight_grad_through_backward():
    model = make_model(n_slots=4).train()
    out, state = model(torch.randn(6, 2, 3, dtype=DT))
    (out.sum() + state.memory.sum()).backward()
    grad = model.layers[0].address.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    # in eval mode the choice is a plain argmax: nothing reaches the address logits
    model.zero_grad(set_to_none=True)
    model.eval()
    out, state = model(torch.randn(6, 2, 3, dtype=DT))
    (out.sum() + state.memory.sum()).backward()
    for p in model.layers[0].address.parameters():
        assert p.grad is None or not p.grad.abs().sum() > 0


@pytest.mark.usefixtures("backend")
def test_slot_wider_than_hidden():
    model = make_model(d_x=3, d_h=4, d_r=12, n_slots=3, temperature=0.9)
    x = torch.randn(7, 2, 3, dtype=DT)
    check_training_agreement(model, x, seed=4)
    model.eval()
    out, state = model(x)
    assert out.shape == (7, 2, 16)
    assert state.hidden.shape == (1, 2, 4) and state.memory.shape == (1, 2, 3, 12)
    ref_out, ref_state = reference_stack(model, x)
    torch.testing.assert_close(out, ref_out, **TIGHT)
    assert_states_equal(state, ref_state)


@pytest.mark.usefixtures("backend")
def test_two_layers_stack():
    model = make_model(d_x=3, d_h=4, d_r=6, n_slots=3, layers=2, temperature=0.6)
    assert model.output_size == 10
    assert model.layers[0].input_size == 3
    assert model.layers[1].input_size == 10
    assert model.layers[1].address.in_features == 10 + 4
    assert model.layers[1].gate.in_features == 10 + 4 + 6
    assert model.layers[1].transform.out_features == 4 * 4 + 6
    x = torch.randn(6, 2, 3, dtype=DT)
    model.eval()
    out, state = model(x)
    assert out.shape == (6, 2, 10)
    # layer 1's input is layer 0's output
    out0, _, _ = reference_layer(model.layers[0], x, *fresh_state(model.layers[0], 2))
    out1, _, _ = reference_layer(model.layers[1], out0, *fresh_state(model.layers[1], 2))
    torch.testing.assert_close(out, out1, **TIGHT)
    ref_out, ref_state = reference_stack(model, x)
    assert_states_equal(state, ref_state)
    check_training_agreement(model, x, seed=9)


# --------------------------------------------------------------------------- state


@pytest.mark.usefixtures("backend")
def test_state_detach_cuts_the_graph():
    model = make_model().train()
    x1 = torch.randn(4, 2, 3, dtype=DT, requires_grad=True)
    _, state = model(x1)
    assert state.hidden.requires_grad and state.memory.requires_grad
    cut = state.detach()
    assert isinstance(cut, ARMINState)
    assert not cut.hidden.requires_grad and not cut.memory.requires_grad
    assert torch.equal(cut.hidden, state.hidden) and torch.equal(cut.memory, state.memory)
    assert torch.equal(cut.steps, state.steps)
    out2, _ = model(torch.randn(3, 2, 3, dtype=DT), cut)
    (g,) = torch.autograd.grad(out2.sum(), x1, allow_unused=True)
    assert g is None
    # without detach the gradient does reach the first segment
    out2, _ = model(torch.randn(3, 2, 3, dtype=DT), state)
    (g,) = torch.autograd.grad(out2.sum(), x1)
    assert g.abs().sum() > 0


@pytest.mark.usefixtures("backend")
def test_state_index_select_drops_and_repeats_rows():
    model = make_model(layers=2, n_slots=3).eval()
    x = torch.randn(7, 3, 3, dtype=DT)
    _, state = model(x[:4])
    order = torch.tensor([2, 0, 2])  # drops row 1, repeats row 2
    picked = state.index_select(order)
    assert picked.batch_size == 3
    assert torch.equal(picked.hidden, state.hidden[:, order])
    assert torch.equal(picked.memory, state.memory[:, order])
    assert torch.equal(picked.steps, state.steps[:, order])
    # continuing from the reordered state = running the reordered batch from the start
    out, final = model(x[4:, order], picked)
    whole_out, whole = model(x[:, order])
    torch.testing.assert_close(out, whole_out[4:], **TIGHT)
    assert_states_equal(final, whole)


@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize("layers", [1, 2])
def test_chunked_calls_equal_one_long_call(layers):
    model = make_model(layers=layers, n_slots=3).eval()
    x = torch.randn(10, 3, 3, dtype=DT)
    pad = torch.zeros(10, 3, dtype=torch.bool)
    pad[:2, 1] = True
    pad[6, 2] = True
    pad[8:, 0] = True
    whole_out, whole = model(x, padding_mask=pad)
    outs, state = [], None
    for lo, hi in [(0, 3), (3, 4), (4, 10)]:
        out, state = model(x[lo:hi], state, padding_mask=pad[lo:hi])
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs), whole_out, **TIGHT)
    assert_states_equal(state, whole)
    # one token at a time (incremental decoding)
    state, outs = None, []
    for t in range(10):
        out, state = model(x[t:t + 1], state, padding_mask=pad[t:t + 1])
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs)[~pad], whole_out[~pad], **TIGHT)
    assert_states_equal(state, whole)


@pytest.mark.usefixtures("backend")
def test_chunked_training_with_noise_equals_one_long_call():
    model = make_model(layers=2, n_slots=3).train()
    x = torch.randn(6, 2, 3, dtype=DT)
    noise = sample_gumbel((2, 6, 2, 3), dtype=DT, generator=torch.Generator().manual_seed(1))
    whole_out, whole = model(x, gumbel_noise=noise)
    out_a, state = model(x[:2], gumbel_noise=noise[:, :2])
    out_b, state = model(x[2:], state, gumbel_noise=noise[:, 2:])
    torch.testing.assert_close(torch.cat([out_a, out_b]), whole_out, **TIGHT)
    assert_states_equal(state, whole)


def test_initial_state_is_the_learned_start():
    model = make_model(layers=2)
    state = model.initial_state(3)
    for index, cell in enumerate(model.layers):
        hidden, memory, steps = state.layer(index)
        torch.testing.assert_close(hidden, torch.tanh(cell.initial_hidden).expand(3, -1))
        assert torch.equal(memory, cell.initial_memory.detach().expand(3, -1, -1))
        assert steps.tolist() == [0, 0, 0]
    # p_M = 0 at init (docs/the-cell.md, step 9)
    fresh = ARMIN(3, 4, 5, 6)
    assert torch.equal(fresh.layers[0].initial_memory, torch.zeros(6, 5))


# --------------------------------------------------------------------------- modes


@pytest.mark.usefixtures("backend")
def test_batch_first_is_the_transpose():
    kwargs = dict(d_x=3, d_h=4, d_r=3, n_slots=3, layers=2)
    model_tb = make_model(**kwargs)
    model_bt = make_model(**kwargs, batch_first=True)
    model_bt.load_state_dict(model_tb.state_dict())
    x = torch.randn(5, 3, 3, dtype=DT)
    pad = torch.zeros(5, 3, dtype=torch.bool)
    pad[:2, 0] = True
    pad[4, 2] = True
    noise = sample_gumbel((2, 5, 3, 3), dtype=DT, generator=torch.Generator().manual_seed(0))
    for training in (False, True):
        model_tb.train(training)
        model_bt.train(training)
        out_tb, state_tb = model_tb(x, padding_mask=pad, gumbel_noise=noise)
        out_bt, state_bt = model_bt(x.transpose(0, 1), padding_mask=pad.T, gumbel_noise=noise)
        assert out_bt.shape == (3, 5, 7)
        torch.testing.assert_close(out_bt, out_tb.transpose(0, 1), **TIGHT)
        assert_states_equal(state_bt, state_tb)


@pytest.mark.usefixtures("backend")
def test_eval_is_deterministic_and_sample_in_eval_samples():
    model = make_model(n_slots=6, layers=2).eval()
    x = torch.randn(12, 4, 3, dtype=DT)
    torch.manual_seed(1)
    out_a, state_a = model(x)
    torch.manual_seed(2)
    out_b, state_b = model(x)
    assert torch.equal(out_a, out_b)
    assert_states_equal(state_a, state_b)
    # noise passed in eval mode without sampling is not used
    noise = sample_gumbel((2, 12, 4, 6), dtype=DT, generator=torch.Generator().manual_seed(0))
    out_c, _ = model(x, gumbel_noise=noise)
    assert torch.equal(out_a, out_c)

    model.sample_in_eval = True
    assert not model.training
    torch.manual_seed(1)
    out_s1, _ = model(x)
    torch.manual_seed(2)
    out_s2, _ = model(x)
    assert not torch.allclose(out_s1, out_s2)
    assert not torch.allclose(out_s1, out_a)
    # with explicit noise, sampling in eval is the spec's Gumbel choice
    out_n, state_n = model(x, gumbel_noise=noise)
    ref_out, ref_state = reference_stack(model, x, noise=noise)
    torch.testing.assert_close(out_n, ref_out, **TIGHT)
    assert_states_equal(state_n, ref_state)


def test_set_num_updates_applies_the_temperature_schedule():
    schedule = TemperatureSchedule(1.0, 0.25, 100)
    model = ARMIN(3, 4, 2, 4, temperature_schedule=schedule)
    assert model.temperature == 1.0 and model.num_updates == 0
    model.set_num_updates(50)
    assert model.temperature == pytest.approx(schedule(50)) and model.temperature < 1.0
    assert model.num_updates == 50
    fixed = ARMIN(3, 4, 2, 4, temperature=0.5)
    fixed.set_num_updates(50)
    assert fixed.temperature == 0.5 and fixed.num_updates == 50


@pytest.mark.usefixtures("backend")
def test_temperature_changes_only_the_gradient():
    model = make_model(n_slots=4).train()
    x = torch.randn(5, 2, 3, dtype=DT)
    noise = sample_gumbel((1, 5, 2, 4), dtype=DT, generator=torch.Generator().manual_seed(0))
    model.temperature = 1.0
    out_1, _ = model(x, gumbel_noise=noise)
    (g1,) = torch.autograd.grad(out_1.sum(), model.layers[0].address.weight)
    model.temperature = 0.25
    assert model.temperature == 0.25
    out_2, _ = model(x, gumbel_noise=noise)
    (g2,) = torch.autograd.grad(out_2.sum(), model.layers[0].address.weight)
    assert torch.equal(out_1, out_2)
    assert not torch.allclose(g1, g2)
    ref_out, _ = reference_stack(model, x, noise=noise)
    (g_ref,) = torch.autograd.grad(ref_out.sum(), model.layers[0].address.weight)
    torch.testing.assert_close(g2, g_ref, **TIGHT)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(num_slots=0), "num_slots"),
        (dict(hidden_size=0), "hidden_size"),
        (dict(slot_size=0), "slot_size"),
        (dict(input_size=0), "input_size"),
        (dict(num_layers=0), "num_layers"),
        (dict(temperature=0.0), "temperature"),
        (dict(temperature=-1.0), "temperature"),
    ],
)
def test_bad_sizes_raise_armin_error(kwargs, word):
    args = dict(input_size=3, hidden_size=4, slot_size=5, num_slots=6)
    args.update(kwargs)
    with pytest.raises(ArminError, match=word):
        ARMIN(**args)


@pytest.mark.parametrize("value", [0.0, -0.5, float("nan")])
def test_temperature_setter_rejects_non_positive(value):
    model = ARMIN(3, 4, 5, 6, temperature=0.8)
    with pytest.raises(ArminError, match="temperature"):
        model.temperature = value
    assert model.temperature == 0.8


def test_temperature_schedule_rejects_bad_values():
    with pytest.raises(ArminError, match="end") as info:
        TemperatureSchedule(start=0.5, end=1.0)
    assert "start" in str(info.value)
    for start, end in [(0.0, 0.1), (1.0, 0.0), (-1.0, -2.0), (1.0, -0.1)]:
        with pytest.raises(ArminError, match="positive"):
            TemperatureSchedule(start=start, end=end)


def test_temperature_schedule_values():
    schedule = TemperatureSchedule(start=1.0, end=0.1, updates=100)
    assert schedule(0) == pytest.approx(1.0)
    # geometric anneal (the schedule's documented shape): halfway is sqrt(start * end)
    assert schedule(50) == pytest.approx(math.sqrt(0.1))
    assert schedule(100) == pytest.approx(0.1)
    assert schedule(250) == pytest.approx(0.1)
    assert schedule(10 ** 9) == pytest.approx(0.1)
    values = [schedule(u) for u in range(0, 101, 10)]
    assert all(a > b for a, b in zip(values, values[1:]))
    default = TemperatureSchedule()
    assert default(0) == pytest.approx(1.0) and default(10 ** 7) == pytest.approx(0.1)
    assert TemperatureSchedule(2.0, 2.0, 10)(5) == pytest.approx(2.0)
