"""numgpt's error contract: what a command's failure means and the exit code it ends with.

``python -m numgpt`` prints one line ``error: <message>`` for these and exits with ``exit_code``:
2 for a usage error (the command line, a config, or an input file the user named is wrong), 1 for
a run that failed at runtime (disk full, a worker died). See docs/training.md, "Faults tried and what each does".
"""
from __future__ import annotations

import argparse


class NumgptError(Exception):
    """Root of numgpt's errors; ``exit_code`` is what the command line exits with."""

    exit_code = 1


class UsageError(NumgptError, ValueError):
    """The command line, a config, or an input file named by the user is wrong (exit 2)."""

    exit_code = 2


class RunError(NumgptError):
    """The run failed at runtime: a full or read-only disk, a dead worker (exit 1)."""

    exit_code = 1


class TokenizerError(UsageError):
    """A tokenizer file or dict that cannot be used (a bad split pattern, a bad id)."""


class UsageParser(argparse.ArgumentParser):
    """argparse, but a bad option is a ``UsageError`` (one line ``error: <prog>: <message>``, exit 2,
    from ``numgpt.__main__``'s handler) instead of argparse's usage block and ``SystemExit``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")
