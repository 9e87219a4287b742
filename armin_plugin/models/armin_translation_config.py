"""Flags of the ``armin`` translation model (an ARMIN encoder-decoder) and their checks."""
from dataclasses import dataclass, field
from typing import Optional

from omegaconf import II

from ..errors import ArminError
from .armin_cell_config import ARMINCellConfig
from .flag_checks import require_annealing_temperatures, require_positive_integers

DEFAULT_MAX_POSITIONS = 1024


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
    dropout: float = field(default=0.1, metadata={"help": "dropout on embeddings and outputs"})
    max_source_positions: Optional[int] = II("task.max_source_positions")
    max_target_positions: Optional[int] = II("task.max_target_positions")


def check_translation_flags(cfg, task):
    """Refuse flag values that cannot build the model, naming the flag."""
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
    for name in ("max_source_positions", "max_target_positions"):
        if getattr(cfg, name) is None:
            setattr(cfg, name, DEFAULT_MAX_POSITIONS)
