"""Train a byte-level BPE tokenizer and look inside it.

Trains on a text (Tiny Shakespeare if it is there, else a built-in paragraph), prints the first
merges it learned (each one glues two tokens into a new one, most frequent pair first), then
shows how a sentence is cut into tokens, one [bracket] per token, with the ids underneath, and
checks that decoding gives the sentence back.

    python demos/demo_tokenizer.py [--text FILE] [--vocab_size 512] [--sentence "..."] [--gpt4]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from numgpt.tokenizer import GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, train_bpe

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare" / "input.txt"
FALLBACK = """First Citizen: Before we proceed any further, hear me speak.
All: Speak, speak. First Citizen: You are all resolved rather to die than to famish?
All: Resolved. resolved. First Citizen: First, you know Caius Marcius is chief enemy to the people.
All: We know't, we know't. First Citizen: Let us kill him, and we'll have corn at our own price.
""" * 20


def show(token: bytes) -> str:
    """A token as readable text: spaces as '·', newlines as '⏎', broken UTF-8 as \\xNN."""
    return token.decode("utf-8", errors="backslashreplace").replace(" ", "·").replace("\n", "⏎")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", default=None, help="UTF-8 training text (default: Tiny Shakespeare if present)")
    parser.add_argument("--vocab_size", "--vocab-size", type=int, default=512)
    parser.add_argument("--merges", type=int, default=20, help="how many of the first merges to print")
    parser.add_argument("--sentence", default="To be, or not to be: that is the question. We'll see, 'tis 2024!")
    parser.add_argument("--gpt4", action="store_true", help="split with GPT-4's pattern instead of GPT-2's")
    args = parser.parse_args(argv)

    if args.text:
        source, text = args.text, Path(args.text).read_text(encoding="utf-8")
    elif SHAKESPEARE.is_file():
        source, text = str(SHAKESPEARE), SHAKESPEARE.read_text(encoding="utf-8")
    else:
        source, text = "built-in sample", FALLBACK
    pattern = GPT4_SPLIT_PATTERN if args.gpt4 else GPT2_SPLIT_PATTERN
    t0 = time.perf_counter()
    tok = train_bpe(text, args.vocab_size, ["<|endoftext|>"], pattern=pattern)
    print(f"trained on {source} ({len(text):,} characters) to vocab {tok.vocab_size} "
          f"with the {'GPT-4' if args.gpt4 else 'GPT-2'} split pattern in {time.perf_counter() - t0:.2f} s\n")

    print(f"first {args.merges} merges (new id: left + right -> token):")
    for k, (a, b) in enumerate(tok.merges[:args.merges]):
        print(f"  {256 + k:5d}: {show(a):>10} + {show(b):<10} -> {show(a + b)}")

    ids = tok.encode(args.sentence)
    pieces = [show(tok.decode_bytes([i])) for i in ids]
    print(f"\n{args.sentence!r} -> {len(ids)} tokens ({len(args.sentence.encode())} bytes):")
    print("  " + "".join(f"[{p}]" for p in pieces))
    print("  " + " ".join(str(i) for i in ids))
    assert tok.decode(ids) == args.sentence
    print("decode(encode(sentence)) == sentence: True")


if __name__ == "__main__":
    main()
