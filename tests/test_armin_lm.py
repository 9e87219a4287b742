"""armin_lm as fairseq uses it: incremental decoding, beam reordering, temperature, pads."""
import pytest
import torch

from armin_plugin.errors import ArminError
from helpers import assert_reordered_decoding_equals_full_forward, build_lm, incremental_log_probs, random_tokens


@pytest.mark.parametrize(
    "options",
    [{}, {"share_decoder_input_output_embed": True}, {"armin_layers": 1, "armin_slots": 1},
     {"armin_init": "authors"}, {"armin_no_read": True}],
)
def test_incremental_decoding_equals_full_forward(options):
    model, dictionary = build_lm(**options)
    tokens = random_tokens(dictionary, batch=3, length=11)  # > N: write-back to read slots
    with torch.no_grad():
        full = model.get_normalized_probs(model(tokens), log_probs=True)
        stepped = incremental_log_probs(model, tokens, {})
    torch.testing.assert_close(stepped, full, rtol=0, atol=1e-5)


def test_reordering_with_fewer_rows_follows_the_kept_rows():
    model, dictionary = build_lm()
    assert_reordered_decoding_equals_full_forward(model, dictionary, 9, 5)


@pytest.mark.parametrize("layers", [1, 2])
def test_beam_reordering_at_every_step_equals_full_forwards_and_reuses_the_memory(layers):
    """A reorder after every token (rows duplicated, dropped, then fewer rows): decoding
    overwrites its own cached memory and moves it into the memory of the reorder before, yet
    every step equals a full forward of each row's token history."""
    model, dictionary = build_lm(armin_layers=layers)
    tokens = random_tokens(dictionary, batch=4, length=8)
    orders = [torch.tensor(o) for o in ([1, 1, 0, 3], [3, 2, 1, 0], [0, 0, 0, 2], [2, 1, 0, 3],
                                        [0, 1, 3], [2, 2, 0], [1, 0, 2], [0, 1, 2])]
    state, history, memories = {}, tokens[:, :0], []
    with torch.no_grad():
        for t, order in enumerate(orders):
            history = torch.cat([history, tokens[: history.size(0), t: t + 1]], dim=1)
            logits, _ = model.decoder(history, incremental_state=state)
            expected = model.get_normalized_probs(model(history), log_probs=True)[:, -1:]
            torch.testing.assert_close(model.get_normalized_probs((logits, None), log_probs=True),
                                       expected, rtol=0, atol=1e-5)
            model.decoder.reorder_incremental_state_scripting(state, order)
            history = history[order]
            if 0 < t < 4:  # four rows: the memory lives in two buffers (kept alive here, so
                memories.append(model.decoder._get_cached_state(state).memory)  # none is recycled)
    if layers == 1:
        assert len({memory.data_ptr() for memory in memories}) == 2


def test_overwriting_a_state_never_writes_into_the_learned_start_memory():
    model, dictionary = build_lm(armin_layers=1)
    start = model.decoder.armin.layers[0].initial_memory.clone()
    armin = model.decoder.armin
    x = torch.randn(3, 2, 12)
    with torch.no_grad():
        fresh, state = armin(x, armin.initial_state(2), overwrite_state=True)  # expanded p_M: copied
        assert torch.equal(armin.layers[0].initial_memory, start)
        given = state.memory
        kept = given.clone()
        out, overwritten = armin(x, state, overwrite_state=True)
        copied_out, copied = armin(x, state._replace(memory=kept), overwrite_state=False)
    assert overwritten.memory.data_ptr() == given.data_ptr()  # written in place
    assert copied.memory.data_ptr() != kept.data_ptr() and torch.equal(copied.memory, overwritten.memory)
    assert torch.equal(out, copied_out)


def test_right_padding_changes_no_state():
    model, dictionary = build_lm()
    tokens = random_tokens(dictionary, batch=2, length=6)
    padded = torch.cat([tokens, torch.full((2, 3), dictionary.pad())], dim=1)
    padded[1, 4:] = dictionary.pad()
    with torch.no_grad():
        _, short = model.decoder(tokens[1:, :4])
        _, full = model.decoder(padded)
    assert full["state"].steps[:, 1].tolist() == [4, 4]
    torch.testing.assert_close(full["state"].hidden[:, 1], short["state"].hidden[:, 0])
    torch.testing.assert_close(full["state"].memory[:, 1], short["state"].memory[:, 0])


def test_temperature_follows_num_updates():
    model, _ = build_lm(armin_tau_start=1.0, armin_tau_end=0.25, armin_tau_updates=100)
    assert model.decoder.armin.temperature == pytest.approx(1.0)
    model.set_num_updates(50)
    assert model.decoder.armin.temperature == pytest.approx(0.5)
    model.set_num_updates(1000)
    assert model.decoder.armin.temperature == pytest.approx(0.25)


def test_training_samples_addresses_and_trains():
    model, dictionary = build_lm()
    model.train()
    tokens = random_tokens(dictionary, batch=2, length=8)
    logits, _ = model(tokens)
    logits.log_softmax(-1).mean().backward()
    address = model.decoder.armin.layers[0].address.weight.grad
    assert address is not None and address.abs().sum() > 0


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"armin_slots": 0}, "--armin-slots must be a positive integer, got 0"),
        ({"armin_hidden_size": 0}, "--armin-hidden-size must be a positive integer, got 0"),
        ({"armin_tau_end": 0.0}, "--armin-tau-end must be positive, got 0.0"),
        ({"armin_tau_start": 0.5, "armin_tau_end": 0.9}, "--armin-tau-end 0.9 is above --armin-tau-start 0.5"),
    ],
)
def test_impossible_sizes_name_the_flag(overrides, message):
    with pytest.raises(ArminError, match=message.replace(".", r"\.")):
        build_lm(**overrides)


def test_explicit_state_carries_across_calls():
    model, dictionary = build_lm()
    tokens = random_tokens(dictionary, batch=2, length=10)
    with torch.no_grad():
        whole, _ = model(tokens)
        first, extra = model.decoder(tokens[:, :6])
        second, _ = model.decoder(tokens[:, 6:], state=extra["state"].detach())
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole, rtol=0, atol=1e-5)
