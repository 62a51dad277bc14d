"""Autoregressive generation: feed the context, filter the next-token logits, draw, repeat.

Two ways to get the next-token logits, which give the same numbers (float64: within 1e-10):

* without a cache (``use_cache=False``), nanoGPT's loop: every step runs the model on the last
  ``block_size`` tokens of the sequence and keeps the last position's logits. Step t costs a
  forward over up to ``block_size`` tokens.
* with a KV cache (``use_cache=True``, the default): the prompt is run once, filling each
  attention layer's cache with its keys and values (B, n_head, T, head_size); after that each step
  feeds ONLY the newest token, at position ``cache.length``, and attends over the cached keys and
  values. Step t costs a forward over 1 token.

The sliding window. Position embeddings are learned and absolute (0 .. block_size - 1), so once
the sequence is longer than ``block_size`` the window of the last ``block_size`` tokens moves by
one every step and every token in it gets a new position: none of the cached keys/values stay
valid. ``Decoder`` then does what recomputing would do: it resets the cache and re-fills it with
the last ``block_size`` tokens (one forward over the window), so cached and uncached decoding
agree at every step, also past ``block_size``. Past that point each cached step costs as much as
an uncached one; the cache pays off while the sequence fits in ``block_size``.

``window_shift`` (default 1, the exact nanoGPT window above) trades that exactness for speed:
when the window is full it jumps forward by ``window_shift`` tokens at once, so the cache is
re-filled only every ``window_shift`` steps and the model sees between
``block_size - window_shift + 1`` and ``block_size`` tokens of context. The window is a property
of the sequence, not of the cache: with ``use_cache=False`` and the same ``window_shift`` the
model sees the very same windows, so cached and uncached decoding still agree.
"""
from __future__ import annotations

import numbers
from typing import Any, Iterable, Iterator

import numpy as np

from ..attention import KVCache
from ..tensor import no_grad
from .filters import sample_next, validate_sampling_params


class inference_mode:
    """Context manager: run ``model`` in eval mode under ``no_grad``, then restore every
    sub-module's train/eval flag exactly as it was.

    Reusable, and cheap to re-enter: the sub-modules are listed once, when it is created, so the
    generator can enter it around every step (and hold neither mode between its yields).
    """

    def __init__(self, model: Any):
        self.modules = [m for _, m in model.named_modules()]
        self._saved: list[tuple[list[bool], Any]] = []

    def __enter__(self) -> "inference_mode":
        modes = [m.training for m in self.modules]
        grad = no_grad()
        grad.__enter__()
        self._saved.append((modes, grad))
        for m in self.modules:
            m.training = False
        return self

    def __exit__(self, *exc: Any) -> None:
        modes, grad = self._saved.pop()
        for m, mode in zip(self.modules, modes):
            m.training = mode
        grad.__exit__(*exc)


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


class Decoder:
    """Feeds token ids to a GPT and returns the next-token logits, with or without a KV cache.

    ``feed(ids)`` appends ``ids`` to the sequence and returns the logits (V,) (float64) that the
    model predicts for the token after the whole sequence, computed on the current window (the
    last ``block_size`` tokens when ``window_shift`` is 1). Call it inside
    ``inference_mode(model)``.

    ``self.start`` is the index of the window's first token in ``self.ids``. With a cache, the cache
    holds exactly ``self.ids[self.start:]`` at positions 0, 1, ...; new tokens go in at the next
    positions while they fit, and when the window has to move the cache is reset and re-filled
    with the new window (see the module docstring).
    """

    def __init__(self, model: Any, use_cache: bool = True, window_shift: int = 1, cache: KVCache | None = None):
        self.model = model
        self.block_size = int(model.config.block_size)
        if isinstance(window_shift, bool) or not isinstance(window_shift, numbers.Integral) \
                or not 1 <= window_shift <= self.block_size:
            raise ValueError(f"window_shift must be an integer in [1, block_size={self.block_size}], got {window_shift!r}")
        self.window_shift = int(window_shift)
        self.cache = (cache if cache is not None else KVCache.for_model(model)) if use_cache else None
        self.ids: list[int] = []
        self.start = 0

    def _run(self, idx: list[int], cache: KVCache | None) -> np.ndarray:
        logits, _ = self.model(np.array(idx, dtype=np.int64)[None, :], kv_cache=cache)  # (1, T, V)
        return np.asarray(logits.data[0, -1], dtype=np.float64)  # (V,)

    def feed(self, new_ids: Iterable[int]) -> np.ndarray:
        new_ids = [int(i) for i in new_ids]
        if not new_ids:
            raise ValueError("Decoder.feed needs at least one token id")
        self.ids.extend(new_ids)
        moved = len(self.ids) - self.start > self.block_size
        if moved:  # jump so that window_shift - 1 more tokens fit before the next move
            self.start = len(self.ids) - self.block_size + self.window_shift - 1
        window = self.ids[self.start:]  # <= block_size tokens
        if self.cache is None:  # recompute the window
            return self._run(window, None)
        if moved:  # every position shifted: re-fill the cache with the new window
            self.cache.reset()
            return self._run(window, self.cache)
        return self._run(new_ids, self.cache)  # the new tokens fit: append them at the next positions


def generate_stream(model: Any, prompt_ids: Any, max_new_tokens: int, temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
                    stop_tokens: Iterable[int] = (), use_cache: bool = True, window_shift: int = 1) -> Iterator[int]:
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
            top_k: int | None, top_p: float | None, seed: int | None, stops: frozenset[int]) -> Iterator[int]:
    if max_new_tokens == 0:
        return
    rng = np.random.default_rng(seed)
    guard = inference_mode(model)
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
             stop_tokens: Iterable[int] = (), use_cache: bool = True, window_shift: int = 1) -> np.ndarray:
    """Continue ``prompt_ids`` by up to ``max_new_tokens`` sampled tokens.

    Args:
        model: a ``numgpt.transformer.GPT`` (anything with ``.config.block_size``,
            ``.config.vocab_size``, ``named_modules()`` and ``forward(idx, kv_cache=...)``).
        prompt_ids: 1-D token ids (at least one); longer than ``block_size`` is fine (the model
            sees the last ``block_size`` tokens).
        max_new_tokens: how many tokens to add (>= 0).
        temperature: 0 = greedy argmax (lowest id among ties); otherwise logits / temperature.
        top_k: keep the k most likely tokens (None = all). top_p: nucleus sampling, keep the
            smallest set of most likely tokens whose probability reaches p (None = all).
        seed: seeds ``np.random.default_rng``; the same seed gives the same tokens, with or
            without the cache.
        stop_tokens: ids that end generation early; the stop token itself is included.
        use_cache: decode with a KV cache (same logits, faster) or recompute every step.
        window_shift: how far the context window jumps once the sequence exceeds block_size
            (1 = slide one token per step, nanoGPT's exact window; larger re-fills the cache less
            often, see the module docstring).

    Returns a 1-D int64 array: the prompt followed by the new tokens. Invalid parameters raise
    ``ValueError`` naming the parameter. The model runs in eval mode under ``no_grad``; its mode is
    restored afterwards.
    """
    prompt, stops = _check_args(model, prompt_ids, max_new_tokens, temperature, top_k, top_p, stop_tokens)
    decoder = Decoder(model, use_cache=use_cache, window_shift=window_shift)
    new = list(_stream(model, decoder, prompt, max_new_tokens, temperature, top_k, top_p, seed, stops))
    return np.concatenate([prompt, np.array(new, dtype=np.int64)])
