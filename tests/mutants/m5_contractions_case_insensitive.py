"""The GPT-2 split pattern matches contractions case-insensitively (GPT-4's rule): "IT'S" splits "IT", "'S"."""
from numgpt.tokenizer import GPT2_SPLIT_PATTERN, Splitter
from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import get_tokenizer as _reference_get_tokenizer

SPEC = ["spec/test_m5_bpe.py"]
K = "contractions"


def get_tokenizer(vocab, merges, special_tokens=None):
    tok = _reference_get_tokenizer(vocab, merges, special_tokens)
    tok._splitter = Splitter(GPT2_SPLIT_PATTERN.replace("'(?:", "'(?i:", 1))
    return tok
