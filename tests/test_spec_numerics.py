"""The spec's own helpers (spec/numerics.py) and its hints: a failure names a cause only on evidence.

These call spec contracts directly with small stand-in adapters (a namespace of functions), so each
test shows one behaviour of the grader itself, not of numgpt.
"""
from __future__ import annotations

import types

import numpy as np
import pytest

import spec.reference_adapter as ref
from spec import oracle
from spec import test_m2_nn, test_m4_gpt
from spec.numerics import AdapterError, as_array, assert_clear_error, check_grads, diagnose, shape_regex


def adapter(**overrides) -> types.SimpleNamespace:
    """The reference adapter with some functions replaced."""
    return types.SimpleNamespace(**{**{k: getattr(ref, k) for k in dir(ref) if not k.startswith("_")}, **overrides})


# ----------------------------------------------------------------------------- as_array


def test_as_array_surfaces_a_broken_to_numpy_named() -> None:
    def to_numpy(t):
        raise KeyError("no buffer")

    with pytest.raises(AdapterError, match=r"the adapter's to_numpy\(a Tensor of shape \(2,\)\) raised KeyError"):
        as_array(adapter(to_numpy=to_numpy), ref.tensor(np.ones(2)))


def test_as_array_accepts_plain_arrays_and_numbers() -> None:
    def to_numpy(t):
        return t.data  # only understands the implementation's tensors

    impl = adapter(to_numpy=to_numpy)
    assert as_array(impl, np.arange(3)).tolist() == [0, 1, 2]
    assert as_array(impl, 2.5) == 2.5


@pytest.mark.parametrize("value, says", [(None, "got None where a tensor was expected"),
                                         ((1, 2), "expected one tensor, got a tuple")])
def test_as_array_names_a_wrong_return_type(value, says) -> None:
    def to_numpy(t):
        return t.data

    with pytest.raises(AssertionError, match=says):
        as_array(adapter(to_numpy=to_numpy), value, "the loss")


def test_as_array_rejects_an_object_array() -> None:
    with pytest.raises(AssertionError, match="expected a numeric tensor"):
        as_array(adapter(to_numpy=lambda t: np.array([None, 1], dtype=object)), object())


def test_check_grads_names_a_gradient_of_the_wrong_type() -> None:
    impl = adapter(grad=lambda t: {"grad": t.grad})
    with pytest.raises(AssertionError, match=r"grad\(\) of input 0 returned a dict .*, expected an array"):
        check_grads(impl, lambda x: ref.mul(x, 2.0), [np.ones(3)], what="2x")


# ----------------------------------------------------------------------------- clear errors, shapes


@pytest.mark.parametrize("message", ["shapes (2, 3) and (4, 5)", "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)",
                                     "torch.Size([2, 3]) vs [4, 5]"])
def test_shape_regex_finds_shapes_however_printed(message) -> None:
    with assert_clear_error("matmul", names=[shape_regex((2, 3)), shape_regex((4, 5))]):
        raise RuntimeError(message)


def test_shape_regex_does_not_match_a_longer_number() -> None:
    with pytest.raises(AssertionError, match="does not say"):
        with assert_clear_error("matmul", names=[shape_regex((2, 3))]):
            raise ValueError("shapes (12, 3) and (4, 5)")


def test_an_assert_in_the_implementation_is_not_a_clear_error() -> None:
    with pytest.raises(AssertionError, match="expected ValueError or TypeError or RuntimeError"):
        with assert_clear_error("linear"):
            raise ZeroDivisionError("x")


def test_diagnose_names_a_cause_only_when_the_output_matches_it() -> None:
    candidates = [("cause A", np.zeros(3)), ("cause B", np.ones(3))]
    assert diagnose(np.ones(3), candidates, 1e-9, 1e-12) == "cause B"
    assert diagnose(np.full(3, 2.0), candidates, 1e-9, 1e-12, default="") == ""
    assert diagnose(np.ones(4), candidates, 1e-9, 1e-12) == ""  # another shape is no evidence


# ----------------------------------------------------------------------------- hints on evidence


