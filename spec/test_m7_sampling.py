"""M7 sampling: logit filters, seeded draws, streaming UTF-8, and generation with a KV cache.

Contracts (see the M7 section of spec/adapter_template.py):

* ``filter_logits(logits, temperature, top_k, top_p) -> probabilities`` must equal, to the
  tolerances below, the distribution of the independent oracle ``oracle_filter`` in this file:
  temperature first (0 = greedy one-hot at the argmax), then top-k (exactly k tokens; ties go
  to the LOWER token id), then softmax, then top-p (the smallest set of most probable tokens
  whose total mass is >= p, INCLUDING the token that crosses p, and at an exact boundary, where
  the running total equals p, nothing more; always >= 1 token), renormalised. Each row of a
  (B, V) batch on its own.
* ``sample(...)``: 10,000 seeded draws whose frequencies match the oracle distribution by a
  chi-square goodness-of-fit test at significance SAMPLE_ALPHA (spec/numerics.assert_frequencies).
* ``utf8_stream(chunks)``: incremental UTF-8 decoding across chunk boundaries; an unfinished
  character is held back (never U+FFFD mid-stream) and flushed as U+FFFD by the final piece.
* ``generate`` / ``step_logits`` through the M4 ``gpt_model`` handle: the model sees the window
  ``seq[start:]`` with ``start = 0`` while ``n <= block_size``, then ``start = s * ceil((n -
  block_size) / s)`` for ``window_shift = s`` (``window_start`` below; s = 1 is nanoGPT's exact
  sliding window, the last ``block_size`` tokens). Decoding with the KV cache gives the same
  logits as recomputing that window (float64: 1e-10), also after the context has moved past
  ``block_size``; same seed, same tokens; invalid parameters raise ``ValueError`` naming the
  parameter.

Tolerances (the M7 block of spec/numerics.py, each with its reason): probabilities vs the oracle:
|got - expected| <= PROB_ATOL + PROB_RTOL * expected (both sides are float64 softmaxes; they may
differ by a few ulps). Cached vs uncached logits of the same implementation: CACHE_RTOL/CACHE_ATOL
(float64, only summation order differs). Implementation vs the spec's own NumPy GPT
(spec/oracle.py): MODEL_RTOL/MODEL_ATOL. A hint is added to a failure only when the evidence
matches it (``temperature_hint``: the temperature the wrong probabilities were made with).
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spec import oracle
from spec.numerics import (CACHE_ATOL, CACHE_RTOL, MODEL_ATOL, MODEL_RTOL, PROB_ATOL, PROB_RTOL, PROB_SUM_ATOL,
                           SAMPLE_ALPHA, TEMPERATURE_FIT_RTOL, TOP_P_BOUNDARY_GAP, assert_clear_error, assert_close,
                           assert_frequencies, describe, expect_array)

pytestmark = pytest.mark.milestone("M7")

N_DRAWS = 10_000

# ----------------------------------------------------------------------------- oracles


def oracle_filter(logits, temperature=1.0, top_k=None, top_p=None) -> np.ndarray:
    """The specified sampling distribution, written as plainly as possible (one row at a time,
    Python sorting with explicit (score, id) keys)."""
    x = np.asarray(logits, dtype=np.float64)
    if x.ndim == 2:
        return np.stack([oracle_filter(row, temperature, top_k, top_p) for row in x])
    V = x.shape[0]
    out = np.zeros(V)
    if temperature == 0:
        best = max(range(V), key=lambda i: (x[i], -i))  # highest logit, lowest id among ties
        out[best] = 1.0
        return out
    x = x / temperature
    by_logit = sorted(range(V), key=lambda i: (-x[i], i))
    kept = by_logit if top_k is None else by_logit[:top_k]
    m = max(x[i] for i in kept)
    for i in kept:
        out[i] = math.exp(x[i] - m)
    out /= out.sum()
    if top_p is not None:
        nucleus, total = [], 0.0
        for i in sorted(range(V), key=lambda i: (-out[i], i)):
            if out[i] == 0.0:
                break
            nucleus.append(i)
            total += out[i]
            if total >= top_p:
                break
        trimmed = np.zeros(V)
        trimmed[nucleus] = out[nucleus]
        out = trimmed / trimmed.sum()
    return out


def assert_draws_match(draws, expected: np.ndarray, what: str) -> None:
    """Chi-square goodness of fit of integer draws against the distribution ``expected``."""
    V = expected.shape[0]
    draws = expect_array(draws, what, (N_DRAWS,), "iu", f"{N_DRAWS} integer token ids (a 1-D array)")
    outside = draws[(draws < 0) | (draws >= V)]
    assert outside.size == 0, f"{what}: drew ids outside [0, {V}): {np.unique(outside)[:10]}"
    counts = np.bincount(draws, minlength=V)
    impossible = np.flatnonzero((expected == 0) & (counts > 0))
    assert impossible.size == 0, (
        f"{what}: drew tokens {impossible.tolist()} that the filters remove (probability 0), "
        f"{counts[impossible].tolist()} times; filtered tokens must never be sampled")
    assert_frequencies(counts, expected, SAMPLE_ALPHA,
                       f"{what}: sampled token frequencies vs the filtered distribution")


def probs_close(impl_probs, expected: np.ndarray, what: str, hint: str = "") -> None:
    got = expect_array(impl_probs, what, expected.shape, "f", f"float probabilities of shape {expected.shape}")
    assert_close(got, expected, PROB_RTOL, PROB_ATOL, what, hint)


def filtered(impl, logits: np.ndarray, **kwargs) -> np.ndarray:
    """``impl.filter_logits(logits, **kwargs)`` as float probabilities of logits' shape (a wrong return is named)."""
    return expect_array(impl.filter_logits(logits, **kwargs), f"filter_logits({kwargs})", np.shape(logits), "f",
                        f"float probabilities of shape {np.shape(logits)}")


