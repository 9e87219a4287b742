"""Flags every ARMIN model of the plugin shares: how its cells behave, whatever their sizes."""
from argparse import SUPPRESS
from dataclasses import dataclass, field

from fairseq.dataclass import ChoiceEnum, FairseqDataclass

from ..modules.initialisation import INITS


@dataclass
class ARMINCellConfig(FairseqDataclass):
    """Layer dropout, forget bias, Gumbel-softmax temperature schedule, sampling in eval, and
    the variants of docs/the-cell.md (initialisation, no read, no re-read, content address)."""

    armin_layer_dropout: float = field(
        default=0.0, metadata={"help": "dropout between stacked ARMIN layers"}
    )
    armin_forget_bias: float = field(
        default=1.0, metadata={"help": "constant added to the forget gate"}
    )
    armin_tau_start: float = field(
        default=1.0, metadata={"help": "Gumbel-softmax temperature at update 0"}
    )
    armin_tau_end: float = field(
        default=0.1, metadata={"help": "temperature reached after --armin-tau-updates"}
    )
    armin_tau_updates: int = field(
        default=10000, metadata={"help": "updates over which the temperature anneals"}
    )
    armin_tau_schedule: ChoiceEnum(["anneal", "authors"]) = field(
        default="anneal",
        metadata={"help": "anneal: geometric from --armin-tau-start to --armin-tau-end (ours); "
                          "authors: tau = 1 / min(epoch + 1, N - 1) as in the authors' code, "
                          "an epoch being --armin-tau-epoch-updates updates"},
    )
    armin_tau_epoch_updates: int = field(
        default=0,
        metadata={"help": "updates per epoch of --armin-tau-schedule authors (fairseq's tasks "
                          "give a model no epoch)"},
    )
    armin_sample_eval: bool = field(
        default=False, metadata={"help": "keep Gumbel sampling of addresses in eval mode"}
    )
    armin_init: ChoiceEnum(INITS) = field(
        default="pytorch",
        metadata={"help": "initialisation of the cell's linear maps: pytorch (nn.Linear's "
                          "default) or authors (each weight matrix orthogonal, biases zero, "
                          "as in the authors' code; the paper does not say)"},
    )
    armin_no_read: bool = field(
        default=False,
        metadata={"help": "ablation, not in the paper: the read replaced by zeros wherever it is "
                          "used (the cell without memory); the address is still computed"},
    )
    armin_no_reread: bool = field(
        default=False,
        metadata={"help": "not in the paper (TARDIS's mask): the slot read at the previous step "
                          "is never read again at once (its address logit loses 1e4); needs at "
                          "least 2 slots"},
    )
    armin_content_address: bool = field(
        default=False,
        metadata={"help": "not in the paper (the content addressing of the NTM): the address "
                          "logits get one dot product per slot, <M_{t-1}[k] / sqrt(|M_{t-1}[k]|^2 + 1), q_t>, "
                          "with a learned query q_t = W_q [x_t ; h_{t-1}] + b_q, so the read can match what the "
                          "slots hold"},
    )
    # Removed variants (docs/studies/ptb-char-variants.md): not in --help; a command or a
    # checkpoint that sets one stops with one line (armin_parts.cell_variant).
    armin_usage_input: bool = field(default=False, metadata={"help": SUPPRESS})
    armin_soft_to_hard: float = field(default=0.0, metadata={"help": SUPPRESS})
    armin_entropy_bonus: float = field(default=0.0, metadata={"help": SUPPRESS})
    armin_load_balance: float = field(default=0.0, metadata={"help": SUPPRESS})
