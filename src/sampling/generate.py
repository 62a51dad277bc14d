"""Autoregressive generation: feed the context, filter the next-token logits, draw, repeat.

Two ways to get the next-token logits, which give the same numbers (float64: within 1e-10):

* without a cache (``use_cache=False``), nanoGPT's loop: every step runs the model on the whole
  current window of the sequence and keeps the last position's logits. Step t costs a forward
  over up to ``block_size`` tokens.
* with a KV cache (``use_cache=True``, the default): the window is run once, filling each
  attention layer's cache with its keys and values (B, n_kv_head, T, head_size; rotated keys for a
  RoPE model, whose new tokens are rotated at positions offset by the cache length); after that each step
  feeds ONLY the newest token, at position ``cache.length``, and attends over the cached keys and
  values. Step t costs a forward over 1 token.

The window. Position embeddings are learned and absolute (0 .. block_size - 1), so the model sees
at most ``block_size`` tokens: a window ``ids[start:]`` of the sequence. A rotary (RoPE) model has
no position table, but it was trained on at most ``block_size`` positions, so it uses the same
window (its tokens at positions 0, 1, ... of the window): every config decodes past block_size. Its start is a pure
function of the sequence length n and of ``window_shift`` (s)::

    start(n) = 0                                 while n <= block_size
    start(n) = s * ceil((n - block_size) / s)    after: the smallest multiple of s that fits

So the window holds the last ``block_size`` tokens until they overflow, then drops its oldest s
tokens at once, and holds between ``block_size - s + 1`` and ``block_size`` tokens.

* ``window_shift=1``: ``start = n - block_size``, the exact sliding window of nanoGPT's loop. It
  moves by one every step, every token in it gets a new position, none of the cached keys/values
  stay valid, and the cache must be re-filled with the whole window at every step: past
  ``block_size`` a cached step costs as much as an uncached one.
* the default, ``window_shift=None`` = ``block_size // 2``: the window moves once every
  ``block_size // 2`` steps, so the cache is re-filled (one forward over ``block_size // 2 + 1``
  tokens) once per ``block_size // 2`` steps and every other step is a 1-token step. The price:
  past ``block_size`` the model sees ``block_size // 2 + 1`` .. ``block_size`` tokens of context
  instead of always ``block_size``.

The window is a property of the sequence, not of the cache: with ``use_cache=False`` and the same
``window_shift`` the model sees the very same windows, so cached and uncached decoding give the
same logits (and, seeded, the same tokens) for every ``window_shift``.
"""
from __future__ import annotations

import contextlib
import numbers
from typing import Any, Iterable, Iterator

import numpy as np

from ..attention import KVCache
from ..nn import inference_mode
from .filters import sample_next, validate_sampling_params


def check_prompt(prompt_ids: Any, vocab_size: int) -> np.ndarray:
    """The prompt as a 1-D int64 array; empty, non-integer or out-of-vocab ids raise ValueError."""
    ids = np.asarray(getattr(prompt_ids, "data", prompt_ids))
    if ids.ndim == 2 and ids.shape[0] == 1:
        ids = ids[0]
    if ids.ndim != 1:
        raise ValueError(f"prompt_ids must be a 1-D sequence of token ids, got shape {ids.shape}")
    if ids.size == 0:
        raise ValueError("the prompt is empty: generation needs at least one token to condition on "
                         "(e.g. a newline or a start token)")
    if ids.dtype.kind not in "iu":
        raise ValueError(f"prompt_ids must be integer token ids, got dtype {ids.dtype}")
    bad = ids[(ids < 0) | (ids >= vocab_size)]
    if bad.size:
        raise ValueError(f"prompt token id {int(bad[0])} is outside the vocabulary [0, {vocab_size}) "
                         f"(vocab_size {vocab_size})")
    return ids.astype(np.int64)


