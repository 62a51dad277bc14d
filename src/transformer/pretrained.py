"""Load a GPT-2 or Llama-family checkpoint in the Hugging Face hub's layout into numgpt's GPT.

A directory holding ``config.json``, ``model.safetensors`` (or shards listed by
``model.safetensors.index.json``) and the tokenizer: ``vocab.json`` + ``merges.txt`` (GPT-2) or
``tokenizer.json`` (byte-level BPE). ``config.json``'s ``model_type`` / ``architectures`` pick the
family; any other is refused by name.

GPT-2 (``GPT2LMHeadModel``): the tensor names are numgpt's (with or without the ``transformer.``
prefix), and its Conv1D weights are stored ``(in, out)`` like numgpt's Linear, so float32 tensors
become the parameters as they are: views of the memory-mapped file, no copy. The causal-mask buffers
(``attn.bias``, ``attn.masked_bias``) are skipped, and ``lm_head.weight`` is tied to ``wte``.

Llama (``LlamaForCausalLM``): numgpt's rotary GPT uses HF's names and ``(out, in)`` layout, so the
tensors map name for name, views of the file too, except ``q_proj`` / ``k_proj``: HF stores their rows
in the rotate_half order, numgpt's RoPE pairs them interleaved, so ``hf_to_interleaved_rows`` permutes
them (a copy). ``rotary_emb.inv_freq`` buffers are skipped, and so is ``lm_head.weight`` when
``tie_word_embeddings``. float16/bfloat16 tensors are widened to float32 in either family.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import safetensors
from ..attention import hf_to_interleaved_rows
from ..nn.layers import uninitialised
from .gpt import GPT, GPTConfig

__all__ = ["load_pretrained", "gpt2_config", "llama_config", "model_family", "read_config", "read_json", "shard_names", "init_from_pretrained"]

_SKIPPED = (".attn.bias", ".attn.masked_bias", ".rotary_emb.inv_freq")


def model_family(cfg: dict[str, Any], where: str = "config.json") -> str:
    """``"gpt2"`` or ``"llama"``: the family a ``config.json`` describes (``model_type``, else
    ``architectures``; neither means an old GPT-2 config). Anything else is a ValueError naming it."""
    model_type, archs = cfg.get("model_type"), cfg.get("architectures") or []
    if model_type == "llama" or (model_type is None and "LlamaForCausalLM" in archs):
        return "llama"
    if model_type == "gpt2" or (model_type is None and (not archs or "GPT2LMHeadModel" in archs)):
        return "gpt2"
    raise ValueError(f"{where}: model_type {model_type!r} (architectures {archs}) is not supported; numgpt loads "
                     f"'gpt2' (GPT2LMHeadModel) and 'llama' (LlamaForCausalLM) checkpoints")


def _make_config(where: str, factory: Any, **fields: Any) -> GPTConfig:
    """``factory(**fields)`` (``GPTConfig.from_dict``-like), its ValueError prefixed with ``where``."""
    try:
        return factory(**fields)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def gpt2_config(cfg: dict[str, Any], where: str = "config.json", dropout: float = 0.0) -> GPTConfig:
    """A ``GPTConfig`` from a GPT-2 ``config.json`` (n_positions, n_embd, n_layer, n_head, vocab_size)."""
    act = cfg.get("activation_function", "gelu_new")
    if act not in ("gelu_new", "gelu_pytorch_tanh"):
        raise ValueError(f"{where}: activation_function {act!r} is not supported (numgpt's GELU is the tanh "
                         f"approximation, GPT-2's 'gelu_new')")
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or abs(eps - 1e-5) > 1e-12:
        raise ValueError(f"{where}: layer_norm_epsilon {eps!r} is not supported (numgpt's LayerNorm uses 1e-5)")
    try:
        shape = dict(block_size=cfg["n_positions"], vocab_size=cfg["vocab_size"], n_layer=cfg["n_layer"],
                     n_head=cfg["n_head"], n_embd=cfg["n_embd"])
    except KeyError as e:
        raise ValueError(f"{where}: missing key {e.args[0]!r}") from None
    return _make_config(where, GPTConfig, **shape, dropout=dropout, bias=True)


def llama_config(cfg: dict[str, Any], where: str = "config.json", dropout: float = 0.0) -> GPTConfig:
    """A Llama ``GPTConfig`` from a LlamaForCausalLM ``config.json`` (hidden_size, num_hidden_layers,
    num_attention_heads, num_key_value_heads, intermediate_size, max_position_embeddings, vocab_size,
    rms_norm_eps, rope_theta, tie_word_embeddings; absent optional keys take HF's defaults). What numgpt
    does not compute is refused by name: hidden_act other than silu, rope_scaling, attention/MLP
    biases, a head_dim other than hidden_size / num_attention_heads."""
    act = cfg.get("hidden_act", "silu")
    if act != "silu":
        raise ValueError(f"{where}: hidden_act {act!r} is not supported (numgpt's SwiGLU MLP uses 'silu')")
    if cfg.get("rope_scaling") is not None:
        raise ValueError(f"{where}: rope_scaling {cfg['rope_scaling']!r} is not supported (numgpt's RoPE is the "
                         f"plain one: rope_scaling must be null)")
    for key in ("attention_bias", "mlp_bias"):
        if cfg.get(key):
            raise ValueError(f"{where}: {key} {cfg[key]!r} is not supported (numgpt's Llama layers have no biases)")
    try:
        hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
        shape = dict(n_embd=hidden, n_layer=cfg["num_hidden_layers"], n_head=heads,
                     ffn_hidden=cfg["intermediate_size"], vocab_size=cfg["vocab_size"])
    except KeyError as e:
        raise ValueError(f"{where}: missing key {e.args[0]!r}") from None
    head_dim = cfg.get("head_dim")
    if head_dim is not None and isinstance(hidden, int) and isinstance(heads, int) and heads > 0 \
            and head_dim != hidden // heads:
        raise ValueError(f"{where}: head_dim {head_dim} is not supported (numgpt's head size is hidden_size / "
                         f"num_attention_heads = {hidden} / {heads})")
    return _make_config(where, GPTConfig.llama, **shape, n_kv_head=cfg.get("num_key_value_heads", heads),
                        block_size=cfg.get("max_position_embeddings", 2048), norm_eps=cfg.get("rms_norm_eps", 1e-6),
                        rope_theta=cfg.get("rope_theta", 10000.0),
                        tie_embeddings=cfg.get("tie_word_embeddings", False), dropout=dropout)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; anything else is a ValueError naming the file."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read {path}: {e}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def _tensors(directory: Path, writable: bool) -> dict[str, np.ndarray]:
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        out: dict[str, np.ndarray] = {}
        for shard in shard_names(index):
            out.update(safetensors.load(directory / shard, writable=writable))
        return out
    single = directory / "model.safetensors"
    if not single.is_file():
        raise ValueError(f"{directory}: no model.safetensors or model.safetensors.index.json (only safetensors "
                         f"checkpoints are read: no pickle)")
    return safetensors.load(single, writable=writable)


def shard_names(index: Path) -> list[str]:
    """The shard files a ``model.safetensors.index.json`` lists (its ``weight_map`` values), each a
    plain file name in the same directory (a path elsewhere is refused)."""
    weight_map = read_json(index).get("weight_map")
    if not isinstance(weight_map, dict) or not all(isinstance(f, str) for f in weight_map.values()):
        raise ValueError(f"{index}: expected a 'weight_map' object (tensor name -> shard file name)")
    shards = sorted(set(weight_map.values()))
    for shard in shards:
        if Path(shard).name != shard or shard.startswith("."):
            raise ValueError(f"{index}: shard {shard!r} is not a file name in the same directory")
    return shards


def read_config(directory: Path, dropout: float = 0.0) -> GPTConfig:
    """The ``GPTConfig`` of the hub-layout checkpoint in ``directory`` (its ``config.json``)."""
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise ValueError(f"{directory}: no config.json (expected the hub layout: config.json, model.safetensors, "
                         f"and vocab.json + merges.txt or tokenizer.json)")
    cfg = read_json(config_path)
    make = llama_config if model_family(cfg, str(config_path)) == "llama" else gpt2_config
    return make(cfg, str(config_path), dropout)


def _hub_state(tensors: dict[str, np.ndarray], config: GPTConfig) -> dict[str, np.ndarray]:
    """The checkpoint's tensors under numgpt's parameter names (buffers and a tied lm_head left out)."""
    state = {}
    for name, arr in tensors.items():
        if name.endswith(_SKIPPED) or (name == "lm_head.weight" and config.tie_embeddings):
            continue
        if not config.hf_names and not name.startswith("transformer."):
            name = f"transformer.{name}"  # GPT2Model's names: h.0.attn.c_attn.weight ...
        state[name] = arr
    wpe = state.get("transformer.wpe.weight")
    if wpe is not None and wpe.ndim == 2 and wpe.shape[0] > config.block_size:
        state["transformer.wpe.weight"] = wpe[:config.block_size]  # cropped: the first positions, a view
    return state


def _as_parameter(name: str, arr: np.ndarray, config: GPTConfig) -> np.ndarray:
    """float32 (the file's view when it is float32 already), q_proj / k_proj rows interleaved for RoPE."""
    arr = arr if arr.dtype == np.float32 else arr.astype(np.float32)
    if config.hf_names and name.endswith(".self_attn.q_proj.weight"):
        return hf_to_interleaved_rows(arr, config.n_head, config.head_size)
    if config.hf_names and name.endswith(".self_attn.k_proj.weight"):
        return hf_to_interleaved_rows(arr, config.kv_heads, config.head_size)
    return arr


def load_pretrained(path: str | os.PathLike, writable: bool = False, block_size: int | None = None,
                    dropout: float = 0.0) -> tuple[GPT, Any]:
    """(GPT in eval mode, tokenizer) from a directory in the hub layout. ``writable``: the weights
    are copy-on-write maps (for fine-tuning); otherwise read-only views of the file. ``block_size``
    smaller than the checkpoint's crops the context: GPT-2's position table to its first rows (a view;
    nanoGPT's ``crop_block_size``), a rotary model's block_size alone (it has no table); ``dropout``
    is the model's (the checkpoint has none: 0 for inference)."""
    from ..tokenizer.gpt2_files import load_tokenizer_dir

    directory = Path(path)
    config = read_config(directory, dropout)
    if block_size is not None and block_size < config.block_size:
        config = GPTConfig(**{**config.to_dict(), "block_size": block_size})
    state = _hub_state(_tensors(directory, writable), config)
    held = sum(int(np.size(a)) for a in state.values())
    if config.min_parameters() > held:  # before allocating: a crafted config.json cannot ask for TiB
        raise ValueError(f"{directory}: config.json describes at least {config.min_parameters():,} parameters but "
                         f"the safetensors files hold {held:,} weights")
    with uninitialised():  # every parameter is set from the file below (or this raises)
        model = GPT(config)
    params = dict(model.named_parameters())
    missing, unexpected = sorted(set(params) - set(state)), sorted(set(state) - set(params))
    bad = [f"{k}: {state[k].shape} vs {params[k].shape}" for k in params if k in state and state[k].shape != params[k].shape]
    if missing or unexpected or bad:
        raise ValueError(f"{directory}: the checkpoint does not match config.json: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}, shape mismatches {bad[:5]}")
    for name, p in params.items():
        p.data = _as_parameter(name, state[name], config)
    model.eval()
    return model, load_tokenizer_dir(directory)


def init_from_pretrained(name_or_path: str, vocab_size: int, block_size: int, dropout: float,
                         log: Any = print) -> tuple[GPT, dict[str, Any]]:
    """The model a fine-tuning run starts from (``train --init-from``): a hub name or a local
    hub-layout directory, its shape from ``config.json`` (the training config's n_layer, n_head,
    n_embd, bias give way), its context cropped to the config's ``block_size`` when smaller (GPT-2's
    position table; a rotary model has none), the config's ``dropout``, the weights as copy-on-write
    maps. Returns ``(model, model_args)``. The prepared data's ``vocab_size`` must equal the
    checkpoint's: the token ids must mean the same."""
    from ..hub import resolve

    directory = resolve(name_or_path)
    config = read_config(directory, dropout)
    if config.vocab_size != vocab_size:
        raise ValueError(f"--init-from {name_or_path}: the checkpoint's vocab_size is {config.vocab_size} but the "
                         f"prepared dataset's meta.json has {vocab_size}; prepare the data with the checkpoint's "
                         f"tokenizer (prepare --tokenizer {name_or_path})")
    model, _ = load_pretrained(directory, writable=True, block_size=block_size, dropout=dropout)
    model_args = model.config.to_dict()
    what = "block_size (rotary: no position table)" if config.hf_names else "position table"
    log(f"initialised from {directory}: {model_args}"
        + (f" ({what} cropped from {config.block_size})" if model.config.block_size < config.block_size else ""))
    return model, model_args
