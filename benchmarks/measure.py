"""Timing and memory measurement shared by the benchmarks."""
import statistics
import time
from typing import Callable, Dict, Hashable, List

import torch


def synchronize(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_medians(runs: Dict[Hashable, Callable[[], None]], reps: int,
                        device: torch.device, warmup: int = 1) -> Dict[Hashable, float]:
    """Median seconds of each callable over ``reps`` rounds.

    Every round runs each callable once in turn, so that the load of a shared machine
    falls on all of them alike and their ratios are fair.
    """
    for run in runs.values():
        for _ in range(warmup):
            run()
    times: Dict[Hashable, List[float]] = {name: [] for name in runs}
    for _ in range(reps):
        for name, run in runs.items():
            synchronize(device)
            start = time.perf_counter()
            run()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def saved_tensor_bytes(run: Callable[[], Callable[[], None]]) -> int:
    """Bytes of the distinct storages that autograd keeps for backward during ``run()``.

    ``run`` does a forward pass and returns a callable that finishes it (the backward).
    Tensors saved by built-in ops and by custom autograd Functions all go through
    ``saved_tensors_hooks``; a storage saved several times (views) counts once. On CPU this
    is the activation memory of training, the part that grows with T, B and N; parameters,
    gradients and transient buffers are not in it.
    """
    storages: Dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        finish = run()
    finish()
    return sum(storages.values())


def peak_training_bytes(run: Callable[[], Callable[[], None]], device: torch.device) -> int:
    """Peak memory of a forward + backward: the allocator's peak above the start on CUDA,
    :func:`saved_tensor_bytes` on CPU."""
    if device.type != "cuda":
        return saved_tensor_bytes(run)
    synchronize(device)
    start = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    run()()
    synchronize(device)
    return torch.cuda.max_memory_allocated(device) - start
