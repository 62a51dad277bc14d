"""The chunk cache has no bound: streaming distinct words keeps every chunk ever seen in memory."""
from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import get_tokenizer as _reference_get_tokenizer

SPEC = ["spec/test_m5_bpe.py"]
K = "memory_on_distinct_words"


def get_tokenizer(vocab, merges, special_tokens=None):
    tok = _reference_get_tokenizer(vocab, merges, special_tokens)
    tok._cache_size = 1 << 62  # never cleared
    return tok
