"""``lstm_stream_lm``: a plain LSTM language model that carries its state like ``armin_lm``.

The baseline for ``--task armin_tbptt_lm``: fairseq's ``lstm_lm`` starts every batch from
zeros, so a like-for-like comparison of stream training needs an LSTM that keeps (h, c)
between segments. Uses ``nn.LSTM`` (fused kernels).
"""
from dataclasses import dataclass, field
from typing import NamedTuple, Optional

from fairseq.dataclass import FairseqDataclass
from fairseq.models import FairseqDecoder, FairseqLanguageModel, register_model
from fairseq.modules import FairseqDropout
from omegaconf import II
import torch
from torch import Tensor, nn

from ..training.carried_state import CarriedStates
from .flag_checks import require_positive_integers


class LSTMState(NamedTuple):
    """h, c: (L, B, H) each."""

    hidden: Tensor
    cell: Tensor


@dataclass
class LSTMStreamLanguageModelConfig(FairseqDataclass):
    decoder_embed_dim: int = field(default=256, metadata={"help": "token embedding size"})
    decoder_hidden_size: int = field(default=512, metadata={"help": "LSTM hidden size"})
    decoder_layers: int = field(default=1, metadata={"help": "stacked LSTM layers"})
    dropout: float = field(default=0.1, metadata={"help": "dropout on embeddings and outputs"})
    lstm_forget_bias: float = field(
        default=0.0,
        metadata={"help": "forget-gate bias at initialisation: the forget part of each layer's "
                          "input bias set to this, the hidden bias part to 0 (1.0: the usual "
                          "trick); 0 keeps PyTorch's default init of both"},
    )
    max_target_positions: Optional[int] = II("task.max_target_positions")


def set_forget_bias(lstm: nn.LSTM, value: float):
    """Every layer's forget gate starts at ``value``: rows [H, 2H) of ``bias_ih_l{k}`` (gates
    i, f, g, o) set to it, the same rows of ``bias_hh_l{k}`` to 0."""
    hidden = lstm.hidden_size
    with torch.no_grad():
        for layer in range(lstm.num_layers):
            getattr(lstm, f"bias_ih_l{layer}")[hidden:2 * hidden] = value
            getattr(lstm, f"bias_hh_l{layer}")[hidden:2 * hidden] = 0.0


class LSTMStreamDecoder(FairseqDecoder):
    """Embedding -> dropout -> nn.LSTM -> dropout -> Linear; logits (B, T, V)."""

    def __init__(self, cfg, dictionary):
        super().__init__(dictionary)
        self.embed_tokens = nn.Embedding(len(dictionary), cfg.decoder_embed_dim, dictionary.pad())
        self.dropout_module = FairseqDropout(cfg.dropout, module_name=type(self).__name__)
        self.lstm = nn.LSTM(cfg.decoder_embed_dim, cfg.decoder_hidden_size, cfg.decoder_layers)
        if cfg.lstm_forget_bias:
            set_forget_bias(self.lstm, cfg.lstm_forget_bias)
        self.output_projection = nn.Linear(cfg.decoder_hidden_size, len(dictionary))
        self.max_target_positions = cfg.max_target_positions or 100000
        self.carried = CarriedStates(LSTMState)

    def forward(self, prev_output_tokens: Tensor, stream_key: Optional[str] = None,
                stream_position: int = 0, state: Optional[LSTMState] = None, **unused):
        if stream_key is not None:
            state = self.carried.take(
                stream_key, stream_position, prev_output_tokens.size(0), prev_output_tokens.device
            )
        x = self.dropout_module(self.embed_tokens(prev_output_tokens)).transpose(0, 1)
        x, (hidden, cell) = self.lstm(x, state)
        final = LSTMState(hidden, cell)
        if stream_key is not None:
            self.carried.keep(stream_key, stream_position, final)
        x = self.dropout_module(x.transpose(0, 1))
        return self.output_projection(x), {"attn": [None], "state": final}

    def max_positions(self) -> int:
        return self.max_target_positions


@register_model("lstm_stream_lm", dataclass=LSTMStreamLanguageModelConfig)
class LSTMStreamLanguageModel(FairseqLanguageModel):
    @classmethod
    def build_model(cls, cfg: LSTMStreamLanguageModelConfig, task):
        require_positive_integers(cfg, "decoder_embed_dim", "decoder_hidden_size", "decoder_layers")
        return cls(LSTMStreamDecoder(cfg, task.target_dictionary))
