"""Whose state each read retrieves (modules/slot_history.py), on hand-computed sequences:
a hand-made trace, and a layer whose addresses are forced by its input."""
import torch

from armin_plugin.modules import ARMIN
from armin_plugin.modules.addressing_trace import AddressingTrace
from armin_plugin.modules.slot_history import INITIAL, slot_history
from armin_plugin.views.layer_reads import LayerReads
from armin_plugin.views.read_statistics import read_statistics
from armin_plugin.views.read_table import read_table

# N = 3 slots; the slot read at each step is forced to these; the first 3 steps fill 0, 1, 2.
FORCED = [2, 0, 2, 1, 0, 2, 1]
WRITTEN = [0, 1, 2, 1, 0, 2, 1]
# By hand: step 0 reads slot 2 (initial memory), writes 0; step 1 reads 0 (written at 0),
# writes 1; step 2 reads 2 (initial), writes 2; step 3 reads 1 (written at 1) and writes it;
# step 4 reads 0 (0); step 5 reads 2 (2); step 6 reads 1 (written at 3).
ORIGIN = [INITIAL, 0, INITIAL, 1, 0, 2, 3]
EVICTED = [INITIAL, INITIAL, INITIAL, 1, 0, 2, 3]


def forced_layer(slots=3, width=5):
    """An ARMIN layer whose address logits are 10 * x[:slots]: one-hot inputs pick the slot."""
    armin = ARMIN(width, 6, 4, num_slots=slots).eval()
    cell = armin.layers[0]
    with torch.no_grad():
        cell.address.weight.zero_()
        cell.address.weight[:, :slots] = 10 * torch.eye(slots)
        cell.address.bias.zero_()
    cell.record_addressing = True
    return armin


def test_a_hand_made_trace():
    read, written = torch.tensor(FORCED).unsqueeze(1), torch.tensor(WRITTEN).unsqueeze(1)
    trace = AddressingTrace(torch.zeros(7, 1, 3), read, written, torch.ones(7, 1, dtype=torch.bool), torch.tensor([0]))
    history = slot_history(trace)
    assert history.position[:, 0].tolist() == list(range(7))
    assert history.origin[:, 0].tolist() == ORIGIN
    assert history.evicted[:, 0].tolist() == EVICTED
    assert history.read_age()[:, 0].tolist() == [1, 1, 3, 2, 4, 3, 3]
    assert history.written_at.tolist() == [[4, 6, 5]]


def test_forced_addresses_through_the_layer():
    armin = forced_layer()
    x = torch.zeros(7, 1, 5)
    x[torch.arange(7), 0, torch.tensor(FORCED)] = 1.0
    armin(x)
    trace = armin.layers[0].last_trace
    assert trace.read[:, 0].tolist() == FORCED and trace.written[:, 0].tolist() == WRITTEN
    reads = LayerReads.of_row(trace, slot_history(trace), 0, list("abcdefg"))
    assert read_table(reads).splitlines()[:4] == [
        "step 0 'a' read slot 2, the initial memory; wrote slot 0",
        "step 1 'b' read slot 0, the state parked at step 0 'a'; wrote slot 1",
        "step 2 'c' read slot 2, the initial memory; wrote slot 2",
        "step 3 'd' read slot 1, the state parked at step 1 'b'; wrote slot 1",
    ]
    assert reads.origin.tolist() == ORIGIN


def test_pad_steps_change_nothing_and_clocks_carry():
    read, written = torch.tensor([[1], [2], [1]]), torch.tensor([[1], [2], [1]])
    real = torch.tensor([[True], [False], [True]])
    trace = AddressingTrace(torch.zeros(3, 1, 3), read, written, real, torch.tensor([5]))
    history = slot_history(trace, torch.tensor([[0, 3, 4]]))
    assert history.position[:, 0].tolist() == [5, 6, 6]
    # step 5 reads slot 1 written at 3; the pad step writes nothing; step 6 reads slot 1 written at 5
    assert [history.origin[0, 0].item(), history.origin[2, 0].item()] == [3, 5]
    assert history.written_at.tolist() == [[0, 6, 4]]


def test_statistics_count_real_steps_of_every_row():
    read, written = torch.tensor(FORCED).unsqueeze(1), torch.tensor(WRITTEN).unsqueeze(1)
    trace = AddressingTrace(torch.zeros(7, 1, 3), read, written, torch.ones(7, 1, dtype=torch.bool), torch.tensor([0]))
    stats = read_statistics(trace, slot_history(trace))
    assert sorted(stats.read_age.tolist()) == [1, 2, 3, 3, 4] and stats.initial_reads == 2
    assert sorted(stats.parked.tolist()) == [2, 3, 3, 4]  # the states replaced at steps 3-6
    assert sorted(stats.still_parked.tolist()) == [1, 2, 3]  # written at 6, 5, 4; the end is 7
    assert stats.reads_per_slot.tolist() == [2, 2, 3]
