"""encode_iterable encodes each piece on its own, so a chunk that spans two pieces ("\n" + "\n") is cut."""
from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import get_tokenizer as _reference_get_tokenizer

SPEC = ["spec/test_m5_bpe.py"]
K = "across_line_pieces"


def get_tokenizer(vocab, merges, special_tokens=None):
    tok = _reference_get_tokenizer(vocab, merges, special_tokens)

    def encode_iterable(iterable):
        for piece in iterable:
            yield from tok.encode(piece)

    tok.encode_iterable = encode_iterable
    return tok
