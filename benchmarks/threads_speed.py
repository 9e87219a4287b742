"""Training speed beside a busy process: threads and OpenMP wait policy (issue 13 item 5).

    python -m benchmarks.threads_speed          # about 2 minutes on 2 cores

Runs a child process that times forward + backward of one ARMIN layer (the compiled or the
Python recurrence, as ARMIN_BACKEND says) with the environment of
:func:`armin_plugin.cli.threads.thread_environment`, for 1 thread and for 2 threads with the
ACTIVE and the PASSIVE wait policy, each once alone and once beside a busy-loop process,
and prints tokens/s and the busy / quiet ratio.
"""
import argparse
import os
import subprocess
import sys

from armin_plugin.cli.threads import thread_environment

CHILD = """
import time, torch
from armin_plugin.modules import ARMIN
torch.manual_seed(0)
layer, x = ARMIN(128, 256, 128, 16, temperature=0.5), torch.randn({steps}, 32, 128)
times = []
for _ in range({reps} + 1):
    start = time.perf_counter()
    layer(x)[0].sum().backward()
    times.append(time.perf_counter() - start)
print({steps} * 32 / sorted(times[1:])[len(times[1:]) // 2])
"""
BUSY = "while True: pass"


def tokens_per_s(threads: int, policy: str, busy: bool, steps: int, reps: int) -> float:
    env = dict(os.environ, **thread_environment(threads, policy))
    beside = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
    try:
        result = subprocess.run([sys.executable, "-c", CHILD.format(steps=steps, reps=reps)],
                                env=env, capture_output=True, text=True, check=True)
    finally:
        if beside is not None:
            beside.kill()
            beside.wait()
    return float(result.stdout.split()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.threads_speed", description=__doc__)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    print("| threads | wait policy | quiet tokens/s | beside a busy loop | busy / quiet |")
    print("|---:|---|---:|---:|---:|")
    for threads, policy in [(1, "PASSIVE"), (2, "ACTIVE"), (2, "PASSIVE")]:
        quiet = tokens_per_s(threads, policy, False, args.steps, args.reps)
        busy = tokens_per_s(threads, policy, True, args.steps, args.reps)
        print(f"| {threads} | {policy} | {quiet:,.0f} | {busy:,.0f} | {busy / quiet:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
