"""Reference unit tests for numgpt.sampling (filters, decoder, generate, streaming)."""
from __future__ import annotations

import numpy as np
import pytest

from numgpt.sampling import (
    Decoder, TextStreamer, Utf8StreamDecoder, filter_logits, generate, generate_stream, inference_mode,
    sample_from_probs, sample_next, top_k_mask, top_p_mask,
)
from numgpt.tensor import is_grad_enabled
from numgpt.transformer import GPT, GPTConfig

CFG = GPTConfig(block_size=8, vocab_size=13, n_layer=2, n_head=2, n_embd=16)


@pytest.fixture(scope="module")
def model64() -> GPT:
    m = GPT(CFG, seed=3, dtype=np.float64)
    for p in m.parameters():  # sharper, more varied logits than the 0.02 init
        p.data = p.data * 20 if p.ndim == 2 else p.data
    return m


# ----------------------------------------------------------------------------- filters


def test_top_p_mask_includes_the_crossing_token_and_skips_zeros():
    probs = np.array([0.1, 0.6, 0.0, 0.3])
    assert top_p_mask(probs, 0.6).tolist() == [False, True, False, False]   # 0.6 reaches 0.6 exactly
    assert top_p_mask(probs, 0.65).tolist() == [False, True, False, True]   # 0.3 crosses 0.65
    assert top_p_mask(probs, 1.0).tolist() == [True, True, False, True]     # never a zero-probability token


def test_filter_logits_handles_masked_logits_and_rejects_bad_ones():
    probs = filter_logits(np.array([-np.inf, 0.0, 0.0]), 1.0, top_k=1)
    assert probs.tolist() == [0.0, 1.0, 0.0]
    for bad, what in [(np.array([np.nan, 1.0]), "NaN"), (np.array([np.inf, 1.0]), "NaN"),
                      (np.full(3, -np.inf), "all -inf"), (np.zeros((2, 2, 2)), "shape")]:
        with pytest.raises(ValueError, match=what):
            filter_logits(bad)


def test_sample_from_probs_never_draws_zero_probability_tokens():
    rng = np.random.default_rng(0)
    draws = sample_from_probs(np.array([0.0, 0.25, 0.0, 0.75, 0.0]), rng, size=5000)
    assert set(np.unique(draws)) == {1, 3}
    assert abs(np.mean(draws == 3) - 0.75) < 0.03
    assert isinstance(sample_from_probs(np.array([1.0]), rng), int)


def test_sample_next_greedy_draws_no_random_numbers():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert sample_next(np.array([0.0, 2.0, 2.0]), rng, temperature=0.0) == 1
    assert rng.bit_generator.state == state


# ----------------------------------------------------------------------------- decoder and generate


def recompute(model: GPT, seq: list[int], start: int | None = None) -> np.ndarray:
    """The last position's logits of a full forward over ``seq[start:]`` (default: the last block_size)."""
    window = seq[-CFG.block_size:] if start is None else seq[start:]
    logits, _ = model(np.array(window)[None])
    return logits.data[0, -1]


def test_window_shift_sees_the_documented_window(model64):
    dec = Decoder(model64, use_cache=True, window_shift=3)
    seen = []  # (start, cached positions) after each token
    with inference_mode(model64):
        for t in range(12):
            dec.feed([t])
            seen.append((dec.start, dec.cache.length))
    # block 8, shift 3: the 9th token overflows, the window jumps to start 9 - 8 + 3 - 1 = 3 and holds
    # 6 tokens, room for 2 more; the 12th token overflows again: start 6
    assert seen[7:] == [(0, 8), (3, 6), (3, 7), (3, 8), (6, 6)]
    with pytest.raises(ValueError, match="window_shift"):
        Decoder(model64, window_shift=9)


