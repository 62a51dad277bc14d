r"""The split pattern's \p{L}/\p{N} stop at U+FFFF: '𝔘', '𐐀', '𝟙' (beyond the BMP) become punctuation."""
from numgpt.tokenizer import GPT2_SPLIT_PATTERN, Splitter
from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import get_tokenizer as _reference_get_tokenizer

SPEC = ["spec/test_m5_bpe.py"]
K = "split_pattern"


class BmpOnlySplitter(Splitter):
    def tier(self, text):
        return "ascii" if text.isascii() else "bmp"  # the BMP classes for every text


def get_tokenizer(vocab, merges, special_tokens=None):
    tok = _reference_get_tokenizer(vocab, merges, special_tokens)
    tok._splitter = BmpOnlySplitter(GPT2_SPLIT_PATTERN)
    return tok