def drawn(impl, logits: np.ndarray, n: int, **kwargs) -> np.ndarray:
    """``impl.sample(logits, n, **kwargs)`` as n integer token ids."""
    return expect_array(impl.sample(logits, n, **kwargs), f"sample(num_samples={n}, {kwargs})", (n,), "iu",
                        f"{n} integer token ids (a 1-D array)")


def generated(value, what: str) -> np.ndarray:
    """What ``generate`` returned, as a 1-D integer array."""
    ids = expect_array(value, what, kinds="iu", expected="a 1-D integer array (the prompt and the new tokens)")
    assert ids.ndim == 1, f"{what} returned an array of shape {ids.shape}, expected a 1-D integer array"
    return ids


def streamed(impl, chunks: list[bytes]) -> list[str]:
    """``impl.utf8_stream(chunks)``: one string per chunk, then the flush."""
    pieces = impl.utf8_stream(chunks)
    if not (isinstance(pieces, (list, tuple)) and len(pieces) == len(chunks) + 1
            and all(isinstance(x, str) for x in pieces)):
        raise AssertionError(f"utf8_stream of {len(chunks)} chunks returned {describe(pieces)}, expected a list of "
                             f"{len(chunks) + 1} strings (one per chunk, then the final flush)")
    return list(pieces)


def temperature_hint(logits: np.ndarray, got: np.ndarray, temperature: float) -> str:
    """Name the temperature the probabilities ``got`` were made with, when the evidence says so:
    they are softmax(logits / T_eff) for a T_eff (fitted to their log-odds) other than
    ``temperature``. No hint when they are not a tempered softmax of the logits at all."""
    x, p = np.asarray(logits, dtype=np.float64), np.asarray(got, dtype=np.float64)
    if p.shape != x.shape or not np.all(np.isfinite(p)) or np.any(p < 0):
        return ""
    pos = p > 0
    if pos.sum() < 2 or np.ptp(x[pos]) == 0:
        return ""
    slope = np.polyfit(x[pos], np.log(p[pos]), 1)[0]  # log p = x / T_eff - log Z
    if not slope > 0:
        return ""
    t_eff = 1.0 / slope
    if not np.allclose(p, oracle_filter(x, t_eff), rtol=TEMPERATURE_FIT_RTOL, atol=PROB_ATOL):
        return ""

    def near(a: float, b: float) -> bool:  # the fit recovers a temperature to ~1e-14: PROB_RTOL is ample
        return abs(a - b) <= PROB_RTOL * abs(b)

    if near(t_eff, temperature):
        return ""
    if near(t_eff, 1.0):
        return ("the temperature had no effect (these are the probabilities of temperature 1): dividing the "
                "probabilities after the softmax cancels out when they are renormalised; the temperature divides "
                "the LOGITS, before the softmax")
    if near(t_eff, 1.0 / temperature):
        return f"the logits were multiplied by the temperature {temperature}, not divided by it"
    offset = (f" (an offset of {t_eff - temperature:.3g} added to the temperature: an epsilon against division by "
              f"zero? temperature 0 is the greedy case instead)" if abs(t_eff - temperature) < 1e-2 * temperature
              else "")
    return (f"these are the probabilities of softmax(logits / {t_eff:.10g}): the logits were divided by "
            f"{t_eff:.10g}, not by the temperature {temperature}{offset}")


