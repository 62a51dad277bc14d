"""Command line: ``python -m numgpt <command> ...``.

Each command lives next to the code it drives and registers itself here: a module in
``COMMANDS`` defines ``add_parser(subparsers)``, which adds its sub-parser and sets
``func=run`` (``run(args) -> int``) as the parser default.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any, Callable

from .errors import NumgptError, UsageParser

# (module, command names it registers) — imported lazily so `--help` stays fast.
COMMANDS: list[str] = [
    "numgpt.training.cli",     # prepare, train, eval   (milestone 6)
    "numgpt.sampling.cli",     # sample           (milestone 7)
    "numgpt.bench",            # bench step | tokenizer | sample
]


# commands that run many training/decoding steps, and so keep freed memory in the process (numgpt.native)
_LONG_RUNNING = {"train", "eval", "bench", "sample"}


def build_parser() -> argparse.ArgumentParser:
    parser = UsageParser(prog="numgpt", description="A GPT from scratch in NumPy.")
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
    """Run one command; a user error or a failure at run time ends in one line ``error: ...`` on
    stderr and exit code 2 (bad input) or 1 (run time) -- see numgpt/errors.py. ``NUMGPT_DEBUG=1``
    re-raises instead, for the traceback."""
    return guard(lambda: _main(argv))


def guard(run: Callable[[], Any]) -> int:
    """``run()``'s exit code; numgpt's errors (and ValueError, OSError, MemoryError, Ctrl-C) become one
    line ``error: ...`` on stderr and their exit code. The benchmark modules' ``__main__`` use it too."""
    try:
        result = run()
        return result if isinstance(result, int) else 0  # (a benchmark's main returns its figures)
    except (ValueError, NumgptError, OSError, MemoryError) as e:
        if os.environ.get("NUMGPT_DEBUG", "") not in ("", "0"):
            raise
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return exit_code(e)
    except KeyboardInterrupt:
        if os.environ.get("NUMGPT_DEBUG", "") not in ("", "0"):
            raise
        print("error: interrupted", file=sys.stderr)
        return 130


def exit_code(error: BaseException) -> int:
    """The exit code of an error ``main`` reports: a ``NumgptError``'s own (2 for a ``UsageError``,
    1 for a ``RunError``), 2 for any other ``ValueError`` (bad input), 1 for ``OSError``/``MemoryError``."""
    if isinstance(error, NumgptError):
        return int(error.exit_code)
    return 2 if isinstance(error, ValueError) else 1


def _one_line(error: BaseException) -> str:
    if isinstance(error, MemoryError):
        return f"out of memory{': ' + str(error) if str(error) else ''} (try a smaller model, batch_size or block_size)"
    text = str(error) or type(error).__name__
    if isinstance(error, OSError) and error.filename is not None and str(error.filename) not in text:
        text = f"{error.filename}: {text}"
    return " ".join(text.split())


def _main(argv: list[str] | None) -> int:
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
