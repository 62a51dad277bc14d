"""The M6 demo runs as a user would run it: losses are printed and fall, and a sample appears."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_train_shakespeare_prints_falling_losses_and_a_sample(tmp_path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "demos" / "demo_train_shakespeare.py"), "--max-iters", "40",
                             "--out-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    val = [float(v) for v in re.findall(r"val loss (\d+\.\d+)", result.stdout)]
    assert len(val) >= 2 and val[-1] < val[0] - 0.5, result.stdout[-3000:]
    assert "ms/iter" in result.stdout and "tokens/s" in result.stdout
    assert "--- sample at step 40 ---" in result.stdout
    assert (tmp_path / "out" / "ckpt.npz").is_file()


def test_demo_without_data_says_how_to_pass_it(tmp_path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "demos" / "demo_train_shakespeare.py"), "--source",
                             str(tmp_path / "missing.txt")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "--source PATH" in result.stdout
