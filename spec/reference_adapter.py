"""The spec's adapter for numgpt, the reference implementation.

This is ``spec/adapter_template.py`` filled in: each function maps one contract onto numgpt's
API. It is the only file in spec/ that imports numgpt.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

import numgpt.attention as attention
import numgpt.tensor as nt
from numgpt.nn import Module
from numgpt.nn import functional as F
from numgpt.tensor import Tensor
from numgpt.transformer import GPT, Block, GPTConfig

# =============================================================================================
# M1: Tensor + autograd
# =============================================================================================


def tensor(data: np.ndarray, requires_grad: bool = False) -> Tensor:
    return Tensor(np.asarray(data), requires_grad=requires_grad)


def to_numpy(t: Tensor) -> np.ndarray:
    return t.data


def backward(t: Tensor, grad: np.ndarray | None = None) -> None:
    t.backward(grad)


def grad(t: Tensor) -> np.ndarray | None:
    return t.grad


def zero_grad(t: Tensor) -> None:
    t.zero_grad()


def no_grad():
    return nt.no_grad()


def detach(t: Tensor) -> Tensor:
    return t.detach()


def add(a: Tensor, b: Any) -> Tensor:
    return a + b


def sub(a: Tensor, b: Any) -> Tensor:
    return a - b


def mul(a: Tensor, b: Any) -> Tensor:
    return a * b


def div(a: Tensor, b: Any) -> Tensor:
    return a / b


def neg(a: Tensor) -> Tensor:
    return -a


def pow(a: Tensor, exponent: float) -> Tensor:
    return a ** exponent


def matmul(a: Tensor, b: Tensor) -> Tensor:
    return a @ b


def sum(a: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    return a.sum(axis=axis, keepdims=keepdims)


def mean(a: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    return a.mean(axis=axis, keepdims=keepdims)


def max(a: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    return a.max(axis=axis, keepdims=keepdims)


def relu(a: Tensor) -> Tensor:
    return a.relu()


def exp(a: Tensor) -> Tensor:
    return a.exp()


def log(a: Tensor) -> Tensor:
    return a.log()


def tanh(a: Tensor) -> Tensor:
    return a.tanh()


def reshape(a: Tensor, shape) -> Tensor:
    return a.reshape(shape)


def transpose(a: Tensor, axes=None) -> Tensor:
    return a.transpose(axes)


def getitem(a: Tensor, index) -> Tensor:
    return a[index]


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    return nt.concatenate(tensors, axis=axis)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    return nt.stack(tensors, axis=axis)


# =============================================================================================
# M2: layers (nn)
# =============================================================================================
# numgpt.nn.functional already has the contract's signatures (weights (in, out), Tensors in and
# out); only dropout differs: the contract passes a seed, numgpt a Generator.


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    return F.linear(x, weight, bias)


def layer_norm(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float = 1e-5) -> Tensor:
    return F.layer_norm(x, weight, bias, eps)


def embedding(ids: np.ndarray, weight: Tensor) -> Tensor:
    return F.embedding(ids, weight)


def gelu(x: Tensor) -> Tensor:
    return F.gelu(x)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    return F.softmax(x, axis=axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    return F.log_softmax(x, axis=axis)


def cross_entropy(logits: Tensor, targets: np.ndarray, ignore_index: int = -1) -> Tensor:
    return F.cross_entropy(logits, targets, ignore_index=ignore_index)


def dropout(x: Tensor, p: float, training: bool, seed: int | None) -> Tensor:
    return F.dropout(x, p, training, rng=np.random.default_rng(seed))


# =============================================================================================
# M3: attention
# =============================================================================================


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, causal: bool = False, mask=None) -> Tensor:
    return attention.scaled_dot_product_attention(q, k, v, causal=causal, mask=mask)


def causal_self_attention(x: Tensor, n_head: int, c_attn_weight: Tensor, c_attn_bias: Tensor | None,
                          c_proj_weight: Tensor, c_proj_bias: Tensor | None) -> Tensor:
    """CausalSelfAttention.forward without dropout: c_attn, the fused multi-head node, c_proj."""
    qkv = F.linear(x, c_attn_weight, c_attn_bias)  # (B, T, 3C)
    y = attention.causal_self_attention(qkv, n_head)  # (B, T, C), heads merged
    return F.linear(y, c_proj_weight, c_proj_bias)


# =============================================================================================
# M4: transformer / GPT
# =============================================================================================


def _use_tensors(module: Module, tensors: dict[str, Tensor]) -> Module:
    """Point ``module``'s parameters (dotted names) at the given tensors, so gradients reach them."""
    own = dict(module.named_parameters())
    unknown = sorted(set(tensors) - set(own))
    if unknown:
        raise KeyError(f"{type(module).__name__} has no parameters named {unknown}; it has {sorted(own)}")
    for name, t in tensors.items():
        *path, leaf = name.split(".")
        owner = module
        for part in path:
            owner = getattr(owner, part)
        setattr(owner, leaf, t)
    return module


