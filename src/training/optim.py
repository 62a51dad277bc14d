"""Optimizers: AdamW (decoupled weight decay, bias correction) and SGD with momentum.

Both update **flat parameter storage**: when an optimizer is created it copies every
parameter of a group into one contiguous array and makes each ``p.data`` (and ``p.grad``) a
*view* into it. One step is then a handful of in-place NumPy ops over one big array per group,
instead of a dozen small ops per parameter (a GPT has ~50 parameter tensors, and the per-op Python
overhead of ``50 x 12`` small ops costs more than the arithmetic at these sizes). Nothing else
changes for the model: its parameters are still ordinary ``Parameter`` objects with ``.data`` and
``.grad`` arrays of their own shapes.

The views stay in place: ``Module.load_state_dict`` copies into ``p.data``, ``zero_grad()`` fills
the gradients with zeros, and backward adds into them. A parameter whose ``.data`` was *replaced*
after the optimizer was created (``model.to(np.float64)``, ``p.data = ...``) is an error at the next
``step()``, naming the parameter: the optimizer would otherwise keep updating the old array. A
replaced ``.grad`` (``Module.zero_grad()`` sets it to None, and backward then makes a new array) is
copied into the flat storage at ``step()``; a ``None`` gradient counts as zero (PyTorch would skip
the parameter; for a GPT every parameter gets a gradient every step, so the two agree there).

Weight decay follows GPT-2/nanoGPT: ``param_groups`` puts every parameter with 2+ dims
(matmul weights, embeddings) in a group with decay and every 1-D parameter (biases, LayerNorm
gains and shifts) in a group without.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np

from ..tensor import Tensor
from . import threads

ParamGroupSpec = dict[str, Any]


def param_groups(named_params: Iterable[tuple[str, Tensor]], weight_decay: float) -> list[ParamGroupSpec]:
    """Split parameters into a decayed group (``ndim >= 2``) and a non-decayed one (``ndim < 2``).

    Returns ``[{"params", "names", "weight_decay": weight_decay}, {"params", "names",
    "weight_decay": 0.0}]``, leaving out an empty group. This is the rule of GPT-2 and nanoGPT's
    ``configure_optimizers``: decay shrinks weight matrices and embeddings toward zero, but
    decaying a bias or a LayerNorm gain toward zero only fights the normalisation.
    """
    decay, no_decay = ([], []), ([], [])
    for name, p in named_params:
        bucket = decay if p.ndim >= 2 else no_decay
        bucket[0].append(p)
        bucket[1].append(name)
    groups = []
    if decay[0]:
        groups.append({"params": decay[0], "names": decay[1], "weight_decay": float(weight_decay)})
    if no_decay[0]:
        groups.append({"params": no_decay[0], "names": no_decay[1], "weight_decay": 0.0})
    return groups


class _FlatStorage:
    """The parameters of one group laid end to end in ``data`` and their grads in ``grad``."""

    def __init__(self, params: Sequence[Tensor], names: Sequence[str]):
        dtypes = {p.dtype for p in params}
        if len(dtypes) != 1:
            listing = ", ".join(f"{n}: {p.dtype}" for n, p in zip(names, params))
            raise TypeError(f"all parameters of an optimizer group must share one dtype, got {listing}")
        self.dtype = dtypes.pop()
        self.params = list(params)
        self.names = list(names)
        self.shapes = [p.shape for p in params]
        sizes = [p.size for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        total = self.offsets[-1]
        self.data = np.empty(total, dtype=self.dtype)
        self.grad = np.zeros(total, dtype=self.dtype)
        self.data_views = self.views(self.data)
        self.grad_views = self.views(self.grad)
        for p, data, grad in zip(self.params, self.data_views, self.grad_views):
            data[...] = p.data
            p.data = data
            if p.grad is not None:
                grad[...] = p.grad
            p.grad = grad

    def views(self, flat: np.ndarray) -> list[np.ndarray]:
        """Each parameter's part of ``flat`` (an array laid out like ``data``), in its shape."""
        return [flat[lo:hi].reshape(shape) for lo, hi, shape in zip(self.offsets[:-1], self.offsets[1:], self.shapes)]

    def check(self) -> None:
        """Refuse a replaced ``p.data``; copy a replaced ``p.grad`` in (None: zero)."""
        for i, p in enumerate(self.params):
            if p.data is not self.data_views[i]:
                raise RuntimeError(
                    f"parameter {self.names[i]} was replaced after the optimizer was created (now "
                    f"{p.data.dtype} {p.data.shape}, the optimizer holds {self.dtype} {self.shapes[i]}), e.g. by "
                    f"model.to(...): the optimizer would keep updating the old array. Cast or change the model "
                    f"first, then create the optimizer (and copy values into parameters with load_state_dict)")
            if p.grad is not self.grad_views[i]:
                if p.grad is None:
                    self.grad_views[i].fill(0)
                else:
                    self.grad_views[i][...] = p.grad
                p.grad = self.grad_views[i]

    def zero_grad(self, set_to_none: bool = False) -> None:
        if set_to_none:
            for p in self.params:
                p.grad = None
            return
        self.grad.fill(0)
        for p, view in zip(self.params, self.grad_views):
            p.grad = view

    def move_data(self, data: np.ndarray) -> None:
        """Make ``data`` (same size and dtype) the parameters' storage, values copied over."""
        data[...] = self.data
        self.data = data
        self.data_views = self.views(data)
        for p, view in zip(self.params, self.data_views):
            p.data = view


