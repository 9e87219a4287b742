"""Stopping fairseq's data-prefetch threads before Python shuts down.

fairseq's ``BufferedIterator`` fills its buffer from a daemon thread (``BackgroundConsumer``)
that runs the DataLoader: it unpickles batches and frees tensors. A run that ends inside an
epoch (``--max-update``, a clean stop on SIGINT/SIGTERM, a time budget) leaves that thread
running. On Python 3.11 a daemon thread that asks for the GIL while the interpreter shuts
down is ended with ``pthread_exit``. If the thread is inside PyTorch's C++ at that moment
(freeing a tensor takes the GIL in a ``noexcept`` destructor), the C++ runtime aborts:
``terminate called without an active exception``, exit status -6 after a run that had
finished and saved. Whether it happens depends on timing: 4 of 60 clean stops of a small
translation run on a busy machine, 0 of 60 with this module.

:func:`stop_prefetch_threads` is registered with ``atexit`` by ``armin_plugin/__init__.py``.
``atexit`` handlers run before the interpreter starts shutting down, most recently
registered first; the plugin is imported after fairseq and PyTorch, so it runs before
their handlers. It asks each consumer to stop after the batch in hand and drains its buffer
until the thread has ended.
"""
import logging
import queue
import sys
import threading
import time

logger = logging.getLogger(__name__)

WAIT_SECONDS = 30.0


def _live_consumers():
    iterators = sys.modules.get("fairseq.data.iterators")
    if iterators is None:
        return []
    return [thread for thread in threading.enumerate()
            if isinstance(thread, iterators.BackgroundConsumer) and thread.is_alive()]


def _drain(buffer: queue.Queue):
    try:
        while True:
            buffer.get_nowait()
    except queue.Empty:
        pass


def stop_prefetch_threads(wait_seconds: float = WAIT_SECONDS):
    """End every live fairseq ``BackgroundConsumer``: at most ``wait_seconds`` in all."""
    deadline = time.monotonic() + wait_seconds
    for consumer in _live_consumers():
        # The consumer stops once it has put as many batches as this (the epoch's length,
        # or what ``BufferedIterator.take`` left of it); 0 ends it after the batch in hand.
        consumer._max_len = 0
        while consumer.is_alive() and time.monotonic() < deadline:
            _drain(consumer._queue)
            consumer.join(timeout=0.05)
        if consumer.is_alive():
            logger.debug("fairseq's data-prefetch thread did not stop within %.0f s", wait_seconds)

