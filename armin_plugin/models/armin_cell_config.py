"""Flags every ARMIN model of the plugin shares: how its cells behave, whatever their sizes."""
from dataclasses import dataclass, field

from fairseq.dataclass import FairseqDataclass


@dataclass
class ARMINCellConfig(FairseqDataclass):
    """Layer dropout, forget bias, Gumbel-softmax temperature schedule, sampling in eval."""

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
    armin_sample_eval: bool = field(
        default=False, metadata={"help": "keep Gumbel sampling of addresses in eval mode"}
    )
