"""Running an inspected model and recording one layer's addressing."""
from contextlib import ExitStack, contextmanager
from typing import Iterator, List, NamedTuple, Optional

import torch
from torch import Tensor

from ..errors import ArminError
from ..modules import ARMIN
from ..modules.addressing_trace import AddressingTrace


def checked_layer(stack: ARMIN, layer: int) -> int:
    """``layer`` if ``stack`` has it (raises ArminError)."""
    if not 0 <= layer < stack.num_layers:
        raise ArminError(f"--layer {layer} is out of range: the model has {stack.num_layers} ARMIN "
                         f"layer(s), 0 to {stack.num_layers - 1}")
    return layer


@contextmanager
def recording(stack: ARMIN, layer: int, sample: bool) -> Iterator[List[AddressingTrace]]:
    """Within the block, every call of ``stack``'s layer ``layer`` appends its trace to the
    list yielded (one call per sequence, or per step for a decoder); ``sample``: Gumbel
    sampling instead of argmax."""
    cell = stack.layers[checked_layer(stack, layer)]
    traces: List[AddressingTrace] = []
    was_recording, was_sampling = cell.record_addressing, stack.sample_in_eval
    cell.record_addressing, stack.sample_in_eval = True, sample
    hook = cell.register_forward_hook(lambda module, inputs, outputs: traces.append(module.last_trace))
    try:
        yield traces
    finally:
        hook.remove()
        cell.record_addressing, stack.sample_in_eval = was_recording, was_sampling


class TranslationReads(NamedTuple):
    """trace: the decoder layer's trace over the target steps (one row); attention: (T, S);
    source_trace: the encoder's same layer over the source when the decoder continues from
    the encoder's final state (``--decoder-start encoder-state``: its memory holds what the
    encoder wrote), else None."""

    trace: AddressingTrace
    attention: Optional[Tensor]
    source_trace: Optional[AddressingTrace]


@torch.no_grad()
def record_language_model(model, tokens: Tensor, layer: int, sample: bool) -> AddressingTrace:
    """The trace of layer ``layer`` of ``armin_lm`` reading ``tokens`` (B, T) from a fresh state."""
    with recording(model.decoder.armin, layer, sample) as traces:
        model(tokens)
    return traces[0]


@torch.no_grad()
def record_translation(model, source: Tensor, target_input: Tensor, layer: int, sample: bool) -> TranslationReads:
    """The decoder's reads (layer ``layer``) and attention for one sentence pair: ``source``
    (S,) and ``target_input`` (T,) (what the decoder reads: eos, then the target tokens)."""
    continues = model.decoder.continues_encoder
    with ExitStack() as stack:
        traces = stack.enter_context(recording(model.decoder.armin, layer, sample))
        if continues:
            source_traces = stack.enter_context(recording(model.encoder.forward_stack, layer, sample))
        _, extra = model(source.unsqueeze(0), torch.tensor([source.numel()]), target_input.unsqueeze(0))
    attention = extra["attn"][0]
    return TranslationReads(AddressingTrace.concat(traces), None if attention is None else attention[0],
                            AddressingTrace.concat(source_traces) if continues else None)
