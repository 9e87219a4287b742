r"""A token corpus as parallel contiguous streams, cut into segments for truncated BPTT.

How ``--task armin_tbptt_lm`` lays out one split (``n`` tokens: every line of the split,
each ending in eos, joined in order), with B = ``--batch-size`` (streams per process),
W = world size (data-parallel ranks), T = ``--tokens-per-sample``::

    corpus   t_0 t_1 t_2 ...................................................... t_{n-1}
             \_______ L _______/\_______ L _______/ ... \_______ L _______/ (dropped: n - S L)
             cut into S = B x W streams of L = n // S tokens each

                  segment 0       segment 1             segment K-1 (may be shorter)
                 |<--- T --->|   |<--- T --->|         |<-- <= T -->|
    stream 0     t_0 ...         t_T ...          ...                    \
    ...                                                                   > rank 0: rows 0..B-1
    stream B-1   t_{(B-1)L} ...                                          /
    stream B     t_{BL} ...                                              \
    ...                                                                   > rank 1: rows 0..B-1
    stream 2B-1                                                          /
    ...                                                                  (ranks 2..W-1)

    item i of rank r = one batch: segment i of its B streams
        inputs  (B, <= T) = stream[.., i T     : i T + T    ]
        targets (B, <= T) = stream[.., i T + 1 : i T + T + 1]      (the next token)
    K = ceil((L - 1) / T) items; row b of item i + 1 continues row b of item i, so the
    model carries each row's state from batch to batch (detached).

Every rank sees the same number of items K, so the ranks stay in step.
"""
from typing import Tuple

from fairseq.data import FairseqDataset
from torch import Tensor

from ..errors import ArminError


class StreamSegments(FairseqDataset):
    """Batches over ``rows_per_rank x world_size`` contiguous streams of one token sequence.

    The corpus (N,) is cut into ``rows_per_rank * world_size`` equal streams (the remainder
    is dropped); rank r owns streams [r * rows_per_rank, (r + 1) * rows_per_rank). Item i is
    the i-th segment of every owned stream: inputs (rows, T) and targets (rows, T) shifted by
    one token, so row b of item i + 1 continues row b of item i. The last segment may be
    shorter than T.
    """

    def __init__(
        self, tokens: Tensor, rows_per_rank: int, segment_length: int, rank: int = 0,
        world_size: int = 1,
    ):
        if rows_per_rank < 1 or segment_length < 1:
            raise ArminError(
                f"stream batches need a positive batch size and segment length, got "
                f"{rows_per_rank} and {segment_length}"
            )
        if not 0 <= rank < world_size:
            raise ArminError(f"rank {rank} is outside a world of {world_size}")
        rows = rows_per_rank * world_size
        length = tokens.numel() // rows
        if length < 2:
            raise ArminError(
                f"{tokens.numel():,} tokens are too few for {rows} streams of at least 2 tokens"
            )
        streams = tokens[: rows * length].view(rows, length)
        self.streams = streams[rank * rows_per_rank : (rank + 1) * rows_per_rank].contiguous()
        self.segment_length = segment_length
        self.rank = rank
        self.world_size = world_size

    def __len__(self) -> int:
        return -(-(self.streams.size(1) - 1) // self.segment_length)

    def __getitem__(self, index: int) -> Tuple[int, Tensor, Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        start = index * self.segment_length
        end = min(start + self.segment_length, self.streams.size(1) - 1)
        inputs = self.streams[:, start:end].contiguous()
        return index, inputs, self.streams[:, start + 1 : end + 1].contiguous()
