"""M4 contracts: the pre-LN transformer block and the whole GPT (GPT-2 names, init, tied lm_head).

Expected values come from spec/oracle.py (plain float64 NumPy from a GPT-2-named state dict);
gradients from float64 central finite differences: every element at block level
(spec/numerics.check_grads), ``MODEL_COORDS`` sampled coordinates of EVERY parameter at model
level (the loss is recomputed from a perturbed state dict). Tolerances:

* block forward vs oracle: ``OP_RTOL = 1e-9``, ``OP_ATOL = 1e-11``.
* whole-GPT forward vs oracle (a few dozen ops deep): ``MODEL_RTOL = 1e-7``, ``MODEL_ATOL = 1e-9``.
* gradients vs finite differences: ``GRAD_RTOL = 1e-5``, ``GRAD_ATOL = 1e-7``.
* float32 model vs the float64 oracle: ``F32_MODEL_RTOL = 1e-3``, ``F32_MODEL_ATOL = 1e-4``
  (float32 rounding accumulated through ~30 ops on O(1) values is ~1e-5).
* causality: earlier logits may not move by more than ``CAUSAL_ATOL = 1e-12``.
* init statistics: sample mean, std and the correlation between two weights within
  ``INIT_SIGMAS = 6`` standard errors (false alarm < 1e-8).
* the loss of logits of magnitude 1e4: ``HUGE_MODEL_LOSS_RTOL``/``HUGE_MODEL_LOSS_ATOL``.

Each tolerance is defined, with its reason, in spec/numerics.py. A failure's hint names a known
mistake (post-LN, the erf GELU, no position embeddings, no ln_f) only when the output matches the
oracle computed WITH that mistake.

Models are tiny (vocab 11, block 8, 2 layers, 2 heads, n_embd 8) so the module runs in seconds.
"""
from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest

from spec import oracle
from spec.numerics import (
    CAUSAL_ATOL, F32_MODEL_ATOL, F32_MODEL_RTOL, GRAD_ATOL, GRAD_RTOL, HUGE_MODEL_LOSS_ATOL, HUGE_MODEL_LOSS_RTOL,
    INIT_SIGMAS, MODEL_ATOL, MODEL_RTOL, OP_ATOL, OP_RTOL, as_array, assert_clear_error, assert_close, check_grads,
    describe, diagnose, finite_difference,
)

pytestmark = pytest.mark.milestone("M4")

CONFIG = dict(block_size=8, vocab_size=11, n_layer=2, n_head=2, n_embd=8, dropout=0.0, bias=True)
MODEL_COORDS = 3  # sampled coordinates per parameter for the model-level gradient check


def batch(config=CONFIG, B=2, T=None, seed=0, ignore=True):
    rng = np.random.default_rng(seed)
    T = config["block_size"] if T is None else T
    idx = rng.integers(0, config["vocab_size"], size=(B, T))
    targets = rng.integers(0, config["vocab_size"], size=(B, T))
    if ignore:
        targets[0, 1] = targets[1, -1] = -1
    return idx, targets


def run(impl, model, idx, targets=None):
    """``gpt_forward(model, idx, targets)``, checked to be a (logits, loss) pair with logits at EVERY
    position (B, T, V), and loss None exactly when targets is None."""
    result = impl.gpt_forward(model, idx, targets)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise AssertionError(f"gpt_forward returned {describe(result)}, expected a pair (logits, loss) "
                             "(loss None when targets is None)")
    logits, loss = result
    shape = as_array(impl, logits, "the logits returned by gpt_forward").shape
    B, T = idx.shape
    if len(shape) == 3 and shape[1] == 1 and T > 1:
        raise AssertionError(
            f"gpt_forward returned logits of shape {shape} for idx {idx.shape}: logits only for the LAST position "
            "(nanoGPT's inference shortcut when targets is None); the contract wants them at every position, "
            "(B, T, vocab_size)")
    if targets is None and loss is not None:
        raise AssertionError(f"gpt_forward without targets returned loss {describe(loss)}, expected None")
    if targets is not None and loss is None:
        raise AssertionError("gpt_forward with targets returned loss None, expected the scalar cross-entropy")
    return logits, loss