class Optimizer:
    """Base class: parameter groups over flat storage, ``zero_grad``, ``state_dict``.

    ``params`` is a list of tensors, a list of ``(name, tensor)`` pairs, or a list of group
    dicts ``{"params": [...], "names": [...], <hyper-parameter overrides>}``. Each group's
    hyper-parameters (``lr`` and the subclass's) live in ``self.param_groups[i]`` and may be
    changed between steps (the training loop sets ``lr`` from the schedule every step).
    """

    _state_names: tuple[str, ...] = ()  # per-element state buffers of the subclass
    CHUNK = 131072  # elements per block of the update (512 KB in float32; see step())

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]):
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.t = 0  # number of steps taken
        seen: set[int] = set()
        for gi, spec in enumerate(self._as_groups(params)):
            group = {**self.defaults, **{k: v for k, v in spec.items() if k not in ("params", "names")}}
            unknown = set(group) - set(self.defaults)
            if unknown:
                raise ValueError(f"parameter group {gi} sets unknown options {sorted(unknown)}; known: {sorted(self.defaults)}")
            for name, p in zip(spec["names"], spec["params"]):
                if not isinstance(p, Tensor) or not np.issubdtype(p.dtype, np.floating):
                    raise TypeError(f"optimizer parameter {name} must be a floating-point Tensor, got {type(p).__name__}")
                if id(p) in seen:
                    raise ValueError(f"parameter {name} appears in more than one optimizer group")
                seen.add(id(p))
            group["flat"] = _FlatStorage(spec["params"], spec["names"])
            group["state"] = {k: np.zeros_like(group["flat"].data) for k in self._state_names}
            group["scratch"] = np.empty((1, min(self.CHUNK, group["flat"].data.size)), dtype=group["flat"].dtype)
            self.param_groups.append(group)
        if not self.param_groups:
            raise ValueError("the optimizer got no parameters")

    @staticmethod
    def _as_groups(params: Iterable[Any]) -> list[dict[str, Any]]:
        items = list(params)
        if items and isinstance(items[0], dict):
            groups = []
            for g in items:
                ps = list(g["params"])
                groups.append({**g, "params": ps, "names": list(g.get("names") or [f"param{i}" for i in range(len(ps))])})
            return [g for g in groups if g["params"]]
        if items and isinstance(items[0], tuple):
            return [{"names": [n for n, _ in items], "params": [p for _, p in items]}]
        return [{"names": [f"param{i}" for i in range(len(items))], "params": items}] if items else []

    # -- the public API ------------------------------------------------------------------------

    def zero_grad(self, set_to_none: bool = False) -> None:
        """Set every gradient to zero, in place in the flat storage (each ``p.grad`` stays its view,
        and the next backward adds into it). With ``set_to_none``, to None as PyTorch's
        ``zero_grad(set_to_none=True)``: backward then makes new arrays, which ``step()`` copies in
        (one pass more); ``step()`` counts a ``None`` gradient as zero."""
        for group in self.param_groups:
            group["flat"].zero_grad(set_to_none)

    def parameters(self) -> list[Tensor]:
        """Every parameter this optimizer updates, group by group."""
        return [p for group in self.param_groups for p in group["flat"].params]

    def step(self) -> None:
        """Apply one update to every parameter, from the gradients in ``p.grad``.

        The flat arrays are updated in chunks of ``CHUNK`` elements, so that each chunk's ~13
        in-place passes stay in the CPU's L2 cache instead of streaming the whole model through
        memory 13 times (sizes measured in docs/performance.md). The chunks are independent:
        with ``threads.enable(n)`` they are shared out over n threads, each with its own scratch
        row, with the same results.
        """
        self.t += 1
        for group in self.param_groups:
            flat = group["flat"]
            flat.check()
            n = flat.data.size
            chunks = [(lo, min(lo + self.CHUNK, n)) for lo in range(0, n, self.CHUNK)]

            def update(part: int, part_chunks: list[tuple[int, int]], group=group, flat=flat) -> None:
                scratch = group["scratch"][part]
                for lo, hi in part_chunks:
                    state = {k: buf[lo:hi] for k, buf in group["state"].items()}
                    self._update(group, flat.data[lo:hi], flat.grad[lo:hi], state, scratch[: hi - lo])

            rows, cols = threads.thread_count(), min(self.CHUNK, n)
            if group["scratch"].shape[0] < rows or group["scratch"].shape[1] < cols:  # (CHUNK may be changed)
                group["scratch"] = np.empty((rows, cols), dtype=flat.dtype)
            threads.run_split(update, chunks)

    def _update(self, group: dict, p: np.ndarray, g: np.ndarray, state: dict, tmp: np.ndarray) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """``{"hyper": JSON-able dict, "arrays": {name: ndarray}}`` — everything ``step`` depends on.

        ``hyper`` holds the step count and each group's hyper-parameters, parameter names and
        shapes; ``arrays`` holds each group's flat state buffers as ``"<group>.<buffer>"``.
        """
        groups = []
        arrays: dict[str, np.ndarray] = {}
        for gi, group in enumerate(self.param_groups):
            hyper = {k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items() if k in self.defaults}
            flat = group["flat"]
            groups.append({**hyper, "names": flat.names, "shapes": [list(s) for s in flat.shapes]})
            for k, buf in group["state"].items():
                arrays[f"{gi}.{k}"] = buf.copy()
        return {"hyper": {"type": type(self).__name__, "t": self.t, "groups": groups}, "arrays": arrays}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` saved, so the next ``step`` is exactly the one that would
        have followed. The parameter groups (names and shapes) must match this optimizer's."""
        hyper, arrays = state["hyper"], state["arrays"]
        if hyper.get("type") != type(self).__name__:
            raise ValueError(f"optimizer state is for {hyper.get('type')}, but this optimizer is {type(self).__name__}")
        if len(hyper["groups"]) != len(self.param_groups):
            raise ValueError(f"optimizer state has {len(hyper['groups'])} parameter groups, this optimizer {len(self.param_groups)}")
        for gi, (saved, group) in enumerate(zip(hyper["groups"], self.param_groups)):
            flat = group["flat"]
            shapes = [tuple(s) for s in saved["shapes"]]
            if saved["names"] != flat.names or shapes != flat.shapes:
                raise ValueError(
                    f"optimizer state group {gi} holds parameters {list(zip(saved['names'], shapes))}, "
                    f"but this optimizer's group {gi} holds {list(zip(flat.names, flat.shapes))}"
                )
            for k in self.defaults:
                if k in saved:
                    group[k] = tuple(saved[k]) if isinstance(self.defaults[k], tuple) else saved[k]
            for k, buf in group["state"].items():
                key = f"{gi}.{k}"
                if key not in arrays or np.shape(arrays[key]) != buf.shape:
                    raise ValueError(f"optimizer state is missing {key!r} of shape {buf.shape}")
                buf[...] = arrays[key]
        self.t = int(hyper["t"])


class AdamW(Optimizer):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``.

    At step ``t`` (1-based), for each parameter ``p`` with gradient ``g``::

        p  <- p * (1 - lr * weight_decay)              # decoupled: decay never enters m or v
        m  <- beta1 * m + (1 - beta1) * g
        v  <- beta2 * v + (1 - beta2) * g^2
        p  <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    The two ``1 - beta^t`` factors are the bias corrections: ``m`` and ``v`` start at zero, so
    without them the first steps would be scaled by ``(1 - beta1) / sqrt(1 - beta2)``.
    State is kept in the parameters' dtype (float32 for training).
    """

    _state_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01):
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(f"AdamW needs lr, eps, weight_decay >= 0, got lr={lr}, eps={eps}, weight_decay={weight_decay}")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"AdamW betas must be in [0, 1), got {betas}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay})

    def _update(self, group: dict, p: np.ndarray, g: np.ndarray, state: dict, tmp: np.ndarray) -> None:
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        # 13 passes over the chunk (was 14): sqrt(1 - beta2^t) is folded into the scalars,
        #   lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps) = lr sqrt(bc2)/bc1 * m / (sqrt(v) + eps sqrt(bc2)).
        bias_correction1 = 1.0 - beta1 ** self.t
        sqrt_bc2 = math.sqrt(1.0 - beta2 ** self.t)
        if wd:
            p *= 1.0 - lr * wd
        np.subtract(g, m, out=tmp)
        tmp *= 1.0 - beta1
        m += tmp  # m <- beta1 m + (1 - beta1) g
        np.square(g, out=tmp)
        tmp -= v
        tmp *= 1.0 - beta2
        v += tmp  # v <- beta2 v + (1 - beta2) g^2
        np.sqrt(v, out=tmp)
        tmp += eps * sqrt_bc2
        np.divide(m, tmp, out=tmp)
        tmp *= -lr * sqrt_bc2 / bias_correction1
        p += tmp


class SGD(Optimizer):
    """Stochastic gradient descent with (heavy-ball) momentum, as ``torch.optim.SGD``::

        g   <- g + weight_decay * p          # L2 regularisation (coupled, unlike AdamW)
        buf <- momentum * buf + g            # buf starts at 0, so the first buf is g
        p   <- p - lr * buf
    """

    _state_names = ("momentum_buffer",)

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, momentum: float = 0.0, weight_decay: float = 0.0):
        if lr < 0 or not 0.0 <= momentum < 1.0 or weight_decay < 0:
            raise ValueError(f"SGD needs lr >= 0, 0 <= momentum < 1, weight_decay >= 0; got {lr}, {momentum}, {weight_decay}")
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    def _update(self, group: dict, p: np.ndarray, g: np.ndarray, state: dict, tmp: np.ndarray) -> None:
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        np.copyto(tmp, g)
        if wd:
            tmp += wd * p
        buf = state["momentum_buffer"]
        if mu:
            buf *= mu
            buf += tmp
            np.multiply(buf, -lr, out=tmp)
        else:
            tmp *= -lr
        p += tmp


def configure_optimizer(named_params: Iterable[tuple[str, Tensor]], lr: float, betas: tuple[float, float],
                        weight_decay: float, eps: float = 1e-8) -> AdamW:
    """AdamW over ``param_groups(named_params, weight_decay)`` (decay on 2+-dim weights only)."""
    return AdamW(param_groups(named_params, weight_decay), lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
