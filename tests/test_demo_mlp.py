"""The M1 demo runs as a user would run it: the loss falls and the spirals get classified."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_mlp_learns_two_spirals() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "demos" / "demo_mlp.py")], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    losses = [float(v) for v in re.findall(r"loss (\d+\.\d+)", result.stdout)]
    accuracy = re.search(r"final accuracy (\d+\.\d+)%", result.stdout)
    assert len(losses) >= 5 and accuracy, result.stdout
    assert losses[-1] < losses[0] / 5, f"the loss did not fall enough: {losses}"
    assert float(accuracy.group(1)) > 95.0, result.stdout
