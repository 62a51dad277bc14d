"""decode() decodes strictly, so ids that form invalid UTF-8 raise UnicodeDecodeError."""
from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import get_tokenizer as _reference_get_tokenizer

SPEC = ["spec/test_m5_bpe.py"]
K = "decode_invalid"


def get_tokenizer(vocab, merges, special_tokens=None):
    tok = _reference_get_tokenizer(vocab, merges, special_tokens)
    tok.decode = lambda ids: tok.decode_bytes(ids).decode("utf-8")
    return tok