def forward(impl, config, state, idx, targets=None, dtype=np.float64):
    model = impl.gpt_model(config, state, dtype=dtype)
    logits, loss = run(impl, model, idx, targets)
    return model, logits, loss


def known_mistakes(config, state, idx, targets=None, index=0):
    """(hint, the oracle's output WITH that mistake): diagnose() names a mistake only on evidence."""
    def variant(**kw):
        return oracle.gpt_forward(config, state, idx, targets, **kw)[index]
    return [
        ("the blocks are post-LN, ln(x + attn(x)) as in GPT-1; GPT-2 is pre-LN, x + attn(ln_1(x))", variant(post_ln=True)),
        ("gelu is the exact erf form; GPT-2 uses the tanh approximation", variant(act=oracle.gelu_erf)),
        ("the position embeddings wpe[0..T-1] are not added", variant(positions=False)),
        ("the final LayerNorm ln_f is not applied before the lm_head", variant(final_ln=False)),
    ]


def block_params(config=CONFIG, seed=0):
    state = oracle.random_gpt_state(config, seed)
    return {k[len("transformer.h.0."):]: v for k, v in state.items() if k.startswith("transformer.h.0.")}


# ----------------------------------------------------------------------------- block


def test_block_forward_matches_oracle(impl):
    p = block_params()
    x = np.random.default_rng(1).standard_normal((2, 5, CONFIG["n_embd"]))
    out = as_array(impl, impl.transformer_block(impl.tensor(x), 2, {k: impl.tensor(v) for k, v in p.items()}))
    hint = diagnose(out, [
        ("the block is post-LN, ln(x + attn(x)) as in GPT-1; GPT-2 is pre-LN, x + attn(ln_1(x))",
         oracle.block(x, 2, p, post_ln=True)),
        ("gelu is the exact erf form; GPT-2 uses the tanh approximation", oracle.block(x, 2, p, act=oracle.gelu_erf)),
    ], OP_RTOL, OP_ATOL)
    assert_close(out, oracle.block(x, 2, p), OP_RTOL, OP_ATOL,
                 "transformer_block vs oracle: PRE-LayerNorm, x + attn(ln_1(x)) then x + mlp(ln_2(x)) with "
                 "mlp = c_proj(gelu(c_fc(.)))", hint)


def test_block_grads(impl):
    p = block_params(seed=2)
    keys = list(oracle.BLOCK_KEYS)
    x = np.random.default_rng(3).standard_normal((2, 4, CONFIG["n_embd"]))

    def fn(x, *ps):
        return impl.transformer_block(x, 2, dict(zip(keys, ps)))

    check_grads(impl, fn, [x] + [p[k] for k in keys], max_coords=24,
                what="transformer_block gradients w.r.t. x and each of its 12 parameters (24 sampled coordinates "
                     f"each; input 0 is x, then {keys})")


def test_block_is_causal(impl):
    p = {k: impl.tensor(v) for k, v in block_params(seed=4).items()}
    x = np.random.default_rng(5).standard_normal((2, 6, CONFIG["n_embd"]))
    base = as_array(impl, impl.transformer_block(impl.tensor(x), 2, p))
    x2 = x.copy()
    x2[:, 4:] += 3.0
    moved = as_array(impl, impl.transformer_block(impl.tensor(x2), 2, p))
    assert_close(moved[:, :4], base[:, :4], 0, CAUSAL_ATOL,
                 "block outputs at positions < 4 after changing the input at positions >= 4")


# ----------------------------------------------------------------------------- init


