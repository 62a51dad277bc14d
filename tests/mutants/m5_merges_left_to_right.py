"""Encoding merges the leftmost mergeable pair first instead of the lowest-rank pair."""
from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import get_tokenizer as _reference_get_tokenizer

SPEC = ["spec/test_m5_bpe.py"]
K = "by_rank"


def get_tokenizer(vocab, merges, special_tokens=None):
    tok = _reference_get_tokenizer(vocab, merges, special_tokens)
    merged = {(tok._id_of[a], tok._id_of[b]): tok._id_of[a + b] for a, b in merges}

    def left_to_right(chunk):
        ids = [tok._byte_ids[v] for v in chunk.encode("utf-8")]
        i = 0
        while i < len(ids) - 1:
            new = merged.get((ids[i], ids[i + 1]))
            if new is None:
                i += 1
            else:
                ids[i:i + 2] = [new]
                i = i - 1 if i else 0  # (max is shadowed by the adapter's tensor max)
        return tuple(ids)

    tok._bpe = left_to_right
    return tok
