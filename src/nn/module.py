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

from ..tensor import Tensor, no_grad


class Parameter(Tensor):
    """A leaf tensor that a Module owns and an optimizer updates (always requires grad)."""

    def __init__(self, data: Any, dtype: Any = None):
        super().__init__(data, requires_grad=True, dtype=dtype)


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
        """Copy arrays into the parameters' own arrays (cast to each parameter's dtype).

        The arrays are written in place, never replaced, so whatever holds them (an optimizer's
        flat storage, shared memory) sees the new values.

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
                if p.data.flags.writeable:
                    np.copyto(p.data, np.asarray(state[name]), casting="unsafe")
                else:  # e.g. a read-only array the parameter was built on: give it its own
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
        """Cast every parameter to ``dtype`` (e.g. float64 for gradient checks): each gets a new
        array, so create an optimizer after this, not before (its ``step()`` refuses replaced
        parameters)."""
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


class inference_mode:
    """Context manager: run ``model`` in eval mode under ``no_grad``, then restore every
    sub-module's train/eval flag exactly as it was (a sub-module that was in eval mode stays so).

    The one inference context of numgpt: evaluation (``training.evaluate``) and sampling use it.

    Reusable, and cheap to re-enter: the sub-modules are listed once, when it is created, so a
    generator can enter it around every step (and hold neither mode between its yields).
    """

    def __init__(self, model: Any):
        self.modules = [m for _, m in model.named_modules()]
        self._saved: list[tuple[list[Module], Any]] = []

    def __enter__(self) -> "inference_mode":
        flipped = [m for m in self.modules if m.training]  # usually none: the model is in eval mode
        grad = no_grad()
        grad.__enter__()
        self._saved.append((flipped, grad))
        for m in flipped:
            m.training = False
        return self

    def __exit__(self, *exc: Any) -> None:
        flipped, grad = self._saved.pop()
        for m in flipped:
            m.training = True
        grad.__exit__(*exc)
