"""Print causal attention patterns as text heat maps.

Two heads look at the same short text (one character per position):

1. a hand-built "same character" head: queries and keys are one-hot character codes, so each
   position attends to the earlier occurrences of its own character (and to itself);
2. head 0 of layer 0 of a freshly initialised, seeded GPT: with small random weights it spreads
   its attention almost evenly over the past, so row t shows weights near 1/(t+1).

In both, the causal mask leaves everything right of the diagonal exactly 0 (blank): position t
never sees the future. Darker characters mean more weight (scale at the bottom).

    python demos/demo_attention.py [--text "to be or not to be"] [--seed 0] [--head 0]
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from numgpt.attention import attention_weights
from numgpt.tensor import Tensor, no_grad
from numgpt.transformer import GPT, GPTConfig

RAMP = " .:-=+*#%@"  # 0 weight -> blank; any positive weight gets at least "."


def heat_map(weights: np.ndarray, labels: str) -> str:
    """Render a (T, T) weight matrix, rows = queries, columns = keys."""
    lines = ["      " + " ".join(labels)]
    for t, row in enumerate(weights):
        cells = [RAMP[int(np.ceil(w * (len(RAMP) - 1)))] if w > 0 else RAMP[0] for w in row]
        lines.append(f"{t:3d} {labels[t]} " + "|" + " ".join(cells))
    lines.append(f"      scale: '{RAMP[1]}' = allowed, weight <= 1/9 ... '{RAMP[-1]}' = 1; blank = masked (the future)")
    return "\n".join(lines)


def same_character_head(text: str, strength: float = 6.0) -> np.ndarray:
    """Weights of a head whose query and key are the one-hot code of the character."""
    vocab = sorted(set(text))
    onehot = np.eye(len(vocab))[[vocab.index(c) for c in text]] * strength  # (T, V)
    return attention_weights(onehot, onehot, causal=True)  # (T, T)


def gpt_head(text: str, seed: int, head: int) -> np.ndarray:
    """Layer 0, head ``head`` of a seeded, untrained GPT over the characters of ``text``."""
    vocab = sorted(set(text))
    cfg = GPTConfig(block_size=max(len(text), 1), vocab_size=len(vocab), n_layer=1, n_head=2, n_embd=16)
    model = GPT(cfg, seed=seed, dtype=np.float64)
    idx = np.array([[vocab.index(c) for c in text]])
    tr, block = model.transformer, model.transformer.h[0]
    with no_grad():
        x = tr.wte(idx) + tr.wpe(np.arange(len(text)))  # (1, T, C)
        qkv = block.attn.c_attn(block.ln_1(x)).data[0]  # (T, 3C)
    C, hs = cfg.n_embd, cfg.head_size
    q = qkv[:, head * hs:(head + 1) * hs]
    k = qkv[:, C + head * hs:C + (head + 1) * hs]
    return attention_weights(q, k, causal=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", default="to be or not to be")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--head", type=int, default=0, choices=[0, 1])
    args = parser.parse_args(argv)
    if not args.text:
        parser.error("--text must not be empty")
    labels = args.text.replace(" ", "_")
    print(f"Causal attention over {len(args.text)} characters of {args.text!r} ('_' = space)\n")
    print("1. a 'same character' head (query = key = one-hot character code):")
    print(heat_map(same_character_head(args.text), labels))
    print(f"\n2. layer 0, head {args.head} of an untrained GPT (seed {args.seed}): nearly uniform over the past:")
    print(heat_map(gpt_head(args.text, args.seed, args.head), labels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
