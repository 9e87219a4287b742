"""Flags of the ``armin`` translation model (an ARMIN encoder-decoder) and their checks."""
from dataclasses import dataclass, field
from typing import Optional

from fairseq.dataclass import ChoiceEnum
from omegaconf import II

from ..errors import ArminError
from .armin_cell_config import ARMINCellConfig
from .flag_checks import require_annealing_temperatures, require_positive_integers

# A recurrent model reads a sequence of any length: the encoder and decoder declare the limit
# fairseq's LSTM declares by default, and the task's --max-source-positions and
# --max-target-positions (1,024 unless given) are what filter the data.
RECURRENT_MAX_POSITIONS = 100_000
DEFAULT_DECODER_START = "encoder-state"  # "summary" in older runs (docs/translation.md)


@dataclass
class ARMINTranslationConfig(ARMINCellConfig):
    encoder_embed_dim: int = field(default=256, metadata={"help": "source embedding size"})
    encoder_hidden_size: int = field(default=256, metadata={"help": "d_h of the encoder"})
    encoder_slot_size: int = field(default=64, metadata={"help": "d_r of the encoder"})
    encoder_slots: int = field(default=16, metadata={"help": "N: memory slots of the encoder"})
    encoder_layers: int = field(default=1, metadata={"help": "stacked ARMIN layers of the encoder"})
    encoder_bidirectional: bool = field(
        default=False,
        metadata={"help": "add a backward ARMIN stack; both outputs are concatenated and projected"},
    )
    decoder_embed_dim: int = field(default=256, metadata={"help": "target embedding size"})
    decoder_hidden_size: int = field(default=256, metadata={"help": "d_h of the decoder"})
    decoder_slot_size: int = field(default=64, metadata={"help": "d_r of the decoder"})
    decoder_slots: int = field(default=16, metadata={"help": "N: memory slots of the decoder"})
    decoder_layers: int = field(default=1, metadata={"help": "stacked ARMIN layers of the decoder"})
    decoder_out_embed_dim: int = field(
        default=256, metadata={"help": "size of the attention output fed to the output projection"}
    )
    decoder_start: ChoiceEnum(["summary", "encoder-state"]) = field(
        default=DEFAULT_DECODER_START,
        metadata={"help": "the decoder's first state: encoder-state = the encoder's final hidden state, "
                          "memory and step count, as fairseq's LSTM starts from the encoder's final state "
                          "(needs equal encoder and decoder sizes); summary = h_0 tanh(W s) of the mean "
                          "encoder output s, memory from its learned p_M (the default of older checkpoints)"},
    )
    no_decoder_attention: bool = field(
        default=False,
        metadata={"help": "no attention over the encoder outputs (and no input feeding)"},
    )
    share_decoder_input_output_embed: bool = field(
        default=False, metadata={"help": "tie the decoder's input embeddings and output projection"}
    )
    share_all_embeddings: bool = field(
        default=False,
        metadata={"help": "one embedding table for source, target and output (joined dictionary)"},
    )
    dropout: float = field(
        default=0.1, metadata={"help": "dropout on embeddings and outputs: the default of the four below"}
    )
    encoder_dropout_in: Optional[float] = field(
        default=None, metadata={"help": "dropout on the source embeddings (default: --dropout)"}
    )
    encoder_dropout_out: Optional[float] = field(
        default=None, metadata={"help": "dropout on the encoder outputs (default: --dropout)"}
    )
    decoder_dropout_in: Optional[float] = field(
        default=None, metadata={"help": "dropout on the target embeddings (default: --dropout)"}
    )
    decoder_dropout_out: Optional[float] = field(
        default=None,
        metadata={"help": "dropout on the attentional output, fed to the next step and the output projection "
                          "(default: --dropout)"},
    )
    # the task's limits, recorded in the checkpoint as fairseq's models record them; the model's
    # own is RECURRENT_MAX_POSITIONS
    max_source_positions: Optional[int] = II("task.max_source_positions")
    max_target_positions: Optional[int] = II("task.max_target_positions")


DROPOUTS = ("encoder_dropout_in", "encoder_dropout_out", "decoder_dropout_in", "decoder_dropout_out")


def dropout_at(cfg, name: str) -> float:
    """The dropout of ``name`` (one of :data:`DROPOUTS`): its flag, or else ``--dropout`` (also
    for checkpoints saved before these flags existed)."""
    value = getattr(cfg, name, None)
    return cfg.dropout if value is None else value


def decoder_start(cfg) -> str:
    """``--decoder-start``, or its default where it is unset (fairseq's CLI leaves it unset
    when it calls the architecture function). Checkpoints saved before the flag existed
    are given back their summary start by their weights
    (:meth:`ARMINTranslationModel.upgrade_state_dict_named`)."""
    return str(getattr(cfg, "decoder_start", None) or DEFAULT_DECODER_START)


def check_translation_flags(cfg, task):
    """Refuse flag values that cannot build the model, naming the flag."""
    for name in ("dropout", *DROPOUTS):
        if not 0.0 <= dropout_at(cfg, name) < 1.0:
            raise ArminError(f"--{name.replace('_', '-')} must be in [0, 1), got {dropout_at(cfg, name)}")
    require_positive_integers(
        cfg,
        *(f"{side}_{name}" for side in ("encoder", "decoder")
          for name in ("embed_dim", "hidden_size", "slot_size", "slots", "layers")),
        "decoder_out_embed_dim",
    )
    require_annealing_temperatures(cfg)
    if cfg.share_all_embeddings:
        if task.source_dictionary != task.target_dictionary:
            raise ArminError("--share-all-embeddings needs a joined dictionary (fairseq-preprocess --joined-dictionary)")
        if cfg.encoder_embed_dim != cfg.decoder_embed_dim:
            raise ArminError(
                f"--share-all-embeddings needs --encoder-embed-dim ({cfg.encoder_embed_dim}) "
                f"equal to --decoder-embed-dim ({cfg.decoder_embed_dim})"
            )
    if (cfg.share_decoder_input_output_embed or cfg.share_all_embeddings) and (
        cfg.decoder_out_embed_dim != cfg.decoder_embed_dim
    ):
        raise ArminError(
            f"tied output embeddings need --decoder-out-embed-dim ({cfg.decoder_out_embed_dim}) "
            f"equal to --decoder-embed-dim ({cfg.decoder_embed_dim})"
        )
    if decoder_start(cfg) == "encoder-state":
        unequal = [f"--encoder-{name.replace('_', '-')} {getattr(cfg, 'encoder_' + name)} against "
                   f"--decoder-{name.replace('_', '-')} {getattr(cfg, 'decoder_' + name)}"
                   for name in ("hidden_size", "slot_size", "slots", "layers")
                   if getattr(cfg, f"encoder_{name}") != getattr(cfg, f"decoder_{name}")]
        if unequal:
            raise ArminError(f"--decoder-start encoder-state needs the decoder sized as the encoder: {', '.join(unequal)} "
                             "(or --decoder-start summary)")
