"""Training leaves special tokens in the text, so pairs are counted inside and across them."""
import numgpt.tokenizer as tokenizer
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m5_bpe.py"]
K = "cut_out or frozen_merges"


def train_bpe(input_path, vocab_size, special_tokens):
    with open(input_path, encoding="utf-8", newline="") as f:
        text = f.read()
    tok = tokenizer.train_bpe(text, vocab_size - len(special_tokens), [], pattern=tokenizer.GPT2_SPLIT_PATTERN)
    vocab = tok.vocab
    for s in special_tokens:
        vocab[len(vocab)] = s.encode("utf-8")
    return vocab, tok.merges
