"""Sizing baselines: the hidden size at which a model comes closest to a parameter budget."""
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
