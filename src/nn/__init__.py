"""M2: layers. ``Module``/``Parameter`` containers, layers and their functional forms."""
from .module import Module, ModuleDict, ModuleList, Parameter

__all__ = ["Module", "ModuleDict", "ModuleList", "Parameter"]
