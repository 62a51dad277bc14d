"""train_bpe cuts the special tokens out with an unescaped regex ("[SEP]" becomes a character class)."""
import re
from collections import Counter

from numgpt.tokenizer import GPT2_SPLIT_PATTERN, Splitter
from numgpt.tokenizer.train import train_merges
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m5_bpe.py"]
K = "most_frequent"


def train_bpe(input_path, vocab_size, special_tokens):
    with open(input_path, encoding="utf-8", newline="") as f:
        text = f.read()
    splitter, counts = Splitter(GPT2_SPLIT_PATTERN), Counter()
    for part in re.split("|".join(special_tokens), text) if special_tokens else [text]:  # no re.escape
        if part:  # (a group in a special, e.g. "(x)", makes re.split return the groups, or None, too)
            counts.update(splitter.findall(part))
    merges = train_merges(list(counts), list(counts.values()), vocab_size - 256 - len(special_tokens))
    vocab = {i: bytes([i]) for i in range(256)}
    for a, b, new in merges:
        vocab[new] = vocab[a] + vocab[b]
    for s in special_tokens:
        vocab[len(vocab)] = s.encode("utf-8")
    return vocab, [(vocab[a], vocab[b]) for a, b, _ in merges]
