r"""The split pattern's \s is Python's (str.isspace), which also matches U+001C..U+001F."""
import re

from numgpt.tokenizer import GPT2_SPLIT_PATTERN, Splitter
from numgpt.tokenizer.patterns import translate_pattern, unicode_class
from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import get_tokenizer as _reference_get_tokenizer

SPEC = ["spec/test_m5_bpe.py"]
K = "split_pattern"


class PythonSpaceSplitter(Splitter):
    def compiled(self, tier):
        part = "ascii" if tier == "ascii" else "bmp"
        return re.compile(translate_pattern(self.pattern, tier).replace(unicode_class("s", part), r"\s"))


def get_tokenizer(vocab, merges, special_tokens=None):
    tok = _reference_get_tokenizer(vocab, merges, special_tokens)
    tok._splitter = PythonSpaceSplitter(GPT2_SPLIT_PATTERN)
    return tok