def default_window_shift(block_size: int) -> int:
    """The default ``window_shift``: half a block (at least 1), see the module docstring."""
    return max(1, int(block_size) // 2)


class Decoder:
    """Feeds token ids to a GPT and returns the next-token logits, with or without a KV cache.

    ``feed(ids)`` appends ``ids`` to the sequence and returns the logits (V,) (float64) that the
    model predicts for the token after the whole sequence, computed on the current window
    ``ids[start:]`` (``window_start``; the last ``block_size`` tokens when ``window_shift`` is 1).
    Call it inside ``inference_mode(model)``.

    ``window_shift``: None (the default, ``block_size // 2``) or an integer in [1, block_size].
    With a cache, the cache holds exactly ``self.ids[self.start:]`` at positions 0, 1, ...; new
    tokens go in at the next positions while the window stays put, and when it moves the cache is
    reset and re-filled with the new window (see the module docstring).
    """

    def __init__(self, model: Any, use_cache: bool = True, window_shift: int | None = None,
                 cache: KVCache | None = None):
        self.model = model
        self.block_size = int(model.config.block_size)
        if window_shift is None:
            window_shift = default_window_shift(self.block_size)
        if isinstance(window_shift, bool) or not isinstance(window_shift, numbers.Integral) \
                or not 1 <= window_shift <= self.block_size:
            raise ValueError(f"window_shift must be None (= block_size // 2) or an integer in "
                             f"[1, block_size={self.block_size}], got {window_shift!r}")
        self.window_shift = int(window_shift)
        self.cache = (cache if cache is not None else KVCache.for_model(model)) if use_cache else None
        self.ids: list[int] = []
        self.start = 0

    def window_start(self, n: int) -> int:
        """Index of the first token of the window for a sequence of ``n`` tokens: 0 while they
        fit, then the smallest multiple of ``window_shift`` that leaves at most block_size."""
        over = n - self.block_size
        return 0 if over <= 0 else -(-over // self.window_shift) * self.window_shift

    def _run(self, idx: list[int], cache: KVCache | None) -> np.ndarray:
        logits, _ = self.model(np.array([idx], dtype=np.int64), kv_cache=cache)  # (1, T, V)
        return logits.data[0, -1].astype(np.float64)  # (V,), a copy

    def feed(self, new_ids: Iterable[int]) -> np.ndarray:
        new_ids = [int(i) for i in new_ids]
        if not new_ids:
            raise ValueError("Decoder.feed needs at least one token id")
        self.ids.extend(new_ids)
        start = self.window_start(len(self.ids))
        moved, self.start = start != self.start, start
        if self.cache is None:  # recompute the window
            return self._run(self.ids[start:], None)
        if moved:  # every position shifted: re-fill the cache with the new window
            self.cache.reset()
            return self._run(self.ids[start:], self.cache)
        return self._run(new_ids, self.cache)  # the window stays: append the new tokens at the next positions


def generate_stream(model: Any, prompt_ids: Any, max_new_tokens: int, temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
                    stop_tokens: Iterable[int] = (), use_cache: bool = True,
                    window_shift: int | None = None) -> Iterator[int]:
    """Yield up to ``max_new_tokens`` new token ids one at a time (see ``generate``).

    The model runs in eval mode under ``no_grad`` only while it computes a step, so the caller's
    grad mode and the model's train/eval mode are untouched between yields and afterwards.
    Parameters are validated right away, when ``generate_stream(...)`` is called; the model runs
    from the first ``next()`` on.
    """
    prompt, stops = _check_args(model, prompt_ids, max_new_tokens, temperature, top_k, top_p, stop_tokens)
    decoder = Decoder(model, use_cache=use_cache, window_shift=window_shift)
    return _stream(model, decoder, prompt, max_new_tokens, temperature, top_k, top_p, seed, stops)


def _check_args(model: Any, prompt_ids: Any, max_new_tokens: int, temperature: float, top_k: int | None,
                top_p: float | None, stop_tokens: Iterable[int]) -> tuple[np.ndarray, frozenset[int]]:
    validate_sampling_params(temperature, top_k, top_p)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, numbers.Integral) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    prompt = check_prompt(prompt_ids, int(model.config.vocab_size))
    return prompt, frozenset(int(t) for t in stop_tokens)


def _stream(model: Any, decoder: Decoder, prompt: np.ndarray, max_new_tokens: int, temperature: float,
            top_k: int | None, top_p: float | None, seed: int | None, stops: frozenset[int],
            guard: Any = None) -> Iterator[int]:
    """The decoding loop. Each step runs inside ``guard`` (default: ``inference_mode(model)``,
    entered per step so nothing is held between yields); ``generate``, which consumes the whole
    loop at once, enters inference mode once around it and passes a no-op guard."""
    if max_new_tokens == 0:
        return
    rng = np.random.default_rng(seed)
    guard = inference_mode(model) if guard is None else guard
    pending = prompt.tolist()
    for _ in range(max_new_tokens):
        with guard:
            logits = decoder.feed(pending)  # (V,)
        token = sample_next(logits, rng, temperature, top_k, top_p)
        yield token
        if token in stops:
            return
        pending = [token]


def generate(model: Any, prompt_ids: Any, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
             stop_tokens: Iterable[int] = (), use_cache: bool = True, window_shift: int | None = None) -> np.ndarray:
    """Continue ``prompt_ids`` by up to ``max_new_tokens`` sampled tokens.

    Args:
        model: a ``numgpt.transformer.GPT`` (anything with ``.config.block_size``,
            ``.config.vocab_size``, ``named_modules()`` and ``forward(idx, kv_cache=...)``).
        prompt_ids: 1-D token ids (at least one); longer than ``block_size`` is fine (the model
            sees the window of it given by ``window_shift``).
        max_new_tokens: how many tokens to add (>= 0).
        temperature: 0 = greedy argmax (lowest id among ties); otherwise logits / temperature.
        top_k: keep the k most likely tokens (None = all). top_p: nucleus sampling, keep the
            smallest set of most likely tokens whose probability reaches p (None = all).
        seed: seeds ``np.random.default_rng``; the same seed gives the same tokens, with or
            without the cache.
        stop_tokens: ids that end generation early; the stop token itself is included.
        use_cache: decode with a KV cache (same logits, faster) or recompute every step.
        window_shift: how the context window moves once the sequence exceeds block_size: it
            drops its oldest ``window_shift`` tokens at once (see the module docstring). None (the
            default) = ``block_size // 2``: the cache is re-filled once per block_size // 2 steps,
            and the model sees block_size // 2 + 1 .. block_size tokens. 1 = nanoGPT's exact
            sliding window (always the last block_size tokens; the cache is re-filled every step).

    Returns a 1-D int64 array: the prompt followed by the new tokens. Invalid parameters raise
    ``ValueError`` naming the parameter. The model runs in eval mode under ``no_grad``; its mode is
    restored afterwards.
    """
    prompt, stops = _check_args(model, prompt_ids, max_new_tokens, temperature, top_k, top_p, stop_tokens)
    decoder = Decoder(model, use_cache=use_cache, window_shift=window_shift)
    with inference_mode(model):  # once for the whole loop, not once per token
        new = list(_stream(model, decoder, prompt, max_new_tokens, temperature, top_k, top_p, seed, stops,
                           guard=contextlib.nullcontext()))
    return np.concatenate([prompt, np.array(new, dtype=np.int64)])
