"""The decoder of the ``armin`` translation model: an incremental ARMIN decoder with
attention over the encoder outputs and input feeding."""
from typing import Dict, NamedTuple, Optional

import torch
import torch.nn.functional as F
from fairseq.models import FairseqIncrementalDecoder
from fairseq.modules import FairseqDropout
from torch import Tensor, nn

from ..modules import ARMINState
from ..modules.addressing_trace import AddressingTrace
from .armin_encoder import ARMINEncoderOut, side_stack
from .armin_parts import new_embedding, new_linear
from .armin_translation_config import RECURRENT_MAX_POSITIONS, decoder_start, dropout_at
from .memory_metrics import log_memory_use, record_addressing
from .reorder_memory import spare_memory
from .attention import SourceAttention

IncrementalState = Dict[str, Dict[str, Optional[Tensor]]]


class DecoderCache(NamedTuple):
    """What decoding one token at a time carries from step to step.

    hidden (L, B, d_h), memory (L, B, N, d_r), steps (L, B), read_age (L, B, N) or None:
    the ARMIN state (see :class:`ARMINState`); input_feed (B, D): the previous step's
    attentional output.
    """

    hidden: Tensor
    memory: Tensor
    steps: Tensor
    read_age: Optional[Tensor]
    input_feed: Tensor

    @property
    def state(self) -> ARMINState:
        return ARMINState(self.hidden, self.memory, self.steps, self.read_age)

    def index_select(self, order: Tensor, memory_out: Optional[Tensor] = None) -> "DecoderCache":
        """Rows ``order`` (B',) of the batch; B' may be below B (finished sentences);
        ``memory_out`` as in :meth:`ARMINState.index_select`."""
        state = self.state.index_select(order, memory_out)
        return DecoderCache(*state, self.input_feed.index_select(0, order.to(self.input_feed.device)))


