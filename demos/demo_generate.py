"""Generate text with numgpt (M7: sampling): temperature, top-k, top-p and the KV cache.

    python demos/demo_generate.py                          # trains a tiny model first (~5 s)
    python demos/demo_generate.py --checkpoint out-shakespeare_char_cpu/ckpt.npz --prompt "ROMEO:"

Without a checkpoint it trains a tiny character-level GPT for a few hundred steps on a short
built-in text (a rhyme written for this demo), then samples from it: greedy, with temperature,
with top-k and with top-p, streaming each sample as it is generated. It finishes by checking that
decoding with the KV cache gives the same tokens as recomputing the context every step, and how
much faster it is. Seeded: every run prints the same text.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# This demo multiplies tiny matrices, for which one BLAS thread is fastest; several threads on a
# busy 2-core machine can make it 20x slower. Set before NumPy loads; an explicit setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

try:
    import numgpt  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from numgpt.sampling import TextStreamer, generate, generate_stream  # noqa: E402
from numgpt.checkpoint import load_model  # noqa: E402
from numgpt.tokenizer import CharTokenizer  # noqa: E402
from numgpt.training import ForwardBackward, configure_optimizer, get_batch, train_step  # noqa: E402
from numgpt.transformer import GPT, GPTConfig  # noqa: E402

RHYME = """\
the cat sat on the mat, the dog sat on the log.
the cat saw the dog, and the dog saw the frog.
the frog sat on the log, the cat sat on the mat.
a hat on the cat, a log for the dog, a song for the frog.
"""


def train_tiny(steps: int, seed: int, log=print) -> tuple[GPT, CharTokenizer]:
    """A character GPT (2 layers, 32 dims, block 32) fitted to the rhyme with AdamW."""
    tok = CharTokenizer.from_text(RHYME)
    data = np.array(tok.encode(RHYME * 4), dtype=np.int64)
    cfg = GPTConfig(block_size=32, vocab_size=tok.vocab_size, n_layer=2, n_head=2, n_embd=32, dropout=0.0)
    model = GPT(cfg, seed=seed)
    opt = configure_optimizer(model.named_parameters(), lr=1e-2, betas=(0.9, 0.99), weight_decay=0.0)
    rng = np.random.default_rng(seed)
    params, forward_backward = model.parameters(), ForwardBackward(model)

    def batch() -> tuple[np.ndarray, np.ndarray]:
        return get_batch(data, 16, cfg.block_size, rng)

    for step in range(steps):
        loss = train_step(opt, params, batch, forward_backward).loss  # the loss before this step's update
        if step % 100 == 0:
            log(f"step {step:4d}: loss {loss:.3f}")
    log(f"step {steps:4d}: loss {model(*batch())[1].item():.3f}")
    return model, tok


def stream(model, tok, prompt: str, n: int, title: str, **kwargs) -> None:
    """Print ``prompt`` and its continuation token by token, as it is generated."""
    print(f"--- {title}")
    sys.stdout.write(prompt)
    streamer = TextStreamer(tok)
    for token in generate_stream(model, np.array(tok.encode(prompt)), n, **kwargs):
        sys.stdout.write(streamer.push(token))
        sys.stdout.flush()
    print(streamer.finish())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", help="sample from this checkpoint instead of training a tiny model")
    parser.add_argument("--prompt", default=None, help="text to continue (default: 'the cat' / a newline)")
    parser.add_argument("--steps", type=int, default=300, help="training steps for the tiny model")
    parser.add_argument("--tokens", type=int, default=120, help="new tokens per sample")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    if args.checkpoint:
        model, tok, _ = load_model(args.checkpoint)
        prompt = args.prompt if args.prompt is not None else "\n"
    else:
        model, tok = train_tiny(args.steps, args.seed)
        prompt = args.prompt if args.prompt is not None else "the cat"
        print(f"trained in {time.perf_counter() - t0:.1f} s")
    n, seed = args.tokens, args.seed
    stream(model, tok, prompt, n, "greedy (temperature 0)", temperature=0.0)
    stream(model, tok, prompt, n, "temperature 1.0", temperature=1.0, seed=seed)
    stream(model, tok, prompt, n, "temperature 0.7, top-k 5", temperature=0.7, top_k=5, seed=seed)
    stream(model, tok, prompt, n, "top-p 0.8", temperature=1.0, top_p=0.8, seed=seed)

    # The KV cache gives the same tokens as recomputing the context every step. Past block_size the
    # exact sliding window re-fills the cache every step; window_shift trades a shorter context for
    # re-filling it only every window_shift steps (see docs/sampling.md). For a model this tiny a
    # forward costs about the same whatever its length (Python overhead dominates), so the speed-up
    # is small here; `python -m numgpt.sampling.bench` measures it on the small Shakespeare model.
    ids = np.array(tok.encode(prompt))
    half = model.config.block_size // 2
    same = True
    for label, shift in (("exact window", 1), (f"window_shift {half}", half)):
        rates, outs = [], []
        for use_cache in (False, True):
            t = time.perf_counter()
            outs.append(generate(model, ids, n, temperature=1.0, seed=seed, use_cache=use_cache, window_shift=shift))
            rates.append(n / (time.perf_counter() - t))
        same &= bool(np.array_equal(*outs))
        print(f"--- KV cache, {label}: same tokens as recomputing: {np.array_equal(*outs)}; "
              f"{rates[0]:.0f} tokens/s without, {rates[1]:.0f} tokens/s with the cache "
              f"(block_size {model.config.block_size}, {n} new tokens)")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
