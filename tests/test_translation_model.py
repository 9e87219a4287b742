"""The ``armin`` translation model in process: sizes, incremental decoding, beam reordering
and padding invariance."""
import re

import pytest
import torch
from armin_plugin.errors import ArminError
from helpers import VOCAB, build_translation, translation_dictionary

def parameters(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.slow  # in process, above ~3 s on a quiet 2-core machine
def test_armin_iwslt_de_en_is_sized_like_lstm_wiseman():
    """The vocabulary-sized tables are the same (256 wide); the rest within 1%, from either
    first state of the decoder."""
    for start in ("encoder-state", "summary"):
        difference = {}
        for vocab in (8, 8000):
            armin = build_translation("armin_iwslt_de_en", vocab, "--decoder-start", start)[0]
            lstm = build_translation("lstm_wiseman_iwslt_de_en", vocab)[0]
            difference[vocab] = parameters(armin) - parameters(lstm)
            if vocab == 8:
                assert abs(difference[vocab]) < 0.01 * parameters(lstm)
        assert difference[8] == difference[8000]


def sentences(vocabulary, lengths, seed=0):
    generator = torch.Generator().manual_seed(seed)
    low = vocabulary.nspecial
    return [
        torch.cat([torch.randint(low, len(vocabulary), (n,), generator=generator), torch.tensor([vocabulary.eos()])])
        for n in lengths
    ]


def padded(rows, pad, left):
    width = max(len(row) for row in rows)
    batch = torch.full((len(rows), width), pad)
    for index, row in enumerate(rows):
        if left:
            batch[index, width - len(row):] = row
        else:
            batch[index, :len(row)] = row
    return batch


def full_log_probs(model, source, prev):
    encoder_out = model.encoder(source)
    logits, _ = model.decoder(prev, encoder_out)
    return torch.log_softmax(logits, dim=-1)


def prev_tokens(vocabulary, batch, steps, seed=1):
    """Decoder inputs as during generation: eos, then target tokens, no pads."""
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(vocabulary.nspecial, len(vocabulary), (batch, steps), generator=generator)
    tokens[:, 0] = vocabulary.eos()
    return tokens


def decode_one_at_a_time(model, encoder_out, prev, state, start=0):
    """Log-probabilities (B, T - start, V) of steps start..T-1, one token per call."""
    steps = []
    for t in range(start, prev.size(1)):
        logits, _ = model.decoder(prev[:, : t + 1], encoder_out, incremental_state=state)
        steps.append(torch.log_softmax(logits[:, -1], dim=-1))
    return torch.stack(steps, dim=1)


ARCH_FLAGS = [
    [],
    pytest.param(["--encoder-bidirectional", "--encoder-layers", 2, "--decoder-layers", 2],
                 marks=pytest.mark.slow),  # above ~3 s in process
    ["--share-all-embeddings"],
    ["--no-decoder-attention"],
    ["--armin-no-reread", "--armin-content-address"],
    ["--decoder-start", "summary"],
]


@pytest.mark.parametrize("flags", ARCH_FLAGS)
def test_incremental_decoding_equals_full_forward(flags):
    torch.manual_seed(0)
    model, vocabulary = build_translation("armin_tiny", VOCAB, *flags)
    model.eval()
    source = padded(sentences(vocabulary, [5, 9, 3, 7]), vocabulary.pad(), left=True)
    prev = prev_tokens(vocabulary, 4, 12)  # longer than the 4 slots: slots get overwritten
    with torch.no_grad():
        expected = full_log_probs(model, source, prev)
        got = decode_one_at_a_time(model, model.encoder(source), prev, {})
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


@pytest.mark.slow  # in process, above ~3 s on a quiet 2-core machine
@pytest.mark.parametrize("flags", [*ARCH_FLAGS[:2], ARCH_FLAGS[-1]])
def test_incremental_decoding_follows_beam_reordering_with_shrinking_batch(flags):
    """Decode 5 steps for 4 rows, keep rows [3, 1, 1] (as beam search does when sentences
    finish and beams are re-ranked), decode 7 more: the log-probabilities equal a full
    forward of the kept rows' whole prefixes."""
    torch.manual_seed(0)
    model, vocabulary = build_translation("armin_tiny", VOCAB, *flags)
    model.eval()
    source = padded(sentences(vocabulary, [5, 9, 3, 7]), vocabulary.pad(), left=True)
    prev = prev_tokens(vocabulary, 4, 12)
    order = torch.tensor([3, 1, 1])
    with torch.no_grad():
        encoder_out = model.encoder(source)
        state = {}
        before = decode_one_at_a_time(model, encoder_out, prev[:, :5], state)
        model.decoder.reorder_incremental_state_scripting(state, order)
        encoder_out = model.encoder.reorder_encoder_out(encoder_out, order)
        after = decode_one_at_a_time(model, encoder_out, prev[order], state, start=5)
        expected = full_log_probs(model, source[order], prev[order])
    torch.testing.assert_close(before[order], expected[:, :5], rtol=0, atol=1e-5)
    torch.testing.assert_close(after, expected[:, 5:], rtol=0, atol=1e-5)
    assert state and all(  # the spare memory of the next reorder keeps the 4 rows it had
        tensor.size(0 if name == "input_feed" else 1) == 3
        for key, cache in state.items() if not key.endswith("spare_memory")
        for name, tensor in cache.items() if tensor is not None
    )


@pytest.mark.slow  # in process, above ~3 s on a quiet 2-core machine
@pytest.mark.parametrize("bidirectional", [False, True])
def test_encoder_and_model_ignore_padding_side(bidirectional):
    """Left- and right-padded batches give each sentence what it gets alone: the same
    encoder outputs at its real positions, summary, and decoder log-probabilities."""
    torch.manual_seed(0)
    flags = ["--encoder-bidirectional"] if bidirectional else []
    model, vocabulary = build_translation("armin_tiny", VOCAB, *flags, "--encoder-layers", 2, "--decoder-start", "summary")
    model.eval()
    rows = sentences(vocabulary, [6, 2, 9, 4])
    prev = prev_tokens(vocabulary, 4, 6)
    with torch.no_grad():
        alone = [model.encoder(row.unsqueeze(0)) for row in rows]
        alone_log_probs = [full_log_probs(model, row.unsqueeze(0), prev[i : i + 1]) for i, row in enumerate(rows)]
        for left in (True, False):
            batch = padded(rows, vocabulary.pad(), left)
            encoder_out = model.encoder(batch)
            log_probs = full_log_probs(model, batch, prev)
            for index, (row, single) in enumerate(zip(rows, alone)):
                real = ~encoder_out.padding_mask[:, index]
                assert int(real.sum()) == len(row)
                torch.testing.assert_close(encoder_out.outputs[real, index], single.outputs[:, 0], rtol=0, atol=1e-5)
                torch.testing.assert_close(encoder_out.summary[index], single.summary[0], rtol=0, atol=1e-5)
                for got, alone_state in zip(encoder_out.final[:3], single.final[:3]):  # read_age is None
                    torch.testing.assert_close(got[:, index], alone_state[:, 0], rtol=0, atol=1e-5)
                torch.testing.assert_close(log_probs[index], alone_log_probs[index][0], rtol=0, atol=1e-5)


def test_the_decoder_starts_by_default_from_the_encoders_final_state():
    torch.manual_seed(0)
    model, vocabulary = build_translation("armin_tiny", VOCAB)
    summary_model, _ = build_translation("armin_tiny", VOCAB, "--decoder-start", "summary")
    assert build_translation("armin_iwslt_de_en", 8)[0].decoder.initial_hidden is None  # its own sizes, the same default
    assert model.decoder.initial_hidden is None
    assert parameters(summary_model) - parameters(model) == parameters(summary_model.decoder.initial_hidden)
    model.eval()
    source = padded(sentences(vocabulary, [5, 2]), vocabulary.pad(), left=False)
    with torch.no_grad():
        encoder_out = model.encoder(source)
        cache = model.decoder.initial_cache(encoder_out)
    for got, final in zip(cache.state, encoder_out.final):
        assert got is final
    assert cache.steps.tolist() == [[6, 3]]  # the encoder's real steps, eos included
    assert not torch.equal(cache.memory, model.decoder.armin.initial_state(2).memory)


def test_bidirectional_encoder_reads_both_directions():
    """A token change at the end of a sentence reaches its first output only through the
    backward stack."""
    torch.manual_seed(0)
    (row,) = sentences(translation_dictionary(VOCAB), [6])
    changed = row.clone()
    changed[-2] = row[-2] + 1 if row[-2] + 1 < VOCAB else row[-2] - 1
    for flags, reaches in (([], False), (["--encoder-bidirectional"], True)):
        model, _ = build_translation("armin_tiny", VOCAB, *flags)
        model.eval()
        with torch.no_grad():
            first, other = (model.encoder(tokens.unsqueeze(0)).outputs[0] for tokens in (row, changed))
        assert (not torch.allclose(first, other)) == reaches


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--encoder-slots", 0], "--encoder-slots must be a positive integer, got 0"),
        (["--decoder-hidden-size", 0], "--decoder-hidden-size must be a positive integer, got 0"),
        (["--share-all-embeddings", "--decoder-embed-dim", 32],
         "--share-all-embeddings needs --encoder-embed-dim (16) equal to --decoder-embed-dim (32)"),
        (["--share-decoder-input-output-embed", "--decoder-out-embed-dim", 32],
         "tied output embeddings need --decoder-out-embed-dim (32) equal to --decoder-embed-dim (16)"),
        (["--decoder-start", "encoder-state", "--decoder-slots", 8],
         "--decoder-start encoder-state needs the decoder sized as the encoder: --encoder-slots 4 against "
         "--decoder-slots 8 (or --decoder-start summary)"),
        (["--decoder-dropout-out", 1.0], "--decoder-dropout-out must be in [0, 1), got 1.0"),
        (["--dropout", -0.1], "--dropout must be in [0, 1), got -0.1"),
    ],
)
def test_impossible_flags_are_refused_by_name(flags, message):
    with pytest.raises(ArminError, match="^" + re.escape(message) + "$"):
        build_translation("armin_tiny", VOCAB, *flags)


