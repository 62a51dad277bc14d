"""The tokenizer demo runs as a user would run it, prints merges and a faithful segmentation."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_tokenizer(tmp_path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat. the cat ate the rat. " * 40, encoding="utf-8")
    sentence = "the cat's hat"
    result = subprocess.run([sys.executable, str(ROOT / "demos" / "demo_tokenizer.py"), "--text", str(corpus),
                             "--vocab-size", "280", "--merges", "5", "--sentence", sentence],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "first 5 merges" in out and out.count(" -> ") >= 5, out
    segmented = next(line.strip() for line in out.splitlines() if line.strip().startswith("["))
    assert segmented.replace("][", "").strip("[]").replace("·", " ") == sentence, segmented
    assert "[·cat]" in segmented, f"' cat' is frequent in the corpus and should be one token: {segmented}"
    assert "decode(encode(sentence)) == sentence: True" in out
