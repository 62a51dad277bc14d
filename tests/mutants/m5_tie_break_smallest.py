"""BPE training breaks count ties toward the lexicographically SMALLEST pair (reversed tie-break)."""
import numgpt.tokenizer.train as _train
from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import train_bpe as _reference_train_bpe

SPEC = ["spec/test_m5_bpe.py"]
K = "tie_break"


def train_bpe(input_path, vocab_size, special_tokens):
    key = _train._key
    _train._key = bytes  # heap order = ascending bytes: the smallest pair pops first on a tie
    try:
        return _reference_train_bpe(input_path, vocab_size, special_tokens)
    finally:
        _train._key = key
