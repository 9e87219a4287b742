"""Training speed of a one-step-per-call loop, as in a decoder with input feeding.

    python -m benchmarks.step_loop_speed            # armin_iwslt_de_en's decoder sizes

Times forward + backward of T calls of one step each over B rows for: the ARMIN stack
inside ``reusing_weights()`` (the translation decoder's way), the ARMIN stack arranging its
weights again at every call, and ``nn.LSTMCell`` at ``lstm_wiseman_iwslt_de_en``'s decoder
size (what fairseq's LSTM decoder steps), interleaved so that machine load hits all alike.
"""
import argparse
import contextlib
from typing import Dict

import torch
from torch import nn

from armin_plugin.modules import ARMIN
from benchmarks.measure import interleaved_medians


def measure_step_loops(input_size=512, hidden=175, slot=64, slots=16, lstm_hidden=256,
                       steps=25, batch=32, reps=15) -> Dict[str, float]:
    """Median seconds per loop (forward and backward) of each variant."""
    torch.manual_seed(0)
    armin = ARMIN(input_size, hidden, slot, slots)
    lstm = nn.LSTMCell(input_size, lstm_hidden)
    x = torch.randn(steps, batch, input_size)

    def armin_loop(reuse: bool):
        def run():
            state, outputs = None, []
            with armin.reusing_weights() if reuse else contextlib.nullcontext():
                for t in range(steps):
                    out, state = armin(x[t:t + 1], state)
                    outputs.append(out)
            torch.cat(outputs).sum().backward()
        return run

    def lstm_loop():
        state, outputs = None, []
        for t in range(steps):
            state = lstm(x[t], state)
            outputs.append(state[0])
        torch.cat(outputs).sum().backward()

    return interleaved_medians({
        "ARMIN, reusing weights": armin_loop(True),
        "ARMIN, weights per call": armin_loop(False),
        "nn.LSTMCell": lstm_loop,
    }, reps=reps, device=torch.device("cpu"))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.step_loop_speed", description=__doc__)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args(argv)
    medians = measure_step_loops(steps=args.steps, batch=args.batch, reps=args.reps)
    lstm = medians["nn.LSTMCell"]
    print(f"| T {args.steps} B {args.batch}, {torch.get_num_threads()} thread(s) | ms per loop | x nn.LSTMCell |")
    print("|---|---:|---:|")
    for name, seconds in medians.items():
        print(f"| {name} | {seconds * 1000:.1f} | {seconds / lstm:.2f} |")


if __name__ == "__main__":
    main()
