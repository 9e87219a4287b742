"""ARMIN in low precision: autocast, float16/bfloat16 layers and models, fairseq's --amp/--fp16.

On CPU: the layer and armin_lm under torch.autocast('cpu', bfloat16) and as bfloat16 /
float16 modules, against float32 with the same weights and the same slot choices. The CUDA
tests run wherever a CUDA device exists (fairseq-train --fp16 and --amp need one).
"""
import re

import pytest
import torch
import torch.nn.functional as F
from helpers import PLUGIN, build_lm, fairseq, random_tokens

from armin_plugin.modules import ARMIN
from armin_plugin.modules.addressing import sample_gumbel

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CPU_LOW = [torch.bfloat16, torch.float16]
SLOTS, LAYERS, STEPS, ROWS = 4, 2, 30, 3


def layer_inputs(device):
    """A 2-layer training-mode ARMIN, inputs (T, B, 12), and Gumbel noise that puts one slot
    per step 4 ahead: the logits (|a| < 1 here) are too small for rounding to change a read,
    while the softmax stays unsaturated, so its gradient is compared too."""
    torch.manual_seed(0)
    armin = ARMIN(12, 16, 20, SLOTS, num_layers=LAYERS).to(device).train()
    for layer in armin.layers:
        layer.record_addressing = True
    x = torch.randn(STEPS, ROWS, 12, device=device)
    choice = torch.randint(0, SLOTS, (LAYERS, STEPS, ROWS), device=device)
    return armin, x, 4.0 * F.one_hot(choice, SLOTS).float()


def forward_backward(armin, x, noise, autocast_dtype=None):
    """Output, final state, slots read per layer, input and parameter gradients."""
    x = x.detach().clone().requires_grad_()
    armin.zero_grad()
    with torch.autocast(x.device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
        out, state = armin(x, gumbel_noise=noise)
    (out.float().pow(2).sum() + state.memory.float().pow(2).sum() + state.hidden.float().sum()).backward()
    reads = [layer.last_trace.read.clone() for layer in armin.layers]
    grads = {name: p.grad.clone() for name, p in armin.named_parameters()}
    return out, state, reads, x.grad, grads


def relative_error(value, reference):
    return ((value.double() - reference.double()).norm() / reference.double().norm().clamp_min(1e-12)).item()


def assert_close_to_float32(low, reference, tolerance):
    out, state, reads, x_grad, grads = low
    ref_out, ref_state, ref_reads, ref_x_grad, ref_grads = reference
    assert all(torch.equal(a, b) for a, b in zip(reads, ref_reads))  # same slots read
    for tensor in [out, state.hidden, state.memory, x_grad, *grads.values()]:
        assert torch.isfinite(tensor.float()).all()
    assert relative_error(out, ref_out) < tolerance
    assert relative_error(state.memory, ref_state.memory) < tolerance
    assert relative_error(x_grad, ref_x_grad) < tolerance
    for name, grad in grads.items():
        assert relative_error(grad, ref_grads[name]) < tolerance, name


def check_autocast(device, dtype):
    armin, x, noise = layer_inputs(device)
    reference = forward_backward(armin, x, noise)
    low = forward_backward(armin, x, noise, autocast_dtype=dtype)
    out, state = low[0], low[1]
    assert out.dtype == dtype  # autocast's dtype outside the loop
    assert state.memory.dtype == state.hidden.dtype == torch.float32  # the loop's inside
    assert all(grad.dtype == torch.float32 for grad in low[4].values())
    assert_close_to_float32(low, reference, tolerance=0.03)


def check_low_precision_module(device, dtype):
    armin, x, noise = layer_inputs(device)
    reference = forward_backward(armin, x, noise)
    low = forward_backward(armin.to(dtype), x.to(dtype), noise)
    out, state, _, x_grad, grads = low
    assert out.dtype == x_grad.dtype == dtype
    assert all(grad.dtype == dtype for grad in grads.values())
    assert state.memory.dtype == torch.float32
    assert_close_to_float32(low, reference, tolerance=0.05)


@pytest.mark.slow  # in process, above ~3 s on a quiet 2-core machine
def test_layer_under_cpu_autocast_bfloat16_matches_float32():
    check_autocast("cpu", torch.bfloat16)


@pytest.mark.parametrize("dtype", CPU_LOW)
def test_low_precision_layer_matches_float32(dtype):
    check_low_precision_module("cpu", dtype)


@pytest.mark.parametrize("dtype", CPU_LOW)
def test_gumbel_noise_for_low_precision_is_float32_and_finite(dtype):
    torch.manual_seed(0)
    noise = sample_gumbel((1000, 1000), dtype=dtype)
    assert noise.dtype == torch.float32
    assert torch.isfinite(noise).all()
    assert abs(noise.mean().item() - 0.5772) < 0.01  # Euler-Mascheroni: the Gumbel mean


def _lm_loss(model, tokens):
    logits, _ = model(tokens[:, :-1])
    return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), tokens[:, 1:].reshape(-1))


@pytest.mark.parametrize("mode", ["autocast", "bfloat16"])
def test_armin_lm_trains_in_bfloat16_on_cpu(mode):
    """armin_lm with real Gumbel sampling (training mode): finite loss and gradients, loss
    close to float32's with the same weights and noise seed."""
    model, dictionary = build_lm(dropout=0.0)
    model.train()
    tokens = random_tokens(dictionary, 4, 40)
    torch.manual_seed(5)
    reference = _lm_loss(model, tokens).item()
    if mode == "bfloat16":
        model = model.to(torch.bfloat16)
    torch.manual_seed(5)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "autocast"):
        loss = _lm_loss(model, tokens)
    loss.backward()
    assert torch.isfinite(loss)
    assert abs(loss.item() - reference) < 0.05 * reference
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(grad.float()).all() for grad in grads)


def _train_args(data, *extra):
    return [
        data, "--user-dir", PLUGIN, "--task", "language_modeling", "--tokens-per-sample", 64,
        "--batch-size", 4, "--optimizer", "adam", "--lr", 0.003, "--max-update", 3,
        "--no-save", "--log-format", "simple", "--log-interval", 1, "--seed", 3,
        "--arch", "armin_lm_tiny", *extra,
    ]


def assert_trained(result, updates=3):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    losses = [float(x) for x in re.findall(r"\| train_inner \|.* loss=([0-9.]+)", result.stdout)]
    assert len(losses) == updates and all(0 < loss < 10 for loss in losses), losses


@pytest.mark.slow
def test_fairseq_train_amp_on_cpu(ptb_char_slice):
    """--amp on CPU: fairseq's AMP optimizer and loss scaler around ARMIN (fairseq's autocast
    is CUDA's, so the arithmetic stays float32 here)."""
    assert_trained(fairseq("train", *_train_args(ptb_char_slice, "--cpu", "--amp")))


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_layer_under_cuda_autocast_matches_float32(dtype):
    check_autocast("cuda", dtype)


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_layer_on_cuda_matches_float32(dtype):
    check_low_precision_module("cuda", dtype)


@pytest.mark.slow
@needs_cuda
@pytest.mark.parametrize("flag", ["--fp16", "--amp"])
def test_fairseq_train_on_cuda_in_low_precision(ptb_char_slice, flag):
    assert_trained(fairseq("train", *_train_args(ptb_char_slice, flag)))
