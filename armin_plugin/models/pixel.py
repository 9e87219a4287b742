"""Models of ``--task armin_pixel_mnist``: class logits from the output at the last of the
pixel steps (784, or 784 / K with ``--pixels-per-step K``).

``armin_pixel``: the ARMIN stack of ``armin_algorithmic`` and a linear map of its last
output [sigmoid(o) * h ; sigmoid(o_m) * r] to the 10 classes; the default sizes are the
authors' pMNIST model (d_h 100, d_r 28, 28 slots). ``lstm_pixel``: an ``nn.LSTM`` (100
hidden units by default; ``--lstm-params N`` picks the hidden size whose parameter count
comes closest to N, e.g. an ARMIN model's) and a linear map of its last output.

Both read ``src_inputs`` (B, T, K pixels) and return logits (B, 10). Named sizes: ``*_tiny`` for tests.
"""
from dataclasses import dataclass, field

from fairseq.models import register_model
from torch import Tensor

from .algorithmic import ARMINAlgorithmicConfig, ARMINAlgorithmicModel, LSTMAlgorithmicConfig, LSTMAlgorithmicModel
from .architectures import register_architecture


@dataclass
class ARMINPixelConfig(ARMINAlgorithmicConfig):
    """The authors' pMNIST sizes; the temperature anneals over the shared default 10,000 updates."""

    armin_hidden_size: int = field(default=100, metadata={"help": "d_h: ARMIN state size"})
    armin_slot_size: int = field(default=28, metadata={"help": "d_r: size of one memory slot"})
    armin_slots: int = field(default=28, metadata={"help": "N: number of memory slots"})
    armin_tau_updates: int = field(default=10000, metadata={"help": "updates over which the temperature anneals"})


@register_model("armin_pixel", dataclass=ARMINPixelConfig)
class ARMINPixelModel(ARMINAlgorithmicModel):
    def forward(self, src_inputs: Tensor, **unused) -> Tensor:
        output, _ = self.armin(src_inputs.transpose(0, 1))
        return self.output_projection(output[-1])


@register_architecture("armin_pixel", "armin_pixel_tiny")
def armin_pixel_tiny(cfg):
    cfg.armin_hidden_size = getattr(cfg, "armin_hidden_size", 12)
    cfg.armin_slot_size = getattr(cfg, "armin_slot_size", 6)
    cfg.armin_slots = getattr(cfg, "armin_slots", 4)
    cfg.armin_tau_updates = getattr(cfg, "armin_tau_updates", 4)


@dataclass
class LSTMPixelConfig(LSTMAlgorithmicConfig):
    pass


@register_model("lstm_pixel", dataclass=LSTMPixelConfig)
class LSTMPixelModel(LSTMAlgorithmicModel):
    def forward(self, src_inputs: Tensor, **unused) -> Tensor:
        output, _ = self.lstm(src_inputs.transpose(0, 1))
        return self.output_projection(output[-1])


@register_architecture("lstm_pixel", "lstm_pixel_tiny")
def lstm_pixel_tiny(cfg):
    cfg.lstm_hidden_size = getattr(cfg, "lstm_hidden_size", 16)
