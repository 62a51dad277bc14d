"""Llama-family checkpoints in the Hugging Face hub layout (LlamaForCausalLM), written here: tiny, random,
HF's real names, q_proj / k_proj rows in HF's rotate_half order, grouped-query attention. The oracle is an
independent float64 NumPy forward of HF's LlamaForCausalLM on the weights as stored (unpermuted)."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

import numgpt.training.loop as loop
from numgpt import hub, safetensors
from numgpt.attention import hf_to_interleaved_rows
from numgpt.checkpoint import load_checkpoint, load_model
from numgpt.sampling.generate import generate
from numgpt.tokenizer import GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, train_bpe
from numgpt.tokenizer.gpt2_files import HF_PATTERN_ALIASES, bytes_to_unicode, load_tokenizer_dir, load_tokenizer_json, \
    save_tokenizer_json
from numgpt.tokenizer.patterns import GPT2_DIGITS_SPLIT_PATTERN, Splitter
from numgpt.transformer import GPTConfig
from numgpt.transformer.pretrained import load_pretrained

from .test_hub import serving
from .test_pretrained import assert_equals_own_checkpoint
from .test_pretrained_finetune import TEXT as FINETUNE_TEXT
from .test_pretrained_finetune import finetune_cfg

TEXT = "hello world, it's a tiny Llama test corpus 123 with some more words. " * 5
N_LAYER, HIDDEN, N_HEAD, N_KV_HEAD, FFN, POSITIONS, EPS, THETA = 2, 16, 4, 2, 40, 32, 1e-5, 500.0


def llama_config_json(vocab_size: int, tied: bool = False, **overrides) -> dict:
    """A LlamaForCausalLM config.json as transformers writes it (the keys numgpt reads and some it ignores)."""
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": HIDDEN,
            "intermediate_size": FFN, "num_hidden_layers": N_LAYER, "num_attention_heads": N_HEAD,
            "num_key_value_heads": N_KV_HEAD, "max_position_embeddings": POSITIONS, "vocab_size": vocab_size,
            "rms_norm_eps": EPS, "rope_theta": THETA, "tie_word_embeddings": tied, "hidden_act": "silu",
            "rope_scaling": None, "attention_bias": False, "mlp_bias": False, "head_dim": HIDDEN // N_HEAD,
            "bos_token_id": 0, "eos_token_id": 0, "torch_dtype": "float32", "pretraining_tp": 1, **overrides}


def hf_llama_tensors(vocab_size: int, tied: bool, seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights under HF's names, ``(out, in)``; q/k are simply taken to be in HF's (rotate_half) row order."""
    rng = np.random.default_rng(seed)
    hs = HIDDEN // N_HEAD
    normal = lambda *shape, std=0.3: (rng.standard_normal(shape) * std).astype(np.float32)  # noqa: E731
    w = {"model.embed_tokens.weight": normal(vocab_size, HIDDEN, std=1.0),
         "model.norm.weight": 1 + normal(HIDDEN, std=0.1)}
    for i in range(N_LAYER):
        p = f"model.layers.{i}."
        w.update({p + "input_layernorm.weight": 1 + normal(HIDDEN, std=0.1),
                  p + "post_attention_layernorm.weight": 1 + normal(HIDDEN, std=0.1),
                  p + "self_attn.q_proj.weight": normal(N_HEAD * hs, HIDDEN, std=0.6),
                  p + "self_attn.k_proj.weight": normal(N_KV_HEAD * hs, HIDDEN, std=0.6),
                  p + "self_attn.v_proj.weight": normal(N_KV_HEAD * hs, HIDDEN),
                  p + "self_attn.o_proj.weight": normal(HIDDEN, N_HEAD * hs),
                  p + "mlp.gate_proj.weight": normal(FFN, HIDDEN),
                  p + "mlp.up_proj.weight": normal(FFN, HIDDEN),
                  p + "mlp.down_proj.weight": normal(HIDDEN, FFN)})
    if not tied:
        w["lm_head.weight"] = normal(vocab_size, HIDDEN)
    return w


