"""The attention demo runs as a user would run it and shows a causal pattern, deterministically."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_demo(*args: str) -> str:
    result = subprocess.run([sys.executable, str(ROOT / "demos" / "demo_attention.py"), *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def heat_rows(block: str) -> list[str]:
    """The cells of each heat-map row ('  3 b |. . . @' -> '...@'): one character every 2 columns."""
    return [line.split("|", 1)[1][0::2] for line in block.splitlines() if "|" in line]


@pytest.mark.slow
def test_demo_attention_prints_causal_maps_deterministically() -> None:
    out = run_demo("--text", "abcab", "--seed", "3")
    assert out == run_demo("--text", "abcab", "--seed", "3"), "same seed, different output"
    maps = out.split("\n\n")[1:]
    assert len(maps) == 2, out
    for block in maps:
        rows = heat_rows(block)
        assert len(rows) == 5, block
        for t, row in enumerate(rows):
            cells = row.ljust(len(rows))
            assert all(c == " " for c in cells[t + 1:]), f"row {t} attends to the future:\n{block}"
            assert all(c != " " for c in cells[:t + 1]), f"row {t} has a blank allowed position:\n{block}"
    same_char = heat_rows(maps[0])
    assert same_char[0].startswith("@") and same_char[3][0] in "=+*#%@"  # 'a' finds the earlier 'a'
