"""train_bpe learns vocab_size - 256 merges and adds the special tokens on top (vocab_size exceeded)."""
import numgpt.tokenizer as tokenizer
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m5_bpe.py"]
K = "most_frequent"


def train_bpe(input_path, vocab_size, special_tokens):
    with open(input_path, encoding="utf-8", newline="") as f:
        text = f.read()
    tok = tokenizer.train_bpe(text, vocab_size + len(special_tokens), special_tokens,
                              pattern=tokenizer.GPT2_SPLIT_PATTERN)
    return tok.vocab, tok.merges
