"""decode() decodes each token's bytes on its own, so a character split across tokens becomes U+FFFD."""
from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import get_tokenizer as _reference_get_tokenizer

SPEC = ["spec/test_m5_bpe.py"]
K = "round_trip"


def get_tokenizer(vocab, merges, special_tokens=None):
    tok = _reference_get_tokenizer(vocab, merges, special_tokens)
    tok.decode = lambda ids: "".join(tok.decode_bytes([i]).decode("utf-8", errors="replace") for i in ids)
    return tok
