"""closest_hidden_size: the hidden size nearest a parameter budget."""
import pytest

from armin_plugin.modules.sizing import closest_hidden_size


@pytest.mark.parametrize(
    "budget, expected",
    [(0, 1), (1, 1), (100, 10), (110, 10), (111, 11), (10_000, 100), (10_101, 101)],
)
def test_nearest_square(budget, expected):
    # params_at(h) = h^2: 110 is nearer 100 than 121, 111 is nearer 121 (10 vs 11 off)
    assert closest_hidden_size(budget, lambda h: h * h) == expected


def test_tie_takes_the_smaller_size():
    assert closest_hidden_size(15, lambda h: 10 * h) == 1  # 10 and 20 are both 5 away
