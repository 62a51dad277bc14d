"""Tensor: a NumPy array that remembers how it was made, and reverse-mode autodiff over it.

The design, top to bottom:

* A ``Tensor`` wraps ``.data`` (a NumPy array). If it requires grad and was produced by an op
  while grad mode is on, it also keeps ``_parents`` (the input tensors) and ``_backward``, a
  function ``g -> tuple of gradients, one per parent`` (``None`` where a parent needs none).
  Each op below defines its forward and, right next to it, that backward function.
* Backward functions are *pure*: they return gradients, they never write into tensors, and they
  never modify ``g`` in place. The engine (``Tensor.backward``) does all the bookkeeping:
  reverse topological order, summing the contributions of a node used several times,
  reducing broadcast gradients to the parent's shape (``unbroadcast``, the one place that does
  it), accumulating into the ``.grad`` of leaves, and freeing the graph as it goes.
* Only leaves (tensors created by the user with ``requires_grad=True``) receive ``.grad``,
  as in PyTorch. Intermediate gradients live only while backward runs.

A worked example::

    >>> import numpy as np
    >>> a = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    >>> y = (a * a + a).sum()          # the node `a` is used three times
    >>> y.backward()
    >>> a.grad                          # d/da (a^2 + a) = 2a + 1
    array([3., 5.])
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Sequence

import numpy as np

BackwardFn = Callable[[np.ndarray], Sequence["np.ndarray | None"]]

# ----------------------------------------------------------------------------- grad mode

_grad_enabled = True


@contextlib.contextmanager
def no_grad():
    """Context manager (and decorator) under which ops record no graph, like ``torch.no_grad``."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    return _grad_enabled


