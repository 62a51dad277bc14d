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
import math
import re
import traceback
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
# dropout's kept values x / (1 - p) and its gradient g / (1 - p): one multiply each, rounding only.
DROPOUT_SCALE_RTOL = 1e-12
# dropout's kept fraction vs 1 - p: this many binomial standard deviations (false alarm < 1e-6).
DROPOUT_SIGMAS = 5.0
# a loss of logits of magnitude 1e4 is itself ~1e4: 1e-10 relative of it, as an absolute bound.
HUGE_LOSS_ATOL = 1e-6
# the finite-difference step for ops at a realistic size (~3e5 elements): the scalar sum(out * r) over
# that many terms carries ~1e-13 of rounding, which FD_EPS would amplify to ~1e-7 (GRAD_ATOL itself); a
# 100x larger step keeps rounding at ~1e-9, and the O(eps^2) truncation is ~1e-9 for these smooth ops
# (measured: <= 2e-9 against the reference), so GRAD_RTOL/GRAD_ATOL still apply with a wide margin.
LARGE_FD_EPS = 1e-4

# ---- M3 / M4 (attention, GPT)
# causality: outputs at earlier positions may not move when later inputs change (float64 rounding only).
CAUSAL_ATOL = 1e-12
# a float32 GPT vs the float64 oracle: a few dozen float32 ops deep.
F32_MODEL_RTOL, F32_MODEL_ATOL = 1e-3, 1e-4
# the GPT loss of logits of magnitude ~1e4 vs the oracle: a loss of ~1e4 through a whole model.
HUGE_MODEL_LOSS_RTOL, HUGE_MODEL_LOSS_ATOL = 1e-6, 1e-6
# init statistics (sample mean, std, correlation between two weights) within this many standard
# errors of their expected value (false alarm < 1e-8 per check).
INIT_SIGMAS = 6.0

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
# AdamW's first step is lr * g / (|g| + eps): within lr * eps / |g| = 1e-7 of lr * sign(g) for |g| >= 1e-3
# (the spec's smallest gradient), plus float32 rounding of |p| <= 4 (~2e-7); eps inside the sqrt is 5e-5 off.
ADAMW_SIGN_STEP_RTOL, ADAMW_SIGN_STEP_ATOL = 1e-6, 1e-6
# a learning rate vs the closed form in float64: a handful of float64 ops (the abs part only matters at 0).
SCHEDULE_RTOL, SCHEDULE_ATOL = 1e-12, 1e-18
# the returned global norm of float64 gradients (an implementation may accumulate the squares in float32).
CLIP_NORM_RTOL = 1e-6
# clipped gradients vs g * max_norm / norm: the +1e-6 in max_norm / (norm + 1e-6) moves them by 1e-6 / norm.
CLIP_SCALED_RTOL, CLIP_SCALED_ATOL = 1e-5, 1e-12
# gradients below max_norm are left alone (at most a multiplication by exactly 1.0).
CLIP_UNCHANGED_RTOL = 1e-12
# get_batch's window starts vs uniform: chi-square goodness of fit, a false alarm once in 1,000 seeds.
BATCH_ALPHA = 1e-3
# the memorisation run: the loss starts near ln(11) = 2.40 (above 2.0) and ends below 0.05 (measured ~0.01).
MEMORISE_START_LOSS, MEMORISE_FINAL_LOSS = 2.0, 0.05

# ---- M7 (sampling)
# probabilities after the logit filters vs the NumPy formula (float64).
PROB_RTOL, PROB_ATOL = 1e-9, 1e-12
# logits decoded with a KV cache vs recomputed without one (float64).
CACHE_RTOL, CACHE_ATOL = 1e-10, 1e-10
# each row of probabilities sums to 1: a float64 sum of <= 40 terms.
PROB_SUM_ATOL = 1e-12
# random top_p within this of a cumulative probability is skipped: the kept set would hinge on rounding
# (the exact boundary has its own test, with exactly representable probabilities).
TOP_P_BOUNDARY_GAP = 1e-9
# sampled frequencies vs the filtered distribution: chi-square goodness of fit, a false alarm once in 1,000.
SAMPLE_ALPHA = 1e-3
# an effective temperature fitted to wrong probabilities (for the hint): their log-odds vs logits / T_eff.
TEMPERATURE_FIT_RTOL = 1e-6

