"""What the tasks over vector sequences (not tokens) tell fairseq: no dictionaries, no length limit."""


class VectorSequences:
    """FairseqTask mixin (listed before FairseqTask) of a task whose inputs are vectors."""

    def max_positions(self):
        return None

    @property
    def source_dictionary(self):
        return None

    @property
    def target_dictionary(self):
        return None