def test_each_dropout_flag_sets_its_own_place_and_defaults_to_dropout():
    model, _ = build_translation("armin_tiny", VOCAB, "--dropout", 0.3, "--encoder-dropout-out", 0.2, "--decoder-dropout-in", 0)
    assert [model.encoder.dropout_in_module.p, model.encoder.dropout_out_module.p,
            model.decoder.dropout_in_module.p, model.decoder.dropout_out_module.p] == [0.3, 0.2, 0.0, 0.3]
    # every place at 0 trains as --dropout 0 does (same weights, same seed), --dropout 0.5 alone not
    zeros = [flag for name in ("encoder-dropout-in", "encoder-dropout-out", "decoder-dropout-in", "decoder-dropout-out")
             for flag in (f"--{name}", 0)]
    models = [build_translation("armin_tiny", VOCAB, "--dropout", 0.5, *zeros)[0], build_translation("armin_tiny", VOCAB, "--dropout", 0)[0],
              build_translation("armin_tiny", VOCAB, "--dropout", 0.5)[0]]
    _, vocabulary = build_translation("armin_tiny", VOCAB)
    source = padded(sentences(vocabulary, [5, 3]), vocabulary.pad(), left=True)
    prev = prev_tokens(vocabulary, 2, 4)
    outputs = []
    for model in models:
        model.load_state_dict(models[0].state_dict())
        model.train()
        torch.manual_seed(0)
        outputs.append(model(source, source.ne(vocabulary.pad()).sum(1), prev)[0])
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)
    assert not torch.allclose(outputs[0], outputs[2])