@pytest.mark.parametrize("shift", [None, 2, 5])
def test_decoder_window_is_a_function_of_the_length(model64, shift):
    """start(n) = smallest multiple of the shift leaving <= block_size tokens, however the ids were fed;
    the cached logits equal a full forward over that window. Default shift: block_size // 2."""
    rng = np.random.default_rng(2)
    seq = rng.integers(0, CFG.vocab_size, size=27).tolist()
    s = CFG.block_size // 2 if shift is None else shift
    for chunks in ([11] + [1] * 16, [3, 9, 1, 6, 1, 1, 2, 4]):  # a long prompt, then steps; uneven chunks
        dec = Decoder(model64, use_cache=True, window_shift=shift)
        with inference_mode(model64):
            n = 0
            for c in chunks:
                got = dec.feed(seq[n:n + c])
                n += c
                start = 0 if n <= CFG.block_size else -(-(n - CFG.block_size) // s) * s
                assert dec.start == start and dec.cache.length == n - start
                np.testing.assert_allclose(got, recompute(model64, seq[:n], start), rtol=1e-10, atol=1e-10)


def test_long_prompt_is_cropped_to_block_size(model64):
    prompt = np.arange(20) % CFG.vocab_size
    a = generate(model64, prompt, 3, temperature=0.0, window_shift=1)
    b = generate(model64, prompt[-CFG.block_size:], 3, temperature=0.0, window_shift=1)
    assert np.array_equal(a[20:], b[CFG.block_size:])


def test_default_window_shift_is_half_a_block(model64):
    a = generate(model64, [1, 2], 20, temperature=1.0, seed=5)
    b = generate(model64, [1, 2], 20, temperature=1.0, seed=5, window_shift=CFG.block_size // 2, use_cache=False)
    c = generate(model64, [1, 2], 20, temperature=1.0, seed=5, window_shift=1)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_generate_restores_modes_and_grad():
    m = GPT(CFG, seed=0)
    m.train()
    m.transformer.h[0].training = False  # a mixed state must come back exactly
    generate(m, [1], 4, seed=0)
    assert m.training and not m.transformer.h[0].training and m.transformer.h[1].training
    assert is_grad_enabled()
    stream = generate_stream(m, [1], 3, seed=0)
    next(stream)
    assert is_grad_enabled() and m.training  # nothing is held between yields


def test_generate_float32_model_and_stop_tokens():
    m = GPT(CFG, seed=0)  # float32
    out = generate(m, np.array([1, 2]), 6, temperature=0.0)
    assert out.dtype == np.int64 and out.shape == (8,)
    stop = int(out[3])
    short = generate(m, np.array([1, 2]), 6, temperature=0.0, stop_tokens=[stop])
    first = 2 + int(np.flatnonzero(out[2:] == stop)[0])
    assert short.tolist() == out[:first + 1].tolist()


def test_generate_stream_yields_the_same_tokens_as_generate(model64):
    full = generate(model64, [5], 10, temperature=0.9, top_p=0.9, seed=8)
    assert list(generate_stream(model64, [5], 10, temperature=0.9, top_p=0.9, seed=8)) == full[1:].tolist()


def test_generate_errors_are_clear(model64):
    with pytest.raises(ValueError, match="empty"):
        generate(model64, [], 3)
    with pytest.raises(ValueError, match="13"):
        generate(model64, [13], 3)
    with pytest.raises(ValueError, match="integer token ids"):
        generate(model64, np.array([1.5]), 3)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(model64, [1], 2.0)
    with pytest.raises(ValueError, match="top_p"):
        generate_stream(model64, [1], 2, top_p=2.0)  # eagerly, before the first next()


# ----------------------------------------------------------------------------- streaming text


class _ByteTokens:
    """A toy byte-level tokenizer: token i is the single byte i."""

    def decode_bytes(self, ids):
        return bytes(ids)

    def decode(self, ids):
        return bytes(ids).decode("utf-8", errors="replace")


def test_text_streamer_with_byte_tokens_and_char_tokenizer():
    from numgpt.tokenizer import CharTokenizer

    s = TextStreamer(_ByteTokens())
    text = "é€"
    assert "".join(s.push(b) for b in text.encode()) + s.finish() == text
    tok = CharTokenizer.from_text("hello")
    s = TextStreamer(tok)
    assert "".join(s.push(i) for i in tok.encode("hole")) + s.finish() == "hole"
    assert s.push(np.int64(tok.encode("h")[0])) == "h"


def test_bench_script_runs(capsys):
    from numgpt.sampling import bench

    assert bench.main(["--tokens", "66", "--repeats", "1", "--blas", "current"]) == 0
    out = capsys.readouterr().out
    assert "no cache, exact window (nanoGPT)" in out and "cache, window_shift=32 (default)" in out
    assert "within block" in out and "vs nanoGPT's loop" in out
