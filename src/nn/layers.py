"""Layers: thin ``Module`` wrappers that own parameters and call ``numgpt.nn.functional``.

Initialisation follows GPT-2: weights and embeddings N(0, 0.02), biases 0, LayerNorm weight 1 and
bias 0. Weights are drawn in float64 from the given ``np.random.Generator`` and then cast, so a
float32 and a float64 layer built from the same seed hold the same values up to rounding.
Linear weights are stored ``(in_features, out_features)``; ``y = x @ W + b``. ``LinearT`` stores
``(out_features, in_features)`` (PyTorch / Hugging Face layout, ``y = x @ W.T + b``): the Llama-style
model uses it so its state dict holds Hugging Face checkpoint arrays as they are.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

from ..tensor import Tensor
from . import functional as F
from .module import Module, Parameter

__all__ = ["Linear", "LinearT", "LayerNorm", "RMSNorm", "Embedding", "Dropout", "GELU", "SwiGLU", "normal_init", "uninitialised"]


_draw_weights = True  # False inside ``uninitialised()``


@contextlib.contextmanager
def uninitialised() -> Iterator[None]:
    """Build modules without drawing their N(0, std) weights (they get uninitialised memory): for a
    loader that overwrites every parameter next and checks that it did (``load_pretrained``,
    ``load_model``), so that a 124M-parameter model is not drawn in float64 only to be thrown away."""
    global _draw_weights
    previous, _draw_weights = _draw_weights, False
    try:
        yield
    finally:
        _draw_weights = previous


def normal_init(shape: tuple[int, ...], std: float, rng: np.random.Generator | None, dtype: Any) -> Parameter:
    """A Parameter drawn from N(0, std^2) (in float64, then cast to ``dtype``); inside
    ``uninitialised()`` an empty one of that shape and dtype."""
    if not _draw_weights:
        return Parameter(np.empty(shape, dtype=dtype))
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


class LinearT(Linear):
    """``y = x @ weight.T + bias``; ``weight`` is ``(out_features, in_features)`` (PyTorch / HF layout).

    Init as ``Linear``: weight N(0, std) from ``rng``, bias zeros.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: Any = np.float32,
                 rng: np.random.Generator | None = None, std: float = 0.02):
        super().__init__(in_features, out_features, bias, dtype, rng, std)
        self.weight = Parameter(np.ascontiguousarray(self.weight.data.T))  # (out, in)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear_t(x, self.weight, self.bias)

    def __repr__(self) -> str:
        return "LinearT" + super().__repr__()[len("Linear"):]


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


class RMSNorm(Module):
    """Root-mean-square normalisation over the last dim (eps inside the root, default 1e-5); weight 1."""

    def __init__(self, n: int, eps: float = 1e-5, dtype: Any = np.float32):
        self.n, self.eps = n, eps
        self.weight = Parameter(np.ones(n, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, self.weight, self.eps)

    def __repr__(self) -> str:
        return f"RMSNorm({self.n}, eps={self.eps})"


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


class SwiGLU(Module):
    """Llama's feed-forward ``down_proj(silu(gate_proj(x)) * up_proj(x))`` (one fused node, ``F.swiglu``).

    ``gate_proj``, ``up_proj``: LinearT(n_embd, hidden); ``down_proj``: LinearT(hidden, n_embd), init
    N(0, ``down_std``) (the model passes GPT-2's residual scaling). Weights in the HF ``(out, in)`` layout.
    Then dropout (``dropout``, masks seeded by ``seed``), identity at the default 0.
    """

    def __init__(self, n_embd: int, hidden: int, bias: bool = False, dtype: Any = np.float32,
                 rng: np.random.Generator | None = None, std: float = 0.02, down_std: float = 0.02,
                 dropout: float = 0.0, seed: Any = None):
        self.gate_proj = LinearT(n_embd, hidden, bias=bias, dtype=dtype, rng=rng, std=std)
        self.up_proj = LinearT(n_embd, hidden, bias=bias, dtype=dtype, rng=rng, std=std)
        self.down_proj = LinearT(hidden, n_embd, bias=bias, dtype=dtype, rng=rng, std=down_std)
        self.dropout = Dropout(dropout, seed=seed)

    def forward(self, x: Tensor) -> Tensor:
        g, u, d = self.gate_proj, self.up_proj, self.down_proj
        return self.dropout(F.swiglu(x, g.weight, u.weight, d.weight, g.bias, u.bias, d.bias))

    def __repr__(self) -> str:
        return f"SwiGLU({self.gate_proj.in_features}, hidden={self.gate_proj.out_features}, bias={self.gate_proj.bias is not None})"
