"""Independent numerical oracles shared by every milestone's contracts.

Nothing here imports an implementation: gradients are checked against central finite
differences computed by calling the implementation's *forward* through the adapter, and
compared with the gradients its *backward* produces. All checks run in float64.

Tolerances (stated once, used everywhere unless a contract says otherwise):

* ``FD_EPS = 1e-6``: the finite-difference step. Central differences have O(eps^2) truncation
  error and O(1e-16 / eps) rounding error, so a correct float64 gradient typically agrees to
  1e-8..1e-6 relative.
* ``GRAD_RTOL = 1e-5``, ``GRAD_ATOL = 1e-7``: an element passes if
  ``|analytic - numeric| <= GRAD_ATOL + GRAD_RTOL * |numeric|``.
* ``FWD_RTOL = 1e-10``, ``FWD_ATOL = 1e-12``: a float64 forward vs the same formula written in
  NumPy. Only rounding-order differences (a different summation order, ``sum / n`` instead of
  ``np.mean``) are allowed, which are ~1e-16 relative per operation.
* ``F32_RTOL = 1e-4``, ``F32_ATOL = 1e-5``: a float32 result vs the float64 result of the same
  computation, for O(1)-sized values (float32 has ~7 significant digits; a few dozen roundings
  accumulate to ~1e-6 relative, so 1e-4 leaves a wide margin while still catching a wrong
  formula).

Every ``assert_*``/``check_*`` helper raises ``AssertionError`` with a message that says what was
compared, where it differs (index, got, expected), the tolerance, and (``hint=``) the likely
cause.
"""
from __future__ import annotations

import contextlib
import re
from typing import Any, Callable, Iterator, Sequence

import numpy as np

FD_EPS = 1e-6
GRAD_RTOL = 1e-5
GRAD_ATOL = 1e-7
# float64 forward vs NumPy: rounding-order differences only.
FWD_RTOL = 1e-10
FWD_ATOL = 1e-12
# float32 forward vs the float64 forward of the same op, for O(1)-sized values.
F32_RTOL = 1e-4
F32_ATOL = 1e-5
# Implementation forward (float64) vs the spec's NumPy oracle (spec/oracle.py). Both sides compute in
# float64; the implementation may order its sums differently (fused ops, batched GEMMs), which moves
# results by a few ulps per op. A GPT stacks a few dozen ops, hence the looser model tolerance.
OP_RTOL, OP_ATOL = 1e-9, 1e-11
MODEL_RTOL, MODEL_ATOL = 1e-7, 1e-9

# ---- M1 / M2 (autograd, layers): milestone-specific tolerances below this line.

# ---- M3 / M4 (attention, GPT)
# causality: outputs at earlier positions may not move when later inputs change (float64 rounding only).
CAUSAL_ATOL = 1e-12
# a float32 GPT vs the float64 oracle: a few dozen float32 ops deep.
F32_MODEL_RTOL, F32_MODEL_ATOL = 1e-3, 1e-4

# ---- M5 (tokenizer): ids, bytes and strings compare exactly; these bound resources only.
# extra peak resident memory while encode_iterable streams a 5 MB file of repeated lines (the
# reference: ~0 MB; reading the whole stream or collecting all ids first costs tens of MB).
STREAM_MEMORY_LIMIT = 1_000_000
# growth of the peak resident memory over the last two thirds of a stream of 300k DISTINCT words: a
# bounded chunk cache has stopped growing by then (the reference: < 1 MB, its cache holds 65,536
# chunks), an unbounded one grows by ~35 MB.
DISTINCT_MEMORY_LIMIT = 8_000_000
# training to vocab 500 on ~100 KB: the reference needs ~0.15 s, a recount-per-merge trainer minutes.
TRAIN_SECONDS = 1.5

# ---- M6 (training)
# a float32 optimizer step / clip vs the same update in float64 (a handful of elementwise ops).
F32_STEP_RTOL, F32_STEP_ATOL = 1e-5, 1e-6