def transformer_block(x: Tensor, n_head: int, params: dict[str, Tensor]) -> Tensor:
    config = GPTConfig(block_size=x.shape[-2], vocab_size=1, n_layer=1, n_head=n_head, n_embd=x.shape[-1],
                       dropout=0.0, bias="ln_1.bias" in params)
    return _use_tensors(Block(config, dtype=x.dtype), params)(x)


def gpt_init(config: dict, seed: int) -> dict[str, np.ndarray]:
    return GPT(config, seed=seed).state_dict()


def gpt_model(config: dict, state_dict: dict[str, np.ndarray], dtype=np.float64) -> GPT:
    model = GPT(config, seed=0, dtype=dtype)
    model.load_state_dict(state_dict)  # strict: names missing/unexpected keys and shape mismatches
    return model


def gpt_parameters(model: GPT) -> dict[str, Tensor]:
    return dict(model.named_parameters())


def gpt_forward(model: GPT, idx: np.ndarray, targets: np.ndarray | None = None):
    return model(idx, targets)


def gpt_train_mode(model: GPT, training: bool) -> None:
    model.train(training)


# =============================================================================================
# M5: BPE tokenizer
# =============================================================================================
import builtins as _builtins  # this module defines max/sum (M1) that shadow the builtins
from pathlib import Path as _Path

import numgpt.tokenizer as tokenizer


def train_bpe(input_path: str, vocab_size: int, special_tokens: list[str]):
    with open(_Path(input_path), encoding="utf-8", newline="") as f:
        text = f.read()
    tok = tokenizer.train_bpe(text, vocab_size, special_tokens, pattern=tokenizer.GPT2_SPLIT_PATTERN)
    return tok.vocab, tok.merges


def get_tokenizer(vocab: dict[int, bytes], merges: list[tuple[bytes, bytes]], special_tokens: list[str] | None = None):
    built = {bytes([b]) for b in range(256)} | {a + b for a, b in merges}
    ordinary = dict(vocab)
    id_of = {b: i for i, b in vocab.items()}
    next_id = _builtins.max(vocab, default=-1) + 1
    specials: dict[str, int] = {}
    for s in special_tokens or ():
        raw = s.encode("utf-8")
        if raw in id_of and raw not in built:
            specials[s] = id_of[raw]
            ordinary.pop(id_of[raw])
        else:
            specials[s], next_id = next_id, next_id + 1
    return tokenizer.BPETokenizer(ordinary, merges, specials, pattern=tokenizer.GPT2_SPLIT_PATTERN)


def get_cl100k_tokenizer(ranks_path: str, special_tokens: dict[str, int]):
    return tokenizer.BPETokenizer.from_tiktoken(ranks_path, special_tokens, pattern=tokenizer.GPT4_SPLIT_PATTERN)


# =============================================================================================
# M6: training
# =============================================================================================
from numgpt import checkpoint as _ckpt  # noqa: E402  (imported here: this section's own imports)
from numgpt.training import clip as _clip  # noqa: E402
from numgpt.training import data as _data  # noqa: E402
from numgpt.training import optim as _optim  # noqa: E402
from numgpt.training import schedule as _schedule  # noqa: E402


