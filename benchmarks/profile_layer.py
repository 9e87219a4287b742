"""Where one ARMIN layer's training step spends its time, at each thread count: torch.profiler's
self time per op, the compiled loop's row phases ("rows: ...") and products among them.

    python -m benchmarks.profile_layer                    # d_h 256 d_r 128 N 16 T 150 B 32, 1 and 2 threads
    python -m benchmarks.profile_layer --shape 256x128x16x150x64 --threads 2
"""
import argparse
from collections import defaultdict

import torch

from armin_plugin.modules import ARMIN
from benchmarks.layer_speed import INPUT_SIZE
from benchmarks.run import parse_shape


def profile(shape, threads: int, reps: int) -> dict:
    """Milliseconds of self time per op, per training step (forward + backward)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    layer = ARMIN(INPUT_SIZE, shape.hidden, shape.slot, shape.slots, temperature=0.5).train()
    x = torch.randn(shape.steps, shape.batch, INPUT_SIZE)
    layer(x)[0].sum().backward()  # warm-up
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(reps):
            layer(x)[0].sum().backward()
    times = defaultdict(float)
    for event in prof.key_averages():
        times[event.key] += event.self_cpu_time_total / 1000 / reps
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", type=parse_shape, default=parse_shape("256x128x16x150x32"))
    parser.add_argument("--threads", type=lambda s: [int(p) for p in s.split(",")], default=[1, 2])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    runs = {threads: profile(args.shape, threads, args.reps) for threads in args.threads}
    first = runs[args.threads[0]]
    keys = sorted(first, key=first.get, reverse=True)[:args.top]
    print(f"{args.shape.name}, ms per training step (self time)\n")
    print("| op | " + " | ".join(f"{t} thread(s)" for t in runs) + " |")
    print("|---|" + "---:|" * len(runs))
    for key in keys + ["total"]:
        cells = [f"{sum(r.values()) if key == 'total' else r.get(key, 0.0):,.1f}" for r in runs.values()]
        print(f"| {key} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
