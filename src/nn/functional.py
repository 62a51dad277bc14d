"""Functional forms of the layers: each hot op is ONE graph node with a hand-written backward.

Every function here takes ``Tensor`` inputs (plus plain NumPy integer arrays for ids/targets) and
returns a ``Tensor`` made by ``Tensor.from_op(out, parents, backward, name)``. Writing the backward
by hand instead of composing M1 primitives (``x - x.mean()``, ``exp``, ``/`` ...) is what keeps a
training step fast: one node instead of ten, and only the few arrays the backward needs are kept
alive (e.g. ``xhat`` and ``rstd`` for layer_norm, the probabilities for cross_entropy).

Conventions that hold for every op in this file:

* dtype in = dtype out. Constants are Python floats, which NumPy 2 treats as "weak" scalars, so a
  float32 input stays float32 end to end (an ``np.float64`` constant would silently upcast).
* Linear weights are stored ``(in_features, out_features)`` and applied as ``y = x @ W + b``
  (GPT-2's Conv1D layout: no transpose anywhere). ``linear`` flattens ``x`` to ``(N, in)`` so the
  product is a single 2-D GEMM, the fastest shape for BLAS, in the forward and in both backward
  products (``dx = g @ W.T``, ``dW = x.T @ g``, ``db = g.sum(0)``).
* Backward functions never write into ``g`` (it may be shared by several parents); they do work
  in place on arrays they have just allocated themselves.
* ``softmax_`` below is the one place that computes a numerically stable softmax (``softmax`` and
  attention use it), ``log_softmax_`` the one place for log-softmax (``log_softmax`` and
  ``cross_entropy``).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..tensor import Tensor

__all__ = [
    "linear", "linear_t", "linear_tied", "layer_norm", "rms_norm", "embedding", "gelu", "silu", "swiglu",
    "softmax", "log_softmax",
    "cross_entropy", "dropout", "check_dropout_p", "softmax_", "log_softmax_", "softmax_backward", "sum_along",
]


# ----------------------------------------------------------------------------- shared kernels


@functools.lru_cache(maxsize=64)
def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of n ones (cached: sum_along needs the same few every step)."""
    ones = np.ones(n, dtype=dtype)
    ones.flags.writeable = False
    return ones


