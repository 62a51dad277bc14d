"""A re-implementation of numgpt's backward engine over the reference Tensor's internals, with
switches that break it one way at a time. Mutants (``m1_*.py``) build their ``backward`` from it.

Reference internals used: ``t._parents`` (input tensors), ``t._backward`` (``g -> tuple of
parent gradients``; ``None`` for a leaf), ``t.grad``, and ``numgpt.tensor.unbroadcast``.
Not collected as a mutant: the harness only picks up ``m<digit>_*.py``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from numgpt.tensor import Tensor, unbroadcast


def iterative_topo(root: Tensor) -> list[Tensor]:
    """Every node after its parents (post-order DFS with an explicit stack)."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in node._parents if p.requires_grad)
    return order


def recursive_topo(root: Tensor) -> list[Tensor]:
    """The textbook recursive version: one Python frame per node of the deepest path."""
    order, seen = [], set()

    def visit(node: Tensor) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        for p in node._parents:
            if p.requires_grad:
                visit(p)
        order.append(node)

    visit(root)
    return order


def preorder_topo(root: Tensor) -> list[Tensor]:
    """WRONG: pre-order DFS, reversed so the engine walks it root-first; a node shared by two
    consumers can be processed before the second one has contributed its gradient."""
    order, seen, stack = [], set(), [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        stack.extend(p for p in node._parents if p.requires_grad)
    return order[::-1]


def make_backward(order: Callable[[Tensor], list[Tensor]] = iterative_topo, *, sum_contributions: bool = True,
                  accumulate_leaves: bool = True, alias_leaves: bool = False,
                  reduce: Callable[[np.ndarray, tuple], np.ndarray] = unbroadcast) -> Callable:
    """An adapter ``backward(t, grad=None)`` with the chosen (possibly broken) parts.

    ``alias_leaves``: a leaf stores the first gradient it receives as is (no copy) and later ones are
    added into it in place, so the leaf's grad aliases the upstream array."""

    def backward(t: Tensor, grad: np.ndarray | None = None) -> None:
        if not t.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad")
        if grad is None:
            if t.data.size != 1:
                raise RuntimeError("backward() without grad needs a single-element tensor")
            grad = np.ones_like(t.data)
        pending = {id(t): np.asarray(grad, dtype=t.dtype)}
        for node in reversed(order(t)):
            g = pending.pop(id(node), None)
            if g is None:
                continue
            if node._backward is None:
                if alias_leaves:
                    node.grad = g if node.grad is None else np.add(node.grad, g, out=node.grad)
                else:
                    node.grad = g.copy() if node.grad is None or not accumulate_leaves else node.grad + g
                continue
            for parent, pg in zip(node._parents, node._backward(g)):
                if pg is None or not parent.requires_grad:
                    continue
                pg = reduce(pg, parent.shape) if pg.shape != parent.shape else pg
                previous = pending.get(id(parent))
                pending[id(parent)] = pg if previous is None or not sum_contributions else previous + pg
    return backward
