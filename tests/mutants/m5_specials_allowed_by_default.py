"""encode() turns special tokens found in the text into their ids by default instead of raising."""
from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import get_tokenizer as _reference_get_tokenizer

SPEC = ["spec/test_m5_bpe.py"]
K = "disallowed_special"


def get_tokenizer(vocab, merges, special_tokens=None):
    tok = _reference_get_tokenizer(vocab, merges, special_tokens)
    encode = tok.encode
    tok.encode = lambda text, allowed_special="all", disallowed_special="all": encode(text, allowed_special,
                                                                                     disallowed_special)
    return tok
