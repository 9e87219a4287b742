"""``armin-flags`` (:mod:`.command`): an architecture's, task's, criterion's or learning-rate
scheduler's flags with their defaults and help, from the parser fairseq-train builds
(:mod:`.fairseq_flags`); with no name, what the plugin registers (:mod:`.registered`)."""
from .command import main

__all__ = ["main"]
