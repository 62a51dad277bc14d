"""Data-parallel training over MPI ranks (training/mpi.py), each test a ``mpiexec -n 2`` job.

Needs the mpi extra (``pip install -e ".[mpi]"``, which CI installs); skipped without it."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
try:
    import mpi4py  # noqa: F401
except ImportError:
    MPIEXEC = None
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason='needs mpi4py and mpiexec: pip install -e ".[mpi]"')

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--n_layer=1", "--n_embd=32", "--n_head=2", "--block_size=16", "--batch_size=4", "--eval_iters=2",
        "--log_interval=1", "--sample_tokens=0"]
# a rank's job: write its pid, optionally fail on rank 1 after a few forward passes, then the CLI
WRAPPER = """
import os, sys
from mpi4py import MPI
rank = MPI.COMM_WORLD.Get_rank()
out = sys.argv[1]
open(os.path.join(out, f"rank{rank}.pid"), "w").write(str(os.getpid()))
if rank == 1 and os.environ.get("FAIL_AFTER"):
    from numgpt.transformer import GPT
    forward, calls = GPT.__call__, [0]
    def failing(self, *a, **k):
        calls[0] += 1
        if calls[0] > int(os.environ["FAIL_AFTER"]):
            raise ValueError("injected failure")
        return forward(self, *a, **k)
    GPT.__call__ = failing
from numgpt.__main__ import main
sys.exit(main(sys.argv[2:]))
"""


def _args(tmp: Path, out: str, iters: int, extra: list[str]) -> list[str]:
    return ["train", "--config", str(ROOT / "configs/shakespeare_char_cpu.toml"), f"--data_dir={tmp / 'data'}",
            f"--out_dir={tmp / out}", f"--max_iters={iters}", f"--eval_interval={iters}", *TINY, *extra]


def _start(tmp: Path, out: str, iters: int, extra: list[str] = (), n: int = 2, env: dict | None = None):
    (tmp / out).mkdir(parents=True, exist_ok=True)
    script = tmp / "rank.py"
    script.write_text(WRAPPER)
    cmd = [sys.executable, str(script), str(tmp / out), *_args(tmp, out, iters, list(extra))]
    if n > 1:
        cmd = [MPIEXEC, "-n", str(n), *cmd]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})}, start_new_session=True)


def _run(tmp: Path, out: str, iters: int, extra: list[str] = (), n: int = 2, env: dict | None = None):
    p = _start(tmp, out, iters, extra, n, env)
    output, _ = p.communicate(timeout=120)
    return p.returncode, output


def _losses(tmp: Path, out: str) -> list[float]:
    lines = (tmp / out / "metrics.jsonl").read_text().splitlines()
    return [r["loss"] for r in map(json.loads, lines) if r["event"] == "train"]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_ranks_train_like_one_process_and_repeat_bit_for_bit(tmp_path):
    code, out = _run(tmp_path, "one", 6, n=1, extra=["--workers=1"])
    assert code == 0, out
    code, out = _run(tmp_path, "a", 6)
    assert code == 0, out
    assert out.count("step 6: val_loss_full") == 1  # rank 0 alone prints
    code, out = _run(tmp_path, "b", 6)
    assert code == 0, out
    one, a, b = _losses(tmp_path, "one"), _losses(tmp_path, "a"), _losses(tmp_path, "b")
    assert len(a) == 6 and a == b  # bit-identical run to run
    np.testing.assert_allclose(a, one, rtol=1e-5)  # float32 summation order only
    with np.load(tmp_path / "a" / "ckpt.npz") as ca, np.load(tmp_path / "b" / "ckpt.npz") as cb:
        assert ca.files == cb.files
        assert all(np.array_equal(ca[k], cb[k]) for k in ca.files if k != "config")  # (config: its out_dir)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_resume_with_the_same_ranks_continues_exactly(tmp_path):
    drop = ["--dropout=0.1"]
    assert _run(tmp_path, "full", 6, drop)[0] == 0
    assert _run(tmp_path, "part", 3, drop)[0] == 0
    code, out = _run(tmp_path, "part", 6, [*drop, "--resume"])
    assert code == 0, out
    assert _losses(tmp_path, "part") == _losses(tmp_path, "full")


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_rank_raising_ends_the_job_naming_it(tmp_path):
    code, out = _run(tmp_path, "fail", 50, env={"FAIL_AFTER": "5"})
    assert code != 0
    assert "error: rank 1: ValueError: injected failure" in out


def _wait_for(path: Path, p: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and what in path.read_text():
            return
        assert p.poll() is None, p.communicate()[0]
        time.sleep(0.1)
    raise AssertionError(f"no {what!r} in {path}")


@pytest.mark.slow
@pytest.mark.timeout(180)  # generous: mpiexec's start and the data's preparation on a loaded machine
def test_a_killed_rank_ends_the_job(tmp_path):
    p = _start(tmp_path, "kill", 100000)
    _wait_for(tmp_path / "kill" / "metrics.jsonl", p, '"iter": 3,')
    os.kill(int((tmp_path / "kill" / "rank1.pid").read_text()), signal.SIGKILL)
    p.communicate(timeout=30)
    assert p.returncode != 0


@pytest.mark.slow
@pytest.mark.timeout(180)  # generous: mpiexec's start and the data's preparation on a loaded machine
def test_ctrl_c_saves_once_on_rank_0(tmp_path):
    p = _start(tmp_path, "int", 100000)
    _wait_for(tmp_path / "int" / "metrics.jsonl", p, '"iter": 3,')
    os.killpg(p.pid, signal.SIGINT)  # as a terminal's Ctrl-C: every process of the job
    out, _ = p.communicate(timeout=60)
    assert out.count("; continue with --resume") == 1, out  # saved once, by rank 0
    assert (tmp_path / "int" / "ckpt.npz").is_file()
    assert "error:" not in out
