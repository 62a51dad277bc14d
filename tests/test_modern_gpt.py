"""Reference tests for the Llama-style configs of numgpt's GPT: HF parameter names and shapes, the
GPTConfig choices and their errors, old configs unchanged, a Llama block against its composition,
gradients, training steps, and cached == uncached generation (past block_size)."""
from __future__ import annotations

import numpy as np
import pytest
from numgpt.attention import apply_rope, scaled_dot_product_attention
from numgpt.sampling import generate
from numgpt.tensor import Tensor, gradcheck
from numgpt.transformer import GPT, Block, GPTConfig

from .test_modern_blocks import composed_rms_norm, composed_swiglu

SMALL = dict(block_size=8, vocab_size=13, n_layer=2, n_head=4, n_kv_head=2, n_embd=16)


def test_llama_names_and_shapes_are_hugging_face_llamas():
    m = GPT(GPTConfig.llama(**SMALL), seed=0)
    H = GPTConfig.llama(**SMALL).hidden_size
    want = {"model.embed_tokens.weight": (13, 16), "model.norm.weight": (16,), "lm_head.weight": (13, 16)}
    for i in range(2):
        p = f"model.layers.{i}."
        want.update({p + "input_layernorm.weight": (16,), p + "post_attention_layernorm.weight": (16,),
                     p + "self_attn.q_proj.weight": (16, 16), p + "self_attn.k_proj.weight": (8, 16),
                     p + "self_attn.v_proj.weight": (8, 16), p + "self_attn.o_proj.weight": (16, 16),
                     p + "mlp.gate_proj.weight": (H, 16), p + "mlp.up_proj.weight": (H, 16),
                     p + "mlp.down_proj.weight": (16, H)})
    assert {n: p.shape for n, p in m.named_parameters()} == want
    tied = GPT(GPTConfig.llama(**SMALL, tie_embeddings=True))
    assert "lm_head.weight" not in tied.state_dict()


def test_hidden_size_rule():
    assert GPTConfig.llama(n_embd=128, n_head=4).hidden_size == 352  # 32 * ceil(8 * 128 / 3 / 32)
    assert GPTConfig.llama(n_embd=4096, n_head=32).hidden_size == 10944  # multiple of 32 (Llama-2 rounds to 256: 11008)
    assert GPTConfig.llama(n_embd=128, n_head=4, ffn_hidden=100).hidden_size == 100
    assert GPTConfig(n_embd=128, n_head=4).hidden_size == 512


def test_gpt2_defaults_and_old_dicts_are_unchanged():
    old = dict(block_size=8, vocab_size=13, n_layer=1, n_head=2, n_embd=8, dropout=0.0, bias=True)
    a, b = GPT(old, seed=3), GPT({**old, "norm": "layernorm", "mlp": "gelu", "positions": "learned"}, seed=3)
    assert list(a.state_dict()) == list(b.state_dict())
    assert all(np.array_equal(a.state_dict()[k], v) for k, v in b.state_dict().items())
    assert "lm_head.weight" not in a.state_dict() and "transformer.wpe.weight" in a.state_dict()


@pytest.mark.parametrize("bad, match", [
    (dict(n_kv_head=3), "n_head=4, n_kv_head=3"),
    (dict(norm="batchnorm"), "GPTConfig.norm"),
    (dict(positions="alibi"), "GPTConfig.positions"),
    (dict(n_embd=20, n_head=4), "head_size=5"),
    (dict(rope_theta=0.0), "rope_theta"),
    (dict(ffn_hidden=0), "ffn_hidden"),
])
def test_config_errors_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        GPTConfig.llama(**{**SMALL, **bad})


def _composed_llama_block(block, x):
    a, m = block.self_attn, block.mlp
    T = x.shape[1]
    h = block.input_layernorm
    xn = composed_rms_norm(x, h.weight, h.eps)
    heads = lambda y, n: y.reshape(x.shape[0], T, n, 4).transpose(0, 2, 1, 3)
    pos = np.arange(T)
    q = apply_rope(heads(xn @ a.q_proj.weight.T, 4), pos, a.theta)
    k = apply_rope(heads(xn @ a.k_proj.weight.T, 2), pos, a.theta)
    y = scaled_dot_product_attention(q, k, heads(xn @ a.v_proj.weight.T, 2), causal=True)
    x = x + y.transpose(0, 2, 1, 3).reshape(x.shape) @ a.o_proj.weight.T
    xn = composed_rms_norm(x, block.post_attention_layernorm.weight, block.post_attention_layernorm.eps)
    return x + composed_swiglu(xn, m.gate_proj.weight, m.up_proj.weight, m.down_proj.weight)