def test_the_parts_around_the_cell_start_as_lstm_wiseman_s_do():
    """Attention, first-state and output maps start in [-0.1, 0.1], as fairseq's LSTM model
    initialises its own (nn.Linear's default, +-1/sqrt(fan_in), left ARMIN's output layer
    too small: a plateau of ~200 updates at the unigram loss, docs/study.md)."""
    torch.manual_seed(0)
    armin, _ = build_translation("armin_iwslt_de_en", 2000, "--encoder-bidirectional", "--decoder-start", "summary")
    lstm, _ = build_translation("lstm_wiseman_iwslt_de_en", 2000)
    around = {name: p for name, p in armin.named_parameters()
              if "stack" not in name and "armin." not in name and "embed" not in name}
    assert sorted(around) == [
        "decoder.attention.output_projection.weight", "decoder.attention.query_projection.weight",
        "decoder.initial_hidden.bias", "decoder.initial_hidden.weight",
        "decoder.output_projection.bias", "decoder.output_projection.weight",
        "encoder.project_directions.bias", "encoder.project_directions.weight",
    ]
    for name, parameter in around.items():
        assert 0.09 < parameter.abs().max() <= 0.1, name
    torch.testing.assert_close(armin.decoder.output_projection.weight.std(), lstm.decoder.fc_out.weight.std(),
                               rtol=0.02, atol=0)


def logged_memory_use(model, source, prev):
    """fairseq's metrics of one full forward (training mode), and every decoder step's trace
    (per layer) as the cell recorded it."""
    from fairseq.logging import metrics

    steps = []
    hooks = [layer.register_forward_hook(lambda module, inputs, outputs: steps.append(module.last_trace))
             for layer in model.decoder.armin.layers]
    try:
        with metrics.aggregate(new_root=True) as logged:
            full_log_probs(model.train(), source, prev)
    finally:
        for hook in hooks:
            hook.remove()
    return logged.get_smoothed_values(), steps