def write_llama_dir(directory, tied: bool = False, dtype: str = "F32", sharded: bool = False,
                    inv_freq: bool = True, config_overrides: dict | None = None):
    """A tiny Llama checkpoint in exactly HF's layout in ``directory``; returns (tokenizer, config, the
    tensors as stored in the file, as float64)."""
    directory.mkdir(parents=True, exist_ok=True)
    tok = train_bpe(TEXT, vocab_size=280, special_tokens=["<|endoftext|>"], pattern=GPT2_SPLIT_PATTERN)
    cfg = llama_config_json(tok.vocab_size, tied, **(config_overrides or {}))
    weights = hf_llama_tensors(tok.vocab_size, tied)
    if inv_freq:  # older transformers saved the rotary buffer
        hs = HIDDEN // N_HEAD
        weights["model.layers.0.self_attn.rotary_emb.inv_freq"] = (THETA ** (-np.arange(0, hs, 2) / hs)).astype(np.float32)
    if dtype == "F16":
        weights = {k: v.astype(np.float16) for k, v in weights.items()}
    bf16 = list(weights) if dtype == "BF16" else []
    if sharded:
        names = sorted(weights)
        parts = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
        for shard, keys in parts.items():
            safetensors.save(directory / shard, {k: weights[k] for k in keys}, {"format": "pt"},
                             bf16=[k for k in keys if k in bf16])
        index = {"metadata": {"total_size": sum(v.nbytes for v in weights.values())},
                 "weight_map": {k: shard for shard, keys in parts.items() for k in keys}}
        (directory / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
        stored = {k: v for shard in parts for k, v in safetensors.load(directory / shard).items()}
    else:
        safetensors.save(directory / "model.safetensors", weights, {"format": "pt"}, bf16=bf16)
        stored = safetensors.load(directory / "model.safetensors")
    (directory / "config.json").write_text(json.dumps(cfg, indent=2))
    save_tokenizer_json(tok, directory / "tokenizer.json")
    return tok, cfg, {k: np.asarray(v, np.float64) for k, v in stored.items()}


# ----------------------------------------------------------------------------- the oracle


def hf_llama_logits(w: dict[str, np.ndarray], cfg: dict, ids: np.ndarray) -> np.ndarray:
    """HF LlamaForCausalLM's forward in float64, written from its modeling code, on HF's weights as stored:
    RMSNorm, rotate_half RoPE, repeat_kv, causal softmax attention, SiLU-gated MLP, final norm, lm_head."""
    C, nh, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hs, eps, theta = C // nh, cfg["rms_norm_eps"], cfg["rope_theta"]
    rms = lambda x, g: x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g  # noqa: E731
    silu = lambda x: x / (1 + np.exp(-x))  # noqa: E731

    def rotate_half(x):
        return np.concatenate([-x[..., hs // 2:], x[..., :hs // 2]], axis=-1)

    out = []
    for row in ids:
        T = len(row)
        inv_freq = theta ** (-np.arange(0, hs, 2, dtype=np.float64) / hs)
        freqs = np.outer(np.arange(T, dtype=np.float64), inv_freq)  # (T, hs/2)
        emb = np.concatenate([freqs, freqs], axis=-1)  # (T, hs)
        cos, sin = np.cos(emb), np.sin(emb)
        mask = np.triu(np.full((T, T), -np.inf), 1)
        x = w["model.embed_tokens.weight"][row]  # (T, C)
        for i in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            h = rms(x, w[p + "input_layernorm.weight"])
            q = (h @ w[p + "self_attn.q_proj.weight"].T).reshape(T, nh, hs).transpose(1, 0, 2)
            k = (h @ w[p + "self_attn.k_proj.weight"].T).reshape(T, nkv, hs).transpose(1, 0, 2)
            v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(T, nkv, hs).transpose(1, 0, 2)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            k, v = np.repeat(k, nh // nkv, axis=0), np.repeat(v, nh // nkv, axis=0)  # repeat_kv: head j uses kv j // n_rep
            scores = q @ k.transpose(0, 2, 1) / np.sqrt(hs) + mask
            att = np.exp(scores - scores.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            y = (att @ v).transpose(1, 0, 2).reshape(T, nh * hs)
            x = x + y @ w[p + "self_attn.o_proj.weight"].T
            h = rms(x, w[p + "post_attention_layernorm.weight"])
            x = x + (silu(h @ w[p + "mlp.gate_proj.weight"].T) * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
        x = rms(x, w["model.norm.weight"])
        out.append(x @ w.get("lm_head.weight", w["model.embed_tokens.weight"]).T)
    return np.stack(out)


# ----------------------------------------------------------------------------- loading


@pytest.mark.parametrize("tied, dtype, sharded", [(False, "F32", False), (True, "F32", False), (False, "F16", False),
                                                  (True, "BF16", True), (False, "F32", True)])
def test_loaded_logits_match_the_float64_hf_forward(tmp_path, tied, dtype, sharded):
    tok, cfg, stored = write_llama_dir(tmp_path / "hub", tied, dtype, sharded)
    model, tokenizer = load_pretrained(tmp_path / "hub")
    c = model.config
    assert (c.positions, c.norm, c.mlp, c.n_head, c.kv_heads, c.hidden_size, c.block_size, c.rope_theta,
            c.norm_eps, c.tie_embeddings) == ("rope", "rmsnorm", "swiglu", N_HEAD, N_KV_HEAD, FFN, POSITIONS, THETA,
                                              EPS, tied)
    assert (model.lm_head is None) == tied
    if dtype == "F32":
        assert not model.model.embed_tokens.weight.data.flags.owndata  # a view of the file
        assert not model.model.layers[0].self_attn.v_proj.weight.data.flags.owndata
    rows = [tokenizer.encode("hello world, it's a tiny Llama"), tokenizer.encode("some more words. 123 hello world")]
    assert rows[0] == tok.encode("hello world, it's a tiny Llama")
    ids = np.array([row[:min(map(len, rows))] for row in rows])  # a batch of 2
    got = model(ids)[0].data
    want = hf_llama_logits(stored, cfg, ids)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5,
                               err_msg="float32 numgpt load vs float64 HF LlamaForCausalLM oracle (rtol 1e-4, atol 1e-5)")


def test_loaded_model_equals_its_own_format_checkpoint_and_the_kv_cache(tmp_path):
    tok, cfg, stored = write_llama_dir(tmp_path / "hub")
    model, tokenizer = load_pretrained(tmp_path / "hub")
    hs = HIDDEN // N_HEAD
    own_state = {k: v.astype(np.float32) for k, v in stored.items() if "rotary_emb" not in k}
    for k in own_state:
        if k.endswith(("q_proj.weight", "k_proj.weight")):
            own_state[k] = hf_to_interleaved_rows(own_state[k], N_HEAD if "q_proj" in k else N_KV_HEAD, hs)
    args = GPTConfig.llama(block_size=POSITIONS, vocab_size=cfg["vocab_size"], n_layer=N_LAYER, n_head=N_HEAD,
                           n_kv_head=N_KV_HEAD, n_embd=HIDDEN, ffn_hidden=FFN, rope_theta=THETA, norm_eps=EPS).to_dict()
    own, ids = assert_equals_own_checkpoint(tmp_path, model, tokenizer, own_state, args, tok)
    cached = generate(model, ids[0], 12, temperature=0.0, use_cache=True)
    uncached = generate(model, ids[0], 12, temperature=0.0, use_cache=False)
    assert cached.tolist() == uncached.tolist() == generate(own, ids[0], 12, temperature=0.0).tolist()


def test_block_size_crops_a_rotary_model_without_a_table(tmp_path):
    _, cfg, stored = write_llama_dir(tmp_path / "hub")
    model, tok = load_pretrained(tmp_path / "hub", block_size=8)
    assert model.config.block_size == 8 and model.parts()[1] is None
    ids = np.array([tok.encode("hello world, it's a")[:8]])
    np.testing.assert_allclose(model(ids)[0].data, hf_llama_logits(stored, cfg, ids), rtol=1e-4, atol=1e-5,
                               err_msg="float32 vs float64 oracle (rtol 1e-4, atol 1e-5)")


@pytest.mark.parametrize("overrides, message", [
    ({"hidden_act": "gelu"}, r"hidden_act 'gelu' is not supported"),
    ({"rope_scaling": {"type": "linear", "factor": 2.0}}, r"rope_scaling .*'linear'.* is not supported"),
    ({"attention_bias": True}, r"attention_bias True is not supported"),
    ({"mlp_bias": True}, r"mlp_bias True is not supported"),
    ({"head_dim": 8}, r"head_dim 8 is not supported .*16 / 4"),
    ({"model_type": "mistral", "architectures": ["MistralForCausalLM"]}, r"model_type 'mistral' .*is not supported"),
    ({"num_key_value_heads": 3}, r"config\.json: GPTConfig"),
])
def test_what_numgpt_cannot_compute_is_refused_by_name(tmp_path, overrides, message):
    write_llama_dir(tmp_path, config_overrides=overrides)
    with pytest.raises(ValueError, match=message) as info:
        load_pretrained(tmp_path)
    assert str(tmp_path / "config.json") in str(info.value)


def test_missing_key_and_mismatched_tensor_and_missing_tokenizer_are_named(tmp_path):
    write_llama_dir(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({k: v for k, v in cfg.items() if k != "intermediate_size"}))
    with pytest.raises(ValueError, match=r"config\.json: missing key 'intermediate_size'"):
        load_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "intermediate_size": 48}))
    with pytest.raises(ValueError, match=r"shape mismatches \['model\.layers\.0\.mlp\.gate_proj\.weight: \(40, 16\) vs \(48, 16\)"):
        load_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "hidden_size": 10**6, "num_attention_heads": 2, "head_dim": None}))
    with pytest.raises(ValueError, match=r"config\.json describes at least [\d,]+ parameters but the safetensors files hold"):
        load_pretrained(tmp_path)  # before allocating the model
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "tokenizer.json").unlink()
    with pytest.raises(ValueError, match=r"no tokenizer files \(expected vocab\.json \+ merges\.txt, or tokenizer\.json\)"):
        load_pretrained(tmp_path)


