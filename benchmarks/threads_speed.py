"""Training speed beside a busy process: threads and OpenMP wait policy.

    python -m benchmarks.threads_speed                            # one layer, about 1 minute
    python -m benchmarks.threads_speed --fairseq data-bin/ptb_char # fairseq-train, about 10 minutes

Each measurement runs a child once alone and once beside a busy-loop process, and prints
tokens/s and the busy / quiet ratio. The child is either one ARMIN layer's forward +
backward (the compiled or the Python recurrence, as ARMIN_BACKEND says), for 1 thread with
the PASSIVE wait policy and 2 threads with OpenMP's default and the PASSIVE policy; or
(``--fairseq DATA``) ``fairseq-train`` of the main job's ``armin_lm`` and ``lstm_lm`` (quick
sizes, blocks of 150, batch 32; tokens/s is the median of fairseq's logged ``wps`` after the
first interval) at 1 and 2 threads, default policy. The rows "jobs" are what the jobs and
the launcher do: the threads of :func:`~armin_plugin.cli.threads.threads_per_process`,
counted after the busy loop has started, with OpenMP's default wait policy.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional, Tuple

from armin_plugin.cli.threads import thread_environment, threads_per_process

LAYER = """
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
WPS = re.compile(r"\bwps=([\d.]+)")


def run_beside(command: List[str], threads: Optional[int], policy: Optional[str], busy: bool) -> Tuple[str, int]:
    """The output of ``command`` run with ``threads`` (None: the jobs' choice) and ``policy``,
    alone or beside a busy loop, and the thread count it ran with."""
    beside = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
    try:
        if threads is None:
            time.sleep(0.5)  # the busy loop running
            threads = threads_per_process(1)
        env = dict(os.environ, **thread_environment(threads, policy))
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    finally:
        if beside is not None:
            beside.kill()
            beside.wait()
    return result.stdout + result.stderr, threads


def tokens_per_s(threads: Optional[int], policy: Optional[str], busy: bool, steps: int, reps: int) -> Tuple[float, int]:
    """Tokens/s of the layer child and its thread count."""
    output, threads = run_beside([sys.executable, "-c", LAYER.format(steps=steps, reps=reps)], threads, policy, busy)
    return float(output.split()[-1]), threads


def fairseq_tokens_per_s(data: Path, model: List, threads: Optional[int], busy: bool, updates: int) -> Tuple[float, int]:
    """Median logged wps of a short fairseq-train of ``model`` on ``data`` (the first
    interval, which includes start-up, left out), and its thread count."""
    from armin_plugin.jobs.compare_lm import BLOCKS
    from armin_plugin.jobs.fairseq_runs import train_command

    command = train_command([
        data, *BLOCKS, *model, "--tokens-per-sample", 150, "--batch-size", 32, "--optimizer", "adam",
        "--lr", 0.008, "--max-update", updates, "--log-interval", 10, "--log-format", "simple",
        "--disable-validation", "--no-save", "--cpu", "--num-workers", 0,
    ])
    output, threads = run_beside(command, threads, None, busy)
    return statistics.median(float(value) for value in WPS.findall(output)[1:]), threads


def print_row(name: str, policy: Optional[str], quiet: Tuple[float, int], busy: Tuple[float, int], jobs: bool):
    threads = f"jobs: {quiet[1]} / {busy[1]}" if jobs else str(quiet[1])
    print(f"| {name} | {threads} | {policy or 'default'} | {quiet[0]:,.0f} | {busy[0]:,.0f} | "
          f"{busy[0] / quiet[0]:.2f}x |", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.threads_speed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50, help="layer: time steps per call")
    parser.add_argument("--reps", type=int, default=5, help="layer: timed calls")
    parser.add_argument("--fairseq", type=Path, metavar="DATA", help="time fairseq-train on this PTB-char data-bin")
    parser.add_argument("--updates", type=int, default=40, help="fairseq: updates per run")
    args = parser.parse_args(argv)
    print("| child | threads (alone / beside) | wait policy | quiet tokens/s | beside a busy loop | busy / quiet |")
    print("|---|---|---|---:|---:|---:|")
    if args.fairseq is None:
        for threads, policy in [(1, "PASSIVE"), (2, None), (2, "PASSIVE"), (None, None)]:
            quiet, busy = (tokens_per_s(threads, policy, beside, args.steps, args.reps) for beside in (False, True))
            print_row("ARMIN layer", policy, quiet, busy, threads is None)
        return
    from armin_plugin.jobs.compare_lm import PRESETS, dictionary_size, plan_runs

    runs = plan_runs("main", PRESETS["quick"], dictionary_size(args.fairseq), 1)
    for run in (run for run in runs if run.name in ("ARMIN", "LSTM")):
        for threads in (1, 2, None):
            quiet, busy = (fairseq_tokens_per_s(args.fairseq, run.model, threads, beside, args.updates)
                           for beside in (False, True))
            print_row(f"fairseq-train {run.model[1]}", None, quiet, busy, threads is None)


if __name__ == "__main__":
    main()
