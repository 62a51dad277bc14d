"""Module and Parameter: the containers every layer is built from.

A ``Module`` finds its parameters and sub-modules by looking at its attributes (in the order they
were assigned), so a layer is just a class that sets ``self.weight = Parameter(...)`` and
``self.sub = SomeModule(...)`` in ``__init__`` and defines ``forward``. Names are dotted paths,
``transformer.h.0.attn.c_attn.weight``, exactly as in PyTorch/GPT-2 checkpoints. A parameter
reachable by two paths (a tied weight) is listed once, under the first path.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that a Module owns and an optimizer updates (always requires grad).

    ``grad_buffer``: None, or an array of the parameter's shape where its next gradient is to be
    written when ``.grad`` is None (set by an optimizer that keeps gradients in flat storage; see
    ``accumulate_grad`` and ``Optimizer.zero_grad(set_to_none=True)``).
    """

    def __init__(self, data: Any, dtype: Any = None):
        super().__init__(data, requires_grad=True, dtype=dtype)
        self.grad_buffer: np.ndarray | None = None


class Module:
    """Base class for layers. Subclasses define ``forward``; call the module to run it."""

    training: bool = True

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -- traversal -------------------------------------------------------------------------

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs, each parameter once (tied weights under their first name)."""
        seen: set[int] = set()
        for mod_name, module in self.named_modules(prefix):
            for name, value in vars(module).items():
                if isinstance(value, Parameter) and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{mod_name}.{name}" if mod_name else name), value

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        return int(sum(p.size for p in self.parameters()))

    # -- state -----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """Name -> a copy of the parameter's array."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Copy arrays into the parameters (cast to each parameter's dtype).

        With ``strict=True`` the keys must match exactly. Any problem raises one ``KeyError`` or
        ``ValueError`` that lists every missing key, unexpected key and shape mismatch.
        """
        params = dict(self.named_parameters())
        missing = [k for k in params if k not in state]
        unexpected = [k for k in state if k not in params]
        mismatched = [
            f"{k}: checkpoint {tuple(np.shape(state[k]))} vs model {params[k].shape}"
            for k in params
            if k in state and tuple(np.shape(state[k])) != params[k].shape
        ]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        if mismatched:
            problems.append(f"shape mismatches: {mismatched}")
        if problems:
            raise ValueError("load_state_dict failed; " + "; ".join(problems))
        for name, p in params.items():
            if name in state:
                p.data = np.array(state[name], dtype=p.dtype, copy=True)

    # -- modes and utilities -----------------------------------------------------------------

    def train(self, mode: bool = True) -> "Module":
        for _, module in self.named_modules():
            module.training = mode
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def to(self, dtype: Any) -> "Module":
        """Cast every parameter to ``dtype`` in place (e.g. float64 for gradient checks)."""
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            p.grad = None
        return self


class ModuleList(Module):
    """A list of sub-modules, named ``0``, ``1``, ... (``transformer.h.0``)."""

    def __init__(self, modules: list[Module] | None = None):
        self._items: list[Module] = []
        for m in modules or []:
            self.append(m)

    def append(self, module: Module) -> None:
        setattr(self, str(len(self._items)), module)
        self._items.append(module)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for i, m in enumerate(self._items):
            yield str(i), m

    def __getitem__(self, i: int) -> Module:
        return self._items[i]

    def __iter__(self) -> Iterator[Module]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class ModuleDict(Module):
    """Named sub-modules in insertion order (``transformer.wte``, ``transformer.h``, ...)."""

    def __init__(self, **modules: Module):
        for name, m in modules.items():
            setattr(self, name, m)
