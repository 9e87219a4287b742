"""fairseq tasks of the plugin (imported by fairseq itself through ``--user-dir``, which
also registers the plugin's learning-rate schedulers from here)."""
from ..optim import cosine_over_time  # noqa: F401  (registers --lr-scheduler cosine_over_time)
