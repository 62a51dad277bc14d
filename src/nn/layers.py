"""Layers: thin ``Module`` wrappers that own parameters and call ``numgpt.nn.functional``.

Initialisation follows GPT-2: weights and embeddings N(0, 0.02), biases 0, LayerNorm weight 1 and
bias 0. Weights are drawn in float64 from the given ``np.random.Generator`` and then cast, so a
float32 and a float64 layer built from the same seed hold the same values up to rounding.
Linear weights are stored ``(in_features, out_features)``; ``y = x @ W + b``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor
from . import functional as F
from .module import Module, Parameter

__all__ = ["Linear", "LayerNorm", "Embedding", "Dropout", "GELU", "normal_init"]


def normal_init(shape: tuple[int, ...], std: float, rng: np.random.Generator | None, dtype: Any) -> Parameter:
    """A Parameter drawn from N(0, std^2) (in float64, then cast to ``dtype``)."""
    rng = np.random.default_rng() if rng is None else rng
    return Parameter((rng.standard_normal(shape) * std).astype(dtype))


class Linear(Module):
    """``y = x @ weight + bias``; ``weight`` is ``(in_features, out_features)``, ``bias`` ``(out_features,)``.

    Init: weight N(0, 0.02) from ``rng`` (a fresh Generator if None), bias zeros.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: Any = np.float32,
                 rng: np.random.Generator | None = None, std: float = 0.02):
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"Linear needs positive sizes, got in_features={in_features}, out_features={out_features}")
        self.in_features, self.out_features = in_features, out_features
        self.weight = normal_init((in_features, out_features), std, rng, dtype)
        self.bias = Parameter(np.zeros(out_features, dtype=dtype)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def __repr__(self) -> str:
        return f"Linear(in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None})"


class LayerNorm(Module):
    """Layer normalisation over the last dim (biased variance, ``eps`` 1e-5); weight 1, bias 0."""

    def __init__(self, n: int, eps: float = 1e-5, bias: bool = True, dtype: Any = np.float32):
        self.n, self.eps = n, eps
        self.weight = Parameter(np.ones(n, dtype=dtype))
        self.bias = Parameter(np.zeros(n, dtype=dtype)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.weight, self.bias, self.eps)

    def __repr__(self) -> str:
        return f"LayerNorm({self.n}, eps={self.eps}, bias={self.bias is not None})"


class Embedding(Module):
    """A lookup table ``weight`` of shape ``(num, dim)``, init N(0, 0.02); ``forward(ids)`` picks rows."""

    def __init__(self, num: int, dim: int, dtype: Any = np.float32, rng: np.random.Generator | None = None,
                 std: float = 0.02):
        if num <= 0 or dim <= 0:
            raise ValueError(f"Embedding needs positive sizes, got num={num}, dim={dim}")
        self.num, self.dim = num, dim
        self.weight = normal_init((num, dim), std, rng, dtype)

    def forward(self, ids: np.ndarray) -> Tensor:
        return F.embedding(ids, self.weight)

    def __repr__(self) -> str:
        return f"Embedding({self.num}, {self.dim})"


class Dropout(Module):
    """Inverted dropout with its own seeded Generator; identity in eval mode or when ``p == 0``."""

    def __init__(self, p: float = 0.0, seed: int | None = None):
        self.p = F.check_dropout_p(p, "Dropout probability")
        self.rng = np.random.default_rng(seed)

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training, self.rng)

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


class GELU(Module):
    """GPT-2's tanh-approximated GELU (see ``functional.gelu``)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x)

    def __repr__(self) -> str:
        return "GELU()"
