"""encode_iterable holds back the last chunk of each piece and then forgets it."""
from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import get_tokenizer as _reference_get_tokenizer

SPEC = ["spec/test_m5_bpe.py"]
K = "file_lines"


def get_tokenizer(vocab, merges, special_tokens=None):
    tok = _reference_get_tokenizer(vocab, merges, special_tokens)

    def encode_iterable(iterable):
        for piece in iterable:
            chunks = tok._splitter.findall(piece)
            yield from tok.encode_ordinary("".join(chunks[:-1]))  # the boundary chunk is never emitted

    tok.encode_iterable = encode_iterable
    return tok
