"""The M6/M7 spec's own checks: the chi-square helper, the wrong-return-value messages, and hints
that appear only when the evidence matches them (issue 11, section 3)."""
from __future__ import annotations

import numpy as np
import pytest

from spec import reference_adapter as ref
from spec import test_m6_training as m6
from spec import test_m7_sampling as m7
from spec.numerics import assert_frequencies, chi2_sf, expect_array, expect_float
from tests.test_spec_numerics import adapter, failure

# Upper 1e-3 quantiles of the chi-square distribution (NIST/SEMATECH e-Handbook 1.3.6.7.4), by df.
CHI2_999 = {1: 10.828, 2: 13.816, 3: 16.266, 4: 18.467, 5: 20.515, 6: 22.458, 7: 24.322, 8: 26.124, 9: 27.877,
            10: 29.588, 15: 37.697, 20: 45.315, 30: 59.703, 50: 86.661, 100: 149.449}


@pytest.mark.parametrize("df", sorted(CHI2_999))
def test_chi2_sf_at_tabulated_quantiles(df):
    # the table has 5 significant digits: the p-value at a rounded quantile is 1e-3 to ~0.1%
    assert chi2_sf(CHI2_999[df], df) == pytest.approx(1e-3, rel=2e-3)


def test_chi2_sf_closed_forms():
    assert chi2_sf(2.0, 2) == pytest.approx(np.exp(-1.0), rel=1e-13)  # df 2: exp(-x/2)
    assert chi2_sf(100.0, 2) == pytest.approx(np.exp(-50.0), rel=1e-12)
    assert chi2_sf(0.0, 5) == 1.0


def test_assert_frequencies():
    assert_frequencies([250, 240, 260, 250], [0.25] * 4, 1e-3, "fair")
    with pytest.raises(AssertionError, match="p-value"):
        assert_frequencies([400, 200, 200, 200], [0.25] * 4, 1e-3, "biased")
    with pytest.raises(AssertionError, match="probability 0"):
        assert_frequencies([10, 10, 1], [0.5, 0.5, 0.0], 1e-3, "impossible")


def test_expect_float_and_array_name_the_wrong_return_value():
    assert expect_float(np.float32(2.5), "f") == 2.5 and expect_float(np.array([3.0]), "f") == 3.0
    with pytest.raises(AssertionError, match=r"^clip\(\) returned None, expected the total norm$"):
        expect_float(None, "clip()", "the total norm")
    with pytest.raises(AssertionError, match=r"returned a float64 array of shape \(3,\)"):
        expect_float(np.zeros(3), "f")
    with pytest.raises(AssertionError, match="returned a str"):
        expect_float("1.0", "f")
    with pytest.raises(AssertionError, match=r"returned an array of shape \(2,\), expected an array of shape \(3,\)"):
        expect_array(np.zeros(2), "g", (3,))
    with pytest.raises(AssertionError, match="returned a int64 array, expected float values"):
        expect_array(np.zeros(3, dtype=np.int64), "g", (3,), "f")

    class Unconvertible:
        def __array__(self, dtype=None, copy=None):
            raise RuntimeError("Can't call numpy() on Tensor that requires grad")

    with pytest.raises(AssertionError, match="np.asarray cannot convert .RuntimeError: Can't call numpy"):
        expect_array(Unconvertible(), "g")


def test_clip_returning_none_is_named():
    impl = adapter(clip_grad_norm=lambda params, max_norm: None)
    message = failure(m6.test_clip_grad_norm, impl, 5.0, 1.0)
    assert "returned None, expected the total norm" in message, message


def tempered(kind):
    def filter_logits(logits, temperature=1.0, top_k=None, top_p=None):
        if temperature == 0:
            return ref.filter_logits(logits, temperature, top_k, top_p)
        scale = {"offset": temperature / (temperature + 1e-6), "after_softmax": temperature,
                 "multiplied": temperature ** 2}[kind]
        return ref.filter_logits(np.asarray(logits) * scale, temperature, top_k, top_p)
    return adapter(filter_logits=filter_logits)


@pytest.mark.parametrize("kind, hint", [
    ("offset", "an offset of 1e-06 added to the temperature"),
    ("after_softmax", "the temperature had no effect"),
    ("multiplied", "multiplied by the temperature"),
])
def test_temperature_hint_matches_the_evidence(kind, hint):
    message = failure(m7.test_temperature_scales_logits_before_softmax, tempered(kind), 0.5)
    assert hint in message, message
    others = {"offset": "an offset", "after_softmax": "no effect", "multiplied": "multiplied"}
    assert not [h for k, h in others.items() if k != kind and h in message], message


def test_no_temperature_hint_when_the_probabilities_are_not_a_tempered_softmax():
    def filter_logits(logits, temperature=1.0, top_k=None, top_p=None):
        probs = ref.filter_logits(logits, temperature, top_k, top_p)
        return probs[::-1].copy()  # a permutation: no temperature explains it
    message = failure(m7.test_temperature_scales_logits_before_softmax, adapter(filter_logits=filter_logits), 0.5)
    assert "Likely cause" not in message, message


def test_utf8_finish_hint_only_when_the_flush_is_missing():
    no_flush = adapter(utf8_stream=lambda chunks: ref.utf8_stream(chunks)[:-1] + [""])
    assert "finish() did not flush" in failure(m7.test_utf8_stream_replaces_invalid_and_truncated_bytes, no_flush)
    double = adapter(utf8_stream=lambda chunks: ref.utf8_stream(chunks)[:-1] + ["\ufffd\ufffd"])
    message = failure(m7.test_utf8_stream_replaces_invalid_and_truncated_bytes, double)
    assert "as one U+FFFD" in message and "finish() did not flush" not in message, message


def test_wrong_return_values_are_named_in_m7():
    message = failure(m7.test_top_k_keeps_exactly_k_highest, adapter(filter_logits=lambda *a, **k: None), 2)
    assert "filter_logits({'temperature': 1.0, 'top_k': 2}) returned None, expected float probabilities" in message
    message = failure(m7.test_utf8_stream_handles_boundaries_inside_characters, adapter(utf8_stream=lambda c: "".join(
        b.decode("utf-8", "replace") for b in c)))
    assert "returned a str" in message and "expected a list of 3 strings" in message, message
    message = failure(m7.test_sample_is_seeded, adapter(sample=lambda *a, **k: [0.5] * 200))
    assert "returned a float64 array, expected signed integer or unsigned integer values" in message, message


def test_adamw_hint_names_the_bug_only_when_its_oracle_matches():
    from tests.mutants._adamw import PlainAdamW

    def with_bug(**switches):
        return adapter(adamw=lambda params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0: PlainAdamW(
            params, lr, betas, eps, weight_decay, **switches))

    message = failure(m6.test_adamw_matches_closed_form_over_10_steps, with_bug(decay_after_update=True))
    assert "Likely cause: the weight decay is applied after the Adam update" in message, message
    message = failure(m6.test_adamw_matches_closed_form_over_10_steps, with_bug(bias_correction_offset=2))
    assert "Likely cause" not in message, message  # off by two: no known bug reproduces it


def test_cache_hint_follows_where_decoding_first_differs():
    assert "prompt" in m7.cache_hint(5, 0, 1)
    assert "1-token cached step" in m7.cache_hint(5, 1, 1)  # 6 tokens: the window (block_size 8) stays at 0
    assert "from token 0 to 1" in m7.cache_hint(5, 4, 1)  # 9 tokens: it moves
    assert "1-token cached step" in m7.cache_hint(13, 1, 3)  # 14 tokens, window_shift 3: start 6, as at 13