def sum_along(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``x.sum(axis, keepdims=True)``, fast for the last two axes.

    NumPy's reductions along a short contiguous axis (a row of 64 attention scores, 128 features)
    pay a per-row overhead; a matrix-vector product with a vector of ones runs in BLAS instead,
    several times faster. Other axes, and tiny arrays (a decoding step's single row, where the
    call overhead dominates), use the plain reduction.
    """
    axis = axis % x.ndim
    if x.size <= 2048:
        return x.sum(axis=axis, keepdims=True)
    if x.ndim >= 2 and axis >= x.ndim - 2 and x.dtype in (np.float32, np.float64):
        ones = _ones(x.shape[axis], x.dtype)
        if axis == x.ndim - 1:
            return np.matmul(x, ones)[..., None]  # (..., n) @ (n,) -> (..., 1)
        return np.matmul(ones, x)[..., None, :]  # (n,) @ (..., n, m) -> (..., 1, m)
    return np.sum(x, axis=axis, keepdims=True)


def softmax_(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Stable softmax of ``x`` along ``axis``, computed IN PLACE (``x`` must be an array you own).

    ``exp(x - max) / sum(exp(x - max))``: subtracting the maximum makes the largest exponent
    0, so nothing overflows however large the inputs (1e4 is fine). Entries equal to ``-inf``
    (masked scores) become exactly 0. A slice that is entirely ``-inf`` (nothing may be attended
    to) becomes all zeros instead of NaN. Returns ``x``.
    """
    m = x.max(axis=axis, keepdims=True)  # the method: less call overhead than np.max on small arrays
    if not np.isfinite(m).all():  # only fully masked slices have max = -inf
        m[~np.isfinite(m)] = 0.0
    np.subtract(x, m, out=x)
    np.exp(x, out=x)
    s = sum_along(x, axis)
    s[s == 0] = 1.0  # fully masked: 0 / 1 = 0, never 0 / 0
    np.divide(x, s, out=x)
    return x


def log_softmax_(x: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """``(log_softmax(x), softmax(x))`` along ``axis``; ``x`` (an array you own) becomes the first.

    ``log p = (x - max) - log(sum(exp(x - max)))``: finite for any magnitude (1e4 is fine), where
    ``log(softmax_(x))`` would give -inf once a probability underflows. The one place for
    logsumexp (log_softmax and cross_entropy).
    """
    np.subtract(x, np.max(x, axis=axis, keepdims=True), out=x)
    p = np.exp(x)
    s = sum_along(p, axis)
    np.subtract(x, np.log(s), out=x)
    np.divide(p, s, out=p)
    return x, p


def softmax_backward(g: np.ndarray, y: np.ndarray, axis: int = -1, out: np.ndarray | None = None) -> np.ndarray:
    """dL/dx for ``y = softmax(x)`` along ``axis``: ``y * (g - sum(g * y, axis))``.

    Derivation: dy_i/dx_j = y_i (delta_ij - y_j), so dL/dx_j = sum_i g_i y_i (delta_ij - y_j)
    = y_j (g_j - sum_i g_i y_i). ``out`` may be ``g`` itself when the caller owns ``g``.
    """
    dot = sum_along(g * y, axis)
    out = np.subtract(g, dot, out=out)
    np.multiply(out, y, out=out)
    return out


def _check_float(name: str, t: Tensor) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} must be a numgpt Tensor, got {type(t).__name__}")
    if t.data.dtype.kind != "f":  # floating point; much cheaper than np.issubdtype on the hot path
        raise TypeError(f"{name} must hold floating-point data, got dtype {t.dtype}")


def _as_int_array(name: str, ids: object) -> np.ndarray:
    """Integer ids/targets as an ndarray (Tensors unwrapped); anything else is a TypeError."""
    arr = ids.data if isinstance(ids, Tensor) else np.asarray(ids)
    if arr.dtype.kind not in "iu":  # signed or unsigned integers (cheaper than np.issubdtype)
        raise TypeError(f"{name} must be an integer array (token ids), got dtype {arr.dtype}")
    return arr


# ----------------------------------------------------------------------------- linear


def _gemm(x: Tensor, weight: Tensor, bias: Tensor | None, transposed: bool, op: str) -> Tensor:
    """``x @ W (+ b)``, or ``x @ W.T`` when ``transposed``, as one 2-D GEMM over ``x`` flattened to (N, in)."""
    _check_float("linear input", x)
    _check_float("linear weight", weight)
    if weight.ndim != 2:
        raise ValueError(f"{op}: weight must be 2-D, got shape {weight.shape}")
    W = weight.data
    n_in, n_out = (W.shape[1], W.shape[0]) if transposed else W.shape
    if x.ndim == 0 or x.shape[-1] != n_in:
        raise ValueError(
            f"{op}: input of shape {x.shape} has last dim {x.shape[-1] if x.ndim else None}, but the "
            f"weight of shape {W.shape} expects {n_in} input features "
            f"(weight layout is {'(out, in)' if transposed else '(in, out)'})"
        )
    if bias is not None:
        _check_float("linear bias", bias)
        if bias.shape != (n_out,):
            raise ValueError(f"{op}: bias must have shape ({n_out},), got {bias.shape}")
    lead = x.shape[:-1]
    x2 = x.data.reshape(-1, n_in)  # (N, in): a view when x is contiguous
    Wm = W.T if transposed else W  # (in, out) view either way
    out2 = x2 @ Wm  # (N, out): one GEMM
    if bias is not None:
        out2 += bias.data
    need_x, need_w = x.requires_grad, weight.requires_grad
    need_b = bias is not None and bias.requires_grad

    def backward(g: np.ndarray):
        g2 = g.reshape(-1, n_out)  # (N, out)
        dx = (g2 @ Wm.T).reshape(x.shape) if need_x else None  # (N, in)
        dW = None
        if need_w:
            dW = g2.T @ x2 if transposed else x2.T @ g2  # stored layout of W
        db = sum_along(g2, 0)[0] if need_b else None
        return dx, dW, db

    parents = (x, weight) if bias is None else (x, weight, bias)
    return Tensor.from_op(out2.reshape(*lead, n_out), parents, backward, op)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Affine map ``y = x @ weight + bias`` over the last dim.

    Args:
        x: ``(..., in_features)``.
        weight: ``(in_features, out_features)`` (GPT-2 Conv1D layout).
        bias: ``(out_features,)`` or None.

    Returns ``(..., out_features)``. Backward: ``dx = g @ W.T``, ``dW = x.T @ g``, ``db = sum(g)``,
    each one 2-D GEMM over the flattened leading dims.
    """
    return _gemm(x, weight, bias, transposed=False, op="linear")


def linear_t(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``y = x @ weight.T + bias`` for a weight stored ``(out_features, in_features)``: the PyTorch /
    Hugging Face layout, used by the Llama-style model so its state dict is the checkpoint's
    arrays as they are. Same single-GEMM forward and backward as ``linear``; ``dW = g.T @ x``."""
    return _gemm(x, weight, bias, transposed=True, op="linear_t")


def linear_tied(x: Tensor, weight: Tensor) -> Tensor:
    """``x @ weight.T`` for a weight stored ``(out_features, in_features)``: the tied LM head,
    ``logits = x @ wte.T`` with ``wte`` of shape ``(vocab, n_embd)``. ``dW = g.T @ x`` lands directly
    in ``wte``'s layout; the engine adds it to the embedding's own gradient."""
    return _gemm(x, weight, None, transposed=True, op="linear_tied")


# ----------------------------------------------------------------------------- layer norm


def layer_norm(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last dim (biased variance), then scale and shift.

    Forward, per row of length C:  ``xhat = (x - mean) * rstd`` with ``rstd = 1/sqrt(var + eps)``,
    ``y = xhat * weight + bias``.

    Backward (saved: ``xhat``, ``rstd``), with ``dxhat = g * weight``:
    ``dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))``,
    ``dweight = sum over rows of g * xhat``, ``dbias = sum over rows of g``.
    """
    _check_float("layer_norm input", x)
    C = x.shape[-1]
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None:
            _check_float(f"layer_norm {name}", p)
            if p.shape != (C,):
                raise ValueError(f"layer_norm {name} must have shape ({C},) to match the input's last dim, got {p.shape}")
    x2 = x.data.reshape(-1, C)
    mean = sum_along(x2)
    mean *= 1.0 / C
    xhat = x2 - mean  # (N, C), ours: normalised in place below
    var = np.einsum("ij,ij->i", xhat, xhat)[:, None]
    var *= 1.0 / C
    var += eps
    rstd = np.sqrt(var, out=var)
    np.divide(1.0, rstd, out=rstd)  # (N, 1)
    xhat *= rstd
    if weight is not None:
        out = xhat * weight.data
        if bias is not None:
            out += bias.data
    elif bias is not None:
        out = xhat + bias.data
    else:
        out = xhat.copy()
    need_w = weight is not None and weight.requires_grad
    need_b = bias is not None and bias.requires_grad

    def backward(g: np.ndarray):
        g2 = g.reshape(-1, C)
        dw = np.einsum("ij,ij->j", g2, xhat) if need_w else None
        db = sum_along(g2, 0)[0] if need_b else None
        dx = None
        if x.requires_grad:
            dxhat = g2 * weight.data if weight is not None else g2.copy()  # (N, C), ours
            m1 = sum_along(dxhat)
            m1 *= 1.0 / C
            m2 = np.einsum("ij,ij->i", dxhat, xhat)[:, None]
            m2 *= 1.0 / C
            dxhat -= m1
            dxhat -= xhat * m2
            dxhat *= rstd
            dx = dxhat.reshape(x.shape)
        return tuple(gr for gr, p in ((dx, x), (dw, weight), (db, bias)) if p is not None)

    parents = tuple(p for p in (x, weight, bias) if p is not None)
    return Tensor.from_op(out.reshape(x.shape), parents, backward, "layer_norm")


# ----------------------------------------------------------------------------- RMS norm


def rms_norm(x: Tensor, weight: Tensor | None, eps: float = 1e-5) -> Tensor:
    """Root-mean-square normalisation over the last dim (Llama's RMSNorm), then scale.

    Forward, per row of length C: ``rstd = 1/sqrt(mean(x^2) + eps)`` (eps INSIDE the root),
    ``xhat = x * rstd``, ``y = xhat * weight``. No mean is subtracted and there is no bias.

    Backward (saved: ``xhat``, ``rstd``), with ``dxhat = g * weight``:
    ``dx = rstd * (dxhat - xhat * mean(dxhat * xhat))``, ``dweight = sum over rows of g * xhat``.
    """
    _check_float("rms_norm input", x)
    C = x.shape[-1]
    if weight is not None:
        _check_float("rms_norm weight", weight)
        if weight.shape != (C,):
            raise ValueError(f"rms_norm weight must have shape ({C},) to match the input's last dim, got {weight.shape}")
    x2 = x.data.reshape(-1, C)
    ms = np.einsum("ij,ij->i", x2, x2)[:, None]  # (N, 1) sum of squares
    ms *= 1.0 / C
    ms += eps
    rstd = np.sqrt(ms, out=ms)
    np.divide(1.0, rstd, out=rstd)  # (N, 1)
    xhat = x2 * rstd  # (N, C)
    out = xhat * weight.data if weight is not None else xhat.copy()
    need_w = weight is not None and weight.requires_grad

    def backward(g: np.ndarray):
        g2 = g.reshape(-1, C)
        dw = np.einsum("ij,ij->j", g2, xhat) if need_w else None
        dx = None
        if x.requires_grad:
            dxhat = g2 * weight.data if weight is not None else g2.copy()  # (N, C), ours
            m = np.einsum("ij,ij->i", dxhat, xhat)[:, None]
            m *= 1.0 / C
            dxhat -= xhat * m
            dxhat *= rstd
            dx = dxhat.reshape(x.shape)
        return (dx,) if weight is None else (dx, dw)

    parents = (x,) if weight is None else (x, weight)
    return Tensor.from_op(out.reshape(x.shape), parents, backward, "rms_norm")


# ----------------------------------------------------------------------------- embedding


def _scatter_add_rows(ids: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """``out[ids[i]] += rows[i]`` into a zero ``(n, D)`` array, repeated ids summed.

    Sort the ids, sum each run of equal ids with one ``np.add.reduceat``, write the sums once:
    several times faster than ``np.add.at`` for (N, D) rows.
    """
    out = np.zeros((n, rows.shape[1]), dtype=rows.dtype)
    if ids.size == 0:
        return out
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_ids[1:] != sorted_ids[:-1])))
    out[sorted_ids[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    return out


def embedding(ids: np.ndarray, weight: Tensor) -> Tensor:
    """Rows of ``weight`` (``(num_embeddings, dim)``) picked by integer ``ids`` of any shape.

    Returns ``ids.shape + (dim,)``. Backward scatter-adds ``g`` into the rows that were picked, so
    an id used several times receives the sum of its gradients.
    """
    _check_float("embedding weight", weight)
    ids = _as_int_array("embedding ids", ids)
    V = weight.shape[0]
    if ids.size:
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= V:
            bad = lo if lo < 0 else hi
            raise IndexError(f"embedding id {bad} is out of range for a table of {V} rows (valid ids: 0..{V - 1})")
    out = weight.data[ids]  # fancy indexing: a fresh array

    def backward(g: np.ndarray):
        return (_scatter_add_rows(ids.reshape(-1), g.reshape(-1, weight.shape[1]), weight.shape[0]),)

    return Tensor.from_op(out, (weight,), backward, "embedding")


# ----------------------------------------------------------------------------- GELU

_GELU_K = math.sqrt(2.0 / math.pi)
_GELU_A = 0.044715


def gelu(x: Tensor) -> Tensor:
    """GPT-2's tanh approximation: ``0.5 x (1 + tanh(u))``, ``u = k (x + a x^3)``, ``k = sqrt(2/pi)``, ``a = 0.044715``.

    The forward keeps ``h = 0.5 (1 + tanh(u))`` (tanh computed once). Since
    ``1 - tanh^2 = (1 + tanh)(1 - tanh) = 4 h (1 - h)``, the derivative is
    ``dy/dx = h + 2 x k (1 + 3 a x^2) h (1 - h)``.
    """
    _check_float("gelu input", x)
    xd = x.data
    h = np.square(xd)  # ours: becomes h = 0.5 (1 + tanh(u)) in place
    h *= _GELU_K * _GELU_A
    h += _GELU_K
    h *= xd  # u = k (x + a x^3)
    np.tanh(h, out=h)
    h += 1.0
    h *= 0.5
    out = h * xd

    def backward(g: np.ndarray):
        d = np.square(xd)
        d *= 6.0 * _GELU_K * _GELU_A
        d += 2.0 * _GELU_K
        d *= xd  # 2 x k (1 + 3 a x^2)
        hh = np.subtract(1.0, h)
        hh *= h  # h (1 - h)
        d *= hh
        d += h
        d *= g
        return (d,)

    return Tensor.from_op(out, (x,), backward, "gelu")


# ----------------------------------------------------------------------------- SiLU and SwiGLU


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` as ``0.5 (1 + tanh(x / 2))``: the same function, but tanh never
    overflows (no warning, exact 0 / 1 in the tails) for any magnitude. A new array."""
    s = np.multiply(x, 0.5)
    np.tanh(s, out=s)
    s += 1.0
    s *= 0.5
    return s


def _silu_grad_(s: np.ndarray, x: np.ndarray) -> np.ndarray:
    """d silu / dx = ``s (1 + x (1 - s))`` with ``s = sigmoid(x)``; a new array."""
    d = np.subtract(1.0, s)
    d *= x
    d += 1.0
    d *= s
    return d


def silu(x: Tensor) -> Tensor:
    """SiLU (swish): ``x * sigmoid(x)``. Backward: ``g * s (1 + x (1 - s))``, ``s = sigmoid(x)`` saved."""
    _check_float("silu input", x)
    xd = x.data
    s = _sigmoid(xd)
    return Tensor.from_op(xd * s, (x,), lambda g: (_silu_grad_(s, xd) * g,), "silu")


def swiglu(x: Tensor, w1: Tensor, w3: Tensor, w2: Tensor, b1: Tensor | None = None, b3: Tensor | None = None,
           b2: Tensor | None = None) -> Tensor:
    """The SwiGLU feed-forward ``w2(silu(w1 x) * w3 x)`` as one node (Llama's MLP).

    Args:
        x: ``(..., C)``.
        w1: gate ``(H, C)``, w3: up ``(H, C)``, w2: down ``(C, H)``: Hugging Face's ``(out, in)``
            layout (``gate_proj``, ``up_proj``, ``down_proj``), applied as ``x @ W.T``.
        b1, b3 ``(H,)``, b2 ``(C,)``: optional biases (Llama has none).

    Forward over x flattened to (N, C): ``a = x w1^T + b1``, ``u = x w3^T + b3``, ``s = sigmoid(a)``,
    ``m = a s u``, ``y = m w2^T + b2``. Backward, ``dm = g w2``: ``du = dm * a s``,
    ``da = dm * u * s (1 + a (1 - s))``, ``dx = da w1 + du w3``, ``dw1 = da^T x``, ``dw3 = du^T x``,
    ``dw2 = g^T m``; bias gradients are the column sums of da, du, g.
    """
    for name, t in (("input", x), ("w1 (gate)", w1), ("w3 (up)", w3), ("w2 (down)", w2)):
        _check_float(f"swiglu {name}", t)
    C = x.shape[-1] if x.ndim else None
    H = w1.shape[0] if w1.ndim == 2 else None
    if x.ndim == 0 or H is None or w1.shape != (H, C) or w3.shape != (H, C) or w2.shape != (C, H):
        raise ValueError(
            f"swiglu: shapes do not fit: input {x.shape}, w1 {w1.shape}, w3 {w3.shape}, w2 {w2.shape}; expected "
            f"w1 and w3 (H, C) and w2 (C, H) for an input (..., C) (Hugging Face (out, in) layout)"
        )
    biases = ((b1, (H,), "b1"), (b3, (H,), "b3"), (b2, (C,), "b2"))
    for b, shape, name in biases:
        if b is not None:
            _check_float(f"swiglu {name}", b)
            if b.shape != shape:
                raise ValueError(f"swiglu: bias {name} must have shape {shape}, got {b.shape}")
    x2 = x.data.reshape(-1, C)
    a = x2 @ w1.data.T  # (N, H)
    u = x2 @ w3.data.T  # (N, H)
    if b1 is not None:
        a += b1.data
    if b3 is not None:
        u += b3.data
    s = _sigmoid(a)
    act = a * s  # silu(a)
    m = act * u  # (N, H)
    y = m @ w2.data.T  # (N, C)
    if b2 is not None:
        y += b2.data

    def backward(g: np.ndarray):
        g2 = g.reshape(-1, C)
        dm = g2 @ w2.data  # (N, H)
        du = dm * act
        da = _silu_grad_(s, a)
        da *= dm
        da *= u
        dx = (da @ w1.data + du @ w3.data).reshape(x.shape) if x.requires_grad else None
        grads = [dx, da.T @ x2, du.T @ x2, g2.T @ m]
        for b, d in ((b1, da), (b3, du), (b2, g2)):
            if b is not None:
                grads.append(sum_along(d, 0)[0])
        return tuple(grads)

    parents = (x, w1, w3, w2) + tuple(b for b, _, _ in biases if b is not None)
    return Tensor.from_op(y.reshape(x.shape), parents, backward, "swiglu")


# ----------------------------------------------------------------------------- softmax family


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """Stable softmax along ``axis`` (see ``softmax_``). Backward: ``y * (g - sum(g * y))``."""
    _check_float("softmax input", x)
    y = softmax_(x.data.copy(), axis=axis)
    return Tensor.from_op(y, (x,), lambda g: (softmax_backward(g, y, axis),), "softmax")


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """``x - logsumexp(x)`` along ``axis``, stable for any magnitude.

    Backward: ``g - softmax(x) * sum(g)`` (the softmax is saved from the forward).
    """
    _check_float("log_softmax input", x)
    out, p = log_softmax_(x.data.copy(), axis)

    def backward(g: np.ndarray):
        d = p * sum_along(g, axis)
        np.subtract(g, d, out=d)
        return (d,)

    return Tensor.from_op(out, (x,), backward, "log_softmax")


def cross_entropy(logits: Tensor, targets: np.ndarray, ignore_index: int = -1) -> Tensor:
    """Mean negative log-likelihood of ``targets`` under ``softmax(logits)``, fused with log-softmax.

    Args:
        logits: ``(..., V)`` unnormalised scores.
        targets: integer array of shape ``logits.shape[:-1]``; entries equal to ``ignore_index``
            contribute nothing and are not counted in the mean.

    Per row: ``loss_i = logsumexp(z_i) - z_i[t_i]``, averaged over the n non-ignored rows.
    Backward: ``dz_i = (softmax(z_i) - onehot(t_i)) * g / n`` (0 for ignored rows). Only the
    probabilities are kept for the backward; nothing overflows for logits of magnitude 1e4.
    """
    _check_float("cross_entropy logits", logits)
    targets = _as_int_array("cross_entropy targets", targets)
    V = logits.shape[-1]
    if targets.shape != logits.shape[:-1]:
        raise ValueError(
            f"cross_entropy: targets of shape {targets.shape} must match the logits' leading dims "
            f"{logits.shape[:-1]} (logits shape {logits.shape})"
        )
    t = targets.reshape(-1)
    valid = t != ignore_index
    n = int(valid.sum())
    if n == 0:
        raise ValueError(f"cross_entropy: every target equals ignore_index={ignore_index}, so the mean loss is undefined")
    tv = t[valid]
    if tv.min() < 0 or tv.max() >= V:
        bad = int(tv.min()) if tv.min() < 0 else int(tv.max())
        raise IndexError(f"cross_entropy: target {bad} is out of range for {V} classes (valid: 0..{V - 1}, or ignore_index={ignore_index})")
    all_valid = n == t.size
    rows = np.arange(t.size)
    tsafe = t if all_valid else np.where(valid, t, 0)
    logp, p = log_softmax_(logits.data.reshape(-1, V).copy())  # (N, V) each
    nll = logp[rows, tsafe]  # log p[t] = z[t] - logsumexp(z)
    if not all_valid:
        nll *= valid
    loss = np.asarray(-nll.sum() / n, dtype=logits.dtype)

    def backward(g: np.ndarray):
        scale = float(g) / n
        d = p * scale
        d[rows, tsafe] -= scale
        if not all_valid:
            d[~valid] = 0.0
        return (d.reshape(logits.shape),)

    return Tensor.from_op(loss, (logits,), backward, "cross_entropy")


# ----------------------------------------------------------------------------- dropout


def check_dropout_p(p: float, what: str = "dropout probability") -> float:
    """``p`` as a float if it is a dropout probability, in [0, 1] (1 drops everything); else a
    ValueError naming ``what``. The one range check of every dropout: this op, the ``Dropout``
    layer, attention dropout and ``GPTConfig.dropout``."""
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{what} must be in [0, 1], got {p!r}")
    return float(p)


def dropout(x: Tensor, p: float, training: bool = True, rng: np.random.Generator | None = None) -> Tensor:
    """Inverted dropout: zero each element with probability ``p``, scale the kept ones by ``1/(1-p)``.

    Identity (the same tensor) when ``training`` is False or ``p == 0``. The mask is drawn as
    ``rng.random(x.shape) >= p`` so a seeded Generator gives the same mask every time;
    ``p == 1`` drops everything (output zeros).
    """
    _check_float("dropout input", x)
    check_dropout_p(p)
    if not training or p == 0:
        return x
    rng = np.random.default_rng() if rng is None else rng
    keep = rng.random(x.shape) >= p
    scale = keep.astype(x.dtype)  # the mask, pre-scaled: 0 or 1/(1-p)
    if p < 1:
        scale *= 1.0 / (1.0 - p)
    return Tensor.from_op(x.data * scale, (x,), lambda g: (g * scale,), "dropout")