# ---- end of the tolerances


class AdapterError(Exception):
    """An adapter function raised while the spec was only reading a value (e.g. ``to_numpy``); the
    message names the function and the original error, which is chained as ``__cause__``."""


def describe(value: Any) -> str:
    """What an adapter returned, in a few words: ``None``, ``a float64 array of shape (3,)``,
    ``a Tensor of shape (2, 3)``, ``a tuple of length 2``, ``a str ('abc')``."""
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of length {len(value)}"
    shape = getattr(value, "shape", None)
    if shape is not None and not isinstance(value, (str, bytes)):
        try:
            return f"a {type(value).__name__} of shape {tuple(shape)}"
        except TypeError:
            pass
    return f"a {type(value).__name__} ({value!r:.60})"


def first_difference(got: Sequence[Any], expected: Sequence[Any]) -> int:
    """The first index where two sequences differ (the shorter one's length if one is a prefix of the other)."""
    return next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))


def as_array(impl: Any, t: Any, what: str = "") -> np.ndarray:
    """An implementation's tensor as a NumPy array, through the adapter's ``to_numpy``.

    Plain NumPy arrays and Python/NumPy numbers are accepted as they are when ``to_numpy`` does
    not take them. An error raised by ``to_numpy`` on anything else surfaces here, named
    (``AdapterError``: "the adapter's to_numpy(...) raised ..."), never as a confusing object array
    later. ``None`` or a non-numeric result (a wrong return type) is an AssertionError that says
    what was returned; ``what`` names the value (e.g. "the loss returned by gpt_forward").
    """
    label = what or "a value the spec reads"
    if t is None:
        raise AssertionError(f"{label}: got None where a tensor was expected")
    try:
        value = impl.to_numpy(t)
    except NotImplementedError:
        raise
    except Exception as e:
        if type(t) is np.ndarray or isinstance(t, (np.generic, int, float, bool)):
            value = t
        elif isinstance(t, (tuple, list, dict)):
            raise AssertionError(
                f"{label}: expected one tensor, got a {type(t).__name__} (a wrong return type; "
                f"to_numpy raised {type(e).__name__}: {e})") from None
        else:
            frames = traceback.extract_tb(e.__traceback__)
            at = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
            raise AdapterError(f"the adapter's to_numpy({describe(t)}) raised {type(e).__name__}: {e}{at}") from e
    if value is None:
        raise AssertionError(f"{label}: the adapter's to_numpy({describe(t)}) returned None, expected an array")
    arr = np.asarray(value)
    if arr.dtype.kind not in "biufc":
        raise AssertionError(
            f"{label}: expected a numeric tensor, got {describe(t)} (to_numpy gave a {arr.dtype} array: "
            f"a wrong return type, e.g. a tuple, a list of tensors or a dict where one tensor belongs)")
    return arr


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
                seed: int = 0, max_coords: int | None = None, hint: str = "", eps: float = FD_EPS) -> None:
    """Check the gradients of ``fn`` (built from adapter ops) against finite differences.

    ``fn`` takes one implementation tensor per input and returns a tensor. The scalar checked is
    ``L = sum(fn(x) * r)`` for a fixed random ``r``, so every output element contributes. The
    analytic gradient comes from ``impl.backward(out, r)``. ``wrt`` picks which inputs to check
    (default: all floating ones); ``max_coords`` samples that many coordinates per input
    instead of checking every element (for large inputs), ``eps`` is the finite-difference step.
    ``hint`` is appended to a failure message as the likely cause.
    """
    arrays = [np.array(a, dtype=np.float64 if np.asarray(a).dtype.kind == "f" else np.asarray(a).dtype, copy=True)
              for a in inputs]
    if wrt is None:
        wrt = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    leaves = [impl.tensor(a.copy(), requires_grad=(i in wrt)) for i, a in enumerate(arrays)]
    out = fn(*leaves)
    out_np = as_array(impl, out, f"{what}: the output")
    rng = np.random.default_rng(seed)
    r = rng.standard_normal(out_np.shape)
    impl.backward(out, r)

    def scalar(arrs: list[np.ndarray]) -> float:
        return float(np.sum(as_array(impl, fn(*[impl.tensor(a) for a in arrs])) * r))

    for i in wrt:
        g = impl.grad(leaves[i])
        try:
            analytic = np.zeros(arrays[i].shape) if g is None else np.asarray(g, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise AssertionError(f"{what}: grad() of input {i} returned {describe(g)}, expected an array of the "
                                 f"input's shape {arrays[i].shape} ({type(e).__name__}: {e})") from None
        if analytic.shape != arrays[i].shape:
            raise AssertionError(_with_hint(
                f"{what}: the gradient of input {i} has shape {analytic.shape}, but the input has shape "
                f"{arrays[i].shape} (a gradient always has its input's shape: e.g. a broadcast gradient must be "
                f"summed back to it)", hint))
        coords = None
        if max_coords is not None and arrays[i].size > max_coords:
            flat = rng.choice(arrays[i].size, size=max_coords, replace=False)
            coords = [tuple(int(c) for c in np.unravel_index(k, arrays[i].shape)) for k in flat]
        numeric = finite_difference(scalar, arrays, i, eps=eps, coords=coords)
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


# What every contract means by "a clear error" for bad input, the ONE rule all contracts use:
#
# * the type: any of CLEAR_ERROR_TYPES (or a subclass). Implementations differ in the type they raise
#   for the same mistake (PyTorch raises RuntimeError for a matmul shape mismatch, NumPy ValueError, a
#   hand-written check often TypeError or IndexError), and a grader must not fail one of them for that.
#   AssertionError (an `assert` in the implementation: stripped under `python -O`) and
#   NotImplementedError (reported as "not implemented") are not clear errors.
# * the message: it must NAME the problem, so each contract passes the regexes its message must match:
#   both shapes of a shape mismatch, the dtype, the parameter, the offending id or token.
CLEAR_ERROR_TYPES: tuple[type[BaseException], ...] = (ValueError, TypeError, RuntimeError, IndexError, KeyError)


def assert_clear_error(what: str, names: Sequence[str] = (), hint: str = "") -> contextlib.AbstractContextManager:
    """Expect the block to raise a clear error (the rule above): one of ``CLEAR_ERROR_TYPES``
    whose message matches every regex in ``names`` (what the message must name, e.g. both shapes).
    Nothing raised, another type, or a message that does not name the problem is an AssertionError
    saying which."""
    return assert_raises(CLEAR_ERROR_TYPES, what, match=names, hint=hint)


def shape_regex(shape: Sequence[int]) -> str:
    """A regex that finds ``shape`` in a message however it is printed: ``(2, 3)``, ``[2, 3]``,
    ``2x3``, ``torch.Size([2, 3])``."""
    return r"(?<!\d)" + r"\s*[,x]\s*".join(str(int(n)) for n in shape) + r"(?!\d)"


def diagnose(actual: Any, candidates: Sequence[tuple[str, Any]], rtol: float, atol: float, default: str = "") -> str:
    """The hint of the first candidate whose value ``actual`` matches (within rtol/atol), else
    ``default``. A hint names a cause only when the evidence shows it: each candidate is
    ``(hint, value the implementation would produce with that bug)``, e.g. the post-LN oracle."""
    actual = np.asarray(actual, dtype=np.float64) if np.asarray(actual).dtype.kind in "biuf" else None
    if actual is None:
        return default
    for hint, value in candidates:
        value = np.asarray(value, dtype=np.float64)
        if value.shape == actual.shape and np.allclose(actual, value, rtol=rtol, atol=atol):
            return hint
    return default


# ---- return values and frequencies (M6 / M7 contracts; coordinate-free helpers)


def expect_float(value: Any, what: str, expected: str = "a float") -> float:
    """``value`` as a Python float, or an ``AssertionError`` that names the wrong return value:
    ``clip_grad_norm(...) returned None, expected the total norm (a float)``. Accepts a Python or
    NumPy real number and a one-element array or tensor (anything ``float()`` converts), not a
    bool, str or None."""
    if value is None or isinstance(value, (bool, str, bytes)):
        raise AssertionError(f"{what} returned {describe(value)}, expected {expected}")
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(())  # float() of a 1-element 1-D array is deprecated in NumPy 2
    try:
        return float(value)
    except (TypeError, ValueError):
        raise AssertionError(f"{what} returned {describe(value)}, expected {expected}") from None


def expect_array(value: Any, what: str, shape: tuple[int, ...] | None = None, kinds: str = "",
                 expected: str = "") -> np.ndarray:
    """``np.asarray(value)``, or an ``AssertionError`` that names the wrong return value: None, an
    object array, another ``shape``, or a dtype kind not in ``kinds`` ("f" float, "iu" integer)."""
    wanted = expected or "an array" + (f" of shape {shape}" if shape is not None else "")
    if value is None:
        raise AssertionError(f"{what} returned None, expected {wanted}")
    try:
        arr = np.asarray(value)
    except Exception as e:  # e.g. a torch tensor that requires grad: say so, with NumPy's reason
        raise AssertionError(f"{what} returned {describe(value)}, which np.asarray cannot convert "
                             f"({type(e).__name__}: {e}); expected {wanted}") from e
    if arr.dtype == object:
        raise AssertionError(f"{what} returned {describe(value)}, expected {wanted}")
    if shape is not None and arr.shape != tuple(shape):
        raise AssertionError(f"{what} returned an array of shape {arr.shape}, expected {wanted}")
    if kinds and arr.dtype.kind not in kinds:
        names = {"f": "float", "i": "signed integer", "u": "unsigned integer", "b": "bool", "c": "complex"}
        allowed = " or ".join(names.get(k, k) for k in kinds)
        raise AssertionError(f"{what} returned a {arr.dtype} array, expected {allowed} values ({wanted})")
    return arr


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for X chi-square distributed with ``df`` degrees of freedom (no scipy): the
    regularized upper incomplete gamma function Q(df/2, x/2), by its power series for x/2 < df/2 + 1
    and by its continued fraction (modified Lentz) otherwise, as in Numerical Recipes 6.2; relative
    accuracy ~1e-12 (checked in tests/test_spec_m67_checks.py against tabulated quantiles)."""
    a, z = df / 2.0, x / 2.0
    if z <= 0.0:
        return 1.0
    log_prefactor = -z + a * math.log(z) - math.lgamma(a)
    if z < a + 1.0:  # series for the lower function P(a, z)
        term = total = 1.0 / a
        n = a
        while abs(term) > abs(total) * 1e-16:
            n += 1.0
            term *= z / n
            total += term
        return max(0.0, 1.0 - total * math.exp(log_prefactor))
    tiny = 1e-300
    b = z + 1.0 - a
    c, d = 1.0 / tiny, 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        h *= d * c
        if abs(d * c - 1.0) < 1e-16:
            break
    return math.exp(log_prefactor) * h


def assert_frequencies(counts: Any, probs: Any, alpha: float, what: str, hint: str = "") -> None:
    """Chi-square goodness of fit of observed ``counts`` (one per category) against the
    distribution ``probs``: fails when the p-value is below ``alpha`` (so a correct random
    implementation fails with probability alpha; seeded draws make that reproducible). A count in
    a category of probability 0 fails at once. Needs expected counts >= 5 (a spec bug otherwise)."""
    counts = np.asarray(counts, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    n = counts.sum()
    impossible = np.flatnonzero((probs == 0) & (counts > 0))
    if impossible.size:
        raise AssertionError(_with_hint(
            f"{what}: categories {impossible.tolist()} have probability 0 but were observed "
            f"{counts[impossible].astype(int).tolist()} times", hint))
    support = probs > 0
    expected = n * probs[support] / probs[support].sum()
    assert expected.min() >= 5, f"spec bug in {what}: the chi-square test needs expected counts >= 5"
    df = int(support.sum()) - 1
    if df == 0:
        return
    stat = float(np.sum((counts[support] - expected) ** 2 / expected))
    p_value = chi2_sf(stat, df)
    if p_value < alpha:
        raise AssertionError(_with_hint(
            f"{what}: the observed frequencies do not match the expected distribution: chi-square {stat:.1f} "
            f"(df {df}, {int(n)} observations) has p-value {p_value:.3g} < alpha {alpha:g}\n"
            f"  expected frequencies {np.round(probs, 4).tolist()}\n"
            f"  observed frequencies {np.round(counts / n, 4).tolist()}", hint))
