"""M2: layers. ``Module``/``Parameter`` containers, layers, and their functional forms (``numgpt.nn.functional``)."""
from . import functional
from .layers import GELU, Dropout, Embedding, LayerNorm, Linear, LinearT, RMSNorm, SwiGLU
from .module import Module, ModuleDict, ModuleList, Parameter, inference_mode

__all__ = [
    "Module", "ModuleDict", "ModuleList", "Parameter", "inference_mode",
    "Linear", "LinearT", "LayerNorm", "RMSNorm", "SwiGLU", "Embedding", "Dropout", "GELU", "functional",
]