# ----------------------------------------------------------------------------- tokenizer.json

ROUND_TRIP = ("It's 2024; they'll say we've 12345 digits.\n\n   Spaces   and\ttabs\n"
              "héllo wörld café 日本語 👋 <|endoftext|> The end.  ")


def test_tokenizer_json_round_trip_in_hfs_structure(tmp_path):
    tok = train_bpe(ROUND_TRIP.replace("<|endoftext|>", "") * 3, vocab_size=300, special_tokens=["<|endoftext|>"],
                    pattern=GPT2_SPLIT_PATTERN)
    path = save_tokenizer_json(tok, tmp_path / "tokenizer.json")
    spec = json.loads(path.read_text(encoding="utf-8"))
    assert list(spec) == ["version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer",
                          "post_processor", "decoder", "model"]
    assert spec["pre_tokenizer"] == {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    eot = tok.special_tokens["<|endoftext|>"]
    assert spec["added_tokens"] == [{"id": eot, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                                     "rstrip": False, "normalized": False, "special": True}]
    model = spec["model"]
    assert model["type"] == "BPE" and model["vocab"]["Ġ"] == tok.encode(" ")[0] and model["vocab"]["<|endoftext|>"] == eot
    assert len(model["merges"]) == len(tok.merges) and all(isinstance(m, list) and len(m) == 2 for m in model["merges"])
    for back in (load_tokenizer_json(path), load_tokenizer_dir(tmp_path)):
        for text in (ROUND_TRIP, ROUND_TRIP.upper(), "  \n\n\t ", "x" * 50):
            assert back.encode(text, allowed_special="all") == tok.encode(text, allowed_special="all")
        assert back.decode(back.encode(ROUND_TRIP, allowed_special="all")) == ROUND_TRIP
    # the older string form of the merges ("a b") reads the same
    path.write_text(json.dumps({**spec, "model": {**model, "merges": [" ".join(m) for m in model["merges"]]}}),
                    encoding="utf-8")
    assert load_tokenizer_json(path).encode(ROUND_TRIP, allowed_special="all") == tok.encode(ROUND_TRIP, allowed_special="all")


def _with_pre_tokenizer(tmp_path, pre_tokenizer, **top):
    tok = train_bpe(ROUND_TRIP.replace("<|endoftext|>", ""), vocab_size=270, pattern=GPT2_SPLIT_PATTERN)
    path = save_tokenizer_json(tok, tmp_path / "tokenizer.json")
    spec = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**spec, "pre_tokenizer": pre_tokenizer, **top}), encoding="utf-8")
    return path