def test_llama_block_matches_its_composition_and_gradchecks():
    cfg = GPTConfig.llama(**{**SMALL, "rope_theta": 300.0, "norm_eps": 1e-3})
    block = Block(cfg, rng=np.random.default_rng(1), dtype=np.float64)
    for p in block.parameters():  # non-trivial norm weights
        p.data += np.random.default_rng(2).standard_normal(p.shape) * 0.1
    x = np.random.default_rng(3).standard_normal((2, 5, 16))
    np.testing.assert_allclose(block(Tensor(x)).data, _composed_llama_block(block, Tensor(x)).data, atol=1e-12)
    gradcheck(lambda t: block(t), [x[:1, :3]], rtol=1e-5, atol=1e-7)


def test_llama_parameter_gradients_match_finite_differences():
    m = GPT(GPTConfig.llama(**{**SMALL, "n_layer": 1}), seed=0, dtype=np.float64)
    idx, tgt = np.array([[1, 2, 3, 4]]), np.array([[2, 3, 4, 5]])
    for name in ("model.layers.0.self_attn.k_proj.weight", "model.layers.0.mlp.up_proj.weight", "lm_head.weight",
                 "model.norm.weight"):
        p = dict(m.named_parameters())[name]
        m.zero_grad()
        m(idx, tgt)[1].backward()
        flat = np.random.default_rng(0).choice(p.size, 4, replace=False)
        for j in flat:
            orig = p.data.flat[j]
            p.data.flat[j] = orig + 1e-6
            up = float(m(idx, tgt)[1].data)
            p.data.flat[j] = orig - 1e-6
            down = float(m(idx, tgt)[1].data)
            p.data.flat[j] = orig
            np.testing.assert_allclose(p.grad.flat[j], (up - down) / 2e-6, rtol=1e-5, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("overrides", [
    {},  # the Llama preset (GQA 4/2)
    {"n_kv_head": 1},  # multi-query
    {"positions": "learned"},  # GPT-2 names, rmsnorm + swiglu + GQA, learned positions
])
def test_cached_generation_equals_uncached_past_block_size(overrides):
    m = GPT(GPTConfig.llama(**{**SMALL, **overrides}), seed=4, dtype=np.float64)
    for p in m.parameters():
        p.data *= 20  # a sharper, prompt-dependent model: greedy ties are unlikely
    prompt = np.array([1, 5, 2])
    for shift in (None, 1, 3):
        a = generate(m, prompt, 15, temperature=0.0, use_cache=True, window_shift=shift)
        b = generate(m, prompt, 15, temperature=0.0, use_cache=False, window_shift=shift)
        np.testing.assert_array_equal(a, b)
        assert len(a) == 18 > SMALL["block_size"]


def test_llama_state_dict_round_trip():
    cfg = GPTConfig.llama(**SMALL)
    a, b = GPT(cfg, seed=1), GPT(cfg, seed=2)
    b.load_state_dict(a.state_dict())
    idx = np.array([[3, 1, 4, 1, 5]])
    np.testing.assert_array_equal(a(idx)[0].data, b(idx)[0].data)
    with pytest.raises(Exception, match="model.layers.0.self_attn.q_proj.weight"):
        b.load_state_dict({k: v for k, v in a.state_dict().items() if "q_proj" not in k})


def test_bench_flop_count_and_gemm_shapes_follow_the_config():
    from numgpt.training.bench import flop_params, model_gemm_shapes
    gpt2, llama = GPT(dict(SMALL, n_kv_head=None)), GPT(GPTConfig.llama(**SMALL))
    assert flop_params(gpt2) == gpt2.num_parameters()  # tied: the embedding is the LM head's matmul
    assert flop_params(llama) == llama.num_parameters() - 13 * 16  # untied: the lookup table is no matmul
    H = GPTConfig.llama(**SMALL).hidden_size
    shapes = model_gemm_shapes(2, 8, 16, 13, qkv=32, hidden=H)
    assert (16, 16, 32) in shapes and (16, 16, H) in shapes and (16, H, 16) in shapes
