"""Reference unit tests for numgpt.transformer: the GPT against a version composed from M1
primitives, finite differences, causality, cached decoding, init, names, counts and errors."""
from __future__ import annotations


import numpy as np
import pytest

from numgpt.attention import KVCache
from numgpt.tensor import Tensor, no_grad
from numgpt.transformer import GPT, GPTConfig
from tests.test_attention import composed_causal_self_attention
from tests.test_nn import composed_cross_entropy, composed_gelu, composed_layer_norm

TINY = dict(block_size=8, vocab_size=11, n_layer=2, n_head=2, n_embd=8, dropout=0.0, bias=True)
CPU = dict(block_size=64, vocab_size=65, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=True)


def batch(cfg, B=2, T=None, seed=0):
    rng = np.random.default_rng(seed)
    T = T or cfg["block_size"]
    return rng.integers(0, cfg["vocab_size"], (B, T)), rng.integers(0, cfg["vocab_size"], (B, T))


def composed_gpt(p, cfg, idx, targets):
    """The GPT forward written with M1 primitives and the composed ops, from a name -> Tensor dict."""
    T = idx.shape[1]
    x = p["transformer.wte.weight"][idx] + p["transformer.wpe.weight"][np.arange(T)]
    for i in range(cfg["n_layer"]):
        h = f"transformer.h.{i}."
        a = composed_layer_norm(x, p[h + "ln_1.weight"], p[h + "ln_1.bias"])
        a = composed_causal_self_attention(a @ p[h + "attn.c_attn.weight"] + p[h + "attn.c_attn.bias"], cfg["n_head"])
        x = x + (a @ p[h + "attn.c_proj.weight"] + p[h + "attn.c_proj.bias"])
        m = composed_layer_norm(x, p[h + "ln_2.weight"], p[h + "ln_2.bias"])
        m = composed_gelu(m @ p[h + "mlp.c_fc.weight"] + p[h + "mlp.c_fc.bias"])
        x = x + (m @ p[h + "mlp.c_proj.weight"] + p[h + "mlp.c_proj.bias"])
    x = composed_layer_norm(x, p["transformer.ln_f.weight"], p["transformer.ln_f.bias"])
    logits = x @ p["transformer.wte.weight"].T
    return logits, composed_cross_entropy(logits, targets)


def perturbed_model(cfg, seed=0, dtype=np.float64):
    """A model whose biases and LayerNorm params are random too (init leaves them 0/1)."""
    model = GPT(cfg, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 1)
    for _, prm in model.named_parameters():
        prm.data = prm.data + (0.1 * rng.standard_normal(prm.shape)).astype(dtype)
    return model


def test_gpt_matches_composed_forward_and_gradients():
    model = perturbed_model(TINY)
    idx, tgt = batch(TINY)
    tgt[0, 3] = -1
    logits, loss = model(idx, tgt)
    loss.backward()
    params = {n: Tensor(prm.data.copy(), requires_grad=True) for n, prm in model.named_parameters()}
    ref_logits, ref_loss = composed_gpt(params, TINY, idx, tgt)
    ref_loss.backward()
    np.testing.assert_allclose(logits.data, ref_logits.data, rtol=1e-10, atol=1e-12)
    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-12)
    for name, prm in model.named_parameters():
        np.testing.assert_allclose(prm.grad, params[name].grad, rtol=1e-8, atol=1e-12, err_msg=name)


def test_kv_cache_decoding_equals_full_recompute():
    model = perturbed_model(TINY, seed=7)
    idx, _ = batch(TINY, seed=7)
    full = model(idx)[0].data
    cache = KVCache.for_model(model)
    with no_grad():
        parts = [model(idx[:, :3], kv_cache=cache)[0].data]  # prefill 3 tokens
        parts.append(model(idx[:, 3:5], kv_cache=cache)[0].data)  # a 2-token chunk
        parts += [model(idx[:, t:t + 1], kv_cache=cache)[0].data for t in range(5, 8)]  # one by one
    np.testing.assert_allclose(np.concatenate(parts, axis=1), full, rtol=0, atol=1e-10)
    assert cache.length == 8
    with pytest.raises(ValueError, match="exceed block_size=8"):
        model(idx[:, :1], kv_cache=cache)
    cache.crop(5)  # rewind: re-decoding positions 5.. gives the same logits
    np.testing.assert_allclose(model(idx[:, 5:], kv_cache=cache)[0].data, full[:, 5:], rtol=0, atol=1e-10)
    cache.reset()
    np.testing.assert_allclose(model(idx[:, :4], kv_cache=model.new_kv_cache())[0].data, full[:, :4], atol=1e-10)


