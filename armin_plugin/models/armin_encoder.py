"""The encoder of the ``armin`` translation model: ARMIN stacks over source embeddings."""
from typing import NamedTuple, Optional

import torch
from fairseq.models import FairseqEncoder
from fairseq.modules import FairseqDropout
from torch import Tensor, nn

from ..modules import ARMIN, ARMINState
from .armin_parts import armin_stack, new_embedding, new_linear
from .armin_translation_config import RECURRENT_MAX_POSITIONS, dropout_at


class ARMINEncoderOut(NamedTuple):
    """outputs: (T, B, C) per source position; padding_mask: (T, B) True at pads;
    summary: (B, C) mean of the outputs over each sentence's real positions; final: the
    forward stack's state after each sentence's last real token."""

    outputs: Tensor
    padding_mask: Tensor
    summary: Tensor
    final: ARMINState

    def index_select(self, order: Tensor) -> "ARMINEncoderOut":
        """Rows ``order`` (B',) of the batch (beam search)."""
        return ARMINEncoderOut(
            self.outputs.index_select(1, order),
            self.padding_mask.index_select(1, order),
            self.summary.index_select(0, order),
            self.final.index_select(order),
        )


def side_stack(cfg, side: str, input_size: int) -> ARMIN:
    """The ARMIN stack of ``side`` ("encoder" or "decoder") sized by its ``--SIDE-*`` flags."""
    sizes = (getattr(cfg, f"{side}_{name}") for name in ("hidden_size", "slot_size", "slots", "layers"))
    return armin_stack(cfg, input_size, *sizes)


class ARMINEncoder(FairseqEncoder):
    """Embeddings -> dropout (``--encoder-dropout-in``) -> ARMIN stack (and, bidirectional, a
    second stack reading the sentence backwards; both outputs concatenated and projected) ->
    dropout (``--encoder-dropout-out``).

    Pad steps change no ARMIN state, so left- and right-padded batches give every sentence
    the outputs it gets alone. The backward stack reads the time-flipped batch: a
    right-padded row then starts with its pads, which it skips.
    """

    def __init__(self, cfg, dictionary, embed_tokens: Optional[nn.Embedding] = None):
        super().__init__(dictionary)
        self.padding_idx = dictionary.pad()
        self.embed_tokens = embed_tokens or new_embedding(dictionary, cfg.encoder_embed_dim)
        self.dropout_in_module = FairseqDropout(dropout_at(cfg, "encoder_dropout_in"), module_name=type(self).__name__)
        self.dropout_out_module = FairseqDropout(dropout_at(cfg, "encoder_dropout_out"), module_name=type(self).__name__)
        self.forward_stack = side_stack(cfg, "encoder", cfg.encoder_embed_dim)
        self.output_size = self.forward_stack.output_size
        self.backward_stack = None
        self.project_directions = None
        if cfg.encoder_bidirectional:
            self.backward_stack = side_stack(cfg, "encoder", cfg.encoder_embed_dim)
            self.project_directions = new_linear(2 * self.output_size, self.output_size)

    def forward(self, src_tokens: Tensor, src_lengths: Optional[Tensor] = None, **unused) -> ARMINEncoderOut:
        """src_tokens: (B, T), padded on either side; src_lengths are not needed."""
        padding_mask = src_tokens.eq(self.padding_idx).t()  # (T, B)
        x = self.dropout_in_module(self.embed_tokens(src_tokens)).transpose(0, 1)  # (T, B, E)
        step_mask = padding_mask if padding_mask.any() else None
        outputs, final = self.forward_stack(x, padding_mask=step_mask)
        if self.backward_stack is not None:
            flipped_mask = None if step_mask is None else step_mask.flip(0)
            backward, _ = self.backward_stack(x.flip(0), padding_mask=flipped_mask)
            outputs = self.project_directions(torch.cat([outputs, backward.flip(0)], dim=-1))
        outputs = self.dropout_out_module(outputs)
        real = (~padding_mask).unsqueeze(-1).type_as(outputs)
        summary = (outputs * real).sum(0) / real.sum(0).clamp(min=1)
        return ARMINEncoderOut(outputs, padding_mask, summary, final)

    def reorder_encoder_out(self, encoder_out: ARMINEncoderOut, new_order: Tensor) -> ARMINEncoderOut:
        return encoder_out.index_select(new_order)

    def max_positions(self) -> int:
        """No limit of its own (:data:`.armin_translation_config.RECURRENT_MAX_POSITIONS`)."""
        return RECURRENT_MAX_POSITIONS
