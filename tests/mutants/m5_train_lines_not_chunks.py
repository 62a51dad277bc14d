"""train_bpe skips the split pattern and trains on whole lines, so pairs are counted across chunk boundaries."""
import re
from collections import Counter

from numgpt.tokenizer.train import train_merges
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m5_bpe.py"]
K = "most_frequent"


def train_bpe(input_path, vocab_size, special_tokens):
    with open(input_path, encoding="utf-8", newline="") as f:
        text = f.read()
    parts = re.split("|".join(map(re.escape, special_tokens)), text) if special_tokens else [text]
    counts = Counter(line for part in parts for line in part.splitlines(keepends=True))  # lines, not chunks
    merges = train_merges(list(counts), list(counts.values()), vocab_size - 256 - len(special_tokens))
    vocab = {i: bytes([i]) for i in range(256)}
    for a, b, new in merges:
        vocab[new] = vocab[a] + vocab[b]
    for s in special_tokens:
        vocab[len(vocab)] = s.encode("utf-8")
    return vocab, [(vocab[a], vocab[b]) for a, b, _ in merges]
