"""``python -m numgpt prepare ...`` and ``python -m numgpt train ...``.

    prepare --dataset shakespeare_char [--source PATH_OR_URL] [--tokenizer char|bpe --vocab_size N] [--data_dir DIR]
    train   --config configs/NAME.toml [--key=value ...] [--resume]

Every config key is also a ``train`` option (``--max_iters=500``, ``--source PATH``,
``--decay_lr=false``); see ``python -m numgpt train --help``. Options are spelled as the config
keys, with underscores, in every command; the hyphenated spelling (``--vocab-size``) is accepted too.
``prepare``'s options mean what the config keys of the same name mean (``--data_dir``: the
dataset's directory, as ``train --data_dir``; ``train --out_dir`` is the run's directory).
"""
from __future__ import annotations

import argparse
import sys

from ..checkpoint import CheckpointError
from .config import FIELDS, ConfigError, load_config, resolve_config
from .data import DataError, prepare

USER_ERRORS = (ConfigError, DataError, CheckpointError)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("prepare", help="tokenize a text file into train.bin/val.bin/meta.json",
                              description="Tokenize a dataset into <data_dir>/{train.bin,val.bin,meta.json} (90/10 split).")
    p.add_argument("--dataset", default="shakespeare_char", help="dataset name (default: shakespeare_char)")
    p.add_argument("--source", default=None,
                   help="a local UTF-8 text file or an http(s) URL (default for shakespeare_char: the copy of Tiny "
                        "Shakespeare shipped in the package, no network needed)")
    p.add_argument("--tokenizer", choices=["char", "bpe"], default="char", help="char (default) or bpe")
    p.add_argument("--vocab_size", "--vocab-size", dest="vocab_size", type=int, default=None,
                   help="BPE vocabulary size (with --tokenizer bpe)")
    p.add_argument("--data_dir", "--data-dir", "--out-dir", dest="data_dir", default=None,
                   help="the dataset's directory to write (default: data/<dataset>, where train looks)")
    p.set_defaults(func=run_prepare)

    t = subparsers.add_parser("train", help="train a GPT from a TOML config",
                              description="Train a GPT. Prepares the dataset first if data/<dataset> is missing. "
                                          "Ctrl-C saves a checkpoint; --resume continues from it.")
    t.add_argument("--config", default=None,
                   help="TOML config: a path (configs/shakespeare_char_cpu.toml) or a name from configs/ (shakespeare_char_cpu)")
    t.add_argument("--resume", action="store_true", help="continue from <out_dir>/ckpt.npz")
    overrides = t.add_argument_group("config overrides (--key=value, any TrainConfig field)")
    for key, typ in FIELDS.items():
        kwargs = {"nargs": "?", "const": "true"} if typ is bool else {}
        names = [f"--{key}"] + ([f"--{key.replace('_', '-')}"] if "_" in key else [])
        overrides.add_argument(*names, dest=f"override_{key}", default=argparse.SUPPRESS,
                               metavar=typ.__name__.upper(), **kwargs)
    t.set_defaults(func=run_train)


def run_prepare(args: argparse.Namespace) -> int:
    try:
        prepare(args.dataset, args.data_dir or f"data/{args.dataset}", source=args.source, tokenizer=args.tokenizer,
                vocab_size=args.vocab_size)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def run_train(args: argparse.Namespace) -> int:
    from .loop import train

    overrides = {k[len("override_"):]: v for k, v in vars(args).items() if k.startswith("override_")}
    try:
        cfg = load_config(resolve_config(args.config) if args.config else None, overrides)
        result = train(cfg, resume=args.resume)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 1 if result.status == "nan" else 0