# ----------------------------------------------------------------------------- filters

LOGITS = np.array([1.2, -0.3, 2.5, 0.7, 2.5, -1.9, 0.0, 1.9])  # ids 2 and 4 tie for the max


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0, 1e-3])
def test_temperature_scales_logits_before_softmax(impl, temperature):
    what = f"filter_logits(temperature={temperature}) vs softmax(logits / temperature)"
    got = expect_array(impl.filter_logits(LOGITS.copy(), temperature=temperature), what, LOGITS.shape, "f")
    probs_close(got, oracle_filter(LOGITS, temperature), what, temperature_hint(LOGITS, got, temperature))


def test_temperature_zero_is_greedy_with_lowest_id_on_ties(impl):
    got = filtered(impl, LOGITS.copy(), temperature=0.0)
    expected = np.zeros(8)
    expected[2] = 1.0
    probs_close(got, expected, "filter_logits(temperature=0): one-hot at the argmax; ids 2 and 4 tie, "
                "the lower id (2) must win")


def test_temperature_zero_on_a_batch_is_greedy_per_row(impl):
    """Each row of a (B, V) batch gets its own argmax (one argmax over the flattened batch would
    put every row's one at the column of the batch's largest logit)."""
    logits = np.array([[0.1, 2.0, -1.0, 0.5, 2.0],    # ids 1 and 4 tie: 1
                       [3.0, 0.0, 0.2, -0.4, 1.0],    # 0 (the largest logit of the batch)
                       [-2.0, -1.0, -3.0, -0.5, -0.6]])  # 3
    expected = np.zeros((3, 5))
    expected[[0, 1, 2], [1, 0, 3]] = 1.0
    probs_close(impl.filter_logits(logits.copy(), temperature=0.0), expected,
                "filter_logits(temperature=0) on a (B=3, V=5) batch: one-hot at each row's own argmax, ids [1, 0, 3] "
                "(row 0 ties ids 1 and 4: the lower wins)")


def test_filter_accepts_a_batch_of_rows_and_keeps_input(impl):
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(3, 10)) * 2
    before = logits.copy()
    got = impl.filter_logits(logits, temperature=0.8, top_k=6, top_p=0.9)
    probs_close(got, oracle_filter(before, 0.8, 6, 0.9), "filter_logits on a (B=3, V=10) batch, row by row")
    assert_close(logits, before, 0, 0, "filter_logits must not modify its input logits")
    assert_close(np.asarray(got).sum(-1), np.ones(3), 0, PROB_SUM_ATOL, "each row of probabilities sums to 1")


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8, 50])
def test_top_k_keeps_exactly_k_highest(impl, k):
    got = filtered(impl, LOGITS.copy(), temperature=1.0, top_k=k)
    expected = oracle_filter(LOGITS, 1.0, top_k=k)
    n_kept = int((got > 0).sum())
    assert n_kept == min(k, 8), f"top_k={k} on V=8 logits must keep exactly {min(k, 8)} tokens, kept {n_kept}: {got}"
    probs_close(got, expected, f"filter_logits(top_k={k}) (k >= V keeps everything)")


def test_top_k_ties_go_to_lower_ids(impl):
    logits = np.array([1.0, 3.0, 3.0, 3.0, 0.5])
    got = filtered(impl, logits, temperature=1.0, top_k=2)
    probs_close(got, np.array([0.0, 0.5, 0.5, 0.0, 0.0]),
                "top_k=2 on logits [1, 3, 3, 3, 0.5]: three tokens tie; keep exactly 2, the lower ids 1 and 2")


# probabilities [0.5, 0.3, 0.15, 0.05] (as log-probability logits, in a shuffled order)
P4 = np.array([0.15, 0.5, 0.05, 0.3])


