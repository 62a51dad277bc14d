"""``python -m numgpt sample``: stream text from a trained checkpoint.

    python -m numgpt sample --checkpoint out-shakespeare_char_cpu/ckpt.npz --prompt "ROMEO:" \\
        --max_new_tokens 300 --temperature 0.8 --top_k 40 --seed 1337 --num_samples 2

The checkpoint (written by ``train``; see numgpt.checkpoint) holds the model weights, the
model shape (``config["model_args"]``) and the tokenizer (``to_dict()``), so it is all that is
needed. Text is printed as it is generated, through a UTF-8 streaming decoder (a BPE token may end
in the middle of a multi-byte character).
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

import numpy as np

from ..checkpoint import CHECKPOINT_NAME, load_model
from ..errors import UsageError
from .filters import validate_sampling_params
from .generate import generate_stream
from .stream import TextStreamer


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sample", help="generate text from a trained checkpoint",
        description="Generate text from a checkpoint written by `train`, streaming it to stdout. "
                    "(Options with underscores, as everywhere in numgpt; --top-k etc. are accepted too. In a "
                    "training config the in-training sample's settings are sample_temperature, sample_top_k.)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", metavar="PATH",
                        help=f"a checkpoint file, or a training out_dir holding {CHECKPOINT_NAME}")
    source.add_argument("--init_from", "--init-from", metavar="NAME_OR_DIR",
                        help="a pretrained GPT-2 or Llama-family model: a hub name (gpt2, gpt2-medium, gpt2-large, "
                             "gpt2-xl, org/name; downloaded once into the cache) or a local directory in the hub "
                             "layout (docs/pretrained.md)")
    p.add_argument("--prompt", default="\n", help="text to continue (default: a newline)")
    p.add_argument("--max_new_tokens", "--max-new-tokens", type=int, default=500, metavar="N",
                   help="tokens per sample (default 500)")
    p.add_argument("--temperature", type=float, default=0.8, metavar="T",
                   help="0 = greedy; < 1 sharper, > 1 more random (default 0.8)")
    p.add_argument("--top_k", "--top-k", type=int, default=None, metavar="K", help="keep only the K most likely tokens")
    p.add_argument("--top_p", "--top-p", type=float, default=None, metavar="P",
                   help="nucleus sampling: keep the most likely tokens up to total probability P, in (0, 1]")
    p.add_argument("--seed", type=int, default=1337, metavar="S", help="random seed (default 1337)")
    p.add_argument("--num_samples", "--num-samples", type=int, default=1, metavar="N",
                   help="how many samples (default 1)")
    p.add_argument("--no_cache", "--no-cache", action="store_true",
                   help="recompute the whole context every step (slow)")
    p.add_argument("--allow_special", "--allow-special", action="store_true",
                   help="BPE: encode special tokens in --prompt (e.g. <|endoftext|>) as their ids instead of refusing")
    p.add_argument("--window_shift", "--window-shift", type=int, default=None, metavar="N",
                   help="past block_size, the context window drops its oldest N tokens at once (default "
                        "block_size // 2: the cache is re-filled once per N steps; 1 = nanoGPT's exact sliding "
                        "window, re-filled every step; see docs/sampling.md)")
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    """Refuse an out-of-range option before the checkpoint is read; the message names the option."""
    try:
        validate_sampling_params(args.temperature, args.top_k, args.top_p)
    except ValueError as e:
        raise UsageError(f"--{e}") from None
    for name, low in (("max_new_tokens", 0), ("num_samples", 1), ("seed", 0)):
        if getattr(args, name) < low:
            raise UsageError(f"--{name} must be >= {low}, got {getattr(args, name)}")
    if args.seed + args.num_samples > 2**63:  # sample i uses seed + i, a NumPy seed
        raise UsageError(f"--seed + --num_samples must be <= 2**63, got {args.seed} + {args.num_samples}")
    if args.window_shift is not None and args.window_shift < 1:
        raise UsageError(f"--window_shift must be >= 1, got {args.window_shift}")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        _check_args(args)
        if getattr(args, "init_from", None):
            from ..hub import resolve
            from ..transformer.pretrained import load_pretrained

            model, tokenizer = load_pretrained(resolve(args.init_from))
        else:
            model, tokenizer, _ = load_model(args.checkpoint)
        try:
            ids = tokenizer.encode(args.prompt, allowed_special="all") if args.allow_special and \
                getattr(tokenizer, "special_tokens", None) else tokenizer.encode(args.prompt)
            prompt = np.asarray(ids, dtype=np.int64)
        except ValueError as e:
            hint = " (add --allow_special to encode special tokens as their ids)" if \
                getattr(tokenizer, "special_tokens", None) and not args.allow_special else ""
            raise UsageError(f"--prompt cannot be encoded with the checkpoint's tokenizer: {e}{hint}") from None
        if prompt.size == 0:
            raise UsageError("--prompt is empty (it encodes to no tokens); pass some text, e.g. --prompt $'\\n'")
        for i in range(args.num_samples):
            tokens = generate_stream(model, prompt, args.max_new_tokens, temperature=args.temperature,
                                     top_k=args.top_k, top_p=args.top_p, seed=args.seed + i,
                                     use_cache=not args.no_cache, window_shift=args.window_shift)
            if i:
                out.write("\n---------------\n")
            out.write(args.prompt)
            streamer = TextStreamer(tokenizer)
            for token in tokens:
                out.write(streamer.push(token))
                out.flush()
            out.write(streamer.finish() + "\n")
            out.flush()
    except ValueError as e:  # includes CheckpointError
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `... | head`: stop quietly
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:  # Ctrl-C while streaming: end the line, no traceback
        out.write("\n")
        return 130
    return 0
