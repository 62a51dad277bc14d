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

The Llama family is the same code with other parts chosen by ``GPTConfig`` (``GPTConfig.llama()``):
RMSNorm for LayerNorm, the SwiGLU MLP for GELU, rotary positions (no ``wpe``; q and k rotated in
attention) for learned ones, ``n_kv_head`` kv heads, no biases, an untied ``lm_head``::

    x = embed_tokens[idx]                               # (B, T, C), no position embedding
    for each layer:
        x = x + self_attn(input_layernorm(x))           #   q/k/v_proj -> RoPE(q, k) -> GQA -> o_proj
        x = x + mlp(post_attention_layernorm(x))        #   down_proj(silu(gate_proj x) * up_proj x)
    logits = lm_head(norm(x))                           # (B, T, V)

A rotary model (``positions="rope"``) uses Hugging Face LlamaForCausalLM's names and its
``(out, in)`` weight layout (``model.layers.0.self_attn.q_proj.weight`` ...), so an HF state dict
loads as it is (after ``hf_to_interleaved_rows`` on q_proj and k_proj, see numgpt.attention.rope);
a learned-position model keeps GPT-2's names. docs/model.md has the table.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..attention import CausalSelfAttention, KVCache, LlamaAttention, kv_group_size
from ..nn import GELU, Dropout, Embedding, LayerNorm, Linear, LinearT, Module, ModuleDict, ModuleList, RMSNorm, SwiGLU
from ..nn import functional as F
from ..tensor import Tensor, is_grad_enabled, no_grad

__all__ = ["GPTConfig", "MLP", "Block", "GPT", "make_mlp", "make_norm"]


# the values of GPTConfig's string fields (the first is the default, GPT-2's)
_CHOICES = {"norm": ("layernorm", "rmsnorm"), "mlp": ("gelu", "swiglu"), "positions": ("learned", "rope")}


@dataclass
class GPTConfig:
    """Model hyperparameters (defaults: GPT-2 124M with the vocab padded to 50304).

    Each part of the block is a choice; the defaults are GPT-2's, so older configs and checkpoints
    (which lack the newer keys) load unchanged. ``GPTConfig.llama(...)`` picks the Llama family.

    norm: "layernorm" (with bias if ``bias``) | "rmsnorm"; eps ``norm_eps`` (inside the root).
    mlp: "gelu" | "swiglu"; hidden width ``ffn_hidden`` if set, else 4 n_embd (gelu) or
        ``32 * ceil(8 n_embd / 3 / 32)`` (swiglu: Llama's 2/3 of 4 n_embd, rounded up to a multiple of 32).
    positions: "learned" (``wpe``, GPT-2 names) | "rope" (rotary, base ``rope_theta``; HF Llama names).
    n_kv_head: kv heads of grouped-query attention (None = n_head; must divide n_head; 1 = multi-query).
    tie_embeddings: the LM head reuses the token embedding (True) or has its own ``lm_head.weight``.
    """

    block_size: int = 1024
    vocab_size: int = 50304
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True
    norm: str = "layernorm"
    mlp: str = "gelu"
    positions: str = "learned"
    n_kv_head: int | None = None
    tie_embeddings: bool = True
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    ffn_hidden: int | None = None

    def __post_init__(self) -> None:
        optional = [n for n in ("n_kv_head", "ffn_hidden") if getattr(self, n) is not None]
        for name in ("block_size", "vocab_size", "n_layer", "n_head", "n_embd", *optional):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
            setattr(self, name, int(value))
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"GPTConfig.{name} must be one of {list(choices)}, got {getattr(self, name)!r}")
        for name in ("rope_theta", "norm_eps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"GPTConfig.{name} must be a positive number, got {value!r}")
            setattr(self, name, float(value))
        self.tie_embeddings = bool(self.tie_embeddings)
        if self.n_embd % self.n_head:
            raise ValueError(
                f"GPTConfig: n_embd={self.n_embd} must be divisible by n_head={self.n_head} "
                f"(each head gets n_embd / n_head dims)"
            )
        self.dropout = F.check_dropout_p(self.dropout, "GPTConfig.dropout")
        self.bias = bool(self.bias)
        try:
            kv_group_size(self.n_head, self.kv_heads)
        except ValueError as e:
            raise ValueError(f"GPTConfig: {e}") from None
        if self.positions == "rope" and self.head_size % 2:
            raise ValueError(f"GPTConfig: rotary positions need an even head size, got head_size={self.head_size} "
                             f"(n_embd={self.n_embd} / n_head={self.n_head})")

    @classmethod
    def llama(cls, **overrides: Any) -> "GPTConfig":
        """A Llama-style config: rmsnorm, swiglu, rope, no biases, untied lm_head (any field overridable)."""
        return cls.from_dict({"norm": "rmsnorm", "mlp": "swiglu", "positions": "rope", "bias": False,
                              "tie_embeddings": False, **overrides})

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    @property
    def kv_heads(self) -> int:
        """The number of key/value heads (``n_kv_head``, or n_head when None)."""
        return self.n_head if self.n_kv_head is None else self.n_kv_head

    @property
    def hidden_size(self) -> int:
        """The MLP's hidden width: ffn_hidden if set, else 4 n_embd (gelu) or 32 * ceil(8 n_embd / 3 / 32) (swiglu)."""
        if self.ffn_hidden is not None:
            return self.ffn_hidden
        return 4 * self.n_embd if self.mlp == "gelu" else 32 * math.ceil(8 * self.n_embd / 3 / 32)

    def min_parameters(self) -> int:
        """A lower bound on the model's parameter count, computed without building it: the token
        embedding, the position table (learned positions), and per block the attention's query and
        output projections (2 n_embd^2) and the MLP's two n_embd x hidden matrices. A loader checks
        a file's weights against it before allocating a model (a crafted shape cannot ask for TiB)."""
        C = self.n_embd
        positions = self.block_size * C if self.positions == "learned" else 0
        return self.vocab_size * C + positions + self.n_layer * (2 * C * C + 2 * C * self.hidden_size)

    @property
    def hf_names(self) -> bool:
        """True for rotary models, which use Hugging Face Llama's parameter names and (out, in) layout."""
        return self.positions == "rope"

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
    """``c_proj(gelu(c_fc(x)))`` with a 4x wide hidden layer (``hidden_size``), then dropout.
    (``mlp="swiglu"`` configs use ``numgpt.nn.SwiGLU`` instead, see ``make_mlp``.)"""

    def __init__(self, config: GPTConfig, rng: np.random.Generator | None = None, dtype: Any = np.float32,
                 seed: Any = None):
        C, H = config.n_embd, config.hidden_size
        self.c_fc = Linear(C, H, bias=config.bias, dtype=dtype, rng=rng)
        self.gelu = GELU()
        self.c_proj = Linear(H, C, bias=config.bias, dtype=dtype, rng=rng, std=0.02 / math.sqrt(2 * config.n_layer))
        self.dropout = Dropout(config.dropout, seed=seed)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))  # (B, T, C) -> (B, T, 4C) -> (B, T, C)