@pytest.mark.parametrize("p, kept", [(0.2, [1]), (0.49, [1]), (0.6, [1, 3]), (0.79, [1, 3]),
                                     (0.81, [1, 3, 0]), (0.94, [1, 3, 0]), (0.96, [0, 1, 2, 3]),
                                     (1.0, [0, 1, 2, 3])])
def test_top_p_keeps_the_smallest_set_reaching_p(impl, p, kept):
    got = filtered(impl, np.log(P4), temperature=1.0, top_p=p)
    expected = np.zeros(4)
    expected[kept] = P4[kept] / P4[kept].sum()
    probs_close(got, expected,
                f"top_p={p} on probabilities {P4.tolist()}: keep ids {sorted(kept)} (walk from the most "
                f"probable; INCLUDE the token whose running total first reaches p)")


# Exactly representable probabilities, whatever the softmax's form (max-shifted, via log_softmax, or
# unshifted): equal logits give 1/4 each, and logits [0, ln 2, 0] give [1/4, 1/2, 1/4]. So the running
# total hits p exactly, and the rule decides: the smallest set whose mass is >= p, nothing more.
BOUNDARY_CASES = [
    (np.zeros(4), 0.25, [0]),
    (np.zeros(4), 0.5, [0, 1]),
    (np.zeros(4), 0.75, [0, 1, 2]),
    (np.array([0.0, math.log(2.0), 0.0]), 0.5, [1]),
    (np.array([0.0, math.log(2.0), 0.0]), 0.75, [0, 1]),
]


@pytest.mark.parametrize("logits, p, kept", BOUNDARY_CASES,
                         ids=[f"V{len(x)}-p{p}" for x, p, _ in BOUNDARY_CASES])
def test_top_p_at_an_exact_boundary_keeps_the_smallest_set(impl, logits, p, kept):
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    expected = np.zeros(len(logits))
    expected[kept] = probs[kept] / probs[kept].sum()
    probs_close(impl.filter_logits(logits.copy(), temperature=1.0, top_p=p), expected,
                f"top_p={p} on probabilities {probs.tolist()} (exact in binary): the running total reaches exactly "
                f"{p} at ids {kept} (ties: lower ids first); keep the smallest set whose mass is >= p, i.e. ids {kept} "
                f"and not one more (compare running total >= p, not > p)")


def test_top_p_always_keeps_at_least_one_token(impl):
    got = filtered(impl, np.log(P4), temperature=1.0, top_p=1e-9)
    probs_close(got, np.array([0.0, 1.0, 0.0, 0.0]), "top_p=1e-9: the most probable token alone")


def test_top_k_is_applied_before_top_p(impl):
    p = np.array([0.4, 0.3, 0.2, 0.1])
    got = filtered(impl, np.log(p), temperature=1.0, top_k=2, top_p=0.55)
    probs_close(got, np.array([1.0, 0.0, 0.0, 0.0]),
                "top_k=2 then top_p=0.55 on [0.4, 0.3, 0.2, 0.1]: top-k leaves [4/7, 3/7]; 4/7 >= 0.55 so "
                "top-p keeps only id 0 (doing top-p first would keep ids 0 and 1)")


@pytest.fixture(scope="module")
def filter_probe(impl) -> None:
    """Call filter_logits once before hypothesis starts: hypothesis would spend seconds shrinking an
    example that fails only because the adapter raises NotImplementedError."""
    impl.filter_logits(np.zeros(2), temperature=1.0)


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(seed=st.integers(0, 2**31 - 1), V=st.integers(1, 40),
       temperature=st.sampled_from([0.0, 0.3, 1.0, 1.7]),
       top_k=st.one_of(st.none(), st.integers(1, 45)),
       top_p=st.one_of(st.none(), st.floats(0.05, 1.0)))
def test_filters_match_oracle_on_random_logits(impl, filter_probe, seed, V, temperature, top_k, top_p):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=V) * 3
    base = oracle_filter(logits, temperature, top_k)
    if top_p is not None and temperature != 0:
        running = np.cumsum(np.sort(base)[::-1])
        if np.min(np.abs(running - top_p)) < TOP_P_BOUNDARY_GAP:
            return  # p sits on a cumulative boundary: the answer would hinge on rounding (see BOUNDARY_CASES)
    expected = oracle_filter(logits, temperature, top_k, top_p)
    got = impl.filter_logits(logits.copy(), temperature=temperature, top_k=top_k, top_p=top_p)
    probs_close(got, expected, f"filter_logits(V={V}, temperature={temperature}, top_k={top_k}, top_p={top_p})")


