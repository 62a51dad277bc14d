"""train_bpe opens the corpus in text mode with the default newline translation, so \r\n becomes \n."""
import numgpt.tokenizer as tokenizer
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m5_bpe.py"]
K = "newline_translation or most_frequent"


def train_bpe(input_path, vocab_size, special_tokens):
    with open(input_path, encoding="utf-8") as f:  # newline=None: "\r\n" -> "\n"
        text = f.read()
    tok = tokenizer.train_bpe(text, vocab_size, special_tokens, pattern=tokenizer.GPT2_SPLIT_PATTERN)
    return tok.vocab, tok.merges
