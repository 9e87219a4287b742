"""The ``backend`` fixture: runs a test once per recurrence backend (see
armin_plugin/modules/recurrence.py). The native case is skipped, with the reason, only
where the compiled recurrence is not built; ``recipes/install.sh`` builds it."""
import pytest

from armin_plugin.modules import native


@pytest.fixture(params=["python", "native"])
def backend(request, monkeypatch):
    if request.param == "native" and native.library() is None:
        pytest.skip(f"compiled ARMIN recurrence {native.unavailable_reason()}")
    monkeypatch.setenv("ARMIN_BACKEND", request.param)
    return request.param
