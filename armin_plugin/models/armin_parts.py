"""Parts every ARMIN model of the plugin builds from its flags (see :class:`ARMINCellConfig`):
token embeddings, linear maps around the cell, the temperature schedule, the cell variant and
the ARMIN stack."""
from typing import Callable

from torch import nn

from ..errors import ArminError
from ..modules import ARMIN, CellVariant, TemperatureSchedule
from ..modules.temperature import AuthorsTemperature
from ..training.restore_file import in_fairseq_train, restored_checkpoint, stored_model_config


def new_embedding(dictionary, dim: int) -> nn.Embedding:
    """Token embeddings initialised in [-0.1, 0.1], zero at the pad index."""
    embedding = nn.Embedding(len(dictionary), dim, dictionary.pad())
    nn.init.uniform_(embedding.weight, -0.1, 0.1)
    nn.init.zeros_(embedding.weight[dictionary.pad()])
    return embedding


def new_linear(in_features: int, out_features: int, bias: bool = True) -> nn.Linear:
    """A linear map with weights (and bias) initialised in [-0.1, 0.1], as fairseq's LSTM
    models (``fairseq/models/lstm.py``) initialise theirs: the translation model's parts
    around the cell (attention, projections) start as ``lstm_wiseman_iwslt_de_en``'s do."""
    linear = nn.Linear(in_features, out_features, bias=bias)
    nn.init.uniform_(linear.weight, -0.1, 0.1)
    if bias:
        nn.init.uniform_(linear.bias, -0.1, 0.1)
    return linear


def temperature_schedule(cfg, num_slots: int) -> Callable[[int], float]:
    """The Gumbel-softmax temperature per update of a stack of ``num_slots`` slots:
    ``--armin-tau-start/-end/-updates`` (``--armin-tau-schedule anneal``) or the authors'
    1 / min(epoch + 1, N - 1) with epochs of ``--armin-tau-epoch-updates`` updates."""
    if str(cfg.armin_tau_schedule) == "authors":
        if cfg.armin_tau_epoch_updates < 1:
            raise ArminError("--armin-tau-schedule authors needs --armin-tau-epoch-updates (updates "
                             f"per epoch) to be a positive integer, got {cfg.armin_tau_epoch_updates}")
        return AuthorsTemperature(cfg.armin_tau_epoch_updates, num_slots)
    return TemperatureSchedule(cfg.armin_tau_start, cfg.armin_tau_end, cfg.armin_tau_updates)


# The variants that did not beat the plain cell, and the last commit that has them.
REMOVED_VARIANTS = ("armin_usage_input", "armin_soft_to_hard", "armin_entropy_bonus", "armin_load_balance")
LAST_COMMIT_WITH_REMOVED = "ea39414"


def cell_variant(cfg) -> CellVariant:
    """The step-level variant of ``--armin-no-read``, ``--armin-no-reread`` and
    ``--armin-content-address``. A removed variant set to a non-default value, by the
    command, in the stored settings of the checkpoint a model is loaded from, or in those of
    the checkpoint that fairseq-train resumes, stops with one line."""
    sources = [(cfg, "{}" if in_fairseq_train() else "this checkpoint was trained with {}, which")]
    restored = restored_checkpoint(cfg)
    stored = None if restored is None else stored_model_config(restored)
    if stored is not None:  # a dict, or an argparse Namespace of older checkpoints
        sources.append((stored if isinstance(stored, dict) else vars(stored),
                        f"checkpoint {restored} was trained with {{}}, which"))
    for settings, where in sources:
        for name in REMOVED_VARIANTS:
            if (settings.get(name) if isinstance(settings, dict) else getattr(settings, name, None)):
                raise ArminError(f"{where.format('--' + name.replace('_', '-'))} was removed: it did not "
                                 f"beat the plain cell (docs/studies/ptb-char-variants.md); the last commit "
                                 f"with it is {LAST_COMMIT_WITH_REMOVED}")
    return CellVariant(bool(cfg.armin_no_read), bool(cfg.armin_no_reread), bool(cfg.armin_content_address))


def armin_stack(cfg, input_size: int, hidden_size: int, slot_size: int, num_slots: int,
                num_layers: int) -> ARMIN:
    """An ARMIN stack of these sizes whose cells behave as the shared ``--armin-*`` flags say
    (layer dropout, forget bias, sampling in eval, the variants, the temperature schedule,
    which fairseq's ``set_num_updates`` reaching the stack applies)."""
    return ARMIN(
        input_size, hidden_size, slot_size, num_slots,
        num_layers=num_layers,
        dropout=cfg.armin_layer_dropout,
        forget_bias=cfg.armin_forget_bias,
        temperature_schedule=temperature_schedule(cfg, num_slots),
        sample_in_eval=cfg.armin_sample_eval,
        init=str(cfg.armin_init),
        variant=cell_variant(cfg),
    )
