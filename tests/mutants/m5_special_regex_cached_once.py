"""The special-token matcher is compiled once and cached under one key, whatever allowed set later calls pass."""
import re

from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import get_tokenizer as _reference_get_tokenizer

SPEC = ["spec/test_m5_bpe.py"]
K = "sets_are_independent"


def get_tokenizer(vocab, merges, special_tokens=None):
    tok = _reference_get_tokenizer(vocab, merges, special_tokens)
    cache = {}

    def special_regex(allowed):
        if "rx" not in cache:  # keyed by nothing: the first allowed set wins for good
            cache["rx"] = re.compile("|".join(re.escape(s) for s in sorted(allowed, key=lambda s: (-len(s), s))))
        return cache["rx"]

    tok._special_regex = special_regex
    return tok