@pytest.mark.parametrize("bias", [True, False])
def test_gpt_init_names_and_shapes_are_gpt2s(impl, bias):
    config = dict(CONFIG, bias=bias)
    state = impl.gpt_init(config, 0)
    expected = oracle.gpt_param_shapes(config)
    got = {k: tuple(np.shape(v)) for k, v in state.items()}
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    assert not missing and not extra, (
        f"gpt_init(bias={bias}) state dict names differ from GPT-2's: missing {missing}, unexpected {extra} "
        "(the tied lm_head must not appear as its own entry; with bias=False no '.bias' entries)")
    wrong = {k: (got[k], s) for k, s in expected.items() if got[k] != s}
    assert not wrong, f"parameter shapes (got, expected) differ; Linear weights are (in, out): {wrong}"


def test_gpt_init_statistics(impl):
    config = dict(block_size=32, vocab_size=300, n_layer=3, n_head=2, n_embd=32, dropout=0.0, bias=True)
    state = impl.gpt_init(config, 0)
    residual_std = 0.02 / math.sqrt(2 * config["n_layer"])
    for name, value in state.items():
        a = np.asarray(value, dtype=np.float64)
        assert np.issubdtype(np.asarray(value).dtype, np.floating), f"{name} must be floating, got {value.dtype}"
        if name.endswith(".bias"):
            assert np.all(a == 0), f"{name} must be initialised to 0 (GPT-2 zero biases)"
        elif ".ln_" in name:
            assert np.all(a == 1), f"LayerNorm weight {name} must be initialised to 1"
        else:
            std = residual_std if name.endswith("c_proj.weight") else 0.02
            n = a.size
            assert abs(a.mean()) <= INIT_SIGMAS * std / math.sqrt(n), (
                f"{name}: sample mean {a.mean():.3g} of {n} draws is not ~0 (N(0, {std:.4g}^2) init)")
            band = INIT_SIGMAS / math.sqrt(2 * n)
            unscaled = std != 0.02 and abs(a.std() / 0.02 - 1) <= band  # evidence for the hint below
            assert abs(a.std() / std - 1) <= band, (
                f"{name}: sample std {a.std():.4g}, expected {std:.4g} +- {band * std:.2g} "
                + ("(GPT-2 uses N(0, 0.02^2) for weights and embeddings, and 0.02/sqrt(2*n_layer) for the residual "
                   "projections c_proj)" + (". Likely cause: this residual projection was drawn with 0.02, without "
                                            "the 1/sqrt(2*n_layer) scaling" if unscaled else "")))


def test_gpt_init_draws_every_weight_independently(impl):
    """Each layer's weights are fresh draws: no two random weights of the same shape (block i vs
    block j, wte vs wpe rows, ...) are equal or correlated. A generator re-seeded per block (or one
    block built and copied n_layer times) gives identical layers, which then stay identical in
    training: the model has the capacity of one layer."""
    config = dict(block_size=16, vocab_size=16, n_layer=3, n_head=2, n_embd=16, dropout=0.0, bias=True)
    state = impl.gpt_init(config, 0)
    weights = {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in state.items()
               if not k.endswith(".bias") and ".ln_" not in k}
    for (a, x), (b, y) in itertools.combinations(weights.items(), 2):
        if x.size != y.size:
            continue
        corr = float(np.corrcoef(x, y)[0, 1])
        bound = INIT_SIGMAS / math.sqrt(x.size)
        assert abs(corr) <= bound, (
            f"gpt_init: {a} and {b} have correlation {corr:.3f} (independent draws: |corr| <= {bound:.3f}); "
            + ("they are identical: " if np.array_equal(x, y) else "")
            + "draw every parameter from ONE generator, in turn (do not re-seed it per layer or copy a block)")


def test_gpt_init_is_seeded(impl):
    a, b, c = impl.gpt_init(CONFIG, 3), impl.gpt_init(CONFIG, 3), impl.gpt_init(CONFIG, 4)
    assert all(np.array_equal(a[k], b[k]) for k in a), "gpt_init with the same seed must give identical arrays"
    assert not np.array_equal(a["transformer.wte.weight"], c["transformer.wte.weight"]), \
        "gpt_init with different seeds gave the same wte: is the seed used?"


