"""fairseq criterions of the plugin. fairseq does not import this folder by itself: the task
modules that need a criterion import it, so it is registered whenever they are."""
from . import algorithmic_bits, last_step_classification  # noqa: F401
