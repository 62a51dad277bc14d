r"""The split pattern uses \d for \p{N}: '½', 'Ⅻ', '²' (numbers that are not decimal digits) become punctuation."""
from numgpt.tokenizer import GPT2_SPLIT_PATTERN, Splitter
from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import get_tokenizer as _reference_get_tokenizer

SPEC = ["spec/test_m5_bpe.py"]
K = "split_pattern"


def get_tokenizer(vocab, merges, special_tokens=None):
    tok = _reference_get_tokenizer(vocab, merges, special_tokens)
    tok._splitter = Splitter(GPT2_SPLIT_PATTERN.replace(r"\p{N}", r"\d"))  # Python's \d: Unicode Nd only
    return tok
