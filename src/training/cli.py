"""``python -m numgpt prepare ...``, ``python -m numgpt train ...`` and ``python -m numgpt eval ...``.

    prepare --dataset shakespeare_char [--source PATH_OR_URL] [--tokenizer char|bpe --vocab_size N] [--data_dir DIR]
    train   --config configs/NAME.toml [--key=value ...] [--resume]
    eval    --checkpoint out-NAME/ckpt.npz [--split val|train] [--data_dir DIR]

Every config key is also a ``train`` option (``--max_iters=500``, ``--source PATH``,
``--decay_lr=false``); see ``python -m numgpt train --help``. Options are spelled as the config
keys, with underscores, in every command; the hyphenated spelling (``--vocab-size``) is accepted too.
``prepare``'s options mean what the config keys of the same name mean (``--data_dir``: the
dataset's directory, as ``train --data_dir``; ``train --out_dir`` is the run's directory).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from ..checkpoint import CHECKPOINT_NAME, CheckpointError, WriteError, checkpoint_path, load_checkpoint, model_from_checkpoint
from .config import FIELDS, ConfigError, load_config, resolve_config
from .data import DataError, load_meta, load_split, prepare
from .evaluate import FULL_EVAL_BATCH, FullLoss

USER_ERRORS = (ConfigError, DataError, CheckpointError)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("prepare", help="tokenize a text file into train.bin/val.bin/meta.json",
                              description="Tokenize a dataset into <data_dir>/{train.bin,val.bin,meta.json} (90/10 split).")
    p.add_argument("--dataset", default="shakespeare_char", help="dataset name (default: shakespeare_char)")
    p.add_argument("--source", default=None,
                   help="a local UTF-8 text file or an http(s) URL (default for shakespeare_char: the copy of Tiny "
                        "Shakespeare shipped in the package, no network needed)")
    p.add_argument("--tokenizer", default="char", metavar="char|bpe|NAME|DIR",
                   help="char (default), bpe (trained here), or a pretrained checkpoint's (GPT-2 or Llama): a hub "
                        "name (gpt2) or a directory with vocab.json + merges.txt or tokenizer.json")
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
    add_overrides(t.add_argument_group("config overrides (--key=value, any TrainConfig field)"), FIELDS)
    t.set_defaults(func=run_train)

    e = subparsers.add_parser("eval", help="the exact loss of a checkpoint over a whole split",
                              description="The exact mean loss of a checkpoint over the whole val (or train) split, "
                                          "in non-overlapping block_size windows (what train reports as "
                                          "val_loss_full), with its perplexity and bits per character/byte.")
    e.add_argument("--checkpoint", required=True, metavar="PATH",
                   help=f"a checkpoint file, or a training out_dir holding {CHECKPOINT_NAME}")
    e.add_argument("--split", choices=["val", "train"], default="val", help="val (default) or train")
    e.add_argument("--data_dir", "--data-dir", dest="data_dir", default=None, metavar="DIR",
                   help="the prepared dataset (default: the checkpoint's data_dir, else data/<dataset>)")
    e.add_argument("--batch_size", "--batch-size", dest="batch_size", type=int, default=FULL_EVAL_BATCH, metavar="N",
                   help=f"windows per forward pass (default {FULL_EVAL_BATCH}; the result does not depend on it)")
    e.set_defaults(func=run_eval)


def add_overrides(group: Any, keys: Any) -> None:
    """A ``--key VALUE`` option (also spelled with hyphens) per config key in ``keys``, kept as a
    string in ``override_<key>`` for ``load_config`` to parse (a bare boolean flag means true)."""
    for key in keys:
        typ = FIELDS[key]
        kwargs = {"nargs": "?", "const": "true"} if typ is bool else {}
        names = [f"--{key}"] + ([f"--{key.replace('_', '-')}"] if "_" in key else [])
        group.add_argument(*names, dest=f"override_{key}", default=argparse.SUPPRESS,
                           metavar=typ.__name__.upper(), **kwargs)


def overrides_given(args: argparse.Namespace) -> dict[str, Any]:
    """``{key: value}`` of the ``add_overrides`` options given on the command line."""
    return {k[len("override_"):]: v for k, v in vars(args).items() if k.startswith("override_")}


def run_prepare(args: argparse.Namespace) -> int:
    try:
        prepare(args.dataset, args.data_dir or f"data/{args.dataset}", source=args.source, tokenizer=args.tokenizer,
                vocab_size=args.vocab_size)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {os_error_line(e)}", file=sys.stderr)
        return 1
    return 0


def os_error_line(e: OSError) -> str:
    """An OSError as one line naming the file: ``cannot write <path>: <cause>`` for a ``WriteError``."""
    return str(e) if isinstance(e, WriteError) or not e.filename else f"{e.filename}: {e.strerror or e}"


def run_train(args: argparse.Namespace) -> int:
    from .loop import train
    from .step import TrainingFault

    try:
        cfg = load_config(resolve_config(args.config) if args.config else None, overrides_given(args))
        result = train(cfg, resume=args.resume)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingFault as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # disk full, read-only directory: the last checkpoint is kept
        print(f"error: {os_error_line(e)}", file=sys.stderr)
        return 1
    return result.exit_code  # 0 done, 1 non-finite stop, 128 + signal when interrupted (loop.py)


def bits_report(full: FullLoss, targets: Any, tokenizer: Any) -> tuple[str, float]:
    """(unit, bits per unit) for the loss over ``targets``: bits per character for a character
    tokenizer (one token per character), bits per byte of the decoded UTF-8 text for BPE."""
    bits = full.loss * full.tokens / math.log(2)  # the total information, in bits
    ids = [int(i) for i in targets]
    if getattr(tokenizer, "decode_bytes", None):
        return "byte", bits / len(tokenizer.decode_bytes(ids))
    return "char", bits / len(tokenizer.decode(ids))


def run_eval(args: argparse.Namespace) -> int:
    from .evaluate import full_loss

    try:
        if args.batch_size < 1:
            raise ConfigError(f"--batch_size must be >= 1, got {args.batch_size}")
        path = checkpoint_path(args.checkpoint)
        ckpt = load_checkpoint(path)  # (also the step and the recorded val_loss_full, printed below)
        model, tokenizer, config = model_from_checkpoint(ckpt, path)
        data_dir = Path(args.data_dir or config.get("data_dir") or f"data/{config.get('dataset')}")
        try:
            meta = load_meta(data_dir)
        except DataError as err:
            raise DataError(f"{err} (or pass --data_dir DIR: the dataset {path} was trained on)") from None
        if json.loads(json.dumps(tokenizer.to_dict())) != meta["tokenizer"]:
            raise DataError(f"{data_dir} was prepared with another tokenizer than the one in {path}; "
                            f"pass --data_dir with the dataset the checkpoint was trained on")
        data = load_split(data_dir, args.split, meta)
        block_size = int(config["model_args"]["block_size"])
        t0 = time.perf_counter()
        full = full_loss(model, data, block_size, batch_size=args.batch_size)
        seconds = time.perf_counter() - t0
        unit, bits = bits_report(full, data[1: full.tokens + 1], tokenizer)
    except (*USER_ERRORS, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    name = f"{args.split}_loss_full"
    print(f"{path} (iter {ckpt.step}), {args.split} split of {data_dir}: "
          f"{full.windows:,} non-overlapping windows of {block_size} tokens ({full.tokens:,} targets), {seconds:.1f} s")
    print(f"{name} {full.loss:.4f} (nats per token)")
    print(f"perplexity {math.exp(full.loss):.4f}")
    print(f"bits per token {full.loss / math.log(2):.4f}")
    print(f"bits per {unit} {bits:.4f}" + (" (= per token: one token per character)" if unit == "char" else
                                            " (of the decoded UTF-8 text)"))
    if args.split == "val" and ckpt.val_loss_full is not None:
        print(f"(training recorded val_loss_full {ckpt.val_loss_full:.4f})")
    return 0