def test_filters_are_finite_for_huge_logits(impl):
    logits = np.array([1e4, 9990.0, -1e4, 0.0])
    got = impl.filter_logits(logits, temperature=0.5, top_k=3, top_p=0.999)
    probs_close(got, oracle_filter(logits, 0.5, 3, 0.999), "filter_logits on logits of magnitude 1e4 (stable softmax)")


BAD_PARAMS = [
    (dict(temperature=-0.5), "temperature"),
    (dict(temperature=float("nan")), "temperature"),
    (dict(top_k=0), "top"),
    (dict(top_k=-3), "top"),
    (dict(top_p=0.0), "top"),
    (dict(top_p=1.5), "top"),
    (dict(top_p=-0.1), "top"),
]


@pytest.mark.parametrize("kwargs, name", BAD_PARAMS, ids=[str(k) for k, _ in BAD_PARAMS])
def test_filter_rejects_invalid_parameters(impl, kwargs, name):
    args = dict(temperature=1.0, top_k=None, top_p=None) | kwargs
    with assert_clear_error(f"filter_logits({kwargs})", names=[f"(?i){name}"],
                            hint=f"the error message must name the parameter ({name})"):
        impl.filter_logits(LOGITS.copy(), **args)


# ----------------------------------------------------------------------------- sampling statistics

SAMPLE_CASES = [
    (dict(temperature=1.0), "plain softmax"),
    (dict(temperature=0.7, top_k=4), "temperature 0.7, top_k 4"),
    (dict(temperature=1.3, top_p=0.8), "temperature 1.3, top_p 0.8"),
    (dict(temperature=1.0, top_k=5, top_p=0.9), "top_k 5 then top_p 0.9"),
]
SAMPLE_LOGITS = np.array([0.3, -0.2, 1.1, 0.9, -1.0, 0.4, 0.0, -0.5])


@pytest.mark.parametrize("kwargs, what", SAMPLE_CASES, ids=[w for _, w in SAMPLE_CASES])
def test_sample_frequencies_match_filtered_distribution(impl, kwargs, what):
    expected = oracle_filter(SAMPLE_LOGITS, kwargs["temperature"], kwargs.get("top_k"), kwargs.get("top_p"))
    draws = impl.sample(SAMPLE_LOGITS.copy(), N_DRAWS, seed=1234, **kwargs)
    assert_draws_match(draws, expected, f"sample({what}, seed=1234)")


def test_sample_is_seeded(impl):
    a = drawn(impl, SAMPLE_LOGITS.copy(), 200, temperature=1.0, seed=5)
    b = drawn(impl, SAMPLE_LOGITS.copy(), 200, temperature=1.0, seed=5)
    c = drawn(impl, SAMPLE_LOGITS.copy(), 200, temperature=1.0, seed=6)
    assert np.array_equal(a, b), "sample(seed=5) twice must give the same draws"
    assert not np.array_equal(a, c), "sample(seed=5) and sample(seed=6) gave identical 200 draws"


def test_sample_greedy_is_deterministic(impl):
    draws = drawn(impl, LOGITS.copy(), 100, temperature=0.0, seed=3)
    assert np.all(draws == 2), f"temperature 0 must always pick id 2 (the lowest-id argmax), got {np.unique(draws)}"


# ----------------------------------------------------------------------------- streaming UTF-8

TEXT = "héllo, wörld — € 𝄞 ok"


def test_utf8_stream_handles_boundaries_inside_characters(impl):
    data = TEXT.encode("utf-8")
    for cut in range(1, len(data)):
        pieces = streamed(impl, [data[:cut], data[cut:]])
        assert "".join(pieces) == TEXT, f"split at byte {cut}: pieces {pieces!r} do not join to {TEXT!r}"
        assert "\ufffd" not in "".join(pieces)
    pieces = streamed(impl, [bytes([b]) for b in data])
    assert "".join(pieces) == TEXT, f"one byte at a time: got {''.join(pieces)!r}"
    euro = pieces[data.index("€".encode()):][:3]
    assert euro[:2] == ["", ""] and euro[2] == "€", (
        f"a 3-byte character fed byte by byte must emit nothing until its last byte, got {euro!r}")