# ----------------------------------------------------------------------------- forward


@pytest.mark.parametrize("bias", [True, False])
def test_gpt_forward_matches_oracle(impl, bias):
    config = dict(CONFIG, bias=bias)
    state = oracle.random_gpt_state(config, 1)
    idx, targets = batch(config)
    _, logits, loss = forward(impl, config, state, idx, targets)
    want_logits, want_loss = oracle.gpt_forward(config, state, idx, targets)
    recipe = ("x = wte[idx] + wpe[:T]; pre-LN blocks; ln_f; logits = x @ wte^T (lm_head tied to wte); "
              "loss = mean cross-entropy over targets != -1")
    got_logits = as_array(impl, logits, "the logits returned by gpt_forward")
    assert_close(got_logits, want_logits, MODEL_RTOL, MODEL_ATOL, f"GPT logits (bias={bias}) vs oracle: {recipe}",
                 diagnose(got_logits, known_mistakes(config, state, idx), MODEL_RTOL, MODEL_ATOL))
    assert_close(as_array(impl, loss, "the loss returned by gpt_forward"), want_loss, MODEL_RTOL, MODEL_ATOL,
                 f"GPT loss (bias={bias}) vs oracle: {recipe}")


def test_gpt_forward_without_targets_and_short_sequences(impl):
    state = oracle.random_gpt_state(CONFIG, 2)
    idx, _ = batch(T=5, seed=2)
    _, logits, loss = forward(impl, CONFIG, state, idx)  # checks: logits at every position, loss None
    got = as_array(impl, logits)
    assert_close(got, oracle.gpt_forward(CONFIG, state, idx)[0], MODEL_RTOL, MODEL_ATOL,
                 "GPT logits (B, T, V) for T=5 < block_size=8, no targets (positions use wpe[0..4])",
                 diagnose(got, known_mistakes(CONFIG, state, idx), MODEL_RTOL, MODEL_ATOL))


def test_gpt_forward_too_long_is_a_clear_error(impl):
    """T = 9 > block_size = 8: a clear error naming both numbers."""
    model = impl.gpt_model(CONFIG, oracle.random_gpt_state(CONFIG, 0))
    idx = np.zeros((1, 9), dtype=np.int64)
    with assert_clear_error("gpt_forward with T=9 > block_size=8", names=[r"(?<!\d)8(?!\d)", r"(?<!\d)9(?!\d)"]):
        impl.gpt_forward(model, idx)


def test_gpt_forward_out_of_vocab_id_is_a_clear_error(impl):
    """The id 11 with vocab_size 11: a clear error naming the id (or the vocab size)."""
    model = impl.gpt_model(CONFIG, oracle.random_gpt_state(CONFIG, 0))
    idx = np.array([[1, 2, CONFIG["vocab_size"]]])
    with assert_clear_error(f"gpt_forward with token id {CONFIG['vocab_size']} (vocab_size {CONFIG['vocab_size']})",
                            names=[rf"(?<!\d){CONFIG['vocab_size']}(?!\d)"]):
        impl.gpt_forward(model, idx)


@pytest.mark.parametrize("what", ["missing key", "wrong shape", "unexpected key"])
def test_gpt_model_rejects_bad_state_dicts(impl, what):
    """A bad state dict is a clear error naming the parameter."""
    state = oracle.random_gpt_state(CONFIG, 0)
    bad, name = {
        "missing key": ({k: v for k, v in state.items() if k != "transformer.wpe.weight"}, "transformer.wpe.weight"),
        "wrong shape": (dict(state, **{"transformer.h.1.mlp.c_fc.weight": state["transformer.h.1.mlp.c_fc.weight"].T}),
                        "transformer.h.1.mlp.c_fc.weight"),
        "unexpected key": (dict(state, **{"lm_head.weight": state["transformer.wte.weight"]}), "lm_head.weight"),
    }[what]
    with assert_clear_error(f"gpt_model with a state dict with a {what} ({name})", names=[re.escape(name)]):
        impl.gpt_model(CONFIG, bad)


