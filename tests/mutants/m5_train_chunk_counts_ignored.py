"""train_bpe counts each distinct chunk once, ignoring how often it occurs in the text."""
import numgpt.tokenizer as tokenizer
from numgpt.tokenizer import Splitter
from numgpt.tokenizer.train import count_chunks, train_merges
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m5_bpe.py"]
K = "most_frequent"


def train_bpe(input_path, vocab_size, special_tokens):
    with open(input_path, encoding="utf-8", newline="") as f:
        text = f.read()
    chunks = list(count_chunks(text, special_tokens, Splitter(tokenizer.GPT2_SPLIT_PATTERN)))
    merges = train_merges(chunks, [1] * len(chunks), vocab_size - 256 - len(special_tokens))  # counts dropped
    vocab = {i: bytes([i]) for i in range(256)}
    for a, b, new in merges:
        vocab[new] = vocab[a] + vocab[b]
    for s in special_tokens:
        vocab[len(vocab)] = s.encode("utf-8")
    return vocab, [(vocab[a], vocab[b]) for a, b, _ in merges]