class ARMINTranslationDecoder(FairseqIncrementalDecoder):
    """Per target step: [embedding (dropout ``--decoder-dropout-in``) ; previous attentional
    output] -> ARMIN stack -> attention over the source -> dropout (``--decoder-dropout-out``)
    -> attentional output (fed to the next step) -> vocabulary scores.

    The first state is derived from the encoder (``--decoder-start``): by default the decoder
    continues from the encoder's final state (hidden state, memory, step count); with
    ``summary`` h_0 of every layer is tanh(W s) for the encoder summary s and the memory
    starts from its learned p_M.
    ``forward(prev_output_tokens (B, T), encoder_out)`` returns logits (B, T, V) and
    ``{"attn": [weights (B, T, S) or None]}`` (None in fairseq's generation tools unless
    they print alignments). With a non-empty ``incremental_state`` only
    the last token is read and the cache (:class:`DecoderCache`) is continued; without one
    (training, validation) the decoder logs how it read its memory (``armin_entropy``,
    ``armin_slots_read``, ``armin_read_age``).
    """

    def __init__(self, cfg, dictionary, encoder_output_size: int, embed_tokens: Optional[nn.Embedding] = None):
        super().__init__(dictionary)
        self.padding_idx = dictionary.pad()
        self.embed_tokens = embed_tokens or new_embedding(dictionary, cfg.decoder_embed_dim)
        self.dropout_in_module = FairseqDropout(dropout_at(cfg, "decoder_dropout_in"), module_name=type(self).__name__)
        self.dropout_out_module = FairseqDropout(dropout_at(cfg, "decoder_dropout_out"), module_name=type(self).__name__)
        self.out_embed_dim = cfg.decoder_out_embed_dim
        feed_size = 0 if cfg.no_decoder_attention else self.out_embed_dim
        self.armin = side_stack(cfg, "decoder", cfg.decoder_embed_dim + feed_size)
        record_addressing(self.armin)
        self.initial_hidden = None  # W of the summary start
        if decoder_start(cfg) == "summary":
            self.start_from_summary(encoder_output_size)
        if cfg.no_decoder_attention:
            self.attention = None
            self.project_state = new_linear(self.armin.output_size, self.out_embed_dim)
        else:
            self.attention = SourceAttention(self.armin.output_size, encoder_output_size, self.out_embed_dim)
            self.project_state = None
        self.output_projection = None
        if not (cfg.share_decoder_input_output_embed or cfg.share_all_embeddings):
            self.output_projection = new_linear(self.out_embed_dim, len(dictionary))
        self.need_attn = True  # fairseq's inference sets it (make_generation_fast_)

    def forward(
        self,
        prev_output_tokens: Tensor,
        encoder_out: ARMINEncoderOut,
        incremental_state: Optional[IncrementalState] = None,
        features_only: bool = False,
        **unused,
    ):
        features, extra = self.extract_features(prev_output_tokens, encoder_out, incremental_state)
        if not features_only:
            features = self.output_layer(features)
        return features, extra

    def extract_features(
        self,
        prev_output_tokens: Tensor,
        encoder_out: ARMINEncoderOut,
        incremental_state: Optional[IncrementalState] = None,
        **unused,
    ):
        """Attentional outputs (B, T, decoder_out_embed_dim) and ``{"attn": [...]}``."""
        cache = self._get_cache(incremental_state)
        owned = cache is not None  # this decoder's own state: a step may overwrite it
        if owned:
            prev_output_tokens = prev_output_tokens[:, -1:]
        else:
            cache = self.initial_cache(encoder_out)
        embedded = self.dropout_in_module(self.embed_tokens(prev_output_tokens)).transpose(0, 1)
        padding_mask = prev_output_tokens.eq(self.padding_idx).t()  # (T, B)
        state, feed = cache.state, cache.input_feed
        outputs, weights, recorded = [], [], []
        with self.armin.reusing_weights():
            for step, (x, pad) in enumerate(zip(embedded.unbind(0), padding_mask.unbind(0))):
                step_input = x if self.attention is None else torch.cat([x, feed], dim=-1)
                out, state = self.armin(step_input.unsqueeze(0), state, pad.unsqueeze(0) if pad.any() else None,
                                        overwrite_state=owned or step > 0)
                recorded.append([layer.last_trace for layer in self.armin.layers])
                out = out.squeeze(0)
                if self.attention is None:
                    feed = self.dropout_out_module(self.project_state(out))
                else:
                    feed, step_weights = self.attention(out, encoder_out.outputs, encoder_out.padding_mask)
                    feed = self.dropout_out_module(feed)
                    weights.append(step_weights.t())
                outputs.append(feed)
        if incremental_state is not None:
            self._set_cache(incremental_state, DecoderCache(*state, feed))
        else:
            self._log_memory_use(recorded)
        attn = torch.stack(weights, dim=1) if weights and self.need_attn else None  # (B, T, S)
        return torch.stack(outputs, dim=1), {"attn": [attn]}

    def make_generation_fast_(self, need_attn: bool = False, **kwargs):
        """What fairseq's generation tools call (``need_attn``: their --print-alignment), as
        for fairseq's LSTM: without the weights, beam search does not carry a (B, S, T)
        attention buffer that it gathers anew at every step (cubic in the length: 210 s
        against the LSTM's 8.5 s for a paragraph of 1,179 tokens)."""
        self.need_attn = need_attn

    def _log_memory_use(self, steps):
        """Log how the decoder read its memory over the target sentences
        (:func:`.memory_metrics.log_memory_use`, means over the decoder's layers) from what
        each layer recorded at every step (``steps``: per step, per layer, its trace): the
        traces joined into one per layer. A slot that still holds the start memory counts as written at position -1:
        just before the first target step after the summary start; before the first source
        step when the decoder continues from the encoder, whose steps its positions continue
        (so a slot the encoder wrote counts as older than it is; ``armin-inspect`` replays
        the encoder's writes for exact ages)."""
        traces = [AddressingTrace.concat(list(layer_steps)) for layer_steps in zip(*steps)]
        log_memory_use(self.armin, traces=traces)

    @property
    def continues_encoder(self) -> bool:
        """Whether the first state is the encoder's final state (``--decoder-start encoder-state``)."""
        return self.initial_hidden is None

    def start_from_summary(self, encoder_output_size: int):
        """Start from h_0 = tanh(W s) of the encoder summary s (``--decoder-start summary``):
        adds W, (encoder_output_size) -> (layers * d_h), on the decoder's device."""
        self.initial_hidden = new_linear(encoder_output_size, self.armin.num_layers * self.armin.hidden_size)
        self.initial_hidden.to(self.embed_tokens.weight)

    def initial_cache(self, encoder_out: ARMINEncoderOut) -> DecoderCache:
        """The state before the first target token: from the encoder summary, or the
        encoder's final state (``--decoder-start``)."""
        batch_size = encoder_out.summary.size(0)
        feed = encoder_out.summary.new_zeros(batch_size, self.out_embed_dim)
        if self.continues_encoder:
            return DecoderCache(*encoder_out.final, feed)
        start = self.armin.initial_state(batch_size)
        hidden = torch.tanh(self.initial_hidden(encoder_out.summary))
        hidden = hidden.view(batch_size, self.armin.num_layers, -1).transpose(0, 1)
        return DecoderCache(hidden, start.memory, start.steps, start.read_age, feed)

    def output_layer(self, features: Tensor) -> Tensor:
        if self.output_projection is None:
            return F.linear(features, self.embed_tokens.weight)
        return self.output_projection(features)

    def _get_cache(self, incremental_state: Optional[IncrementalState]) -> Optional[DecoderCache]:
        if not incremental_state:
            return None
        cached = self.get_incremental_state(incremental_state, "cache")
        return None if cached is None else DecoderCache(**cached)

    def _set_cache(self, incremental_state: IncrementalState, cache: DecoderCache):
        self.set_incremental_state(incremental_state, "cache", cache._asdict())

    def reorder_incremental_state(self, incremental_state: IncrementalState, new_order: Tensor):
        """Follow beam search: keep rows ``new_order`` of every cached tensor, the memory
        moved into the one the previous reorder left behind (:mod:`.reorder_memory`)."""
        cache = self._get_cache(incremental_state)
        if cache is not None:
            spare = spare_memory(self, incremental_state, cache.memory, new_order.numel())
            self._set_cache(incremental_state, cache.index_select(new_order, spare))

    def max_positions(self) -> int:
        """No limit of its own (:data:`.armin_translation_config.RECURRENT_MAX_POSITIONS`)."""
        return RECURRENT_MAX_POSITIONS