# ----------------------------------------------------------------------------- helpers


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` down to ``shape``: the adjoint of NumPy broadcasting.

    Broadcasting prepends size-1 dims and stretches size-1 dims; the gradient of a stretched
    dim is the sum over it. This is the single place in numgpt that does this reduction.

    >>> unbroadcast(np.ones((2, 3, 4)), (3, 1)).tolist()
    [[8.0], [8.0], [8.0]]
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def _normalize_axes(axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for ax in axes:
        if not -ndim <= ax < ndim:
            raise ValueError(f"axis {ax} is out of range for a tensor with {ndim} dims")
        out.append(int(ax) % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"axis {axis} names the same dim twice (tensor with {ndim} dims)")
    return tuple(out)


def _expand_reduced(g: np.ndarray, shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool):
    """Re-insert reduced axes into ``g`` (if dropped) and broadcast it back to ``shape``."""
    if not keepdims:
        g = np.expand_dims(g, axes) if axes else g
    return np.broadcast_to(g, shape)


def _freed(_g):
    raise RuntimeError(
        "backward() went through part of a graph a second time, but its saved values were "
        "freed by the first backward(). Call backward(retain_graph=True) the first time, or "
        "run the forward pass again."
    )


# ----------------------------------------------------------------------------- Tensor


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    Args:
        data: anything ``np.asarray`` accepts. The array is used as is (no copy) when it is
            already an ndarray; ``dtype`` casts it.
        requires_grad: track operations on this tensor so ``backward()`` can fill ``.grad``.
            Only floating-point data can require grad.

    Attributes:
        data: the NumPy array.
        grad: ``None`` until a backward pass reaches this leaf; then a NumPy array of the same
            shape and dtype as ``data``, accumulated (+=) over backward calls until
            ``zero_grad()``.
        requires_grad: whether gradients flow to (or through) this tensor.
    """

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "_op", "__weakref__")
    __array_priority__ = 1000  # make `ndarray + Tensor` call Tensor.__radd__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None):
        if isinstance(data, Tensor):
            data = data.data
        arr = np.asarray(data, dtype=dtype)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"a Tensor holds numbers (bool, int or float), but the data has dtype {arr.dtype}")
        if requires_grad and not np.issubdtype(arr.dtype, np.floating):
            raise TypeError(
                f"requires_grad=True needs floating-point data, but the data has dtype {arr.dtype}; "
                f"cast it first, e.g. Tensor(x.astype(np.float32), requires_grad=True)"
            )
        self.data: np.ndarray = arr
        self.grad: np.ndarray | None = None
        self.requires_grad: bool = bool(requires_grad)
        self._parents: tuple[Tensor, ...] = ()
        self._backward: BackwardFn | None = None
        self._op: str = ""

    # -- graph construction ------------------------------------------------------------

    @classmethod
    def from_op(cls, data: np.ndarray, parents: Sequence["Tensor"], backward: BackwardFn, op: str) -> "Tensor":
        """Create the output of an op. Fused ops outside this file (layer_norm, attention, ...)
        use this too: compute ``data`` with NumPy, give the input tensors and a pure backward
        function ``g -> (grad for each parent)``. The graph is recorded only if grad mode is
        on and some parent requires grad."""
        out = cls.__new__(cls)
        out.data = data
        out.grad = None
        out._op = op
        if _grad_enabled and any(p.requires_grad for p in parents):
            out.requires_grad = True
            out._parents = tuple(parents)
            out._backward = backward
        else:
            out.requires_grad = False
            out._parents = ()
            out._backward = None
        return out

    # -- basic properties ----------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        return self._backward is None

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        flag = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=20)}, dtype={self.dtype}{flag})"

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float:
        return self.data.item()

    def detach(self) -> "Tensor":
        """A tensor sharing this data, cut from the graph (no grad flows through it)."""
        return Tensor(self.data)

    def zero_grad(self) -> None:
        self.grad = None

    # -- backward ------------------------------------------------------------------------

    def backward(self, grad: np.ndarray | None = None, retain_graph: bool = False) -> None:
        """Compute the gradient of this tensor w.r.t. every leaf that requires grad.

        Args:
            grad: the upstream gradient dL/dself, same shape as ``self``. May be omitted only
                when this tensor holds a single element (a loss), which means ``grad = 1``.
            retain_graph: keep the graph's saved values so backward can run through it again.
                By default each node's saved values are freed as soon as its backward has run,
                which is what keeps training memory flat.

        Leaves accumulate: ``leaf.grad += dL/dleaf``, so two backward calls without
        ``zero_grad()`` in between add up, as in PyTorch. The traversal is iterative, so a
        chain of 100,000 ops needs no deep recursion.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() was called on a tensor that does not require grad: no input of the "
                "computation had requires_grad=True (or it ran under no_grad())"
            )
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without an explicit gradient needs a single-element tensor (a loss), "
                    f"but this tensor has shape {self.shape}; pass grad= with that shape"
                )
            grad = np.ones_like(self.data)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad)
            if grad.shape != self.shape:
                raise ValueError(f"backward(grad=...) got shape {grad.shape}, but the tensor has shape {self.shape}")
            grad = grad.astype(self.dtype, copy=False)

        order = _topological_order(self)
        pending: dict[int, np.ndarray] = {id(self): grad}
        for node in reversed(order):
            g = pending.pop(id(node), None)
            if g is None:
                continue
            if node._backward is None:  # a leaf
                accumulate_grad(node, g)
                continue
            parent_grads = node._backward(g)
            for parent, pg in zip(node._parents, parent_grads):
                if pg is None or not parent.requires_grad:
                    continue
                if pg.shape != parent.shape:
                    pg = unbroadcast(pg, parent.shape)
                key = id(parent)
                previous = pending.get(key)
                pending[key] = pg if previous is None else previous + pg
            if not retain_graph:
                node._backward = _freed
                node._parents = ()

    # -- elementwise arithmetic ----------------------------------------------------------

    def _lift(self, other: Any) -> "Tensor":
        """Turn a Python/NumPy scalar or array into a constant tensor of this tensor's dtype."""
        if isinstance(other, Tensor):
            return other
        arr = np.asarray(other)
        if np.issubdtype(self.dtype, np.floating) and (arr.ndim == 0 or not np.issubdtype(arr.dtype, np.floating)):
            arr = arr.astype(self.dtype)
        return Tensor(arr)

    def __add__(self, other: Any) -> "Tensor":
        other = self._lift(other)
        return Tensor.from_op(_broadcasting(np.add, self, other, "add"), (self, other), lambda g: (g, g), "add")

    def __sub__(self, other: Any) -> "Tensor":
        other = self._lift(other)
        return Tensor.from_op(_broadcasting(np.subtract, self, other, "sub"), (self, other), lambda g: (g, -g), "sub")

    def __mul__(self, other: Any) -> "Tensor":
        other = self._lift(other)
        a, b = self, other

        def backward(g):
            return (g * b.data if a.requires_grad else None, g * a.data if b.requires_grad else None)

        return Tensor.from_op(_broadcasting(np.multiply, a, b, "mul"), (a, b), backward, "mul")

    def __truediv__(self, other: Any) -> "Tensor":
        other = self._lift(other)
        a, b = self, other
        out = _broadcasting(np.divide, a, b, "div")

        def backward(g):
            ga = g / b.data if a.requires_grad else None
            gb = -g * out / b.data if b.requires_grad else None  # d(a/b)/db = -a/b^2 = -out/b
            return ga, gb

        return Tensor.from_op(out, (a, b), backward, "div")

    def __neg__(self) -> "Tensor":
        return Tensor.from_op(-self.data, (self,), lambda g: (-g,), "neg")

    def __pow__(self, exponent: float) -> "Tensor":
        if isinstance(exponent, Tensor):
            raise TypeError("pow supports a scalar exponent only (tensor ** float)")
        p = float(exponent)
        x = self
        out = x.data ** np.asarray(p, dtype=x.dtype)

        def backward(g):
            if p == 0:  # x ** 0 is constant; avoid 0 * (0 ** -1) = nan at x = 0
                return (np.zeros_like(g),)
            return (g * (p * x.data ** np.asarray(p - 1, dtype=x.dtype)),)

        return Tensor.from_op(out, (x,), backward, "pow")

    def __radd__(self, other: Any) -> "Tensor":
        return self._lift(other) + self

    def __rsub__(self, other: Any) -> "Tensor":
        return self._lift(other) - self

    def __rmul__(self, other: Any) -> "Tensor":
        return self._lift(other) * self

    def __rtruediv__(self, other: Any) -> "Tensor":
        return self._lift(other) / self

    # -- matmul --------------------------------------------------------------------------

    def __matmul__(self, other: "Tensor") -> "Tensor":
        return matmul(self, self._lift(other))

    def __rmatmul__(self, other: Any) -> "Tensor":
        return matmul(self._lift(other), self)

    # -- reductions ----------------------------------------------------------------------

    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> "Tensor":
        axes = _normalize_axes(axis, self.ndim)
        shape = self.shape

        def backward(g):
            return (_expand_reduced(g, shape, axes, keepdims),)

        return Tensor.from_op(np.sum(self.data, axis=axes, keepdims=keepdims), (self,), backward, "sum")

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> "Tensor":
        axes = _normalize_axes(axis, self.ndim)
        shape = self.shape
        count = int(np.prod([shape[a] for a in axes])) if axes else 1

        def backward(g):
            return (_expand_reduced(g / count, shape, axes, keepdims),)

        return Tensor.from_op(np.mean(self.data, axis=axes, keepdims=keepdims), (self,), backward, "mean")

    def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> "Tensor":
        """Maximum over ``axis``. The gradient is shared equally among tied maxima."""
        axes = _normalize_axes(axis, self.ndim)
        x = self
        out_keep = np.max(x.data, axis=axes, keepdims=True)

        def backward(g):
            mask = x.data == out_keep
            share = mask / mask.sum(axis=axes, keepdims=True)
            return (_expand_reduced(g, x.shape, axes, keepdims) * share.astype(x.dtype, copy=False),)

        out = out_keep if keepdims else np.squeeze(out_keep, axis=axes)
        return Tensor.from_op(out, (x,), backward, "max")

    # -- elementwise functions -----------------------------------------------------------

    def relu(self) -> "Tensor":
        x = self
        return Tensor.from_op(np.maximum(x.data, 0), (x,), lambda g: (g * (x.data > 0),), "relu")

    def exp(self) -> "Tensor":
        out = np.exp(self.data)
        return Tensor.from_op(out, (self,), lambda g: (g * out,), "exp")

    def log(self) -> "Tensor":
        x = self
        return Tensor.from_op(np.log(x.data), (x,), lambda g: (g / x.data,), "log")

    def tanh(self) -> "Tensor":
        out = np.tanh(self.data)
        return Tensor.from_op(out, (self,), lambda g: (g * (1 - out * out),), "tanh")

    def astype(self, dtype: Any) -> "Tensor":
        """Differentiable dtype cast (the gradient is cast back)."""
        src = self.dtype
        return Tensor.from_op(self.data.astype(dtype), (self,), lambda g: (g.astype(src),), "astype")

    # -- shape ops -----------------------------------------------------------------------

    def reshape(self, *shape: Any) -> "Tensor":
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        src = self.shape
        try:
            out = self.data.reshape(shape)
        except ValueError:
            raise ValueError(f"cannot reshape a tensor of shape {src} (size {self.size}) into shape {tuple(shape)}") from None
        return Tensor.from_op(out, (self,), lambda g: (g.reshape(src),), "reshape")

    def transpose(self, *axes: Any) -> "Tensor":
        """Permute dims (NumPy semantics: no axes reverses them)."""
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        if not axes:
            perm = tuple(range(self.ndim))[::-1]
        elif len(axes) != self.ndim or any(not -self.ndim <= int(a) < self.ndim for a in axes):
            perm = ()  # reported below
        else:
            perm = tuple(int(a) % self.ndim for a in axes)
        if sorted(perm) != list(range(self.ndim)):
            raise ValueError(f"transpose axes {axes} are not a permutation of the {self.ndim} dims of shape {self.shape}")
        inverse = tuple(np.argsort(perm))
        return Tensor.from_op(self.data.transpose(perm), (self,), lambda g: (g.transpose(inverse),), "transpose")

    @property
    def T(self) -> "Tensor":
        return self.transpose()

    def __getitem__(self, index: Any) -> "Tensor":
        if isinstance(index, Tensor):
            index = index.data
        x = self
        advanced = _has_array_index(index)

        def backward(g):
            full = np.zeros(x.shape, dtype=g.dtype)
            if advanced:
                np.add.at(full, index, g)  # repeated indices accumulate
            else:
                full[index] = g
            return (full,)

        return Tensor.from_op(x.data[index], (x,), backward, "getitem")


def _broadcasting(ufunc: np.ufunc, a: Tensor, b: Tensor, op: str) -> np.ndarray:
    """``ufunc(a, b)`` with NumPy broadcasting; shapes that do not broadcast are an error naming the op."""
    try:
        return ufunc(a.data, b.data)
    except ValueError:
        raise ValueError(
            f"{op}: shapes {a.shape} and {b.shape} do not broadcast (aligned from the right, each pair of dims "
            f"must be equal or one of them 1)"
        ) from None


def accumulate_grad(leaf: Tensor, g: np.ndarray) -> None:
    """``leaf.grad += g`` in place; the first gradient is copied, so ``.grad`` is owned and never aliased."""
    if leaf.grad is None:
        leaf.grad = np.array(g, dtype=leaf.dtype, copy=True)
    else:
        np.add(leaf.grad, g, out=leaf.grad, casting="unsafe")


def _has_array_index(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, (list, np.ndarray)) for p in parts)


def _topological_order(root: Tensor) -> list[Tensor]:
    """Nodes reachable from ``root`` (through tensors that require grad), each after all of
    its parents. Iterative depth-first search: no recursion limit on deep graphs."""
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in node._parents:
            if parent.requires_grad and id(parent) not in visited:
                stack.append((parent, False))
    return order


# ----------------------------------------------------------------------------- free functions


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with NumPy ``@`` semantics (1-D, 2-D, and batched N-D with broadcasting).

    A (..., T, C) @ (C, D) product is computed as one 2-D product over the flattened leading
    dims, which is markedly faster in NumPy than the batched form, in both directions.
    """
    A, B = a.data, b.data
    if A.ndim == 0 or B.ndim == 0:
        raise ValueError(f"matmul needs tensors with at least 1 dim, got shapes {A.shape} and {B.shape}")
    inner_a = A.shape[-1]
    inner_b = B.shape[-2] if B.ndim >= 2 else B.shape[0]
    if inner_a != inner_b:
        raise ValueError(
            f"matmul shape mismatch: {A.shape} @ {B.shape} (the last dim of the left, {inner_a}, "
            f"must equal the {'second-to-last' if B.ndim >= 2 else 'only'} dim of the right, {inner_b})"
        )
    if A.ndim > 2 and B.ndim == 2:  # (..., C) @ (C, D): one big 2-D GEMM
        lead = A.shape[:-1]
        A2 = A.reshape(-1, inner_a)
        out = (A2 @ B).reshape(*lead, B.shape[1])

        def backward(g):
            g2 = g.reshape(-1, B.shape[1])
            ga = (g2 @ B.T).reshape(A.shape) if a.requires_grad else None
            gb = A2.T @ g2 if b.requires_grad else None
            return ga, gb

        return Tensor.from_op(out, (a, b), backward, "matmul")

    try:
        out = np.matmul(A, B)
    except ValueError:
        raise ValueError(f"matmul batch dims do not broadcast: {A.shape} @ {B.shape}") from None

    def backward(g):
        A2 = A[None, :] if A.ndim == 1 else A
        B2 = B[:, None] if B.ndim == 1 else B
        G = g
        if A.ndim == 1:
            G = np.expand_dims(G, -2)
        if B.ndim == 1:
            G = np.expand_dims(G, -1)
        ga = gb = None
        if a.requires_grad:
            ga = G @ np.swapaxes(B2, -1, -2)
            if A.ndim == 1:
                ga = ga[..., 0, :]
        if b.requires_grad:
            gb = np.swapaxes(A2, -1, -2) @ G
            if B.ndim == 1:
                gb = gb[..., :, 0]
        return ga, gb  # the engine sums broadcast batch dims away

    return Tensor.from_op(out, (a, b), backward, "matmul")


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate needs at least one tensor")
    ax = _normalize_axes(axis, tensors[0].ndim)[0]
    try:
        out = np.concatenate([t.data for t in tensors], axis=ax)
    except ValueError as e:
        raise ValueError(f"concatenate along axis {axis}: shapes {[t.shape for t in tensors]} do not fit ({e})") from None
    bounds = np.cumsum([t.shape[ax] for t in tensors])[:-1]

    def backward(g):
        return tuple(np.split(g, bounds, axis=ax))

    return Tensor.from_op(out, tensors, backward, "concatenate")


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join same-shape tensors along a new axis."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack needs tensors of one shape, got {[t.shape for t in tensors]}")
    out = np.stack([t.data for t in tensors], axis=axis)
    ax = axis % out.ndim

    def backward(g):
        return tuple(np.take(g, i, axis=ax) for i in range(len(tensors)))

    return Tensor.from_op(out, tensors, backward, "stack")


def as_tensor(x: Any, dtype: Any = None) -> Tensor:
    return x if isinstance(x, Tensor) and dtype is None else Tensor(x, dtype=dtype)
