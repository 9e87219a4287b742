"""A run that ends inside an epoch exits with status 0: the plugin ends fairseq's
data-prefetch thread before Python shuts down (without that, a thread caught inside
PyTorch's C++ at shutdown aborts the process: ``terminate called without an active
exception``, status -6)."""
import os
import subprocess
import sys
import threading

import pytest
from helpers import REPO

from armin_plugin.training.data_threads import stop_prefetch_threads
from fairseq.data.iterators import BackgroundConsumer, BufferedIterator

# A source that never stops making batches, each a short matrix product: with a buffer that
# never fills, the prefetch thread is almost always inside PyTorch's C++ with the GIL
# released, and comes back for the GIL, from C++, during the interpreter's shutdown (with a
# small buffer it would wait in ``queue.put`` instead, where shutdown ends it harmlessly).
BUSY_PREFETCH = """
import time, torch
from fairseq.data.iterators import BufferedIterator
import armin_plugin

class Busy:
    def __len__(self):
        return 10 ** 6
    def __iter__(self):
        a = torch.randn(200, 200)
        while True:
            yield torch.mm(a, a).sum()

batches = BufferedIterator(10 ** 6, Busy())
print(float(next(batches)) != 0.0)
time.sleep(0.3)
"""


@pytest.mark.slow
def test_process_exits_cleanly_while_the_prefetch_thread_is_busy():
    """Without the plugin's atexit hook this aborts (status -6) in 10 of 10 runs."""
    result = subprocess.run([sys.executable, "-c", BUSY_PREFETCH], cwd=REPO, capture_output=True,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert result.stdout.strip() == "True"


def test_stop_prefetch_threads_ends_a_consumer_in_the_middle_of_an_epoch():
    batches = BufferedIterator(2, list(range(1000)))
    assert [next(batches) for _ in range(3)] == [0, 1, 2]
    consumers = [t for t in threading.enumerate() if isinstance(t, BackgroundConsumer)]
    assert consumers and all(t.is_alive() for t in consumers)
    stop_prefetch_threads(wait_seconds=10)
    assert not any(t.is_alive() for t in consumers)
