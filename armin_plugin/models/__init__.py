"""fairseq models of the plugin (imported by fairseq itself through ``--user-dir``).

torch >= 2.6 loads checkpoints with ``weights_only=True``; fairseq stores the
``argparse.Namespace`` of legacy models (such as ``lstm_lm``) in them. Allowing that one
class lets fairseq-eval-lm, fairseq-generate, resume and the hub interface load checkpoints
of both ARMIN and fairseq's LSTMs when ``--user-dir armin_plugin`` is given.
"""
import argparse

import torch

torch.serialization.add_safe_globals([argparse.Namespace])
