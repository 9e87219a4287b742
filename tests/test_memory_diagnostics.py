"""Memory diagnostics on hand-made addressing traces."""
import math

import pytest
import torch

from armin_plugin.modules import ARMIN
from armin_plugin.modules.memory_diagnostics import AddressingTrace, memory_use


def trace(read, written, real=None, steps=0, slots=3):
    read, written = torch.tensor(read).unsqueeze(1), torch.tensor(written).unsqueeze(1)
    real = torch.ones_like(read, dtype=torch.bool) if real is None else torch.tensor(real).unsqueeze(1)
    return AddressingTrace(torch.zeros(len(read), 1, slots), read, written, real, torch.tensor([steps]))


def test_hand_computed_use():
    use, written_at = memory_use(trace(read=[0, 0, 2, 0], written=[0, 1, 2, 0]))
    # ages: step 0 reads slot 0 (initial memory, "written" at -1): 1; step 1 reads slot 0
    # written at 0: 1; step 2 reads slot 2 (initial): 3; step 3 reads slot 0 written at 0: 3
    assert use.read_age == pytest.approx(2.0)
    assert use.slots_read == 2
    assert use.entropy == pytest.approx(math.log(3))  # uniform logits
    assert written_at.tolist() == [[3.0, 1.0, 2.0]]


def test_pads_are_ignored_and_clocks_carry():
    _, written_at = memory_use(trace(read=[0, 1], written=[0, 1]))
    use, _ = memory_use(trace(read=[1, 2, 0], written=[1, 2, 0], real=[True, False, True], steps=2), written_at)
    # step 2 reads slot 1 written at 1: age 1; the pad step is skipped; step 3 reads slot 0
    # written at 0: age 3
    assert use.read_age == pytest.approx(2.0)
    assert use.slots_read == 2


def test_layer_records_its_trace_when_asked():
    armin = ARMIN(5, 6, 4, num_slots=3).eval()
    armin.layers[0].record_addressing = True
    x = torch.randn(7, 2, 5)
    _, state = armin(x)
    recorded = armin.layers[0].last_trace
    assert recorded.read.shape == recorded.written.shape == (7, 2)
    assert recorded.written[:3].tolist() == [[0, 0], [1, 1], [2, 2]]  # sequential fill
    assert torch.equal(recorded.written[3:], recorded.read[3:])  # then write-back to the read slot
    assert torch.equal(recorded.read, recorded.logits.argmax(-1))  # eval: argmax addressing
