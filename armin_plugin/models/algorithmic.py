"""Models of the ``armin_algorithmic`` task: per-step bit logits from binary input vectors.

``armin_algorithmic``: an ARMIN stack (the layer of the language model) and a linear map of
its output [sigmoid(o) * h ; sigmoid(o_m) * r] to the task's output bits.
``lstm_algorithmic``: the baseline, an ``nn.LSTM`` and a linear map; ``--lstm-params N``
picks the hidden size whose parameter count comes closest to N (e.g. an ARMIN model's).

Both read ``src_inputs`` (B, T, input_size) and return logits (B, T, output_size); input
and output sizes come from the task. ``armin_algorithmic`` logs how it read its memory
(``armin_entropy``, ``armin_slots_read``, ``armin_read_age``; :mod:`.memory_metrics`).
Named sizes: ``*_tiny`` for tests.
"""
from dataclasses import dataclass, field

from fairseq.dataclass import FairseqDataclass
from fairseq.models import BaseFairseqModel, register_model
from torch import Tensor, nn

from ..errors import ArminError
from ..modules.sizing import lstm_hidden_for
from .armin_cell_config import ARMINCellConfig
from .armin_parts import armin_stack
from .memory_metrics import log_memory_use, record_addressing
from .architectures import register_architecture
from .flag_checks import require_annealing_temperatures, require_positive_integers


def _task_sizes(task):
    sizes = getattr(task, "input_size", None), getattr(task, "output_size", None)
    if None in sizes:
        raise ArminError("this model is built for --task armin_algorithmic or armin_pixel_mnist")
    return sizes


@dataclass
class ARMINAlgorithmicConfig(ARMINCellConfig):
    """The shared cell flags (the temperature anneals over 1000 updates here) and the sizes."""

    armin_hidden_size: int = field(default=64, metadata={"help": "d_h: ARMIN state size"})
    armin_slot_size: int = field(default=32, metadata={"help": "d_r: size of one memory slot"})
    armin_slots: int = field(default=32, metadata={"help": "N: number of memory slots"})
    armin_layers: int = field(default=1, metadata={"help": "number of stacked ARMIN layers"})
    armin_tau_updates: int = field(default=1000, metadata={"help": "updates over which the temperature anneals"})


@register_model("armin_algorithmic", dataclass=ARMINAlgorithmicConfig)
class ARMINAlgorithmicModel(BaseFairseqModel):
    def __init__(self, cfg: ARMINAlgorithmicConfig, input_size: int, output_size: int):
        super().__init__()
        self.armin = armin_stack(cfg, input_size, cfg.armin_hidden_size, cfg.armin_slot_size,
                                 cfg.armin_slots, cfg.armin_layers)
        self.output_projection = nn.Linear(self.armin.output_size, output_size)
        record_addressing(self.armin)

    @classmethod
    def build_model(cls, cfg: ARMINAlgorithmicConfig, task):
        require_positive_integers(cfg, "armin_hidden_size", "armin_slot_size", "armin_slots", "armin_layers")
        require_annealing_temperatures(cfg)
        return cls(cfg, *_task_sizes(task))

    def forward(self, src_inputs: Tensor, src_lengths=None, **unused) -> Tensor:
        output, _ = self.armin(src_inputs.transpose(0, 1))
        log_memory_use(self.armin)
        return self.output_projection(output).transpose(0, 1)


@register_architecture("armin_algorithmic", "armin_algorithmic_tiny")
def armin_algorithmic_tiny(cfg):
    cfg.armin_hidden_size = getattr(cfg, "armin_hidden_size", 12)
    cfg.armin_slot_size = getattr(cfg, "armin_slot_size", 6)
    cfg.armin_slots = getattr(cfg, "armin_slots", 4)
    cfg.armin_tau_updates = getattr(cfg, "armin_tau_updates", 4)


@dataclass
class LSTMAlgorithmicConfig(FairseqDataclass):
    lstm_hidden_size: int = field(default=100, metadata={"help": "LSTM hidden size"})
    lstm_layers: int = field(default=1, metadata={"help": "number of stacked LSTM layers"})
    lstm_params: int = field(
        default=0,
        metadata={"help": "if > 0: choose the hidden size whose parameter count comes closest "
                          "to this (overrides --lstm-hidden-size)"},
    )


@register_model("lstm_algorithmic", dataclass=LSTMAlgorithmicConfig)
class LSTMAlgorithmicModel(BaseFairseqModel):
    def __init__(self, input_size: int, output_size: int, hidden_size: int, layers: int):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, layers)
        self.output_projection = nn.Linear(hidden_size, output_size)

    @classmethod
    def build_model(cls, cfg: LSTMAlgorithmicConfig, task):
        require_positive_integers(cfg, "lstm_hidden_size", "lstm_layers")
        if cfg.lstm_params < 0:
            raise ArminError(f"--lstm-params must be >= 0, got {cfg.lstm_params}")
        input_size, output_size = _task_sizes(task)
        hidden = cfg.lstm_hidden_size
        if cfg.lstm_params > 0:
            hidden = lstm_hidden_for(cfg.lstm_params, input_size, output_size, cfg.lstm_layers)
        return cls(input_size, output_size, hidden, cfg.lstm_layers)

    def forward(self, src_inputs: Tensor, src_lengths=None, **unused) -> Tensor:
        output, _ = self.lstm(src_inputs.transpose(0, 1))
        return self.output_projection(output).transpose(0, 1)


@register_architecture("lstm_algorithmic", "lstm_algorithmic_tiny")
def lstm_algorithmic_tiny(cfg):
    cfg.lstm_hidden_size = getattr(cfg, "lstm_hidden_size", 16)
