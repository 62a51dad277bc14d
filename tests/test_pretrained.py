"""Checkpoints in the Hugging Face hub layout, written here (tiny, random, GPT-2's real names), load."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from numgpt import safetensors
from numgpt.checkpoint import Checkpoint, load_model, save_checkpoint
from numgpt.sampling.generate import generate
from numgpt.tokenizer import GPT2_SPLIT_PATTERN, train_bpe
from numgpt.tokenizer.gpt2_files import save_gpt2_tokenizer
from numgpt.transformer import GPT
from numgpt.transformer.pretrained import load_pretrained

CONFIG = {"model_type": "gpt2", "n_positions": 32, "n_embd": 16, "n_layer": 2, "n_head": 2,
          "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new"}


def write_hub_dir(tmp_path, dtype="F32"):
    tok = train_bpe("hello world, it's a tiny test corpus 123 " * 5, vocab_size=280, special_tokens=["<|endoftext|>"],
                    pattern=GPT2_SPLIT_PATTERN)
    cfg = {**CONFIG, "vocab_size": tok.vocab_size}
    rng = np.random.default_rng(0)
    ref = GPT({"block_size": 32, "vocab_size": tok.vocab_size, "n_layer": 2, "n_head": 2, "n_embd": 16}, seed=1)
    state = {k: (v + rng.standard_normal(v.shape).astype(np.float32) * 0.05) for k, v in ref.state_dict().items()}
    hub = {k[len("transformer."):]: v for k, v in state.items()}  # GPT2Model names: h.0.attn.c_attn.weight ...
    for i in range(2):
        hub[f"h.{i}.attn.bias"] = np.tril(np.ones((1, 1, 32, 32), np.float32))
    if dtype == "F16":
        hub = {k: v.astype(np.float16) for k, v in hub.items()}
    safetensors.save(tmp_path / "model.safetensors", hub, {"format": "pt"}, bf16=list(hub) if dtype == "BF16" else ())
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    save_gpt2_tokenizer(tok, tmp_path)
    stored = {f"transformer.{k}": np.asarray(v, np.float32) for k, v in safetensors.load(tmp_path / "model.safetensors").items()
              if not k.endswith(".attn.bias")}
    return tok, cfg, stored


@pytest.mark.parametrize("dtype", ["F32", "F16", "BF16"])
def test_hub_checkpoint_logits_equal_numgpt_checkpoint(tmp_path, dtype):
    hub_dir = tmp_path / "hub"
    tok, cfg, stored = write_hub_dir(hub_dir.mkdir() or hub_dir, dtype)
    model, tokenizer = load_pretrained(hub_dir)
    if dtype == "F32":
        assert not model.transformer.h[0].attn.c_attn.weight.data.flags.owndata  # a view of the file
    args = {"block_size": 32, "vocab_size": cfg["vocab_size"], "n_layer": 2, "n_head": 2, "n_embd": 16,
            "dropout": 0.0, "bias": True}
    own, ids = assert_equals_own_checkpoint(tmp_path, model, tokenizer, stored, args, tok)
    a = generate(model, ids[0], 10, temperature=0.0)
    b = generate(own, ids[0], 10, temperature=0.0)
    assert tokenizer.decode(a.tolist()) == tok.decode(b.tolist())


def assert_equals_own_checkpoint(tmp_path, model, tokenizer, state, model_args, tok, prompt="hello world, it's"):
    """Save ``state`` as numgpt's own checkpoint (``model_args``, ``tok``), load it, and check that the
    loaded hub ``model`` + ``tokenizer`` give the same ids and logits (1e-5) on ``prompt``. Returns
    (the own model, the prompt's ids (1, T))."""
    save_checkpoint(tmp_path / "ckpt.npz", Checkpoint(model=state, config={"model_args": model_args},
                                                      tokenizer=tok.to_dict()))
    own, own_tok, _ = load_model(tmp_path / "ckpt.npz")
    ids = np.array([tokenizer.encode(prompt)])
    assert ids.tolist() == [own_tok.encode(prompt)]
    np.testing.assert_allclose(model(ids)[0].data, own(ids)[0].data, rtol=1e-5, atol=1e-5)
    return own, ids


def test_missing_files_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"no config\.json"):
        load_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**CONFIG, "vocab_size": 300}))
    with pytest.raises(ValueError, match=r"no model\.safetensors"):
        load_pretrained(tmp_path)


def test_sample_cli_init_from_a_local_hub_dir(tmp_path, capsys):
    from numgpt.__main__ import main

    hub_dir = tmp_path / "hub"
    hub_dir.mkdir()
    write_hub_dir(hub_dir)
    model, tok = load_pretrained(hub_dir)
    ids = tok.encode("hello")
    expected = tok.decode(generate(model, np.array(ids), 8, temperature=0.0).tolist()[len(ids):])
    assert main(["sample", "--init-from", str(hub_dir), "--prompt", "hello", "--max_new_tokens", "8",
                 "--temperature", "0"]) == 0
    assert capsys.readouterr().out == "hello" + expected + "\n"


@pytest.mark.parametrize("edit, message", [
    (lambda d: (d / "config.json").write_text("[]"), "config.json: expected a JSON object, got list"),
    (lambda d: (d / "config.json").write_text("{nope"), "cannot read"),
    (lambda d: _config(d, layer_norm_epsilon="x"), "layer_norm_epsilon 'x' is not supported"),
    (lambda d: _config(d, n_layer="two"), "config.json: GPTConfig.n_layer must be a positive integer"),
    (lambda d: _config(d, n_embd=10**7, n_head=1), "describes at least 2,000,003,120,000,000 parameters but the safetensors files hold 11,584"),  # before allocating
    (lambda d: (d / "model.safetensors.index.json").write_text('{"x": 1}'), "expected a 'weight_map' object"),
    (lambda d: (d / "vocab.json").write_text('{"a": "x"}'), "vocab.json: token 'a' has the id 'x'"),
])
def test_a_damaged_hub_directory_names_the_file_and_the_problem(tmp_path, edit, message):
    write_hub_dir(tmp_path)
    edit(tmp_path)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_pretrained(tmp_path)


def _config(directory, **changes):
    path = directory / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