# ---- M7 (sampling)
# probabilities after the logit filters vs the NumPy formula (float64).
PROB_RTOL, PROB_ATOL = 1e-9, 1e-12
# logits decoded with a KV cache vs recomputed without one (float64).
CACHE_RTOL, CACHE_ATOL = 1e-10, 1e-10

# ---- end of the tolerances


def as_array(impl: Any, t: Any) -> np.ndarray:
    """An implementation's tensor (or anything array-like) as a NumPy array."""
    try:
        return np.asarray(impl.to_numpy(t))
    except NotImplementedError:
        raise
    except Exception:
        return np.asarray(t)


def finite_difference(f: Callable[[list[np.ndarray]], float], arrays: list[np.ndarray], i: int,
                      eps: float = FD_EPS, coords: Sequence[tuple[int, ...]] | None = None) -> np.ndarray:
    """Central differences of the scalar ``f`` w.r.t. ``arrays[i]``, at every element or at ``coords``."""
    x = arrays[i]
    grad = np.full(x.shape, np.nan) if coords is not None else np.zeros(x.shape)
    for idx in (coords if coords is not None else np.ndindex(*x.shape)):
        orig = x[idx]
        x[idx] = orig + eps
        plus = f(arrays)
        x[idx] = orig - eps
        minus = f(arrays)
        x[idx] = orig
        grad[idx] = (plus - minus) / (2 * eps)
    return grad


def _with_hint(message: str, hint: str) -> str:
    return f"{message}. Likely cause: {hint}" if hint else message