def _split_then_byte_level(regex):
    return {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}


SMOLLM_PRE_TOKENIZER = {"type": "Sequence", "pretokenizers": [
    {"type": "Digits", "individual_digits": True},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}

# Frozen oracle: what Hugging Face tokenizers 0.23.3 pre-tokenizes with SMOLLM_PRE_TOKENIZER (its
# ``pre_tokenize_str``, byte-level spelling: "Ġ" is a space, "Ċ" a newline). numgpt's
# GPT2_DIGITS_SPLIT_PATTERN matched it on these and on 3,000 random texts and 20 kB of Shakespeare.
HF_SMOLLM_SPLITS = [
    ("Hello world, it's 2024!!  ", ['Hello', 'Ġworld', ',', 'Ġit', "'s", 'Ġ', '2', '0', '2', '4', '!!', 'ĠĠ']),
    ("abc123def", ['abc', '1', '2', '3', 'def']),
    ("   1", ['ĠĠĠ', '1']),
    ("a 12 b\n\n3", ['a', 'Ġ', '1', '2', 'Ġb', 'ĊĊ', '3']),
    ("IT'S 3.14 \u0661\u0662x", ['IT', "'", 'S', 'Ġ', '3', '.', '1', '4', 'Ġ', 'Ù¡', 'Ù¢', 'x']),
]


@pytest.mark.parametrize("text, pieces", HF_SMOLLM_SPLITS)
def test_smollm_pre_tokenizer_splits_as_hugging_faces(tmp_path, text, pieces):
    tok = load_tokenizer_json(_with_pre_tokenizer(tmp_path, SMOLLM_PRE_TOKENIZER))
    table = bytes_to_unicode()
    got = ["".join(table[b] for b in piece.encode("utf-8")) for piece in Splitter(tok.pattern).findall(text)]
    assert got == pieces, f"{text!r}: numgpt's pieces {got} vs Hugging Face's {pieces}"
    assert tok.decode(tok.encode(text)) == text
    again = load_tokenizer_json(save_tokenizer_json(tok, tmp_path / "again.json"))  # written back in SmolLM's form
    assert again.pattern == GPT2_DIGITS_SPLIT_PATTERN and again.encode(text) == tok.encode(text)


@pytest.mark.parametrize("pre_tokenizer, pattern", [
    ({"type": "Sequence", "pretokenizers": [{"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}]},
     GPT2_SPLIT_PATTERN),
    (_split_then_byte_level(next(iter(HF_PATTERN_ALIASES))), GPT2_SPLIT_PATTERN),  # GPT-2's original regex text
    (_split_then_byte_level(GPT4_SPLIT_PATTERN), GPT4_SPLIT_PATTERN),
    (SMOLLM_PRE_TOKENIZER, GPT2_DIGITS_SPLIT_PATTERN),  # SmolLM's / StarCoder's
])
def test_tokenizer_json_pre_tokenizers_that_amount_to_a_known_pattern(tmp_path, pre_tokenizer, pattern):
    assert load_tokenizer_json(_with_pre_tokenizer(tmp_path, pre_tokenizer)).pattern == pattern


@pytest.mark.parametrize("pre_tokenizer, top, message", [
    ({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": False},
                                            {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}]},
     {}, r"pre_tokenizer Sequence\[Digits, ByteLevel\] is not supported"),
    ({"type": "ByteLevel", "add_prefix_space": True, "use_regex": True}, {}, r"pre_tokenizer ByteLevel is not supported"),
    ({"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}, {}, r"pre_tokenizer ByteLevel is not supported"),
    (_split_then_byte_level(r"\w+|\s+"), {}, r"Split: split pattern '\\\\w\+\|\\\\s\+' is not a known pattern"),
    ({"type": "Metaspace", "replacement": "▁"}, {}, r"pre_tokenizer='Metaspace' is not supported"),
    ({"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}, {"normalizer": {"type": "NFC"}},
     r"normalizer 'NFC' is not supported"),
    ({"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
     {"added_tokens": [{"id": "7", "content": "<|x|>", "special": True}]},
     r"added_tokens: token '<\|x\|>' has the id '7'; ids must be integers >= 0"),
])
def test_tokenizer_json_other_pre_tokenizers_are_refused_by_name(tmp_path, pre_tokenizer, top, message):
    path = _with_pre_tokenizer(tmp_path, pre_tokenizer, **top)
    with pytest.raises(ValueError, match=message) as info:
        load_tokenizer_json(path)
    assert str(path) in str(info.value)


# ----------------------------------------------------------------------------- the commands


def test_sample_cli_init_from_a_llama_dir(tmp_path, capsys):
    from numgpt.__main__ import main

    write_llama_dir(tmp_path / "hub")
    model, tok = load_pretrained(tmp_path / "hub")
    ids = tok.encode("hello")
    expected = tok.decode(generate(model, np.array(ids), 8, temperature=0.0).tolist()[len(ids):])
    assert main(["sample", "--init-from", str(tmp_path / "hub"), "--prompt", "hello", "--max_new_tokens", "8",
                 "--temperature", "0"]) == 0
    assert capsys.readouterr().out == "hello" + expected + "\n"


def test_train_init_from_a_llama_dir_with_its_tokenizer_json(tmp_path, monkeypatch):
    hub_dir = tmp_path / "hub"
    _, cfg, _ = write_llama_dir(hub_dir)
    digest = hashlib.sha256((hub_dir / "model.safetensors").read_bytes()).hexdigest()
    batches = []
    real_get_batch = loop.get_batch
    monkeypatch.setattr(loop, "get_batch", lambda *a: batches.append(real_get_batch(*a)) or batches[-1])
    logged = []
    result = loop.train(finetune_cfg(tmp_path, hub_dir, tokenizer=str(hub_dir), max_iters=3, lr_decay_iters=3),
                        log=logged.append)
    assert result.status == "done", result.message
    model, tok = load_pretrained(hub_dir, block_size=16)
    x, y = batches[0]
    assert x.shape[1] == 16
    assert tok.decode(x[0].tolist()) in FINETUNE_TEXT  # the data was tokenized with the checkpoint's tokenizer.json
    _, loss = model(x, y)
    assert result.losses[0] == pytest.approx(float(loss.data), rel=1e-6)
    assert result.losses[-1] != result.losses[0]
    assert hashlib.sha256((hub_dir / "model.safetensors").read_bytes()).hexdigest() == digest  # copy-on-write
    saved = load_checkpoint(tmp_path / "out" / "ckpt.npz").config["model_args"]
    assert (saved["positions"], saved["n_kv_head"], saved["n_embd"], saved["block_size"]) == ("rope", N_KV_HEAD, HIDDEN, 16)
    assert any("initialised from" in line and "block_size (rotary: no position table) cropped from 32" in line
               for line in logged)
    resumed, _, _ = load_model(tmp_path / "out" / "ckpt.npz")  # the run's own checkpoint of a Llama loads
    assert resumed.config.positions == "rope" and resumed.lm_head is not None


# ----------------------------------------------------------------------------- the hub


@pytest.fixture
def llama_server(tmp_path, monkeypatch):
    """A local hub serving a sharded ``org/tiny-llama`` (no model.safetensors), numgpt pointed at it."""
    root = tmp_path / "remote"
    write_llama_dir(root / "org" / "tiny-llama", sharded=True)
    monkeypatch.setenv("NUMGPT_CACHE", str(tmp_path / "cache"))
    with serving(root) as httpd:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{httpd.server_address[1]}")
        yield httpd, root


def test_hub_fetches_a_sharded_llamas_files_by_its_config(llama_server):
    httpd, root = llama_server
    folder = hub.resolve("org/tiny-llama", progress=None, tokenizer_only=True)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "tokenizer.json"]
    assert [path for path, _ in httpd.requests][0] == "/org/tiny-llama/resolve/main/config.json"
    assert hub.resolve("org/tiny-llama", progress=None) == folder
    remote = root / "org" / "tiny-llama"
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in remote.iterdir())
    assert all((folder / p.name).read_bytes() == p.read_bytes() for p in remote.iterdir())
    assert "/org/tiny-llama/resolve/main/model.safetensors" not in [path for path, _ in httpd.requests]  # 404: not served
    model, _ = load_pretrained(folder)
    assert model.config.positions == "rope"
    n = len(httpd.requests)
    assert hub.resolve("org/tiny-llama", progress=None) == folder and len(httpd.requests) == n  # all cached


def test_prepare_with_a_llama_hub_name_fetches_only_the_tokenizer(tmp_path, llama_server):
    from numgpt.__main__ import main
    from numgpt.training.data import load_meta

    httpd, root = llama_server
    (tmp_path / "input.txt").write_text(FINETUNE_TEXT)
    assert main(["prepare", "--dataset", "tiny", "--source", str(tmp_path / "input.txt"), "--tokenizer",
                 "org/tiny-llama", "--data_dir", str(tmp_path / "data")]) == 0
    assert load_meta(tmp_path / "data")["vocab_size"] == json.loads((root / "org" / "tiny-llama" / "config.json").read_text())["vocab_size"]
    assert sorted(path.rsplit("/", 1)[1] for path, _ in httpd.requests) == ["config.json", "tokenizer.json"]


def test_hub_repo_without_safetensors_is_named(tmp_path, llama_server):
    httpd, root = llama_server
    remote = root / "org" / "tiny-llama"
    for shard in [*remote.glob("*.safetensors"), remote / "model.safetensors.index.json"]:
        shard.unlink()
    with pytest.raises(hub.HubError, match=r"org/tiny-llama has neither model\.safetensors nor model\.safetensors"
                                           r"\.index\.json \(only safetensors"):
        hub.resolve("org/tiny-llama", progress=None)
