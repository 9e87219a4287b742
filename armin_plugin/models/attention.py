"""Global attention of a decoder state over the encoder outputs (Luong et al., 2015, "general")."""
from typing import Tuple

import torch
from torch import Tensor, nn

from .armin_parts import new_linear


class SourceAttention(nn.Module):
    """score(q, s_t) = (W_q q) . s_t, softmax over the real source positions, context
    c = sum_t a_t s_t, output tanh(W_o [c ; q]); W_q and W_o start in [-0.1, 0.1] as in
    fairseq's LSTM attention.

    query_size: the decoder state size; source_size: encoder output size C;
    output_size: the size of the attentional output (fed back as input feeding).
    """

    def __init__(self, query_size: int, source_size: int, output_size: int):
        super().__init__()
        self.query_projection = new_linear(query_size, source_size, bias=False)
        self.output_projection = new_linear(source_size + query_size, output_size, bias=False)

    def forward(self, query: Tensor, source: Tensor, padding_mask: Tensor) -> Tuple[Tensor, Tensor]:
        """query (B, Q); source (S, B, C); padding_mask (S, B) True at pads.
        Returns the attentional output (B, output_size) and the weights (S, B)."""
        # products and sums rather than einsum: on the CPU einsum's batched (1 x C)(C x S)
        # products copy every row, forward and backward (14% of a training step)
        scores = (source * self.query_projection(query).unsqueeze(0)).sum(dim=2)
        weights = scores.masked_fill(padding_mask, float("-inf")).softmax(dim=0)
        context = (weights.unsqueeze(2) * source).sum(dim=0)
        return torch.tanh(self.output_projection(torch.cat([context, query], dim=-1))), weights
