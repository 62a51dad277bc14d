"""GPT-2's real vocabulary, when a copy is on the machine (nothing is downloaded; the test skips otherwise).

Set ``NUMGPT_GPT2_RANKS`` to GPT-2's rank table (tiktoken's ``r50k_base.tiktoken``; the same file is
``whisper/assets/gpt2.tiktoken`` in the ``openai-whisper`` sdist), checked by its SHA-256. The test
writes GPT-2's ``vocab.json`` + ``merges.txt`` from it (ids = ranks, the merges recovered in rank
order), loads them the way ``--init-from`` does, and compares the ids with two independent oracles:
tiktoken's encoder on the same ranks (when tiktoken is installed), and nanoGPT's frozen token counts
for Tiny Shakespeare (``data/shakespeare/prepare.py``: 301,966 train and 36,059 val tokens).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from numgpt.tokenizer import BPETokenizer
from numgpt.tokenizer.gpt2_files import ENDOFTEXT, load_gpt2_tokenizer, save_gpt2_tokenizer
from numgpt.tokenizer.patterns import GPT2_SPLIT_PATTERN
from numgpt.tokenizer.ranks import load_tiktoken_ranks, recover_merges

R50K_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare" / "input.txt"
TEXTS = ["Hello, I'm a language model, and I can't stop: it's 2024!!  \n\n\t  x",
         "don't DON'T we're I'll you've she'd   many   spaces\r\n", "naïve café — 中文 日本語 한국어 😀🇫🇷 ∑∫",
         "12345 3.14159 1,000,000", "<|endoftext|>Next document", " leading space and trailing  ",
         "\u00a0\u200b\u3000 odd spaces", "a" * 5000]


@pytest.fixture(scope="module")
def gpt2_files(tmp_path_factory):
    path = os.environ.get("NUMGPT_GPT2_RANKS")
    if not path:
        pytest.skip("NUMGPT_GPT2_RANKS is not set (a path to GPT-2's r50k_base.tiktoken); nothing is downloaded")
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert digest == R50K_SHA256, f"{path}: SHA-256 {digest}, expected r50k_base's {R50K_SHA256}"
    ranks = load_tiktoken_ranks(path)
    merges = recover_merges(ranks)
    vocab = {rank: token for token, rank in ranks.items()}
    tok = BPETokenizer(vocab, merges, {ENDOFTEXT: 50256}, pattern=GPT2_SPLIT_PATTERN)
    directory = tmp_path_factory.mktemp("gpt2")
    save_gpt2_tokenizer(tok, directory)
    return ranks, load_gpt2_tokenizer(directory / "vocab.json", directory / "merges.txt")


def test_real_gpt2_files_give_tiktokens_ids(gpt2_files):
    tiktoken = pytest.importorskip("tiktoken")
    ranks, tok = gpt2_files
    enc = tiktoken.Encoding("r50k", pat_str=GPT2_SPLIT_PATTERN, mergeable_ranks=ranks,
                            special_tokens={ENDOFTEXT: 50256})
    texts = TEXTS + ([SHAKESPEARE.read_text(encoding="utf-8")] if SHAKESPEARE.is_file() else [])
    for text in texts:
        want, got = enc.encode(text, allowed_special="all"), tok.encode(text, allowed_special="all")
        first = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
        assert got == want, (f"{text[:40]!r}: numgpt's ids differ from tiktoken's (r50k_base) at token {first}: "
                             f"{got[first:first + 5]} vs {want[first:first + 5]} ({len(got)} vs {len(want)} tokens)")
        assert tok.decode(got) == text


@pytest.mark.skipif(not SHAKESPEARE.is_file(), reason=f"{SHAKESPEARE} is not on this machine")
def test_tiny_shakespeare_splits_into_nanogpts_token_counts(gpt2_files):
    _, tok = gpt2_files
    text = SHAKESPEARE.read_text(encoding="utf-8")
    n = len(text)
    counts = len(tok.encode(text[: int(n * 0.9)])), len(tok.encode(text[int(n * 0.9):]))
    assert counts == (301_966, 36_059), f"train/val GPT-2 tokens {counts}; nanoGPT's prepare.py prints (301966, 36059)"
