"""Sizing baselines: parameter counts of LSTMs, and the hidden size at which a model comes
closest to a parameter budget (pure Python)."""
from typing import Callable


def closest_hidden_size(budget: int, params_at: Callable[[int], int]) -> int:
    """The hidden size H >= 1 whose ``params_at(H)`` (increasing in H) is nearest to
    ``budget``; the smaller H on a tie."""
    low, high = 1, 2  # invariant once the loop ends: params_at(low) <= budget < params_at(high)
    while params_at(high) <= budget:
        low, high = high, 2 * high
    if params_at(low) > budget:
        return 1
    while high - low > 1:
        middle = (low + high) // 2
        if params_at(middle) <= budget:
            low = middle
        else:
            high = middle
    return high if abs(params_at(high) - budget) < abs(params_at(low) - budget) else low


def lstm_params(input_size: int, hidden_size: int, output_size: int = 0, layers: int = 1) -> int:
    """Parameters of ``nn.LSTM(input_size, hidden_size, layers)`` (two bias vectors per
    layer, as PyTorch and fairseq's LSTMs have) followed by a biased linear map to
    ``output_size`` (none when 0)."""
    first = 4 * hidden_size * (input_size + hidden_size) + 8 * hidden_size
    rest = (layers - 1) * (4 * hidden_size * 2 * hidden_size + 8 * hidden_size)
    output = (hidden_size + 1) * output_size if output_size else 0
    return first + rest + output


def lstm_hidden_for(budget: int, input_size: int, output_size: int = 0, layers: int = 1) -> int:
    """The hidden size at which :func:`lstm_params` comes closest to ``budget``."""
    return closest_hidden_size(budget, lambda hidden: lstm_params(input_size, hidden, output_size, layers))