def test_utf8_stream_replaces_invalid_and_truncated_bytes(impl):
    """An invalid byte becomes U+FFFD in its own chunk's piece; an unfinished character emits
    nothing while it may still be completed, and the final flush turns it into one U+FFFD (the
    maximal-subpart rule of Unicode 3.9 / the WHATWG decoder)."""
    pieces = streamed(impl, [b"ok\xff", b"\xe2\x82"])  # an invalid byte, then an unfinished euro sign
    assert pieces[0] == "ok\ufffd", f"chunk b'ok\\xff': the invalid byte becomes U+FFFD at once, got {pieces[0]!r}"
    assert pieces[1] == "", (
        f"chunk b'\\xe2\\x82' is the start of a 3-byte character: nothing may be emitted until it is complete or "
        f"the stream ends (no U+FFFD mid-stream), got {pieces[1]!r}")
    hint = " (finish() did not flush the unfinished character)" if pieces[2] == "" else ""
    assert pieces[2] == "\ufffd", (
        f"the final piece flushes the unfinished character b'\\xe2\\x82' as one U+FFFD, got {pieces[2]!r}{hint}")


# ----------------------------------------------------------------------------- generation (M4 handle)

CONFIG = dict(block_size=8, vocab_size=11, n_layer=2, n_head=2, n_embd=16, dropout=0.0, bias=True)
STATE = oracle.random_gpt_state(CONFIG, seed=21, scale=0.5)
PROMPT = np.array([3, 1, 4, 1, 5], dtype=np.int64)


@pytest.fixture(scope="module")
def model(impl):
    return impl.gpt_model(dict(CONFIG), {k: v.copy() for k, v in STATE.items()}, dtype=np.float64)


def window_start(n: int, window_shift: int = 1) -> int:
    """Index of the window's first token for a sequence of n tokens: 0 while the n tokens fit in
    block_size, then the smallest multiple of window_shift leaving at most block_size tokens."""
    block = CONFIG["block_size"]
    start = 0
    while n - start > block:
        start += window_shift
    return start


def window_logits(seq: np.ndarray, window_shift: int = 1) -> np.ndarray:
    """The oracle's next-token logits for ``seq``: the spec's own GPT on its window (window_shift 1:
    the last block_size tokens)."""
    return window_logits_from(seq, window_start(len(seq), window_shift))


def greedy_oracle(prompt: np.ndarray, n: int, window_shift: int = 1) -> np.ndarray:
    seq = list(prompt)
    for _ in range(n):
        seq.append(int(np.argmax(window_logits(np.array(seq), window_shift))))
    return np.array(seq)


def cache_hint(n_prompt: int, j: int, window_shift: int) -> str:
    """Why row j of cached decoding (after n_prompt + j tokens) can be the first to differ from
    recomputing, read from where it is: the prompt, the step at which the window moves, or a
    1-token step while the window stays (the rows before it agreed: the loop stops at the first)."""
    if j == 0:
        return ("the prompt's own logits differ: the whole prompt goes through the cache in one forward (several "
                "new positions at once, with the causal mask among them)")
    before, now = window_start(n_prompt + j - 1, window_shift), window_start(n_prompt + j, window_shift)
    if before != now:
        return (f"the window moves at this step (its start goes from token {before} to {now}) and every step before "
                f"agreed: when it moves, each kept token has a new position, so the cache must be re-filled from the "
                f"new window (not shifted, rolled or kept)")
    return ("a 1-token cached step while the window stays put differs: the new token's position (the number of "
            "cached positions) or the keys/values it attends to")


def window_hint(got: np.ndarray, seq: np.ndarray, start: int) -> str:
    """The other window start whose oracle logits ``got`` are, if one is."""
    block = CONFIG["block_size"]
    for other in range(max(0, len(seq) - block), len(seq)):
        if other != start and np.allclose(got, window_logits_from(seq, other), rtol=MODEL_RTOL, atol=MODEL_ATOL):
            return (f"these are the logits of the window starting at token {other}; it starts at {start}, the smallest "
                    f"multiple of window_shift that leaves at most block_size tokens")
    return ""


