"""Pure-PyTorch ARMIN layer (no fairseq import): ``from armin_plugin.modules import ARMIN``."""
from .armin import ARMIN
from .armin_cell import ARMINCell
from .armin_state import ARMINState
from .temperature import TemperatureSchedule
from .variants import CellVariant

__all__ = ["ARMIN", "ARMINCell", "ARMINState", "CellVariant", "TemperatureSchedule"]
