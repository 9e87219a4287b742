"""The compiled recurrence (csrc/recurrence.cpp) against the Python loop, and its dispatch.

The two backends must agree to float64 rounding in outputs, final state and every gradient
(inputs, carried state, all parameters), with pads, carried state, 2 layers, d_r > d_h and
Gumbel noise; and in the addressing record. The native cases are skipped only where the
extension is not built (``recipes/install.sh`` builds it).
"""
import logging
import subprocess
import sys

import pytest
import torch

from armin_plugin.errors import ArminError
from armin_plugin.modules import ARMIN, ARMINState, CellVariant, native
from armin_plugin.modules import backend as backend_choice
from armin_plugin.modules.addressing import sample_gumbel

needs_native = pytest.mark.skipif(
    native.library() is None, reason=f"compiled ARMIN recurrence {native.unavailable_reason()}"
)
ROUNDING = {torch.float64: dict(rtol=1e-12, atol=1e-13), torch.float32: dict(rtol=2e-5, atol=2e-6)}
# d_h + d_r = 384: the gate and transform weights are large enough for the compiled loop's
# float32 products on oneDNN's packed weights (kPackedMinWeight in csrc/recurrence.cpp)
PACKED_SIZES = dict(d_x=8, d_h=96, d_r=288, n_slots=5)


