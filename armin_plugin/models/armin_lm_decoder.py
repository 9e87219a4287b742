"""The decoder of ``armin_lm``: embeddings, an ARMIN stack and an output projection."""
from typing import Dict, NamedTuple, Optional

import torch
import torch.nn.functional as F
from fairseq.models import FairseqIncrementalDecoder
from fairseq.modules import AdaptiveSoftmax, FairseqDropout
from torch import Tensor, nn

from ..modules import ARMINState
from ..training.memory_board import MemoryBoard
from ..training.nonfinite import NonFiniteLoss
from .armin_parts import armin_stack, new_embedding
from .memory_metrics import log_memory_use, record_addressing
from .reorder_memory import spare_memory
from ..training.carried_state import CarriedStates

IncrementalState = Dict[str, Dict[str, Optional[Tensor]]]


class SlotClock(NamedTuple):
    """written_at: (L, B, N) step at which each slot of each row was last written."""

    written_at: Tensor


class ARMINLanguageModelDecoder(FairseqIncrementalDecoder):
    """Token embeddings -> dropout -> ARMIN stack -> dropout -> vocabulary scores.

    ``forward(prev_output_tokens (B, T))`` returns logits (B, T, V) (or the features when
    an adaptive softmax is used) and ``{"attn": [None], "state": ARMINState}``. With a
    non-empty ``incremental_state`` only the last token is read and the ARMIN state is taken
    from, and stored back into, the cache; pad tokens change no state.
    """

    def __init__(self, cfg, dictionary):
        super().__init__(dictionary)
        self.padding_idx = dictionary.pad()
        self.embed_tokens = new_embedding(dictionary, cfg.decoder_embed_dim)
        self.dropout_module = FairseqDropout(cfg.dropout, module_name=type(self).__name__)
        self.armin = armin_stack(
            cfg, cfg.decoder_embed_dim, cfg.armin_hidden_size, cfg.armin_slot_size, cfg.armin_slots,
            cfg.armin_layers,
        )
        features = self.armin.output_size
        self.max_target_positions = cfg.max_target_positions
        self.num_updates = 0
        self.carried = CarriedStates(ARMINState)
        self.slot_clocks = CarriedStates(SlotClock)
        record_addressing(self.armin)
        self.memory_board = MemoryBoard(getattr(cfg, "tensorboard_logdir", None))
        self.adaptive_softmax = None
        self.project_out = None
        self.output_projection = None
        if cfg.adaptive_softmax_cutoff is not None:
            self.adaptive_softmax = AdaptiveSoftmax(
                len(dictionary),
                features,
                [int(c) for c in cfg.adaptive_softmax_cutoff.split(",")],
                dropout=cfg.adaptive_softmax_dropout,
            )
        elif cfg.share_decoder_input_output_embed:
            if features != cfg.decoder_embed_dim:
                self.project_out = nn.Linear(features, cfg.decoder_embed_dim)
        else:
            self.output_projection = nn.Linear(features, len(dictionary))

    def set_num_updates(self, num_updates: int):
        """The update count, for error messages and the memory board (fairseq's model passes
        it to every module with this method, the ARMIN stack included)."""
        self.num_updates = num_updates

    def forward(
        self,
        prev_output_tokens: Tensor,
        encoder_out=None,
        incremental_state: Optional[IncrementalState] = None,
        features_only: bool = False,
        state: Optional[ARMINState] = None,
        stream_key: Optional[str] = None,
        stream_position: int = 0,
        **unused,
    ):
        """``stream_key``/``stream_position`` (from ``--task armin_tbptt_lm``): continue the
        state carried for these streams from the previous segment, and keep the new one."""
        if stream_key is not None:
            state = self.carried.take(
                stream_key, stream_position, prev_output_tokens.size(0), prev_output_tokens.device
            )
        features, extra = self.extract_features(prev_output_tokens, incremental_state, state)
        if stream_key is not None:
            self.carried.keep(stream_key, stream_position, extra["state"])
        if incremental_state is None:
            self._log_memory_use(stream_key, stream_position, prev_output_tokens.size(0))
            self._show_memory(prev_output_tokens)
        if not features_only:
            features = self.output_layer(features)
        if self.training and torch.is_grad_enabled() and not torch.isfinite(features).all():
            raise NonFiniteLoss(self.num_updates + 1, "the output of armin_lm")
        return features, extra

    def extract_features(
        self,
        prev_output_tokens: Tensor,
        incremental_state: Optional[IncrementalState] = None,
        state: Optional[ARMINState] = None,
    ):
        """Features (B, T, d_h + d_r, or embed dim when tied) and the final ARMIN state.

        ``state`` continues from an explicit :class:`ARMINState` (e.g. truncated BPTT);
        a cached incremental state takes precedence.
        """
        cached = self._get_cached_state(incremental_state)
        if cached is not None:
            prev_output_tokens = prev_output_tokens[:, -1:]
            state = cached
        x = self.dropout_module(self.embed_tokens(prev_output_tokens))
        padding_mask = prev_output_tokens.eq(self.padding_idx)
        x, state = self.armin(
            x.transpose(0, 1),
            state,
            padding_mask.t() if padding_mask.any() else None,
            # a cached state is the decoder's own (see reorder_incremental_state)
            overwrite_state=cached is not None,
        )
        if incremental_state is not None:
            self._set_cached_state(incremental_state, state)
        x = self.dropout_module(x.transpose(0, 1))
        if self.project_out is not None:
            x = self.project_out(x)
        return x, {"attn": [None], "state": state}

    def _log_memory_use(self, stream_key: Optional[str], stream_position: int, batch_size: int):
        """Log how the memory was read (:func:`.memory_metrics.log_memory_use`); slot ages
        continue across the segments of a stream."""
        clock = None
        if stream_key is not None:
            device = self.embed_tokens.weight.device
            clock = self.slot_clocks.take(stream_key, stream_position, batch_size, device)
        written_at = log_memory_use(self.armin, None if clock is None else clock.written_at)
        if stream_key is not None:
            self.slot_clocks.keep(stream_key, stream_position, SlotClock(torch.stack(written_at)))

    def _show_memory(self, tokens: Tensor):
        """TensorBoard pictures of the memory at the first batch of each validation
        (:class:`~armin_plugin.training.memory_board.MemoryBoard`, under --tensorboard-logdir)."""
        if self.training:
            self.memory_board.trained(self.num_updates)
        elif self.memory_board.armed:
            real = tokens.ne(self.padding_idx)
            row = int(real.sum(1).argmax())  # the first of the longest rows (fairseq sorts short ones first)
            labels = [self.dictionary[index] for index in tokens[row][real[row]].tolist()]
            self.memory_board.evaluated([layer.last_trace for layer in self.armin.layers], row, labels)

    def output_layer(self, features: Tensor) -> Tensor:
        if self.adaptive_softmax is not None:
            return features
        if self.output_projection is None:
            return F.linear(features, self.embed_tokens.weight)
        return self.output_projection(features)

    def _get_cached_state(self, incremental_state) -> Optional[ARMINState]:
        if not incremental_state:
            return None
        cached = self.get_incremental_state(incremental_state, "armin_state")
        if cached is None:
            return None
        return ARMINState(**cached)

    def _set_cached_state(self, incremental_state: IncrementalState, state: ARMINState):
        self.set_incremental_state(incremental_state, "armin_state", state._asdict())

    def reorder_incremental_state(self, incremental_state: IncrementalState, new_order: Tensor):
        """Follow beam search: keep rows ``new_order`` (may be fewer than the batch), the
        memory moved into the one the previous reorder left behind (:mod:`.reorder_memory`)."""
        cached = self._get_cached_state(incremental_state)
        if cached is not None:
            spare = spare_memory(self, incremental_state, cached.memory, new_order.numel())
            self._set_cached_state(incremental_state, cached.index_select(new_order, spare))

    def max_positions(self) -> int:
        return self.max_target_positions