def adamw(params: dict[str, Tensor], lr: float, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
    return _optim.configure_optimizer(params.items(), lr, tuple(betas), weight_decay, eps)


def optimizer_step(optimizer) -> None:
    optimizer.step()


def optimizer_zero_grad(optimizer) -> None:
    optimizer.zero_grad()


def optimizer_set_lr(optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def lr_schedule(step: int, warmup_iters: int, lr_decay_iters: int, max_lr: float, min_lr: float) -> float:
    return _schedule.get_lr(step, warmup_iters, lr_decay_iters, max_lr, min_lr)


def clip_grad_norm(params: Sequence[Tensor], max_norm: float) -> float:
    return _clip.clip_grad_norm(params, max_norm)


def get_batch(data: np.ndarray, batch_size: int, block_size: int, seed: int):
    return _data.get_batch(data, batch_size, block_size, np.random.default_rng(seed))


def save_checkpoint(path: str, model: GPT, optimizer, step: int) -> None:
    config = {"model_args": model.config.to_dict(), "dtype": np.dtype(model.dtype).name}
    _ckpt.save_checkpoint(path, _ckpt.Checkpoint(model=model.state_dict(), optimizer=optimizer.state_dict(),
                                                 step=step, config=config))


def load_checkpoint(path: str):
    ckpt = _ckpt.load_checkpoint(path)
    model = GPT(ckpt.config["model_args"], dtype=np.dtype(ckpt.config["dtype"]))
    model.load_state_dict(ckpt.model)
    optimizer = _optim.configure_optimizer(model.named_parameters(), 0.0, (0.9, 0.999), 0.0)
    optimizer.load_state_dict(ckpt.optimizer)  # restores lr, betas, eps, weight decay per group, t, m, v
    return model, optimizer, ckpt.step



# =============================================================================================
# M7: sampling
# =============================================================================================
from numgpt import sampling as _sampling  # noqa: E402


def filter_logits(logits: np.ndarray, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> np.ndarray:
    return _sampling.filter_logits(logits, temperature, top_k, top_p)


def sample(logits: np.ndarray, num_samples: int, temperature: float = 1.0, top_k: int | None = None,
           top_p: float | None = None, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if temperature == 0:
        return np.array([_sampling.sample_next(logits, rng, 0.0, top_k, top_p)] * num_samples)
    return _sampling.sample_from_probs(_sampling.filter_logits(logits, temperature, top_k, top_p), rng, num_samples)


def utf8_stream(chunks: Sequence[bytes]) -> list[str]:
    decoder = _sampling.Utf8StreamDecoder()
    return [decoder.feed(c) for c in chunks] + [decoder.finish()]


def generate(model: GPT, prompt_ids: np.ndarray, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
             stop_tokens: Sequence[int] = (), use_cache: bool = True, window_shift: int = 1) -> np.ndarray:
    return _sampling.generate(model, prompt_ids, max_new_tokens, temperature, top_k, top_p, seed, stop_tokens,
                              use_cache, window_shift)


def _teacher_forced(decoder: "_sampling.Decoder", prompt_ids: np.ndarray, continuation_ids: np.ndarray) -> np.ndarray:
    with _sampling.inference_mode(decoder.model):
        rows = [decoder.feed(np.asarray(prompt_ids).tolist())]
        rows += [decoder.feed([int(t)]) for t in continuation_ids]
    return np.stack(rows)  # (len(continuation) + 1, V)


def step_logits(model: GPT, prompt_ids: np.ndarray, continuation_ids: np.ndarray, use_cache: bool = True,
                window_shift: int = 1) -> np.ndarray:
    return _teacher_forced(_sampling.Decoder(model, use_cache=use_cache, window_shift=window_shift), prompt_ids,
                           continuation_ids)


# =============================================================================================
# M8: modern blocks
# =============================================================================================
# numgpt's Llama-style model is GPT with GPTConfig.llama(...): RMSNorm, SwiGLU, RoPE, n_kv_head, no
# biases, an untied lm_head, Hugging Face parameter names. Until numgpt has these blocks (branch
# `blocks`), every M8 function reports "not implemented" with the missing name.
try:
    from numgpt.attention import apply_rope as _apply_rope  # noqa: E402
    _M8_MISSING = None if all(hasattr(F, n) for n in ("rms_norm", "silu", "swiglu")) and hasattr(GPTConfig, "llama") \
        else "numgpt.nn.functional.rms_norm/silu/swiglu or GPTConfig.llama"
except ImportError as _e:
    _M8_MISSING = str(_e)


def _m8() -> None:
    if _M8_MISSING:
        raise NotImplementedError(f"numgpt has no M8 blocks yet ({_M8_MISSING})")


def _llama_config(config: dict) -> GPTConfig:
    return GPTConfig.llama(**{k: v for k, v in config.items() if v is not None})


def rms_norm(x: Tensor, weight: Tensor, eps: float = 1e-5) -> Tensor:
    _m8()
    return F.rms_norm(x, weight, eps)


def silu(x: Tensor) -> Tensor:
    _m8()
    return F.silu(x)


def swiglu(x: Tensor, w1: Tensor, w3: Tensor, w2: Tensor) -> Tensor:
    _m8()
    return F.swiglu(x, w1, w3, w2)


def rope(x: Tensor, positions: np.ndarray, theta: float = 10000.0) -> Tensor:
    _m8()
    return _apply_rope(x, np.asarray(positions), theta)


def grouped_query_attention(q: Tensor, k: Tensor, v: Tensor, causal: bool = True) -> Tensor:
    _m8()
    return attention.scaled_dot_product_attention(q, k, v, causal=causal)  # the fused node groups kv heads


def _llama_block(x: Tensor, n_head: int, n_kv_head: int, theta: float, eps: float) -> Block:
    config = _llama_config(dict(block_size=x.shape[-2], vocab_size=1, n_layer=1, n_head=n_head, n_kv_head=n_kv_head,
                                n_embd=x.shape[-1], rope_theta=theta, norm_eps=eps, dropout=0.0))
    return Block(config, dtype=x.dtype)


def llama_self_attention(x: Tensor, n_head: int, n_kv_head: int, q_proj: Tensor, k_proj: Tensor, v_proj: Tensor,
                         o_proj: Tensor, theta: float = 10000.0) -> Tensor:
    _m8()
    attn = _llama_block(x, n_head, n_kv_head, theta, 1e-5).self_attn
    return _use_tensors(attn, {"q_proj.weight": q_proj, "k_proj.weight": k_proj, "v_proj.weight": v_proj,
                               "o_proj.weight": o_proj})(x)


def llama_block(x: Tensor, n_head: int, n_kv_head: int, params: dict[str, Tensor], theta: float = 10000.0,
                eps: float = 1e-5) -> Tensor:
    _m8()
    block = _llama_block(x, n_head, n_kv_head, theta, eps)
    hidden = params["mlp.gate_proj.weight"].shape[0]
    if hidden != block.mlp.gate_proj.weight.shape[0]:  # the spec's blocks may use any hidden size
        config = _llama_config(dict(block_size=x.shape[-2], vocab_size=1, n_layer=1, n_head=n_head,
                                    n_kv_head=n_kv_head, n_embd=x.shape[-1], rope_theta=theta, norm_eps=eps,
                                    dropout=0.0, ffn_hidden=hidden))
        block = Block(config, dtype=x.dtype)
    return _use_tensors(block, params)(x)


def llama_init(config: dict, seed: int) -> dict[str, np.ndarray]:
    _m8()
    return GPT(_llama_config(config), seed=seed).state_dict()


def llama_model(config: dict, state_dict: dict[str, np.ndarray], dtype=np.float64) -> GPT:
    _m8()
    model = GPT(_llama_config(config), seed=0, dtype=dtype)
    model.load_state_dict(state_dict)
    return model
