"""``armin``: an ARMIN encoder-decoder for translation, and its named architectures.

    fairseq-train data-bin/iwslt14_de_en --user-dir armin_plugin --arch armin_iwslt_de_en ...
"""
from fairseq.models import FairseqEncoderDecoderModel, register_model

from ..training.interrupt import stop_cleanly_on_signals
from ..training.restore_file import check_restore_file
from .architectures import register_architecture
from .armin_encoder import ARMINEncoder
from .armin_parts import new_embedding
from .armin_translation_config import ARMINTranslationConfig, check_translation_flags, decoder_start
from .armin_translation_decoder import ARMINTranslationDecoder


@register_model("armin", dataclass=ARMINTranslationConfig)
class ARMINTranslationModel(FairseqEncoderDecoderModel):
    """:class:`ARMINEncoder` + :class:`ARMINTranslationDecoder` (attention, input feeding).
    Its base architecture ``armin`` (registered by fairseq with the model) takes the
    defaults of :class:`ARMINTranslationConfig`."""

    @classmethod
    def build_model(cls, cfg: ARMINTranslationConfig, task):
        check_translation_flags(cfg, task)
        check_restore_file(cfg)
        encoder_embed = decoder_embed = None
        if cfg.share_all_embeddings:
            encoder_embed = decoder_embed = new_embedding(task.source_dictionary, cfg.encoder_embed_dim)
        encoder = ARMINEncoder(cfg, task.source_dictionary, encoder_embed)
        decoder = ARMINTranslationDecoder(cfg, task.target_dictionary, encoder.output_size, decoder_embed)
        model = cls(encoder, decoder)
        model.cfg = cfg
        return model

    def upgrade_state_dict_named(self, state_dict, name: str):
        """A checkpoint saved before ``--decoder-start`` existed holds the summary
        start's W but no flag in its config, which fairseq fills with today's default: the
        decoder starts from the summary again, as it was trained."""
        prefix = f"{name}." if name else ""
        weight = state_dict.get(f"{prefix}decoder.initial_hidden.weight")
        if weight is not None and self.decoder.continues_encoder:
            self.decoder.start_from_summary(weight.size(1))
            self.cfg.decoder_start = "summary"
        super().upgrade_state_dict_named(state_dict, name)

    def set_num_updates(self, num_updates: int):
        """Called by fairseq's trainer only: arms the clean stop on SIGINT/SIGTERM
        (:mod:`armin_plugin.training.interrupt`) under fairseq's translation task."""
        stop_cleanly_on_signals(self.cfg, num_updates)
        super().set_num_updates(num_updates)


def default_both_sides(cfg, **sizes):
    """For each ``name=value``: ``--encoder-NAME`` and ``--decoder-NAME`` default to value."""
    for side in ("encoder", "decoder"):
        for name, value in sizes.items():
            setattr(cfg, f"{side}_{name}", getattr(cfg, f"{side}_{name}", value))


@register_architecture("armin", "armin_iwslt_de_en")
def armin_iwslt_de_en(cfg):
    """Sized like fairseq's ``lstm_wiseman_iwslt_de_en`` (256-wide embeddings and attentional
    output, one unidirectional encoder layer, one decoder layer): the ARMIN state size is
    chosen so that the parameters outside the vocabulary-sized tables come within 1% of
    that LSTM's (tests/test_translation_model.py checks it): d_h 179 when the decoder starts
    from the encoder's final state (the default, 0.03% above), 175 with ``--decoder-start
    summary`` (0.3% above), which adds a W of (d_h + d_r) x d_h weights."""
    cfg.decoder_start = decoder_start(cfg)
    hidden_size = 175 if cfg.decoder_start == "summary" else 179
    default_both_sides(cfg, embed_dim=256, hidden_size=hidden_size, slot_size=64, slots=16, layers=1)
    cfg.decoder_out_embed_dim = getattr(cfg, "decoder_out_embed_dim", 256)
    cfg.dropout = getattr(cfg, "dropout", 0.1)


@register_architecture("armin", "armin_tiny")
def armin_tiny(cfg):
    """A few thousand parameters plus the vocabulary tables: for tests."""
    default_both_sides(cfg, embed_dim=16, hidden_size=24, slot_size=8, slots=4)
    cfg.decoder_out_embed_dim = getattr(cfg, "decoder_out_embed_dim", 16)
    cfg.armin_tau_updates = getattr(cfg, "armin_tau_updates", 20)
