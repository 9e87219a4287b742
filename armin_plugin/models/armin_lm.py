"""``armin_lm``: an ARMIN language model for fairseq, and its named architectures."""
from dataclasses import dataclass, field
from typing import Optional

from fairseq.models import FairseqLanguageModel, register_model
from omegaconf import II

from ..training.interrupt import stop_cleanly_on_signals
from ..training.restore_file import check_restore_file
from .armin_lm_decoder import ARMINLanguageModelDecoder
from .armin_cell_config import ARMINCellConfig
from .architectures import register_architecture
from .flag_checks import require_annealing_temperatures, require_positive_integers

DEFAULT_MAX_TARGET_POSITIONS = 100000


@dataclass
class ARMINLanguageModelConfig(ARMINCellConfig):
    decoder_embed_dim: int = field(default=256, metadata={"help": "token embedding size"})
    armin_hidden_size: int = field(default=512, metadata={"help": "d_h: ARMIN state size"})
    armin_slot_size: int = field(default=128, metadata={"help": "d_r: size of one memory slot"})
    armin_slots: int = field(default=16, metadata={"help": "N: number of memory slots"})
    armin_layers: int = field(default=1, metadata={"help": "number of stacked ARMIN layers"})
    dropout: float = field(default=0.1, metadata={"help": "dropout on embeddings and outputs"})
    share_decoder_input_output_embed: bool = field(
        default=False, metadata={"help": "tie input embeddings and output projection"}
    )
    adaptive_softmax_cutoff: Optional[str] = field(
        default=None,
        metadata={"help": "comma-separated cutoffs; use with --criterion adaptive_loss"},
    )
    adaptive_softmax_dropout: float = field(
        default=0.0, metadata={"help": "dropout inside the adaptive softmax"}
    )
    max_target_positions: Optional[int] = II("task.max_target_positions")
    # where validation draws its memory pictures (training/memory_board.py)
    tensorboard_logdir: Optional[str] = II("common.tensorboard_logdir")


@register_model("armin_lm", dataclass=ARMINLanguageModelConfig)
class ARMINLanguageModel(FairseqLanguageModel):
    """A decoder-only language model over an ARMIN stack."""

    @classmethod
    def build_model(cls, cfg: ARMINLanguageModelConfig, task):
        check_sizes(cfg)
        check_restore_file(cfg)
        if cfg.max_target_positions is None:
            cfg.max_target_positions = DEFAULT_MAX_TARGET_POSITIONS
        model = cls(ARMINLanguageModelDecoder(cfg, task.target_dictionary))
        model.cfg = cfg
        return model

    def set_num_updates(self, num_updates: int):
        """Called by fairseq's trainer only: arms the clean stop on SIGINT/SIGTERM
        (:mod:`armin_plugin.training.interrupt`) under any task."""
        stop_cleanly_on_signals(self.cfg, num_updates)
        super().set_num_updates(num_updates)


def check_sizes(cfg):
    """Refuse flag values that cannot build a model, naming the flag."""
    require_positive_integers(
        cfg, "decoder_embed_dim", "armin_hidden_size", "armin_slot_size", "armin_slots", "armin_layers"
    )
    require_annealing_temperatures(cfg)


@register_architecture("armin_lm", "armin_lm_ptb_char")
def armin_lm_ptb_char(cfg):
    """Character-level Penn Treebank: 50 symbols, long contexts, a wide state."""
    cfg.decoder_embed_dim = getattr(cfg, "decoder_embed_dim", 128)
    cfg.armin_hidden_size = getattr(cfg, "armin_hidden_size", 1000)
    cfg.armin_slot_size = getattr(cfg, "armin_slot_size", 256)
    cfg.armin_slots = getattr(cfg, "armin_slots", 16)
    cfg.armin_layers = getattr(cfg, "armin_layers", 1)
    cfg.dropout = getattr(cfg, "dropout", 0.25)


@register_architecture("armin_lm", "armin_lm_tiny")
def armin_lm_tiny(cfg):
    """A few thousand parameters, a temperature that anneals within a short run: for tests."""
    cfg.decoder_embed_dim = getattr(cfg, "decoder_embed_dim", 16)
    cfg.armin_hidden_size = getattr(cfg, "armin_hidden_size", 24)
    cfg.armin_slot_size = getattr(cfg, "armin_slot_size", 12)
    cfg.armin_slots = getattr(cfg, "armin_slots", 4)
    cfg.armin_tau_updates = getattr(cfg, "armin_tau_updates", 8)