def gpt2_names(n_layer, bias=True):
    names = ["transformer.wte.weight", "transformer.wpe.weight"]
    for i in range(n_layer):
        for mod in ("ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj"):
            names += [f"transformer.h.{i}.{mod}.weight"] + ([f"transformer.h.{i}.{mod}.bias"] if bias else [])
    return names + ["transformer.ln_f.weight"] + (["transformer.ln_f.bias"] if bias else [])


@pytest.mark.parametrize("bias", [True, False])
def test_state_dict_names_and_parameter_count(bias):
    cfg = dict(CPU, bias=bias)
    model = GPT(cfg)
    assert list(model.state_dict()) == gpt2_names(cfg["n_layer"], bias)
    V, T, L, C = cfg["vocab_size"], cfg["block_size"], cfg["n_layer"], cfg["n_embd"]
    per_layer = 12 * C * C + (13 * C if bias else 2 * C)  # c_attn, c_proj, c_fc, c_proj (+ biases) + 2 LayerNorms
    expected = V * C + T * C + L * per_layer + (2 * C if bias else C)
    assert model.num_parameters() == expected
    assert model.num_parameters(non_embedding=True) == expected - T * C
    if bias:
        assert expected == 809_856  # the CPU config: ~0.81M parameters
    sd = model.state_dict()
    assert sd["transformer.h.0.attn.c_attn.weight"].shape == (C, 3 * C)  # Linear layout (in, out)
    assert sd["transformer.h.0.mlp.c_proj.weight"].shape == (4 * C, C)


def test_load_state_dict_roundtrip_and_errors():
    a, b = GPT(TINY, seed=0), GPT(TINY, seed=1)
    b.load_state_dict(a.state_dict())
    idx, _ = batch(TINY)
    np.testing.assert_array_equal(a(idx)[0].data, b(idx)[0].data)
    sd = a.state_dict()
    del sd["transformer.h.1.ln_2.bias"]
    sd["lm_head.weight"] = np.zeros((11, 8))
    sd["transformer.wpe.weight"] = np.zeros((9, 8))
    with pytest.raises(ValueError) as err:
        b.load_state_dict(sd)
    msg = str(err.value)
    assert "transformer.h.1.ln_2.bias" in msg and "lm_head.weight" in msg and "transformer.wpe.weight" in msg


def test_tied_head_gradient_reaches_wte():
    """wte's gradient = the embedding lookup's part + the LM head's part (x^T g, summed by the engine)."""
    model = perturbed_model(TINY, seed=9)
    idx, tgt = batch(TINY, seed=9)
    model(idx, tgt)[1].backward()
    both = model.transformer.wte.weight.grad.copy()
    unused = np.setdiff1d(np.arange(TINY["vocab_size"]), idx)
    assert unused.size and np.abs(both[unused]).max() > 0  # rows never looked up still learn via the head


def test_forward_errors():
    model = GPT(TINY)
    with pytest.raises(ValueError, match=r"T=9 exceeds block_size=8"):
        model(np.zeros((1, 9), dtype=np.int64))
    with pytest.raises(ValueError, match=r"token id 11.*vocab_size 11"):
        model(np.full((1, 2), 11))
    with pytest.raises(ValueError, match=r"token id -2"):
        model(np.zeros((1, 2), dtype=int), np.full((1, 2), -2))
    with pytest.raises(TypeError, match="integer"):
        model(np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="targets shape"):
        model(np.zeros((1, 2), dtype=int), np.zeros((1, 3), dtype=int))
    logits, loss = model(np.zeros((2, 3), dtype=int))
    assert logits.shape == (2, 3, 11) and loss is None


@pytest.mark.parametrize("bad, match", [
    (dict(n_embd=10, n_head=4), "divisible"),
    (dict(n_layer=0), "n_layer"),
    (dict(block_size=2.5), "block_size"),
    (dict(dropout=1.5), "dropout"),
])
def test_config_validation(bad, match):
    with pytest.raises(ValueError, match=match):
        GPTConfig(**dict(TINY, **bad))
    with pytest.raises(ValueError, match="unknown keys"):
        GPT(dict(TINY, n_heads=2))
