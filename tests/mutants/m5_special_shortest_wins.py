"""Overlapping special tokens resolve to the SHORTER one ("<|endoftext|>" beats a longer special)."""
import re

from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import get_tokenizer as _reference_get_tokenizer

SPEC = ["spec/test_m5_bpe.py"]
K = "longest_wins"


def get_tokenizer(vocab, merges, special_tokens=None):
    tok = _reference_get_tokenizer(vocab, merges, special_tokens)
    tok._special_regex = lambda allowed: re.compile("|".join(re.escape(s) for s in sorted(allowed, key=len)))
    return tok