def test_gpt_dropout_only_in_training_mode(impl):
    """A model with dropout 0.3: in eval mode (gpt_train_mode(model, False)) every dropout (the
    embeddings', the attention weights', the residual branches') is the identity, so the logits equal
    the dropout-free oracle; in training mode they do not; and eval mode comes back after training."""
    config = dict(CONFIG, dropout=0.3)
    state = oracle.random_gpt_state(config, 9)
    idx, _ = batch(config, seed=9)
    want = oracle.gpt_forward(config, state, idx)[0]
    model = impl.gpt_model(config, state)
    hint = ("some dropout is still active in eval mode: each dropout, the attention weights' included, must "
            "follow the model's training flag (e.g. pass dropout_p = p if training else 0 to the attention)")
    impl.gpt_train_mode(model, False)
    assert_close(as_array(impl, run(impl, model, idx)[0]), want, MODEL_RTOL, MODEL_ATOL,
                 "GPT(dropout=0.3) logits in eval mode vs the dropout-free oracle", hint)
    impl.gpt_train_mode(model, True)
    train = as_array(impl, run(impl, model, idx)[0])
    assert not np.allclose(train, want, rtol=MODEL_RTOL, atol=MODEL_ATOL), (
        "GPT(dropout=0.3) in training mode gave the dropout-free logits: dropout is never applied in training")
    impl.gpt_train_mode(model, False)
    assert_close(as_array(impl, run(impl, model, idx)[0]), want, MODEL_RTOL, MODEL_ATOL,
                 "GPT(dropout=0.3) logits in eval mode again, after a forward in training mode", hint)


def test_gpt_is_causal(impl):
    model = impl.gpt_model(CONFIG, oracle.random_gpt_state(CONFIG, 3))
    idx, _ = batch(seed=3)
    base = as_array(impl, run(impl, model, idx)[0]).copy()
    for t in (1, 4, 7):
        idx2 = idx.copy()
        idx2[:, t:] = (idx2[:, t:] + 1) % CONFIG["vocab_size"]
        moved = as_array(impl, run(impl, model, idx2)[0])
        assert_close(moved[:, :t], base[:, :t], 0, CAUSAL_ATOL,
                     f"logits at positions < {t} after changing the tokens at positions >= {t} (position t may "
                     "depend only on tokens <= t)")
        assert not np.allclose(moved[:, t], base[:, t]), f"changing token {t} must change the logits at position {t}"


def test_gpt_position_matters(impl):
    model = impl.gpt_model(CONFIG, oracle.random_gpt_state(CONFIG, 4))
    idx = np.full((1, 6), 3)
    logits = as_array(impl, run(impl, model, idx)[0])
    assert not np.allclose(logits[0, 0], logits[0, 1]), (
        "the same token at positions 0 and 1 gave the same logits: position embeddings wpe[t] must be added")


# ----------------------------------------------------------------------------- gradients


def test_gpt_parameters_are_the_gpt2_names(impl):
    state = oracle.random_gpt_state(CONFIG, 0)
    params = impl.gpt_parameters(impl.gpt_model(CONFIG, state))
    assert set(params) == set(state), (
        f"gpt_parameters names differ from the state dict's: missing {sorted(set(state) - set(params))}, "
        f"unexpected {sorted(set(params) - set(state))} (the tied lm_head is listed once, as transformer.wte.weight)")
    for name, t in params.items():
        assert_close(as_array(impl, t), state[name], 0, 0, f"parameter {name} must hold the loaded state dict value")


