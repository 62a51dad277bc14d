"""The GPT language model: token + position embeddings, pre-LN transformer blocks, tied LM head.

Shapes through ``GPT.forward`` (B batch, T time, C = n_embd, V = vocab_size, nh heads, hs = C/nh)::

    idx (B, T) int
    tok = wte[idx]                      # (B, T, C)
    pos = wpe[0:T]                      # (T, C)   (offset by the cache length when decoding)
    x = dropout(tok + pos)              # (B, T, C)
    for each block:                     # pre-LayerNorm residual blocks
        x = x + attn(ln_1(x))           #   c_attn (B, T, 3C) -> heads (B, nh, T, hs) -> (B, T, C) -> c_proj
        x = x + mlp(ln_2(x))            #   c_fc (B, T, 4C) -> gelu -> c_proj (B, T, C)
    x = ln_f(x)                         # (B, T, C)
    logits = x @ wte.T                  # (B, T, V)  tied LM head
    loss = cross_entropy(logits, targets)   # scalar, mean over non-ignored positions

Parameter names are GPT-2's (``transformer.h.0.attn.c_attn.weight`` ...), so state dicts map name
for name; Linear weights are stored ``(in, out)``, exactly like GPT-2's Conv1D checkpoints.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..attention import CausalSelfAttention, KVCache
from ..nn import GELU, Dropout, Embedding, LayerNorm, Linear, Module, ModuleDict, ModuleList
from ..nn import functional as F
from ..tensor import Tensor, is_grad_enabled, no_grad

__all__ = ["GPTConfig", "MLP", "Block", "GPT"]


@dataclass
class GPTConfig:
    """Model hyperparameters (defaults: GPT-2 124M with the vocab padded to 50304)."""

    block_size: int = 1024
    vocab_size: int = 50304
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True

    def __post_init__(self) -> None:
        for name in ("block_size", "vocab_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
            setattr(self, name, int(value))
        if self.n_embd % self.n_head:
            raise ValueError(
                f"GPTConfig: n_embd={self.n_embd} must be divisible by n_head={self.n_head} "
                f"(each head gets n_embd / n_head dims)"
            )
        self.dropout = F.check_dropout_p(self.dropout, "GPTConfig.dropout")
        self.bias = bool(self.bias)

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GPTConfig":
        """Build from a dict, rejecting unknown keys by name."""
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"GPTConfig: unknown keys {unknown}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MLP(Module):
    """``c_proj(gelu(c_fc(x)))`` with a 4x wide hidden layer, then dropout."""

    def __init__(self, config: GPTConfig, rng: np.random.Generator | None = None, dtype: Any = np.float32,
                 seed: Any = None):
        C = config.n_embd
        self.c_fc = Linear(C, 4 * C, bias=config.bias, dtype=dtype, rng=rng)
        self.gelu = GELU()
        self.c_proj = Linear(4 * C, C, bias=config.bias, dtype=dtype, rng=rng, std=0.02 / math.sqrt(2 * config.n_layer))
        self.dropout = Dropout(config.dropout, seed=seed)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))  # (B, T, C) -> (B, T, 4C) -> (B, T, C)


class Block(Module):
    """A pre-LayerNorm transformer block: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``."""

    def __init__(self, config: GPTConfig, rng: np.random.Generator | None = None, dtype: Any = np.float32,
                 seed: Any = None):
        base = () if seed is None else tuple(np.atleast_1d(seed))
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias, dtype=dtype)
        self.attn = CausalSelfAttention(config, rng=rng, dtype=dtype, seed=None if seed is None else base + (0,))
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias, dtype=dtype)
        self.mlp = MLP(config, rng=rng, dtype=dtype, seed=None if seed is None else base + (1,))

    def forward(self, x: Tensor, cache: Any = None) -> Tensor:
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


class GPT(Module):
    """A decoder-only transformer language model (GPT-2 architecture).

    Args:
        config: a ``GPTConfig`` (or a dict of its fields).
        seed: seeds the initialisation (``np.random.default_rng(seed)``) and every dropout mask;
            the same seed gives bit-identical weights and masks.
        dtype: parameter dtype; float32 for training, ``.to(np.float64)`` for gradient checks.

    Init (GPT-2): weights and embeddings N(0, 0.02); the residual projections ``attn.c_proj`` and
    ``mlp.c_proj`` N(0, 0.02/sqrt(2 n_layer)); biases 0; LayerNorm weight 1, bias 0.
    The LM head is tied to the token embedding (``logits = x @ wte.T``): it has no parameter of
    its own, and its gradient is added to ``transformer.wte.weight``'s.
    """

    def __init__(self, config: GPTConfig | dict[str, Any], seed: int = 0, dtype: Any = np.float32):
        if isinstance(config, dict):
            config = GPTConfig.from_dict(config)
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT needs a GPTConfig (or a dict of its fields), got {type(config).__name__}")
        if not np.issubdtype(np.dtype(dtype), np.floating):
            raise TypeError(f"GPT dtype must be a floating-point dtype, got {dtype}")
        self.config = config
        rng = np.random.default_rng(seed)
        C = config.n_embd
        self.transformer = ModuleDict(
            wte=Embedding(config.vocab_size, C, dtype=dtype, rng=rng),
            wpe=Embedding(config.block_size, C, dtype=dtype, rng=rng),
            drop=Dropout(config.dropout, seed=(seed, 0)),
            h=ModuleList([Block(config, rng=rng, dtype=dtype, seed=(seed, 1, i)) for i in range(config.n_layer)]),
            ln_f=LayerNorm(C, bias=config.bias, dtype=dtype),
        )

    @property
    def dtype(self) -> np.dtype:
        return self.transformer.wte.weight.dtype

    def num_parameters(self, non_embedding: bool = False) -> int:
        """Parameter count (the tied wte/lm_head weight counted once). With ``non_embedding``, the
        position embeddings are left out (nanoGPT's convention; wte stays, it is the LM head)."""
        n = super().num_parameters()
        return n - self.transformer.wpe.weight.size if non_embedding else n

    def new_kv_cache(self) -> KVCache:
        """An empty ``KVCache`` for this model (see ``numgpt.attention.KVCache``)."""
        return KVCache.for_model(self)

    def _check_ids(self, name: str, ids: Any, allow_ignore: bool = False) -> np.ndarray:
        arr = ids.data if isinstance(ids, Tensor) else ids
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "iu":  # integer (cheap test: runs every step)
            what = f"dtype {arr.dtype}" if isinstance(arr, np.ndarray) else type(arr).__name__
            raise TypeError(f"GPT.forward: {name} must be an integer NumPy array of shape (B, T), got {what}")
        if arr.ndim != 2 or arr.shape[1] == 0 or arr.shape[0] == 0:
            raise ValueError(f"GPT.forward: {name} must have shape (B, T) with B, T >= 1, got {arr.shape}")
        V = self.config.vocab_size
        invalid = (arr < 0) | (arr >= V)
        if allow_ignore:
            invalid &= arr != -1
        if invalid.any():
            bad = int(arr[invalid].flat[0])
            raise ValueError(f"GPT.forward: {name} contains token id {bad}, outside the vocabulary 0..{V - 1} (vocab_size {V})")
        return arr

    def forward(self, idx: np.ndarray, targets: np.ndarray | None = None,
                kv_cache: KVCache | None = None) -> tuple[Tensor, Tensor | None]:
        """Logits for every position, and the mean cross-entropy loss if ``targets`` are given.

        Args:
            idx: int array (B, T), T <= block_size.
            targets: int array (B, T) of next-token ids, -1 = ignore; or None (loss None).
            kv_cache: a ``KVCache`` for incremental decoding: ``idx`` then holds only the new tokens,
                at positions ``kv_cache.length ...``; runs under ``no_grad``.

        Returns ``(logits (B, T, V), loss scalar or None)``.
        """
        idx = self._check_ids("idx", idx)
        B, T = idx.shape
        start = 0 if kv_cache is None else kv_cache.length
        if start + T > self.config.block_size:
            if kv_cache is None:
                raise ValueError(f"GPT.forward: sequence length T={T} exceeds block_size={self.config.block_size}")
            raise ValueError(
                f"GPT.forward: {kv_cache.length} cached + {T} new positions exceed block_size="
                f"{self.config.block_size}; reset() the cache and re-feed the last block_size tokens"
            )
        if targets is not None:
            targets = self._check_ids("targets", targets, allow_ignore=True)
            if targets.shape != idx.shape:
                raise ValueError(f"GPT.forward: targets shape {targets.shape} must equal idx shape {idx.shape}")
        if kv_cache is not None:
            if len(kv_cache) != self.config.n_layer:
                raise ValueError(f"GPT.forward: kv_cache has {len(kv_cache)} layers, the model {self.config.n_layer}")
            if is_grad_enabled():  # the sampler has switched grad off already: no second no_grad per token
                with no_grad():
                    return self._forward(idx, targets, kv_cache, start)
            return self._forward(idx, targets, kv_cache, start)
        return self._forward(idx, targets, None, start)

    def _forward(self, idx: np.ndarray, targets: np.ndarray | None, kv_cache: KVCache | None,
                 start: int) -> tuple[Tensor, Tensor | None]:
        tr = self.transformer
        T = idx.shape[1]
        tok = tr.wte(idx)  # (B, T, C)
        pos = tr.wpe.weight[start:start + T]  # (T, C): positions start .. start+T-1, a slice (no lookup)
        x = tr.drop(tok + pos)  # (B, T, C)
        for i, block in enumerate(tr.h):
            x = block(x, None if kv_cache is None else kv_cache[i])  # (B, T, C)
        x = tr.ln_f(x)
        logits = F.linear_tied(x, tr.wte.weight)  # (B, T, V)
        loss = None if targets is None else F.cross_entropy(logits, targets, ignore_index=-1)
        return logits, loss
