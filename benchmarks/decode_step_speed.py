"""One decode step of the ARMIN layer (beam 5 x batch 32 rows, no autograd, a beam reorder
of the state after each step), on the compiled and the Python recurrence, against nn.LSTM of
equal parameters, 1 thread, median of 9 interleaved rounds of 20 steps.

    python -m benchmarks.decode_step_speed

Layer level only: the fairseq decoders add the same embedding and output projection to both.
"""
import os, time, statistics, torch
from torch import nn
torch.set_num_threads(1)
from armin_plugin.modules import ARMIN
from benchmarks.layer_speed import lstm_hidden_for, count
rows, steps = 5 * 32, 20
armin = ARMIN(128, 256, 128, 16).eval()
H = lstm_hidden_for(count(armin), 128)
lstm = nn.LSTM(128, H).eval()
x = torch.randn(steps, rows, 128)
order = torch.randperm(rows)
def armin_decode(backend):
    def run():
        os.environ["ARMIN_BACKEND"] = backend
        state, spare = None, None
        with torch.no_grad():
            for t in range(steps):  # as the decoders do: overwrite the own state, reorder into a spare memory
                out, state = armin(x[t:t+1], state, overwrite_state=state is not None)
                state, spare = state.index_select(order, spare), state.memory  # beam reorder
    return run
def lstm_decode():
    state = None
    with torch.no_grad():
        for t in range(steps):
            out, state = lstm(x[t:t+1], state)
            state = tuple(s.index_select(1, order) for s in state)
runs = {"ARMIN native": armin_decode("native"), "ARMIN python": armin_decode("python"), f"nn.LSTM {H} (equal params)": lstm_decode}
times = {k: [] for k in runs}
for r in runs.values(): r()
for _ in range(9):
    for k, r in runs.items():
        s = time.perf_counter(); r(); times[k].append(time.perf_counter() - s)
med = {k: statistics.median(v) / steps * 1e3 for k, v in times.items()}
lstm_ms = med[f"nn.LSTM {H} (equal params)"]
for k, v in med.items(): print(f"| {k} | {v:.3f} ms/step | {v / lstm_ms:.2f}x |")