def onednn_products(run):
    """How many products ``run()`` made on oneDNN's packed weights (torch.profiler)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        run()
    return sum(event.count for event in profile.key_averages() if event.key == "mkldnn::_linear_pointwise")


def build(dtype, d_x=3, d_h=4, d_r=7, n_slots=3, layers=2, variant=CellVariant()):
    torch.manual_seed(0)
    model = ARMIN(d_x, d_h, d_r, n_slots, num_layers=layers, temperature=0.6,
                  forget_bias=0.4, variant=variant).to(dtype)
    with torch.no_grad():
        for cell in model.layers:
            cell.initial_memory.normal_()
            cell.record_addressing = True
            if cell.query is not None:  # a query that sways the address
                cell.query.weight.normal_()
                cell.query.bias.normal_()
    return model


def run(model, backend, monkeypatch, training, steps=11, batch=4, carried=True, seed=3):
    """Outputs, final state, the addressing traces and the gradients of a random loss with
    respect to the inputs, the carried state and every parameter, for one backend."""
    monkeypatch.setenv("ARMIN_BACKEND", backend)
    dtype = model.layers[0].initial_memory.dtype
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(steps, batch, model.layers[0].input_size, generator=gen, dtype=dtype)
    pad = torch.zeros(steps, batch, dtype=torch.bool)
    pad[:3, 1] = True  # left padded
    pad[7:, 2] = True  # right padded
    pad[4:6, 3] = True  # in the middle
    noise = sample_gumbel((model.num_layers, steps, batch, model.num_slots), dtype=dtype,
                          generator=gen)
    layers, n_slots, d_h, d_r = model.num_layers, model.num_slots, model.hidden_size, model.slot_size
    state = ARMINState(
        torch.randn(layers, batch, d_h, generator=gen, dtype=dtype).tanh(),
        torch.randn(layers, batch, n_slots, d_r, generator=gen, dtype=dtype),
        torch.tensor([0, 1, 2, 5]).expand(layers, batch).clone(),  # filling and full rows
        # read ages (0: not read yet, 1: read at the previous step) where the cell keeps them
        torch.randint(0, 3, (layers, batch, n_slots), generator=gen) if model.variant.reads_history else None,
    ) if carried else None
    weights = [torch.randn(s, generator=gen, dtype=dtype) for s in [
        (steps, batch, model.output_size), (layers, batch, d_h), (layers, batch, n_slots, d_r)]]
    model.train(training)
    inputs = x.requires_grad_()
    leaves = [inputs]
    if carried:
        state = state._replace(hidden=state.hidden.requires_grad_(), memory=state.memory.requires_grad_())
        leaves += [state.hidden, state.memory]
    out, final = model(inputs, state, padding_mask=pad, gumbel_noise=noise)
    loss = sum((w * t).sum() for w, t in zip(weights, (out, final.hidden, final.memory)))
    params = list(model.parameters())
    grads = torch.autograd.grad(loss, params + leaves, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params + leaves, grads)]
    traces = [cell.last_trace for cell in model.layers]
    names = [n for n, _ in model.named_parameters()] + ["input", "hidden", "memory"][:len(leaves)]
    return out, final, traces, dict(zip(names, grads))


@needs_native
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("training", [True, False], ids=["gumbel", "argmax"])
@pytest.mark.parametrize("carried", [True, False], ids=["carried", "fresh"])
@pytest.mark.parametrize("variant", [CellVariant(), CellVariant(no_reread=True),
                                     CellVariant(no_reread=True, content_address=True), CellVariant(no_read=True)],
                         ids=["paper", "no-reread", "no-reread-content", "no-read"])
def test_backends_agree_to_rounding(monkeypatch, dtype, training, carried, variant):
    model = build(dtype, variant=variant)
    assert model.slot_size > model.hidden_size
    assert backend_choice.choose_backend([torch.zeros(1, dtype=dtype)]) == "native"
    python = run(model, "python", monkeypatch, training, carried=carried)
    compiled = run(model, "native", monkeypatch, training, carried=carried)
    tol = ROUNDING[dtype]
    (out, final, traces, grads), (ref_out, ref_final, ref_traces, ref_grads) = compiled, python
    torch.testing.assert_close(out, ref_out, **tol)
    torch.testing.assert_close(final.hidden, ref_final.hidden, **tol)
    torch.testing.assert_close(final.memory, ref_final.memory, **tol)
    assert torch.equal(final.steps, ref_final.steps)
    if variant.no_reread:
        assert torch.equal(final.read_age, ref_final.read_age)
        for trace in traces:  # never the slot of the previous real step (pads aside)
            assert (trace.read[1:] != trace.read[:-1])[trace.real[1:] & trace.real[:-1]].all()
    for trace, ref in zip(traces, ref_traces):
        torch.testing.assert_close(trace.logits, ref.logits, **tol)
        assert torch.equal(trace.read, ref.read) and torch.equal(trace.written, ref.written)
    assert grads.keys() == ref_grads.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(grad, ref_grads[name], **tol, msg=lambda m: f"{name}: {m}")
    if training and not variant.no_read:  # the straight-through path is exercised
        assert grads["layers.0.address.weight"].abs().sum() > 0
        if variant.content_address:
            assert grads["layers.0.query.weight"].abs().sum() > 0


@needs_native
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("variant", [CellVariant(), CellVariant(no_reread=True, content_address=True)],
                         ids=["paper", "no-reread-content"])
def test_the_compiled_loop_is_the_same_bit_for_bit_at_one_and_two_threads(monkeypatch, dtype, variant):
    """Rows run in parallel: 48 rows of a layer whose row work (d_h 64, d_r 64, 12 slots)
    splits them into chunks (kChunkWork in csrc/recurrence.cpp), so two threads share them."""
    model = build(dtype, d_h=64, d_r=64, n_slots=12, variant=variant)
    threads = torch.get_num_threads()
    results = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            results.append(run(model, "native", monkeypatch, training=True, batch=48, carried=False))
    finally:
        torch.set_num_threads(threads)
    (out, final, traces, grads), (out2, final2, traces2, grads2) = results
    assert torch.equal(out, out2) and torch.equal(final.hidden, final2.hidden)
    assert torch.equal(final.memory, final2.memory)
    for trace, trace2 in zip(traces, traces2):
        assert torch.equal(trace.logits, trace2.logits) and torch.equal(trace.read, trace2.read)
    for name, grad in grads.items():
        assert torch.equal(grad, grads2[name]), name
    assert grads["layers.0.address.weight"].abs().sum() > 0


@needs_native
@pytest.mark.parametrize("dtype,sizes", [(torch.float64, {}), (torch.float32, PACKED_SIZES)], ids=["float64", "float32-packed"])
def test_one_token_steps_use_the_compiled_loop_and_equal_the_python_loop(monkeypatch, dtype, sizes):
    """Incremental decoding (T = 1 per call, no autograd, each step overwriting its own
    state) through both backends; in float32 the compiled steps from the second on use the
    packed weights of the first."""
    model = build(dtype, **sizes).eval()
    x = torch.randn(6, 3, model.layers[0].input_size, dtype=dtype)
    results = {}
    for backend in ("python", "native"):
        monkeypatch.setenv("ARMIN_BACKEND", backend)
        state, outs = None, []

        def decode():
            nonlocal state
            with torch.no_grad():
                for t in range(6):
                    out, state = model(x[t:t + 1], state, overwrite_state=state is not None)
                    outs.append(out)

        packed = onednn_products(decode)
        assert packed == (2 * 2 * 5 if backend == "native" and sizes and torch.backends.mkldnn.is_available() else 0)
        results[backend] = torch.cat(outs), state
    tol = ROUNDING[dtype] if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(results["native"][0], results["python"][0], **tol)
    torch.testing.assert_close(results["native"][1].memory, results["python"][1].memory, **tol)
    assert backend_choice.choose_backend([x]) == "native"


@needs_native
def test_one_token_training_steps_with_reused_weights_equal_the_python_loop(monkeypatch):
    """float32 calls of one step under autograd that share one arrangement of the weights
    (as the translation decoder's steps do): forward and gradients as the Python loop's."""
    model = build(torch.float32, **PACKED_SIZES).train()
    x = torch.randn(6, 3, 8)
    noise = sample_gumbel((6, model.num_layers, 1, 3, model.num_slots), generator=torch.Generator().manual_seed(1))
    grads = {}
    for backend in ("python", "native"):
        monkeypatch.setenv("ARMIN_BACKEND", backend)
        model.zero_grad()
        state, total = None, 0
        with model.reusing_weights():
            for t in range(6):
                out, state = model(x[t:t + 1], state, gumbel_noise=noise[t])
                total = total + out.square().sum()
        packed = onednn_products(total.backward)
        assert (packed > 0) == (backend == "native" and torch.backends.mkldnn.is_available())
        grads[backend] = [p.grad.clone() for p in model.parameters()]
    for native_grad, python_grad in zip(grads["native"], grads["python"]):
        torch.testing.assert_close(native_grad, python_grad, rtol=1e-4, atol=1e-5)


def test_forced_native_without_the_library_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(native, "library", lambda: None)
    monkeypatch.setattr(native, "unavailable_reason", lambda: "not built (test)")
    x = torch.zeros(1)
    for asked in ("native", "cpp"):
        monkeypatch.setenv("ARMIN_BACKEND", asked)
        with pytest.raises(ArminError, match=f"ARMIN_BACKEND={asked}: .*not built"):
            backend_choice.choose_backend([x])
    monkeypatch.setenv("ARMIN_BACKEND", "auto")
    assert backend_choice.choose_backend([x]) == "python"
    monkeypatch.setenv("ARMIN_BACKEND", "fortran")
    with pytest.raises(ArminError, match="ARMIN_BACKEND must be one of"):
        backend_choice.choose_backend([x])


@needs_native
def test_unsupported_calls_fall_back_to_python_and_the_choice_is_logged_once(monkeypatch, caplog):
    monkeypatch.setattr(backend_choice, "_logged", set())
    monkeypatch.setenv("ARMIN_BACKEND", "native")
    cpu = torch.zeros(2, dtype=torch.float64)
    with caplog.at_level(logging.INFO, logger=backend_choice.__name__):
        assert backend_choice.choose_backend([cpu]) == "native"
        assert backend_choice.choose_backend([cpu]) == "native"
        # a device that is not the CPU (CUDA here when there is one) runs the Python loop
        assert backend_choice.choose_backend([torch.zeros(2, device="meta")]) == "python"
        assert backend_choice.choose_backend([cpu, cpu.float()]) == "python"
        assert backend_choice.choose_backend([cpu.half()]) == "python"
    lines = [r.getMessage() for r in caplog.records]
    assert sum("backend: native" in line for line in lines) == 1
    assert any("CPU-only" in line for line in lines)


@pytest.mark.slow  # a fresh python process
def test_importing_the_plugin_neither_compiles_nor_loads_the_library():
    code = ("import sys, armin_plugin.modules as m; "
            "assert not m.native._loaded; assert 'torch.utils.cpp_extension' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@needs_native
def test_a_second_build_finds_the_library_and_builds_nothing():
    assert native.build().startswith("compiled ARMIN recurrence is up to date")


@needs_native
@pytest.mark.parametrize("training", [True, False], ids=["gumbel", "argmax"])
def test_float32_packed_products_agree_with_the_python_loop(monkeypatch, training):
    """At d_h + d_r = 384, float32 calls of 8 steps or more run their per-step products on
    oneDNN's packed weights (where torch has oneDNN), and still agree with the Python loop."""
    assert native.library().packed_products_available() == torch.backends.mkldnn.is_available()
    model = build(torch.float32, **PACKED_SIZES)
    python = run(model, "python", monkeypatch, training)
    compiled = []
    assert onednn_products(lambda: compiled.append(run(model, "native", monkeypatch, training))) > 0
    (out, final, _, grads), (ref_out, ref_final, _, ref_grads) = compiled[0], python
    tol = dict(rtol=1e-4, atol=1e-5)  # 384-term sums in float32, in another order
    torch.testing.assert_close(out, ref_out, **tol)
    torch.testing.assert_close(final.memory, ref_final.memory, **tol)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, ref_grads[name], **tol, msg=lambda m: f"{name}: {m}")