def window_logits_from(seq: np.ndarray, start: int) -> np.ndarray:
    return oracle.gpt_forward(CONFIG, STATE, np.asarray(seq)[start:][None])[0][0, -1]


def test_step_logits_cached_equals_recompute_past_block_size(impl, model):
    cont = np.array([2, 7, 1, 8, 2, 8, 1, 8, 2, 8, 4, 5], dtype=np.int64)  # 5 + 12 = 17 > block_size 8
    cached = expect_array(impl.step_logits(model, PROMPT, cont, use_cache=True), "step_logits", kinds="f")
    fresh = expect_array(impl.step_logits(model, PROMPT, cont, use_cache=False), "step_logits", kinds="f")
    assert cached.shape == (len(cont) + 1, CONFIG["vocab_size"]), f"step_logits shape {cached.shape}"
    for j in range(len(cont) + 1):
        n = len(PROMPT) + j
        assert_close(cached[j], fresh[j], CACHE_RTOL, CACHE_ATOL,
                     f"next-token logits after {n} tokens (block_size {CONFIG['block_size']}): KV-cache decoding vs "
                     f"recomputing the last block_size tokens",
                     window_hint(cached[j], np.concatenate([PROMPT, cont[:j]]), window_start(n))
                     or cache_hint(len(PROMPT), j, 1))
    for j in range(len(cont) + 1):
        expected = window_logits(np.concatenate([PROMPT, cont[:j]]))
        assert_close(cached[j], expected, MODEL_RTOL, MODEL_ATOL,
                     f"cached next-token logits after {len(PROMPT) + j} tokens vs the spec's NumPy GPT on the last "
                     f"block_size tokens")


@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_generate_matches_oracle_past_block_size(impl, model, use_cache):
    got = generated(impl.generate(model, PROMPT.copy(), 10, temperature=0.0, use_cache=use_cache), "generate")
    expected = greedy_oracle(PROMPT, 10)
    assert got.ndim == 1 and got.dtype.kind in "iu", f"generate returns a 1-D int array, got {got.dtype} {got.shape}"
    assert np.array_equal(got, expected), (
        f"greedy generate(use_cache={use_cache}) = {got.tolist()}, but the argmax of the spec's GPT on the last "
        f"{CONFIG['block_size']} tokens gives {expected.tolist()} (the output is prompt + new tokens)")


def test_step_logits_window_shift_cached_equals_recompute(impl, model):
    shift = 3  # block_size 8: the window holds 6..8 tokens once the sequence is longer than 8
    prompt = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9], dtype=np.int64)  # 13 tokens: window start 6, not 5
    cont = np.array([7, 9, 3, 2, 3, 8, 4, 6], dtype=np.int64)
    cached = expect_array(impl.step_logits(model, prompt, cont, use_cache=True, window_shift=shift), "step_logits",
                          kinds="f")
    fresh = expect_array(impl.step_logits(model, prompt, cont, use_cache=False, window_shift=shift), "step_logits",
                          kinds="f")
    assert cached.shape == (len(cont) + 1, CONFIG["vocab_size"]), f"step_logits shape {cached.shape}"
    for j in range(len(cont) + 1):
        seq = np.concatenate([prompt, cont[:j]])
        start = window_start(len(seq), shift)
        where = (f"next-token logits after {len(seq)} tokens (block_size {CONFIG['block_size']}, window_shift "
                 f"{shift}: the window is tokens {start}..{len(seq) - 1})")
        hint = window_hint(cached[j], seq, start)
        assert_close(cached[j], fresh[j], CACHE_RTOL, CACHE_ATOL,
                     f"{where}: KV-cache decoding vs recomputing the same window",
                     hint or cache_hint(len(prompt), j, shift))
        assert_close(cached[j], window_logits(seq, shift), MODEL_RTOL, MODEL_ATOL,
                     f"{where}: cached logits vs the spec's NumPy GPT on that window", hint)


@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_generate_with_window_shift_matches_oracle(impl, model, use_cache):
    got = generated(impl.generate(model, PROMPT.copy(), 14, temperature=0.0, use_cache=use_cache, window_shift=4),
                    "generate")
    expected = greedy_oracle(PROMPT, 14, window_shift=4)
    assert np.array_equal(got, expected), (
        f"greedy generate(use_cache={use_cache}, window_shift=4) = {got.tolist()}, but the argmax of the spec's GPT "
        f"on the windows of window_shift 4 (block_size {CONFIG['block_size']}: the window drops its oldest 4 tokens "
        f"at once, then holds 5..8 tokens) gives {expected.tolist()}")


