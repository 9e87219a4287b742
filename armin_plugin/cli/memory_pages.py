"""Huge pages for the large tensors of a child training process.

torch's CPU allocator keeps no cache: every training step allocates its activations and
gradients afresh, and the first write to each new 4 kB page is a page fault. On this
project's 2-core virtual machines that costs about 0.4 ms per MB (a fresh 30 MB tensor takes
11 ms to fill, a reused one 1 ms). With ``THP_MEM_ALLOC_ENABLE=1`` torch aligns every
allocation of 2 MB or more to 2 MB and asks the kernel for transparent huge pages
(``madvise``), which take one fault per 2 MB (3 ms for the same fill); where the kernel's
huge pages are off, the setting changes nothing but the alignment.

Measured with ``fairseq-train`` on PTB-char at the main job's quick sizes, one thread, 80
updates, the last logged tokens/s of two runs each, without and with the setting:
``armin_lm`` over blocks 18.0k -> 19.6k, ``lstm_lm`` 15.3k -> 15.3k, over streams
(``armin_tbptt_lm``) ``armin_lm`` 17.9k -> 19.1k and ``lstm_stream_lm`` (nn.LSTM) 20.4k -> 23.2k.
"""
import os
from typing import Dict

VARIABLE = "THP_MEM_ALLOC_ENABLE"


def huge_page_environment() -> Dict[str, str]:
    """What a child's environment adds for huge pages: THP_MEM_ALLOC_ENABLE=1, unless this
    environment sets the variable already (a user's choice, 0 included, is kept)."""
    return {} if VARIABLE in os.environ else {VARIABLE: "1"}
