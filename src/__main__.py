"""Command line: ``python -m numgpt <command> ...``.

Each command lives next to the code it drives and registers itself here: a module in
``COMMANDS`` defines ``add_parser(subparsers)``, which adds its sub-parser and sets
``func=run`` (``run(args) -> int``) as the parser default.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# (module, command names it registers) — imported lazily so `--help` stays fast.
COMMANDS: list[str] = [
    "numgpt.training.cli",     # prepare, train, eval   (milestone 6)
    "numgpt.sampling.cli",     # sample           (milestone 7)
    "numgpt.bench",            # bench step | tokenizer | sample
]


# commands that run many training/decoding steps, and so keep freed memory in the process (numgpt.native)
_LONG_RUNNING = {"train", "eval", "bench", "sample"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="numgpt", description="A GPT from scratch in NumPy.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    version = sub.add_parser("version", help="print the version")
    version.set_defaults(func=_version)
    for name in COMMANDS:
        importlib.import_module(name).add_parser(sub)
    return parser


def _version(args: argparse.Namespace) -> int:
    from . import __version__

    print(__version__)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "forward_args", False):  # e.g. `bench sample --tokens 64`: the module parses its own options
        args.forwarded = extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    if args.command in _LONG_RUNNING:
        from .native import tune_allocator

        tune_allocator()  # freed activations stay in the process for the next step
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