def test_greedy_generate_with_a_prompt_longer_than_block_size(impl, model):
    prompt = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8], dtype=np.int64)  # 12 > block_size 8
    got = generated(impl.generate(model, prompt.copy(), 4, temperature=0.0), "generate")
    expected = greedy_oracle(prompt, 4)
    assert np.array_equal(got, expected), (
        f"a prompt longer than block_size must be accepted (the model sees its last {CONFIG['block_size']} "
        f"tokens) and returned whole: expected {expected.tolist()}, got {got.tolist()}")


@pytest.mark.parametrize("kwargs", [dict(temperature=1.0), dict(temperature=0.8, top_k=4), dict(temperature=1.2, top_p=0.7)],
                         ids=["T1", "T0.8-k4", "T1.2-p0.7"])
def test_generate_seeded_and_cache_agnostic(impl, model, kwargs):
    a = generated(impl.generate(model, PROMPT.copy(), 12, seed=11, use_cache=True, **kwargs), "generate")
    b = generated(impl.generate(model, PROMPT.copy(), 12, seed=11, use_cache=True, **kwargs), "generate")
    c = generated(impl.generate(model, PROMPT.copy(), 12, seed=11, use_cache=False, **kwargs), "generate")
    assert a.shape == (len(PROMPT) + 12,) and np.array_equal(a[:len(PROMPT)], PROMPT), (
        f"generate returns the prompt followed by 12 new ids, got {a.tolist()}")
    assert np.all((a >= 0) & (a < CONFIG["vocab_size"])), f"ids outside the vocab: {a.tolist()}"
    assert np.array_equal(a, b), f"same seed, different tokens: {a.tolist()} vs {b.tolist()}"
    assert np.array_equal(a, c), f"use_cache=True {a.tolist()} vs use_cache=False {c.tolist()} (same seed)"


def test_generate_stops_at_stop_token(impl, model):
    full = greedy_oracle(PROMPT, 6)[len(PROMPT):]
    stop = int(full[2])
    first = int(np.flatnonzero(full == stop)[0])
    got = generated(impl.generate(model, PROMPT.copy(), 6, temperature=0.0, stop_tokens=(stop,)), "generate")
    expected = np.concatenate([PROMPT, full[:first + 1]])
    assert np.array_equal(got, expected), (
        f"with stop_tokens=({stop},) generation ends right after the first {stop} (included): "
        f"expected {expected.tolist()}, got {got.tolist()}")


def test_generate_zero_new_tokens_returns_prompt(impl, model):
    got = generated(impl.generate(model, PROMPT.copy(), 0), "generate")
    assert np.array_equal(got, PROMPT), f"max_new_tokens=0 returns the prompt, got {got.tolist()}"


GEN_BAD = [
    (dict(temperature=-1.0), "temperature"),
    (dict(top_k=0), "top"),
    (dict(top_p=0.0), "top"),
    (dict(top_p=1.01), "top"),
    (dict(prompt=np.array([], dtype=np.int64)), "prompt"),
    (dict(prompt=np.array([1, 11], dtype=np.int64)), "11"),
    (dict(prompt=np.array([1, -1], dtype=np.int64)), "-1"),
    (dict(max_new_tokens=-1), "max_new_tokens"),
]


@pytest.mark.parametrize("kwargs, needle", GEN_BAD, ids=[str({k: (v.tolist() if hasattr(v, 'tolist') else v)
                                                             for k, v in kw.items()}) for kw, _ in GEN_BAD])
def test_generate_rejects_invalid_input(impl, model, kwargs, needle):
    kwargs = dict(kwargs)
    prompt = kwargs.pop("prompt", PROMPT.copy())
    n = kwargs.pop("max_new_tokens", 3)
    with assert_clear_error(f"generate with {kwargs or {'prompt': prompt.tolist(), 'max_new_tokens': n}}",
                            names=[f"(?i){re.escape(needle)}"],
                            hint=f"the error message must name the problem ({needle})"):
        impl.generate(model, prompt, n, **kwargs)
