"""Train a small character-level GPT on Tiny Shakespeare with numgpt (M6: training).

    python demos/demo_train_shakespeare.py                         # ~300 iterations, well under a minute
    python demos/demo_train_shakespeare.py --source path/to/other.txt --max_iters 1000

The text is the copy of Tiny Shakespeare shipped in the package (no network) unless --source says otherwise.

This is the ``train`` command in miniature: it prepares the data (character tokenizer, 90/10
split, uint16 token files), builds a 2-layer GPT, and runs the training loop (AdamW, warmup +
cosine schedule, gradient clipping), printing the loss, the learning rate and the speed, the
train/val loss at each evaluation, and a seeded sample of generated text at the end. Everything
goes to a temporary directory unless --out_dir is given. Seeded: every run prints the same numbers.

For the real thing (val_loss_full 1.908 after 2000 iterations):
    python -m numgpt train --config configs/shakespeare_char_cpu.toml
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

# A small model multiplies small matrices, for which one BLAS thread is fastest (several threads
# on a busy 2-core machine can be many times slower). Set before NumPy loads; an explicit setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

try:
    import numgpt  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from numgpt.training.config import load_config  # noqa: E402
from numgpt.training.loop import train  # noqa: E402

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=None,
                        help="a UTF-8 text file (default: the Tiny Shakespeare shipped in the package)")
    parser.add_argument("--max_iters", "--max-iters", type=int, default=300)
    parser.add_argument("--out_dir", "--out-dir", default=None, help="where data and checkpoint go (default: a temporary dir)")
    parser.add_argument("--seed", type=int, default=1337)
    args = parser.parse_args(argv)
    if args.source is not None and not Path(args.source).is_file():
        print(f"no text at {args.source}; pass a UTF-8 text file with --source PATH, or leave --source out "
              f"for the Tiny Shakespeare shipped in the package")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.out_dir or tmp)
        cfg = load_config(None, dict(
            name="demo", dataset="shakespeare_char", source=args.source or "", data_dir=str(work / "data"), out_dir=str(work / "out"), seed=args.seed,
            n_layer=2, n_head=4, n_embd=64, block_size=64, dropout=0.0, batch_size=16,
            max_iters=args.max_iters, learning_rate=5e-3, min_lr=5e-4, warmup_iters=min(30, args.max_iters),
            lr_decay_iters=args.max_iters, eval_interval=max(1, args.max_iters // 3), eval_iters=10,
            log_interval=max(1, args.max_iters // 10), sample_tokens=200, sample_prompt="\n"))
        result = train(cfg)
        print(f"done: {result.iter} iterations, best val loss {result.best_val_loss:.4f}")
    return 0 if result.status == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
