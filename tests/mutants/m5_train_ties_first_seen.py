"""BPE training breaks count ties by first occurrence (max over a dict of counts), not by the greatest pair."""
import builtins  # the adapter defines max (M1), which shadows the builtin

from numgpt.tokenizer import GPT2_SPLIT_PATTERN, Splitter
from numgpt.tokenizer.train import count_chunks
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m5_bpe.py"]
K = "tie_break"


def train_bpe(input_path, vocab_size, special_tokens):
    with open(input_path, encoding="utf-8", newline="") as f:
        text = f.read()
    counts = count_chunks(text, special_tokens, Splitter(GPT2_SPLIT_PATTERN))
    words = {tuple(bytes([v]) for v in c.encode("utf-8")): n for c, n in counts.items()}
    merges = []
    while len(merges) < vocab_size - 256 - len(special_tokens):
        pairs = {}
        for w, n in words.items():
            for p in zip(w, w[1:]):
                pairs[p] = pairs.get(p, 0) + n
        if not pairs:
            break
        best = builtins.max(pairs, key=pairs.get)  # ties: the pair seen first in the text wins
        merges.append(best)
        new_words = {}
        for w, n in words.items():
            out, i = [], 0
            while i < len(w):
                if w[i:i + 2] == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words[tuple(out)] = new_words.get(tuple(out), 0) + n
        words = new_words
    vocab = {i: bytes([i]) for i in range(256)}
    for a, b in merges:
        vocab[len(vocab)] = a + b
    for s in special_tokens:
        vocab[len(vocab)] = s.encode("utf-8")
    return vocab, merges
