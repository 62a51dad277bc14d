"""tiktoken rank files: read a ``.tiktoken`` table, and recover the merges that rebuild it.

A rank file (e.g. GPT-4's ``cl100k_base.tiktoken``) lists tokens, not merges: one
``<base64 token> <rank>`` per line, where the rank is both the token's id and its merge priority.
:meth:`BPETokenizer.from_tiktoken <numgpt.tokenizer.BPETokenizer.from_tiktoken>` encodes with the
ranks directly; :func:`recover_merges` finds the ``(left, right)`` pairs when a merge list is
needed (to save the tokenizer or to use GPT-2's merge-list procedure).
"""
from __future__ import annotations

import base64
import os

__all__ = ["load_tiktoken_ranks", "recover_merges"]


def load_tiktoken_ranks(path: str | os.PathLike) -> dict[bytes, int]:
    """Read a ``.tiktoken`` file: one ``<base64 token> <rank>`` per line -> ``{token: rank}``."""
    ranks: dict[bytes, int] = {}
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                tok, rank = line.split()
                ranks[base64.b64decode(tok, validate=True)] = int(rank)
            except ValueError as e:
                raise ValueError(f"{path}, line {n}: expected '<base64 token> <rank>', got {line[:80]!r} ({e})") from None
    return ranks


def recover_merges(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """The merges (in rank order) that rebuild every multi-byte token of a tiktoken rank table.

    Token ``t`` of rank ``r`` is what tiktoken's procedure makes of ``t``'s bytes with only the
    ranks below ``r``; that ends in two parts, whose pair is ``t``'s merge. Shortcut: when just
    one split ``t[:k], t[k:]`` has both halves ranked below ``r``, it must be that pair.
    """
    merges: list[tuple[bytes, bytes]] = []
    get = ranks.get
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        n = len(token)
        if n == 1:
            continue
        splits = [k for k in range(1, n) if get(token[:k], rank) < rank and get(token[k:], rank) < rank]
        if len(splits) == 1:
            merges.append((token[:splits[0]], token[splits[0]:]))
            continue
        parts = [token[i:i + 1] for i in range(n)]
        while len(parts) > 2:
            best, at = rank, -1
            for i in range(len(parts) - 1):
                r = get(parts[i] + parts[i + 1], rank)
                if r < best:
                    best, at = r, i
            if at < 0:
                break
            parts[at:at + 2] = [parts[at] + parts[at + 1]]
        if len(parts) != 2 or get(parts[0], rank) >= rank or get(parts[1], rank) >= rank:
            raise ValueError(f"rank table: token {token!r} (rank {rank}) cannot be built by merging two "
                             f"lower-ranked tokens; this is not a BPE rank table")
        merges.append((parts[0], parts[1]))
    return merges