def make_mlp(config: GPTConfig, rng: np.random.Generator | None, dtype: Any, seed: Any) -> Module:
    """The block's feed-forward chosen by ``config.mlp``: GPT-2's ``MLP`` or Llama's ``SwiGLU``
    (``gate_proj`` / ``up_proj`` / ``down_proj``, hidden ``config.hidden_size``, then dropout)."""
    if config.mlp == "swiglu":
        return SwiGLU(config.n_embd, config.hidden_size, bias=config.bias, dtype=dtype, rng=rng,
                      down_std=0.02 / math.sqrt(2 * config.n_layer), dropout=config.dropout, seed=seed)
    return MLP(config, rng=rng, dtype=dtype, seed=seed)


def make_norm(config: GPTConfig, dtype: Any) -> Module:
    """The block's normalisation layer chosen by ``config.norm``."""
    if config.norm == "rmsnorm":
        return RMSNorm(config.n_embd, eps=config.norm_eps, dtype=dtype)
    return LayerNorm(config.n_embd, eps=config.norm_eps, bias=config.bias, dtype=dtype)


class Block(Module):
    """A pre-norm transformer block: ``x + attn(norm_1(x))``, then ``x + mlp(norm_2(x))``.

    GPT-2 names (``ln_1``, ``attn``, ``ln_2``, ``mlp``) with learned positions; Hugging Face Llama
    names (``input_layernorm``, ``self_attn``, ``post_attention_layernorm``, ``mlp``) with rotary ones.
    """

    def __init__(self, config: GPTConfig, rng: np.random.Generator | None = None, dtype: Any = np.float32,
                 seed: Any = None):
        base = () if seed is None else tuple(np.atleast_1d(seed))
        self.hf_names = config.hf_names
        attn_cls = LlamaAttention if config.hf_names else CausalSelfAttention
        norm_1 = make_norm(config, dtype)
        attn = attn_cls(config, rng=rng, dtype=dtype, seed=None if seed is None else base + (0,))
        norm_2 = make_norm(config, dtype)
        if self.hf_names:
            self.input_layernorm, self.self_attn, self.post_attention_layernorm = norm_1, attn, norm_2
        else:
            self.ln_1, self.attn, self.ln_2 = norm_1, attn, norm_2
        self.mlp = make_mlp(config, rng, dtype, None if seed is None else base + (1,))

    def forward(self, x: Tensor, cache: Any = None) -> Tensor:
        if self.hf_names:
            x = x + self.self_attn(self.input_layernorm(x), cache)
            return x + self.mlp(self.post_attention_layernorm(x))
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


