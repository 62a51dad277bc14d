"""Every bad option, config value or input file ends in one line ``error: ...`` naming it, with exit
code 2 (usage) or 1 (run time), never a traceback (issue 17; the contract: numgpt/errors.py).

The cases run in-process through ``numgpt.__main__.main`` (each fails before any data is prepared or
any model is built); a few run as real subprocesses for the exit codes the shell sees.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from numgpt.__main__ import main
from numgpt.errors import RunError, UsageError

# (argv, exit code, a text the one error line must contain); {tmp} is a directory holding the files below
CASES = [
    # -- values that lie (train overrides)
    (["train", "--grad_clip=nan"], 2, "'grad_clip' must be a finite number, got nan"),
    (["train", "--learning_rate=inf"], 2, "--learning_rate: config key 'learning_rate' must be a finite number"),
    (["train", "--learning_rate=nan"], 2, "'learning_rate' must be a finite number"),
    (["train", "--min_lr=nan"], 2, "'min_lr' must be a finite"),
    (["train", "--weight_decay=nan"], 2, "'weight_decay' must be a finite"),
    (["train", "--beta2=1"], 2, "'beta2' must be in [0, 1)"),
    (["train", "--beta1=nan"], 2, "'beta1' must be a finite"),
    (["train", "--dropout=nan"], 2, "--dropout: GPTConfig.dropout"),
    (["train", "--sample_temperature=-inf"], 2, "'sample_temperature' must be a finite"),
    (["train", "--seed=-1"], 2, "'seed' must be >= 0, got -1"),
    (["train", "--batch_size=0"], 2, "'batch_size' must be > 0"),
    (["train", "--eval_iters=-3"], 2, "'eval_iters' must be > 0"),
    (["train", "--block_size=200000"], 2, "GiB (n_layer=4, n_embd=128, block_size=200000"),
    (["train", "--n_embd=1000000000"], 2, "more than this machine's"),
    (["train", "--n_embd=1e9"], 2, "--n_embd='1e9': expected an integer"),
    (["train", "--n_head=3"], 2, "must be divisible by n_head=3"),
    (["train", "--decay_lr=maybe"], 2, "--decay_lr='maybe': expected a boolean"),
    (["train", "--out_dir={tmp}/file.txt"], 2, "'out_dir' names {tmp}/file.txt, but {tmp}/file.txt is a file"),
    (["train", "--data_dir={tmp}/file.txt/sub"], 2, "'data_dir' names {tmp}/file.txt/sub, but {tmp}/file.txt is a file"),
    (["train", "--tokenizer= "], 2, "'tokenizer' must be 'char', 'bpe', a hub name"),
    (["train", "--bogus=1"], 2, "unrecognized arguments: --bogus=1"),
    # -- config files that lie
    (["train", "--config={tmp}/types.toml"], 2, "{tmp}/types.toml: key 'max_iters' must be an integer, got str"),
    (["train", "--config={tmp}/nan.toml"], 2, "{tmp}/nan.toml: config key 'grad_clip' must be a finite number"),
    (["train", "--config={tmp}/unknown.toml"], 2, "{tmp}/unknown.toml: unknown config key 'learning_rat'"),
    (["train", "--config={tmp}/broken.toml"], 2, "{tmp}/broken.toml: invalid TOML"),
    (["train", "--config={tmp}/latin1.toml"], 2, "{tmp}/latin1.toml: not UTF-8"),
    (["train", "--config={tmp}/missing.toml"], 2, "config file {tmp}/missing.toml does not exist"),
    (["train", "--config={tmp}"], 2, "is a directory"),
    # -- sample's options (checked before the checkpoint is read) and files
    (["sample", "--checkpoint=x", "--temperature=nan"], 2, "--temperature must be a finite number"),
    (["sample", "--checkpoint=x", "--temperature=-1"], 2, "--temperature must be a finite number >= 0"),
    (["sample", "--checkpoint=x", "--top_k=0"], 2, "--top_k must be >= 1"),
    (["sample", "--checkpoint=x", "--top_p=1.5"], 2, "--top_p must be in (0, 1]"),
    (["sample", "--checkpoint=x", "--top_p=nan"], 2, "--top_p must be in (0, 1]"),
    (["sample", "--checkpoint=x", "--num_samples=0"], 2, "--num_samples must be >= 1, got 0"),
    (["sample", "--checkpoint=x", "--max_new_tokens=-5"], 2, "--max_new_tokens must be >= 0, got -5"),
    (["sample", "--checkpoint=x", "--seed=-1"], 2, "--seed must be >= 0, got -1"),
    (["sample", "--checkpoint=x", "--window_shift=0"], 2, "--window_shift must be >= 1"),
    (["sample", "--checkpoint=x", "--top_k=lots"], 2, "argument --top_k/--top-k: invalid int value: 'lots'"),
    (["sample", "--checkpoint={tmp}/file.txt"], 2, "{tmp}/file.txt is not a readable numgpt checkpoint"),
    (["sample", "--checkpoint={tmp}/none.npz"], 2, "{tmp}/none.npz"),
    # -- eval and prepare
    (["eval", "--checkpoint={tmp}/file.txt", "--batch_size=0"], 2, "--batch_size must be >= 1, got 0"),
    (["eval", "--checkpoint={tmp}/file.txt"], 2, "{tmp}/file.txt is not a readable numgpt checkpoint"),
    (["prepare", "--source={tmp}/none.txt", "--data_dir={tmp}/d"], 2, "source file {tmp}/none.txt does not exist"),
    (["prepare", "--tokenizer=bpe", "--vocab_size=10", "--data_dir={tmp}/d"], 2, "vocab_size > 256"),
    # -- worker counts that cannot work (each worker needs a row of the batch; not a fork bomb)
    (["train", "--workers=13"], 2, "config key 'workers' (13) must be <= batch_size (12)"),
    (["train", "--workers=1000", "--batch_size=1000"], 2, "is more than 4 processes per core"),
    # -- the benchmarks' own options: the same one line and exit 2 as every command
    (["bench", "sample", "--tokens=-1"], 2, "--tokens and --repeats must be >= 1"),
    (["bench", "sample", "--shape=gpt2", "--n_embd=7"], 2, "n_embd=7 must be divisible by n_head=12"),
    (["bench", "tokenizer", "--bogus"], 2, "unrecognized arguments: --bogus"),
]


@pytest.fixture
def tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written to the repository (data/, out-*/)
    (tmp_path / "file.txt").write_text("not a directory, not a checkpoint\n")
    (tmp_path / "types.toml").write_text('max_iters = "many"\n')
    (tmp_path / "nan.toml").write_text("grad_clip = nan\n")
    (tmp_path / "unknown.toml").write_text("learning_rat = 0.1\n")
    (tmp_path / "broken.toml").write_text("n_layer = [4\n")
    (tmp_path / "latin1.toml").write_bytes('name = "caf\u00e9"\n'.encode("latin-1"))
    return tmp_path


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("argv, code, message", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_bad_input_is_one_error_line(argv, code, message, tmp, capsys):
    rc = main([a.format(tmp=tmp) for a in argv])
    out, err = capsys.readouterr()
    assert rc == code, (rc, err)
    assert message.format(tmp=tmp) in one_error_line(err)
    assert not (tmp / "data").exists() and not list(tmp.glob("out-*"))


@pytest.mark.parametrize("error, code, message", [
    (UsageError("a usage error"), 2, "error: a usage error"),
    (ValueError("bad\nvalue"), 2, "error: bad value"),
    (RunError("worker 1 died"), 1, "error: worker 1 died"),
    (PermissionError(13, "Permission denied", "/ro/ckpt.npz"), 1, "Permission denied: '/ro/ckpt.npz'"),
    (OSError(28, "No space left on device"), 1, "error: [Errno 28] No space left on device"),
    (MemoryError(), 1, "error: out of memory"),
])
def test_the_one_handler_maps_errors_to_exit_codes(error, code, message, monkeypatch, capsys):
    from numgpt.training import cli

    def fail(args):
        raise error

    monkeypatch.setattr(cli, "run_train", fail)
    monkeypatch.delenv("NUMGPT_DEBUG", raising=False)
    assert main(["train"]) == code
    assert message in one_error_line(capsys.readouterr().err)
    monkeypatch.setenv("NUMGPT_DEBUG", "1")  # the escape hatch: the exception itself
    with pytest.raises(type(error)):
        main(["train"])


def run(*argv, cwd):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("NUMGPT_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "numgpt", *argv], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120)


@pytest.mark.parametrize("argv, code, message", [
    (["train", "--grad_clip=nan"], 2, "'grad_clip' must be a finite number"),
    (["sample", "--checkpoint", "file.txt"], 2, "file.txt is not a readable numgpt checkpoint"),
    (["prepare", "--data_dir", "file.txt/d"], 1, "file.txt/d"),
])
def test_exit_codes_seen_by_the_shell(argv, code, message, tmp):
    proc = run(*argv, cwd=tmp)
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert message in one_error_line(proc.stderr)