def _block(post_ln: bool = False, act=ref.gelu, residual: bool = True):
    """A transformer_block built from adapter functions, with the chosen mistakes."""
    def transformer_block(x, n_head, p):
        def attn(h):
            return ref.causal_self_attention(h, n_head, p["attn.c_attn.weight"], p.get("attn.c_attn.bias"),
                                             p["attn.c_proj.weight"], p.get("attn.c_proj.bias"))

        def mlp(h):
            return ref.linear(act(ref.linear(h, p["mlp.c_fc.weight"], p.get("mlp.c_fc.bias"))),
                              p["mlp.c_proj.weight"], p.get("mlp.c_proj.bias"))

        def ln(h, name):
            return ref.layer_norm(h, p[f"{name}.weight"], p.get(f"{name}.bias"))

        if post_ln:
            x = ln(x + attn(x), "ln_1")
            return ln(x + mlp(x), "ln_2")
        x = x + attn(ln(x, "ln_1")) if residual else attn(ln(x, "ln_1"))
        return x + mlp(ln(x, "ln_2"))
    return transformer_block


def _erf_gelu(x):
    return ref.tensor(oracle.gelu_erf(ref.to_numpy(x)))  # forward only: enough for a forward contract


def failure(test, *args) -> str:
    """The AssertionError message of ``test(*args)`` (a spec contract called with a stand-in adapter)."""
    with pytest.raises(AssertionError) as e:
        test(*args)
    return str(e.value)


def test_an_erf_gelu_block_is_told_erf_not_post_ln() -> None:
    message = failure(test_m4_gpt.test_block_forward_matches_oracle, adapter(transformer_block=_block(act=_erf_gelu)))
    assert "erf" in message and "post-LN" not in message, message


def test_a_post_ln_block_is_told_post_ln() -> None:
    message = failure(test_m4_gpt.test_block_forward_matches_oracle, adapter(transformer_block=_block(post_ln=True)))
    assert "post-LN" in message and "erf" not in message, message


def test_an_unrecognised_block_bug_gets_no_hint() -> None:
    message = failure(test_m4_gpt.test_block_forward_matches_oracle, adapter(transformer_block=_block(residual=False)))
    assert "Likely cause" not in message, message


def _oracle_gpt(**mistake):
    """A stand-in GPT adapter computing the oracle with one mistake (numpy in, numpy out)."""
    return adapter(
        to_numpy=np.asarray,
        gpt_model=lambda config, state, dtype=np.float64: (config, state),
        gpt_forward=lambda model, idx, targets=None: oracle.gpt_forward(*model, idx, targets, **mistake),
    )


@pytest.mark.parametrize("mistake, says, not_says", [
    ({"act": oracle.gelu_erf}, "erf", "post-LN"),
    ({"post_ln": True}, "post-LN", "erf"),
    ({"final_ln": False}, "ln_f", "post-LN"),
    ({"positions": False}, "position embeddings", "post-LN"),
])
def test_gpt_forward_hints_follow_the_evidence(mistake, says, not_says) -> None:
    message = failure(lambda impl: test_m4_gpt.test_gpt_forward_matches_oracle(impl, True), _oracle_gpt(**mistake))
    assert says in message and not_says not in message, message


def test_gpt_forward_returning_only_the_last_position_is_named() -> None:
    def last_only(model, idx, targets=None):
        logits, loss = oracle.gpt_forward(*model, idx, targets)
        return (logits, loss) if targets is not None else (logits[:, -1:], None)

    impl = adapter(to_numpy=np.asarray, gpt_model=lambda config, state, dtype=np.float64: (config, state),
                   gpt_forward=last_only)
    message = failure(test_m4_gpt.test_gpt_forward_without_targets_and_short_sequences, impl)
    assert "LAST position" in message and "nanoGPT" in message, message


def test_gpt_forward_returning_one_tensor_is_named() -> None:
    impl = adapter(gpt_forward=lambda model, idx, targets=None: ref.gpt_forward(model, idx, targets)[0])
    message = failure(test_m4_gpt.test_gpt_forward_without_targets_and_short_sequences, impl)
    assert "expected a pair (logits, loss)" in message, message


def test_a_tanh_gelu_mismatch_is_not_told_erf() -> None:
    impl = adapter(gelu=lambda x: ref.mul(ref.gelu(x), 1.001))
    message = failure(test_m2_nn.test_gelu_forward_is_the_tanh_approximation, impl)
    assert "erf" not in message, message