class GPT(Module):
    """A decoder-only transformer language model (GPT-2 architecture).

    Args:
        config: a ``GPTConfig`` (or a dict of its fields).
        seed: seeds the initialisation (``np.random.default_rng(seed)``) and every dropout mask;
            the same seed gives bit-identical weights and masks.
        dtype: parameter dtype; float32 for training, ``.to(np.float64)`` for gradient checks.

    Init (GPT-2): weights and embeddings N(0, 0.02); the residual projections (``attn.c_proj``,
    ``mlp.c_proj``; ``o_proj``, ``down_proj``) N(0, 0.02/sqrt(2 n_layer)); biases 0; norm weights 1.
    With ``tie_embeddings`` (GPT-2) the LM head is the token embedding (``logits = x @ wte.T``): no
    parameter of its own, its gradient is added to the embedding's. Untied: ``lm_head.weight``
    (V, C), N(0, 0.02). Rotary configs build the Hugging Face Llama tree (``model.embed_tokens``,
    ``model.layers``, ``model.norm``, ``lm_head``), learned-position ones GPT-2's (``transformer.*``).
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
        wte = Embedding(config.vocab_size, C, dtype=dtype, rng=rng)
        wpe = Embedding(config.block_size, C, dtype=dtype, rng=rng) if config.positions == "learned" else None
        drop = Dropout(config.dropout, seed=(seed, 0))
        blocks = ModuleList([Block(config, rng=rng, dtype=dtype, seed=(seed, 1, i)) for i in range(config.n_layer)])
        norm = make_norm(config, dtype)
        if config.hf_names:
            self.model = ModuleDict(embed_tokens=wte, drop=drop, layers=blocks, norm=norm)
        else:
            parts = dict(wte=wte, wpe=wpe, drop=drop, h=blocks, ln_f=norm)
            self.transformer = ModuleDict(**{k: v for k, v in parts.items() if v is not None})
        self.lm_head = None if config.tie_embeddings else LinearT(C, config.vocab_size, bias=False, dtype=dtype, rng=rng)

    def parts(self) -> tuple[Embedding, Embedding | None, Dropout, ModuleList, Module]:
        """(token embedding, position embedding or None, dropout, blocks, final norm), whichever
        names (GPT-2's or HF Llama's) they are registered under."""
        if self.config.hf_names:
            m = self.model
            return m.embed_tokens, None, m.drop, m.layers, m.norm
        t = self.transformer
        return t.wte, getattr(t, "wpe", None), t.drop, t.h, t.ln_f

    @property
    def dtype(self) -> np.dtype:
        return self.parts()[0].weight.dtype

    def num_parameters(self, non_embedding: bool = False) -> int:
        """Parameter count (a tied wte/lm_head weight counted once). With ``non_embedding``, the
        position embeddings are left out (nanoGPT's convention; wte stays, it is the LM head)."""
        n, wpe = super().num_parameters(), self.parts()[1]
        return n - wpe.weight.size if non_embedding and wpe is not None else n

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
        T = idx.shape[1]
        embed, wpe, drop, blocks, norm = self.parts()
        x = embed(idx)  # (B, T, C)
        if wpe is not None:  # learned positions start .. start+T-1, a slice (no lookup); rope acts in attention
            x = x + wpe.weight[start:start + T]
        x = drop(x)  # (B, T, C)
        for i, block in enumerate(blocks):
            x = block(x, None if kv_cache is None else kv_cache[i])  # (B, T, C)
        x = norm(x)
        # (B, T, V): tied head x @ wte.T, or the own lm_head (also (V, C), HF layout)
        logits = F.linear_tied(x, embed.weight) if self.lm_head is None else self.lm_head(x)
        loss = None if targets is None else F.cross_entropy(logits, targets, ignore_index=-1)
        return logits, loss
