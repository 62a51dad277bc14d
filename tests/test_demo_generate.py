"""The M7 demo runs as a user would run it: a tiny model learns the rhyme and samples from it."""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demos" / "demo_generate.py"


@pytest.mark.slow
def test_demo_generate_trains_and_samples() -> None:
    result = subprocess.run([sys.executable, str(DEMO), "--steps", "200", "--tokens", "60"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    losses = [float(v) for v in re.findall(r"loss (\d+\.\d+)", out)]
    assert len(losses) == 3 and losses[-1] < 0.6 < losses[0], f"the loss did not fall: {losses}"
    greedy = out.split("--- greedy (temperature 0)\n")[1].split("\n---")[0]
    assert greedy.startswith("the cat") and " on the " in greedy, f"greedy sample: {greedy!r}"
    assert out.count("same tokens as recomputing: True") == 2, out


def test_demo_generate_samples_from_a_checkpoint(tmp_path, capsys, monkeypatch) -> None:
    from numgpt.tokenizer import CharTokenizer
    from numgpt.checkpoint import Checkpoint, save_checkpoint
    from numgpt.transformer import GPT, GPTConfig

    tok = CharTokenizer.from_text("abc \n")
    args = dict(block_size=8, vocab_size=tok.vocab_size, n_layer=1, n_head=1, n_embd=8, dropout=0.0, bias=True)
    save_checkpoint(tmp_path / "ckpt.npz", Checkpoint(model=GPT(GPTConfig(**args)).state_dict(),
                                                       config={"model_args": args}, tokenizer=tok.to_dict()))
    monkeypatch.setattr(os, "environ", dict(os.environ))  # the demo's BLAS-thread default stays in this test
    spec = importlib.util.spec_from_file_location("demo_generate", DEMO)
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    assert demo.main(["--checkpoint", str(tmp_path / "ckpt.npz"), "--prompt", "ab", "--tokens", "12"]) == 0
    out = capsys.readouterr().out
    assert out.count("--- ") == 6 and "\nab" in out, out
