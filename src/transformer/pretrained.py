"""Load a GPT-2 checkpoint in the Hugging Face hub's layout into numgpt's GPT.

A directory holding ``config.json``, ``model.safetensors`` (or shards listed by
``model.safetensors.index.json``), ``vocab.json`` and ``merges.txt``. GPT-2's tensor names are
numgpt's (with or without the ``transformer.`` prefix), and its Conv1D weights are stored
``(in, out)`` like numgpt's Linear, so float32 tensors become the parameters as they are: views of
the memory-mapped file, no copy. float16/bfloat16 tensors are widened to float32. The causal-mask
buffers (``attn.bias``, ``attn.masked_bias``) are skipped, and ``lm_head.weight`` is tied to ``wte``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import safetensors
from .gpt import GPT, GPTConfig

__all__ = ["load_pretrained", "gpt2_config", "init_from_pretrained"]

_SKIPPED = (".attn.bias", ".attn.masked_bias")


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
        return GPTConfig(block_size=cfg["n_positions"], vocab_size=cfg["vocab_size"], n_layer=cfg["n_layer"],
                         n_head=cfg["n_head"], n_embd=cfg["n_embd"], dropout=dropout, bias=True)
    except KeyError as e:
        raise ValueError(f"{where}: missing key {e.args[0]!r}") from None
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def _read_json(path: Path) -> dict[str, Any]:
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
        weight_map = _read_json(index).get("weight_map")
        if not isinstance(weight_map, dict) or not all(isinstance(f, str) for f in weight_map.values()):
            raise ValueError(f"{index}: expected a 'weight_map' object (tensor name -> shard file name)")
        out: dict[str, np.ndarray] = {}
        for shard in sorted(set(weight_map.values())):
            out.update(safetensors.load(directory / shard, writable=writable))
        return out
    single = directory / "model.safetensors"
    if not single.is_file():
        raise ValueError(f"{directory}: no model.safetensors or model.safetensors.index.json (only safetensors "
                         f"checkpoints are read: no pickle)")
    return safetensors.load(single, writable=writable)


def read_config(directory: Path, dropout: float = 0.0) -> GPTConfig:
    """The ``GPTConfig`` of the hub-layout checkpoint in ``directory`` (its ``config.json``)."""
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise ValueError(f"{directory}: no config.json (expected the hub layout: config.json, model.safetensors, "
                         f"vocab.json, merges.txt)")
    return gpt2_config(_read_json(config_path), str(config_path), dropout)


def load_pretrained(path: str | os.PathLike, writable: bool = False, block_size: int | None = None,
                    dropout: float = 0.0) -> tuple[GPT, Any]:
    """(GPT in eval mode, tokenizer) from a directory in the hub layout. ``writable``: the weights
    are copy-on-write maps (for fine-tuning); otherwise read-only views of the file. ``block_size``
    smaller than the checkpoint's crops the position table to its first rows (a view; nanoGPT's
    ``crop_block_size``); ``dropout`` is the model's (the checkpoint has none: 0 for inference)."""
    from ..tokenizer.gpt2_files import load_gpt2_tokenizer

    directory = Path(path)
    config = read_config(directory, dropout)
    if block_size is not None and block_size < config.block_size:
        config = GPTConfig(**{**config.to_dict(), "block_size": block_size})
    state = {}
    for name, arr in _tensors(directory, writable).items():
        if name.endswith(_SKIPPED) or name == "lm_head.weight":
            continue
        state[name if name.startswith("transformer.") else f"transformer.{name}"] = arr
    wpe = state.get("transformer.wpe.weight")
    if wpe is not None and wpe.ndim == 2 and wpe.shape[0] > config.block_size:
        state["transformer.wpe.weight"] = wpe[:config.block_size]  # cropped: the first positions, a view
    held = sum(int(np.size(a)) for a in state.values())
    if config.min_parameters() > held:  # before allocating: a crafted config.json cannot ask for TiB
        raise ValueError(f"{directory}: config.json describes at least {config.min_parameters():,} parameters but "
                         f"the safetensors files hold {held:,} weights")
    model = GPT(config)
    params = dict(model.named_parameters())
    missing, unexpected = sorted(set(params) - set(state)), sorted(set(state) - set(params))
    bad = [f"{k}: {state[k].shape} vs {params[k].shape}" for k in params if k in state and state[k].shape != params[k].shape]
    if missing or unexpected or bad:
        raise ValueError(f"{directory}: the checkpoint does not match config.json: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}, shape mismatches {bad[:5]}")
    for name, p in params.items():
        arr = state[name]
        p.data = arr if arr.dtype == np.float32 else arr.astype(np.float32)  # float32: the file's view, no copy
    model.eval()
    return model, load_gpt2_tokenizer(directory / "vocab.json", directory / "merges.txt")



def init_from_pretrained(name_or_path: str, vocab_size: int, block_size: int, dropout: float,
                         log: Any = print) -> tuple[GPT, dict[str, Any]]:
    """The model a fine-tuning run starts from (``train --init-from``): a hub name or a local
    hub-layout directory, its shape from ``config.json`` (the training config's n_layer, n_head,
    n_embd, bias give way), its position table cropped to the config's ``block_size`` when smaller,
    the config's ``dropout``, the weights as copy-on-write maps. Returns ``(model, model_args)``.
    The prepared data's ``vocab_size`` must equal the checkpoint's: the token ids must mean the same."""
    from ..hub import resolve

    directory = resolve(name_or_path)
    config = read_config(directory, dropout)
    if config.vocab_size != vocab_size:
        raise ValueError(f"--init-from {name_or_path}: the checkpoint's vocab_size is {config.vocab_size} but the "
                         f"prepared dataset's meta.json has {vocab_size}; prepare the data with the checkpoint's "
                         f"tokenizer (prepare --tokenizer {name_or_path})")
    model, _ = load_pretrained(directory, writable=True, block_size=block_size, dropout=dropout)
    model_args = model.config.to_dict()
    log(f"initialised from {directory}: {model_args}"
        + (f" (position table cropped from {config.block_size})" if model.config.block_size < config.block_size else ""))
    return model, model_args