def assert_close(actual: Any, expected: Any, rtol: float, atol: float, what: str, hint: str = "") -> None:
    """``np.allclose`` with a message that teaches: what was compared, where, the tolerance, and
    (``hint``) the likely cause of a mismatch."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    if actual.shape != expected.shape:
        raise AssertionError(_with_hint(f"{what}: shape {actual.shape}, expected {expected.shape}", hint))
    if actual.dtype.kind in "fc" and not np.all(np.isfinite(actual) == np.isfinite(expected)):
        bad = tuple(int(j) for j in np.argwhere(np.isfinite(actual) != np.isfinite(expected))[0])
        raise AssertionError(_with_hint(
            f"{what}: non-finite mismatch at index {bad}: got {actual[bad].item()}, "
            f"expected {expected[bad].item()}",
            hint))
    err = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    err = np.where(np.isfinite(err), err, 0.0)
    limit = atol + rtol * np.abs(expected.astype(np.float64))
    if np.any(err > limit):
        k = tuple(int(j) for j in np.unravel_index(np.argmax(err - limit), err.shape)) if err.ndim else ()
        raise AssertionError(_with_hint(
            f"{what}: mismatch at index {k}: got {actual[k].item()!r}, expected {expected[k].item()!r} "
            f"(|diff| {err[k]:.3g} > atol {atol:g} + rtol {rtol:g}*|expected|); "
            f"{int(np.sum(err > limit))} of {err.size} elements out of tolerance",
            hint))


def check_grads(impl: Any, fn: Callable[..., Any], inputs: Sequence[np.ndarray], *, what: str,
                wrt: Sequence[int] | None = None, rtol: float = GRAD_RTOL, atol: float = GRAD_ATOL,
                seed: int = 0, max_coords: int | None = None, hint: str = "") -> None:
    """Check the gradients of ``fn`` (built from adapter ops) against finite differences.

    ``fn`` takes one implementation tensor per input and returns a tensor. The scalar checked is
    ``L = sum(fn(x) * r)`` for a fixed random ``r``, so every output element contributes. The
    analytic gradient comes from ``impl.backward(out, r)``. ``wrt`` picks which inputs to check
    (default: all floating ones); ``max_coords`` samples that many coordinates per input
    instead of checking every element (for large inputs). ``hint`` is appended to a failure
    message as the likely cause.
    """
    arrays = [np.array(a, dtype=np.float64 if np.asarray(a).dtype.kind == "f" else np.asarray(a).dtype, copy=True)
              for a in inputs]
    if wrt is None:
        wrt = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    leaves = [impl.tensor(a.copy(), requires_grad=(i in wrt)) for i, a in enumerate(arrays)]
    out = fn(*leaves)
    out_np = as_array(impl, out)
    rng = np.random.default_rng(seed)
    r = rng.standard_normal(out_np.shape)
    impl.backward(out, r)

    def scalar(arrs: list[np.ndarray]) -> float:
        return float(np.sum(as_array(impl, fn(*[impl.tensor(a) for a in arrs])) * r))

    for i in wrt:
        g = impl.grad(leaves[i])
        analytic = np.zeros(arrays[i].shape) if g is None else np.asarray(g, dtype=np.float64)
        if analytic.shape != arrays[i].shape:
            raise AssertionError(_with_hint(
                f"{what}: the gradient of input {i} has shape {analytic.shape}, but the input has shape "
                f"{arrays[i].shape} (a gradient always has its input's shape: e.g. a broadcast gradient must be "
                f"summed back to it)", hint))
        coords = None
        if max_coords is not None and arrays[i].size > max_coords:
            flat = rng.choice(arrays[i].size, size=max_coords, replace=False)
            coords = [tuple(int(c) for c in np.unravel_index(k, arrays[i].shape)) for k in flat]
        numeric = finite_difference(scalar, arrays, i, coords=coords)
        if coords is not None:
            mask = ~np.isnan(numeric)
            assert_close(analytic[mask], numeric[mask], rtol, atol,
                         f"{what}: d/d(input {i}) on {len(coords)} sampled coordinates vs finite differences", hint)
        else:
            assert_close(analytic, numeric, rtol, atol, f"{what}: d/d(input {i}) vs central finite differences",
                         hint)


class RaisedError:
    """What ``assert_raises`` caught (``.value``: the exception), filled in when the block exits."""

    value: BaseException | None = None


@contextlib.contextmanager
def assert_raises(types: type | tuple[type, ...], what: str, match: Sequence[str] = (),
                  hint: str = "") -> Iterator[RaisedError]:
    """Expect the block to raise one of ``types`` whose message matches every regex in ``match``.

    Unlike ``pytest.raises(RuntimeError)``, a ``NotImplementedError`` (a subclass of
    RuntimeError) is never accepted as the expected error: it propagates, so an adapter that has
    not implemented the function is reported as "not implemented", not as passing.
    """
    types = types if isinstance(types, tuple) else (types,)
    names = " or ".join(t.__name__ for t in types)
    caught = RaisedError()
    try:
        yield caught
    except NotImplementedError:
        raise
    except types as e:
        caught.value = e
        for pattern in match:
            if not re.search(pattern, str(e)):
                raise AssertionError(_with_hint(
                    f"{what}: the {type(e).__name__} was raised, but its message {str(e)!r} does not say "
                    f"{pattern!r}", hint)) from None
        return
    except Exception as e:
        raise AssertionError(_with_hint(
            f"{what}: expected {names}, got {type(e).__name__}: {e}", hint)) from None
    raise AssertionError(_with_hint(f"{what}: expected {names}, but nothing was raised", hint))


# What every contract means by "a clear error" for bad input. Implementations differ in the type they
# raise for the same mistake (PyTorch raises RuntimeError for a matmul shape mismatch, NumPy ValueError,
# a hand-written check often TypeError), so any of these types is accepted; AssertionError (an `assert`
# in the implementation: stripped under `python -O`) and NotImplementedError (reported as "not
# implemented") are not. What makes the error *clear* is its message: it must name the problem, so each
# contract passes the regexes its message must match (both shapes, the dtype, the parameter, the token).
CLEAR_ERROR_TYPES: tuple[type[BaseException], ...] = (ValueError, TypeError, RuntimeError, IndexError, KeyError)


def assert_clear_error(what: str, names: Sequence[str] = (), hint: str = "") -> contextlib.AbstractContextManager:
    """Expect the block to raise a clear error: one of ``CLEAR_ERROR_TYPES`` (or a subclass) whose
    message matches every regex in ``names`` (what the message must name, e.g. both shapes)."""
    return assert_raises(CLEAR_ERROR_TYPES, what, match=names, hint=hint)