def test_the_decoder_logs_how_it_read_its_memory_over_the_whole_target():
    torch.manual_seed(0)
    vocabulary = build_translation("armin_tiny", VOCAB)[1]
    source = padded(sentences(vocabulary, [5, 9, 3, 7]), vocabulary.pad(), left=True)
    prev = prev_tokens(vocabulary, 4, 12)
    # one slot: every step reads the state its predecessor wrote (the first, the start memory)
    one_slot = build_translation("armin_tiny", VOCAB, "--decoder-slots", 1, "--decoder-start", "summary")[0]
    logged, _ = logged_memory_use(one_slot, source, prev)
    assert (logged["armin_slots_read"], logged["armin_read_age"], logged["armin_entropy"]) == (1.0, 1.0, 0.0)
    # four slots: the distinct slots read over all 12 steps of a row, not those of one step
    logged, steps = logged_memory_use(build_translation("armin_tiny", VOCAB)[0], source, prev)
    assert len(steps) == 12 and all(trace.read.shape == (1, 4) for trace in steps)
    read = torch.cat([trace.read for trace in steps])  # (T, B)
    distinct = sum(len(set(read[:, row].tolist())) for row in range(4)) / 4
    assert logged["armin_slots_read"] == pytest.approx(distinct, abs=1e-3) and distinct > 1
    assert logged["armin_read_age"] >= 1.0
    # without the read the addresses read nothing: no memory diagnostics, the temperature still
    logged, _ = logged_memory_use(build_translation("armin_tiny", VOCAB, "--armin-no-read")[0], source, prev)
    assert "armin_tau" in logged and not {"armin_entropy", "armin_slots_read", "armin_read_age"} & set(logged)


def test_a_checkpoint_from_before_the_decoder_start_flag_loads_with_its_summary_start():
    """Its config lacks ``decoder_start``, which fairseq fills with today's default
    (encoder-state); its weights hold the summary start's W, so the decoder takes that start
    back and translates as the model it was saved from."""
    torch.manual_seed(0)
    saved, vocabulary = build_translation("armin_tiny", VOCAB, "--decoder-start", "summary")
    loaded, _ = build_translation("armin_tiny", VOCAB)
    assert loaded.decoder.continues_encoder
    loaded.load_state_dict(saved.state_dict(), strict=True)
    assert not loaded.decoder.continues_encoder and loaded.cfg.decoder_start == "summary"
    source = padded(sentences(vocabulary, [5, 2]), vocabulary.pad(), left=False)
    target = padded(sentences(vocabulary, [4, 3], seed=1), vocabulary.pad(), left=False)
    for model in (saved, loaded):
        model.eval()
    with torch.no_grad():
        expected = saved(source, torch.tensor([5, 2]), target)[0]
        torch.testing.assert_close(loaded(source, torch.tensor([5, 2]), target)[0], expected, rtol=0, atol=0)


def test_the_model_has_no_positional_limit_of_its_own():
    """As fairseq's LSTM: the task's --max-source/target-positions filter the data."""
    from armin_plugin.models.armin_translation_config import RECURRENT_MAX_POSITIONS

    model, _ = build_translation("armin_tiny", VOCAB, "--max-source-positions", 50, "--max-target-positions", 60)
    assert RECURRENT_MAX_POSITIONS >= 100_000
    assert model.max_positions() == (RECURRENT_MAX_POSITIONS, RECURRENT_MAX_POSITIONS)


def test_generation_leaves_out_the_attention_weights_unless_asked():
    """fairseq's generation tools call make_generation_fast_(need_attn=--print-alignment); beam
    search then carries no attention buffer (gathered anew at every step)."""
    torch.manual_seed(0)
    model, vocabulary = build_translation("armin_tiny", VOCAB)
    model.eval()
    source = padded(sentences(vocabulary, [5, 9]), vocabulary.pad(), left=True)
    prev = prev_tokens(vocabulary, 2, 4)
    with torch.no_grad():
        assert model.decoder(prev, model.encoder(source))[1]["attn"][0].shape == (2, 4, source.size(1))
        model.make_generation_fast_(need_attn=False)
        logits, extra = model.decoder(prev, model.encoder(source))
        assert extra["attn"][0] is None and logits.shape[:2] == (2, 4)
        model.decoder.make_generation_fast_(need_attn=True)  # the model's own applies once
        assert model.decoder(prev, model.encoder(source))[1]["attn"][0].shape == (2, 4, source.size(1))
