"""Reference tests of the corpus shipped in the package: its bytes, the offline default path of
``prepare``/``train``, and that the file is package data (it ends up in a built distribution)."""
from __future__ import annotations

import bz2
import hashlib
import importlib.resources
import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from numgpt.__main__ import main
from numgpt.checkpoint import load_checkpoint
from numgpt.training import data as D

ROOT = Path(__file__).resolve().parents[1]
# Tiny Shakespeare (karpathy/char-rnn data/tinyshakespeare/input.txt), as the issue gives it
SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
SIZE = 1_115_394


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a URL or a socket connection fails the test."""
    def refuse(*args, **kwargs):
        pytest.fail(f"network access attempted: {args[:1]}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_bundled_bytes_are_tiny_shakespeare():
    resource = importlib.resources.files("numgpt.training") / "corpora" / "tinyshakespeare.txt.bz2"
    compressed = resource.read_bytes()
    raw = bz2.decompress(compressed)
    assert len(raw) == SIZE, f"the bundled corpus decompresses to {len(raw)} bytes, expected {SIZE}"
    assert hashlib.sha256(raw).hexdigest() == SHA256
    assert len(compressed) < 400_000, f"the bundled file is {len(compressed)} bytes; expected ~330 KB (bzip2 -9)"
    assert D.read_bundled("shakespeare_char") == raw
    note = (importlib.resources.files("numgpt.training") / "corpora" / "README.md").read_text()
    assert "public domain" in note and "char-rnn" in note and SHA256 in note


def test_a_damaged_bundled_file_is_refused(monkeypatch):
    monkeypatch.setitem(D.KNOWN_DATASETS, "shakespeare_char", (D.SHAKESPEARE_URL, "0" * 64))
    with pytest.raises(D.DataError, match="damaged; reinstall numgpt"):
        D.read_source(None, "shakespeare_char")


def test_prepare_defaults_to_the_bundled_copy_with_no_network(tmp_path, no_network):
    meta = D.prepare("shakespeare_char", tmp_path / "d", log=lambda line: None)
    assert (meta["source"], meta["source_sha256"]) == ("bundled:tinyshakespeare.txt.bz2", SHA256)
    # nanoGPT's shakespeare_char prepare.py: 65 characters, 1,003,854 train and 111,540 val tokens
    assert (meta["vocab_size"], meta["train_tokens"], meta["val_tokens"]) == (65, 1_003_854, 111_540)


def test_train_with_no_source_runs_offline(tmp_path, monkeypatch, no_network, capsys):
    """The main job's path: `train` with no --source prepares from the bundled copy, trains, and
    ends with the exact evaluation."""
    monkeypatch.chdir(tmp_path)
    args = ["train", "--n_layer=1", "--n_head=2", "--n_embd=16", "--block_size=16", "--batch_size=4",
            "--max_iters=2", "--warmup_iters=1", "--lr_decay_iters=2", "--eval_iters=1", "--sample_tokens=0",
            "--workers=1", "--name=offline"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "preparing shakespeare_char" in out and "val_loss_full" in out
    meta = json.loads((tmp_path / "data/shakespeare_char/meta.json").read_text())
    assert meta["source"] == "bundled:tinyshakespeare.txt.bz2"
    assert load_checkpoint(tmp_path / "out-offline/ckpt.npz").val_loss_full is not None


def test_the_corpus_is_package_data(tmp_path):
    """setuptools' build_py (what a wheel is made from) copies the corpus and its note into the package."""
    pytest.importorskip("setuptools")
    code = ("import sys, setuptools; sys.argv = ['setup.py', '-q', 'egg_info', '--egg-base', sys.argv[1], "
            "'build_py', '--build-lib', sys.argv[2]]; setuptools.setup()")
    (tmp_path / "egg").mkdir()
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "egg"), str(tmp_path / "lib")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    built = tmp_path / "lib/numgpt/training/corpora"
    assert (built / "tinyshakespeare.txt.bz2").read_bytes() == \
        (ROOT / "src/training/corpora/tinyshakespeare.txt.bz2").read_bytes()
    assert (built / "README.md").is_file()
    assert "Package would be ignored" not in result.stderr, result.stderr[-2000:]