def test_gpt_gradients_match_finite_differences(impl):
    state = oracle.random_gpt_state(CONFIG, 5)
    idx, targets = batch(seed=5)
    names = sorted(state)
    model, _, loss = forward(impl, CONFIG, state, idx, targets)
    impl.backward(loss)
    params = impl.gpt_parameters(model)
    arrays = [np.array(state[n], dtype=np.float64) for n in names]

    def loss_of(arrs):
        return float(as_array(impl, forward(impl, CONFIG, dict(zip(names, arrs)), idx, targets)[2]))

    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        g = impl.grad(params[name])
        assert g is not None, f"no gradient reached {name}"
        g = np.asarray(g, dtype=np.float64)
        flat = rng.choice(arrays[i].size, size=min(MODEL_COORDS, arrays[i].size), replace=False)
        coords = [tuple(int(c) for c in np.unravel_index(k, arrays[i].shape)) for k in flat]
        numeric = finite_difference(loss_of, arrays, i, coords=coords)
        assert_close(np.array([g[c] for c in coords]), np.array([numeric[c] for c in coords]), GRAD_RTOL, GRAD_ATOL,
                     f"d loss / d {name} at {coords} vs finite differences"
                     + (" (the tied weight gets BOTH the embedding and the lm_head contributions)"
                        if name == "transformer.wte.weight" else ""))


def test_gpt_huge_logits_give_finite_loss_and_grads(impl):
    state = oracle.random_gpt_state(CONFIG, 6)
    state["transformer.ln_f.weight"] = state["transformer.ln_f.weight"] * 1e4  # logits of magnitude ~1e4
    idx, targets = batch(seed=6)
    model, logits, loss = forward(impl, CONFIG, state, idx, targets)
    impl.backward(loss)
    assert np.isfinite(as_array(impl, loss)), "the loss of logits of magnitude 1e4 must be finite"
    for name, t in impl.gpt_parameters(model).items():
        assert np.all(np.isfinite(np.asarray(impl.grad(t)))), f"non-finite gradient for {name} with logits ~1e4"
    assert_close(as_array(impl, loss), oracle.gpt_forward(CONFIG, state, idx, targets)[1], HUGE_MODEL_LOSS_RTOL,
                 HUGE_MODEL_LOSS_ATOL,
                 "loss of logits of magnitude 1e4 vs oracle")


def test_gpt_float32(impl):
    state = oracle.random_gpt_state(CONFIG, 7)
    idx, targets = batch(seed=7)
    model, logits, loss = forward(impl, CONFIG, state, idx, targets, dtype=np.float32)
    got_logits, got_loss = as_array(impl, logits), as_array(impl, loss)
    assert got_logits.dtype == np.float32 and got_loss.dtype == np.float32, (
        f"gpt_model(dtype=float32) must compute in float32, got logits {got_logits.dtype}, loss {got_loss.dtype}")
    want_logits, want_loss = oracle.gpt_forward(CONFIG, state, idx, targets)
    assert_close(got_logits, want_logits, F32_MODEL_RTOL, F32_MODEL_ATOL, "float32 GPT logits vs float64 oracle")
    assert_close(got_loss, want_loss, F32_MODEL_RTOL, F32_MODEL_ATOL, "float32 GPT loss vs float64 oracle")
    impl.backward(loss)
    for name, t in impl.gpt_parameters(model).items():
        assert np.asarray(impl.grad(t)).dtype == np.float32, f"the gradient of {name} must be float32"


def test_gpt_is_deterministic(impl):
    state = impl.gpt_init(CONFIG, 11)
    idx, targets = batch(seed=8)
    runs = []
    for _ in range(2):
        model, logits, loss = forward(impl, CONFIG, state, idx, targets)
        impl.backward(loss)
        grads = impl.gpt_parameters(model)
        runs.append([as_array(impl, logits).copy(), as_array(impl, loss).copy()]
                    + [np.asarray(impl.grad(grads[k])).copy() for k in sorted(grads)])
    assert all(np.array_equal(a, b) for a, b in zip(*runs)), (
        "two identical GPT forward/backward passes gave different bits (non-determinism)")
