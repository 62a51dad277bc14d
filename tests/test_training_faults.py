"""Faults during training (issue 17): signals at every phase of a step with bit-exact resume,
SIGTERM through the CLI, and stale checkpoint temp files. docs/training.md, "Faults tried and
what each does", lists them."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from numgpt import checkpoint as C
from numgpt.checkpoint import load_checkpoint
from numgpt.training import loop as L
from numgpt.training.loop import build_model, train

from .test_training_loop import TEXT, assert_same_run, quiet, signal_a_cli_run, tiny_cfg


@pytest.fixture(scope="module")
def reference_runs(tmp_path_factory):
    """The uninterrupted 12-iteration run, with one worker and with two."""
    runs = {}
    for workers in (1, 2):
        tmp = tmp_path_factory.mktemp(f"ref{workers}")
        result = train(tiny_cfg(tmp, workers=workers), log=quiet)
        runs[workers] = (result, load_checkpoint(tmp / "out" / "ckpt.npz"))
    return runs


def _signal_self(signum: int = signal.SIGINT) -> None:
    os.kill(os.getpid(), signum)  # the handler runs at once, in this (the main) thread


# Where the signal arrives: (phase, the how-manieth such event). Deterministic injection points,
# no sleeps: each is a hook the loop calls at that phase.
PHASES = [("forward", 7), ("progress_line", 3), ("eval_line", 2), ("save", 1), ("forward", 1), ("progress_line", 6)]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("phase,nth", PHASES)
def test_a_signal_at_any_phase_saves_a_boundary_and_resume_is_bit_exact(tmp_path, monkeypatch, reference_runs,
                                                                      workers, phase, nth):
    if workers == 2 and phase == "forward":
        pytest.skip("with two workers the training forward runs in the worker processes")
    count = {"n": 0}

    def hit() -> None:
        count["n"] += 1
        if count["n"] == nth:
            _signal_self(signal.SIGINT if nth % 2 else signal.SIGTERM)

    def factory(args, seed):
        model = build_model(args, seed)
        if phase == "forward":
            forward = model.forward

            def forward_hooked(idx, targets=None, **kw):
                if model.training:
                    hit()
                return forward(idx, targets, **kw)
            model.forward = forward_hooked
        return model

    def log(line: str) -> None:
        if (phase == "progress_line" and line.startswith("iter ")) or (phase == "eval_line" and line.startswith("step ")):
            hit()

    if phase == "save":
        real_save = L.save_checkpoint

        def save_hooked(path, ckpt):
            hit()
            real_save(path, ckpt)
        monkeypatch.setattr(L, "save_checkpoint", save_hooked)

    first = train(tiny_cfg(tmp_path, workers=workers), log=log, model_factory=factory)
    assert first.status == "interrupted" and first.exit_code in (130, 143)
    assert first.exit_code == 128 + first.signal
    saved = load_checkpoint(tmp_path / "out/ckpt.npz")
    assert saved.step == first.iter == len(first.losses)
    monkeypatch.undo()
    second = train(tiny_cfg(tmp_path, workers=workers), resume=True, log=quiet)
    assert second.status == "done"
    assert_same_run(first.losses + second.losses, load_checkpoint(tmp_path / "out/ckpt.npz"), reference_runs[workers])


def test_handlers_are_restored_after_train(tmp_path):
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    train(tiny_cfg(tmp_path, max_iters=2), log=quiet)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


@pytest.mark.slow
def test_sigterm_to_the_cli_saves_once_and_exits_143(tmp_path):
    proc, out, err = signal_a_cli_run(tmp_path, "term", signal.SIGTERM, "--workers=2")
    assert proc.returncode == 143, err[-2000:]
    assert "Traceback" not in err
    assert "interrupted (SIGTERM)" in out and "continue with --resume" in out, out[-1000:]
    assert load_checkpoint(tmp_path / "out-term/ckpt.npz").step >= 5


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temp_files_of_dead_processes_are_removed_at_start(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    dead = out / f".ckpt.npz.tmp{_dead_pid()}"
    live = out / f".ckpt.npz.tmp{os.getppid()}"  # a live process other than us: it may be writing
    ours = out / f".ckpt.npz.tmp{os.getpid()}"
    other = out / ".ckpt.npz.tmpabc"
    for f in (dead, live, ours, other):
        f.write_bytes(b"partial")
    assert C.remove_stale_temps(out / "ckpt.npz") == [dead]
    assert not dead.exists() and live.exists() and ours.exists() and other.exists()
    live.unlink()
    ours.unlink()
    dead.write_bytes(b"partial")
    train(tiny_cfg(tmp_path, max_iters=2), log=quiet)  # the loop cleans up before it starts
    assert not dead.exists()
    np.testing.assert_equal(load_checkpoint(out / "ckpt.npz").step, 2)


@pytest.mark.parametrize("workers", [1, 2])
def test_keyboard_interrupt_raised_by_the_progress_line_resumes_bit_exactly(tmp_path, reference_runs, workers):
    """The window of issue 17: the step is counted and the parameters updated, then the progress
    line raises; the save must pair the new step with the RNG state after it."""
    lines = {"n": 0}

    def log(line: str) -> None:
        if line.startswith("iter "):
            lines["n"] += 1
            if lines["n"] == 3:
                raise KeyboardInterrupt

    first = train(tiny_cfg(tmp_path, workers=workers), log=log)
    assert first.status == "interrupted" and first.iter == 6 and first.exit_code == 130
    second = train(tiny_cfg(tmp_path, workers=workers), resume=True, log=quiet)
    assert_same_run(first.losses + second.losses, load_checkpoint(tmp_path / "out/ckpt.npz"), reference_runs[workers])


TRAIN_FOREVER = ["--source", "input.txt", "--dataset", "tiny", "--n_layer=1", "--n_head=2", "--n_embd=16",
                 "--block_size=16", "--batch_size=4", "--max_iters=1000000", "--eval_interval=100000",
                 "--eval_iters=1", "--sample_tokens=0", "--log_interval=5", "--workers=2"]


def _start_training(tmp_path: Path, name: str) -> tuple[subprocess.Popen, list[int]]:
    """A two-worker `train` under way: the process and its worker pids."""
    (tmp_path / "input.txt").write_text(TEXT)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "numgpt", "train", "--name", name, *TRAIN_FOREVER], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    for line in proc.stdout:
        if line.startswith("iter "):
            break
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    return proc, [int(c) for c in children]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_kill_9_of_the_parent_leaves_no_worker_alive(tmp_path):
    import time

    proc, workers = _start_training(tmp_path, "k9")
    try:
        assert workers, "no worker processes"
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(w) for w in workers)
    finally:
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_a_killed_worker_ends_the_run_with_one_line(tmp_path):
    proc, workers = _start_training(tmp_path, "kw")
    try:
        os.kill(workers[0], signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert err.strip().splitlines() == [f"error: data-parallel worker 1 (pid {workers[0]}) was killed by SIGKILL "
                                        f"(out of memory?); resume with --resume, or run with --workers=1 to train "
                                        f"in one process"], err


# ----------------------------------------------------------------------------- damaged checkpoints


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    """A finished 2-iteration run: its directory and the `train` options that name it."""
    tmp = tmp_path_factory.mktemp("good")
    train(tiny_cfg(tmp, max_iters=2, eval_interval=2), log=quiet)
    argv = ["--source", str(tmp / "input.txt"), "--data_dir", str(tmp / "data"), "--n_layer=1", "--n_head=2",
            "--n_embd=16", "--block_size=16", "--batch_size=4", "--max_iters=4", "--eval_interval=2",
            "--eval_iters=1", "--sample_tokens=0", "--workers=1"]
    return tmp, argv


def _entries(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {k: archive[k] for k in archive.files}


def _crafted_header(path: Path, key: str, shape: tuple[int, ...]) -> None:
    """Rewrite archive member ``key`` with an .npy header declaring ``shape`` over 8 bytes of data."""
    import io
    import zipfile

    members = {}
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            members[name] = zf.read(name)
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": shape})
    members[key + ".npy"] = buf.getvalue() + b"\0" * 8
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _damage(path: Path, kind: str) -> str:
    """Damage the checkpoint at ``path`` in the way ``kind`` names; returns a word the error must contain."""
    import json

    e = _entries(path)
    if kind == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return "not a readable numgpt checkpoint"
    if kind == "huge_npy_header":
        _crafted_header(path, "model/transformer.wte.weight", (10**12,))
        return "'model/transformer.wte.weight' declares shape"
    small = "model/transformer.ln_f.weight"
    if kind == "missing_key":
        del e[small]
        word = "transformer.ln_f.weight"
    elif kind == "wrong_shape":
        e[small] = np.ones(3, np.float32)
        word = "transformer.ln_f.weight"
    elif kind in ("complex", "integer"):
        e[small] = e[small].astype(np.complex64 if kind == "complex" else np.int32)
        word = f"'{small}' has dtype"
    elif kind == "nan":
        e[small] = np.full_like(e[small], np.nan)
        word = f"'{small}' holds non-finite"
    elif kind == "huge_model_args":
        config = json.loads(str(e["config"]))
        config["model_args"]["n_embd"] = 10**6
        e["config"] = np.array(json.dumps(config))
        word = "model_args"
    elif kind == "bad_rng":
        e["rng"] = np.array(json.dumps({"data": {"bit_generator": "NoSuchGenerator"}}))
        word = "rng entry"
    elif kind == "bad_optimizer":
        e["optim_hyper"] = np.array(json.dumps({"type": "AdamW"}))
        word = "optimizer state entry"
    elif kind == "short_optimizer_buffer":
        key = next(k for k in e if k.startswith("optim/"))
        e[key] = e[key][:3]
        word = "optimizer state entry"
    elif kind == "negative_step":
        e["step"] = np.array(-3, dtype=np.int64)
        word = "'step' is -3"
    else:
        raise AssertionError(kind)
    with open(path, "wb") as f:
        np.savez(f, **e)
    return word


BOTH = ["truncated", "huge_npy_header", "missing_key", "wrong_shape", "complex", "integer", "nan", "huge_model_args"]
TRAIN_ONLY = ["bad_rng", "bad_optimizer", "short_optimizer_buffer", "negative_step"]


@pytest.mark.parametrize("command,kind", [(c, k) for k in BOTH for c in ("train", "sample")]
                         + [("train", k) for k in TRAIN_ONLY])
def test_a_damaged_checkpoint_is_one_error_line_through_train_resume_and_sample(tmp_path, good_run, capsys,
                                                                                command, kind):
    import shutil

    from numgpt.__main__ import main

    run_dir, argv = good_run
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(run_dir / "out" / "ckpt.npz", out / "ckpt.npz")
    word = _damage(out / "ckpt.npz", kind)
    capsys.readouterr()
    if command == "train":
        code = main(["train", "--resume", "--out_dir", str(out), *argv])
    else:
        code = main(["sample", "--checkpoint", str(out / "ckpt.npz"), "--max_new_tokens", "2"])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and str(out / "ckpt.npz") in lines[0], err
    assert word in lines[0], lines[0]
    assert "Traceback" not in err


# ----------------------------------------------------------------------------- data that lies


def _prepared(tmp_path: Path, text: str = TEXT) -> Path:
    from numgpt.training.data import prepare

    (tmp_path / "input.txt").write_text(text)
    prepare("tiny", tmp_path / "data", source=str(tmp_path / "input.txt"), log=quiet)
    return tmp_path / "data"


def _edit_meta(data: Path, **changes) -> None:
    import json

    meta = json.loads((data / "meta.json").read_text())
    for k, v in changes.items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    (data / "meta.json").write_text(json.dumps(meta))


def test_a_bin_rewritten_with_the_same_size_is_refused(tmp_path):
    from numgpt.training.data import DataError, load_split

    data = _prepared(tmp_path)
    raw = np.fromfile(data / "train.bin", dtype=np.uint16)
    (data / "train.bin").write_bytes(raw.view(np.uint8)[::-1].tobytes())  # same size, other bytes
    with pytest.raises(DataError, match=r"train\.bin is not the file prepared with .*size or content differs"):
        load_split(data, "train")
    np.testing.assert_array_equal(load_split(data, "val")[:5], np.fromfile(data / "val.bin", np.uint16)[:5])


@pytest.mark.parametrize("dtype", ["float16", "int8", "int16", "uint8", "bogus"])
def test_meta_json_naming_a_dtype_that_cannot_hold_the_ids_is_refused(tmp_path, dtype):
    from numgpt.training.data import DataError, load_meta

    data = _prepared(tmp_path)
    _edit_meta(data, dtype=dtype, **({"vocab_size": 300} if dtype == "uint8" else {}))
    with pytest.raises(DataError, match=rf"dtype '{dtype}' cannot hold token ids .*unsigned integer"):
        load_meta(data)


@pytest.mark.parametrize("edit, message", [
    ({"tokenizer": None}, "no tokenizer recorded"),
    ({"tokenizer": "char"}, "no tokenizer recorded"),
    ({"train_tokens": "many"}, "train_tokens must be an integer >= 0, got 'many'"),
    ({"val_tokens": -1}, "val_tokens must be an integer >= 0, got -1"),
    ({"tokenizer": {"type": "char", "chars": "abc"}}, "does not match its recorded tokenizer_sha256"),
])
def test_meta_json_with_a_missing_or_edited_entry_is_refused(tmp_path, edit, message):
    from numgpt.training.data import DataError, load_meta

    data = _prepared(tmp_path)
    _edit_meta(data, **edit)
    with pytest.raises(DataError, match=re.escape(message)):
        load_meta(data)


def test_an_old_meta_json_without_fingerprints_still_loads(tmp_path):
    from numgpt.training.data import load_split

    data = _prepared(tmp_path)
    _edit_meta(data, files=None, tokenizer_sha256=None)
    assert len(load_split(data, "train")) > 0


def test_resuming_on_a_dataset_with_another_tokenizer_is_refused(tmp_path, capsys):
    from numgpt.__main__ import main

    train(tiny_cfg(tmp_path, max_iters=2, eval_interval=2), log=quiet)
    other = tmp_path / "other"
    other.mkdir()
    # the same vocabulary size (the same model shape), other characters: the ids mean other text
    _prepared(other, TEXT.translate(str.maketrans("aeiou", "AEIOU")) + "aeiou")
    capsys.readouterr()
    code = main(["train", "--resume", "--out_dir", str(tmp_path / "out"), "--data_dir", str(other / "data"),
                 "--n_layer=1", "--n_head=2", "--n_embd=16", "--block_size=16", "--max_iters=4", "--sample_tokens=0"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "was trained with another tokenizer than the dataset in" in err and "char with" in err, err


# ----------------------------------------------------------------------------- disk full


def _disk_full(*_args, **_kwargs):
    import errno

    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_checkpoint_save_on_a_full_disk_is_one_line_and_keeps_the_previous_checkpoint(tmp_path, capsys,
                                                                                         monkeypatch, good_run):
    import shutil

    from numgpt.__main__ import main

    _, argv = good_run
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(good_run[0] / "out" / "ckpt.npz", out / "ckpt.npz")
    before = (out / "ckpt.npz").read_bytes()
    real_savez = np.savez

    def savez_then_full(f, **entries):  # part of the archive reaches the disk, then it is full
        real_savez(f, **{k: entries[k] for k in list(entries)[:3]})
        _disk_full()
    monkeypatch.setattr(np, "savez", savez_then_full)
    capsys.readouterr()
    code = main(["train", "--resume", "--out_dir", str(out), *argv])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().splitlines() == [f"error: cannot write {out / 'ckpt.npz'}: No space left on device"], err
    assert sorted(p.name for p in out.iterdir()) == ["ckpt.npz", "metrics.jsonl"]  # no temp file left
    assert (out / "ckpt.npz").read_bytes() == before


def test_prepare_on_a_full_disk_is_one_line_and_leaves_no_temp_file(tmp_path, capsys, monkeypatch):
    from numgpt.__main__ import main

    (tmp_path / "input.txt").write_text(TEXT)
    monkeypatch.setattr(os, "fsync", _disk_full)
    capsys.readouterr()
    code = main(["prepare", "--dataset", "tiny", "--source", str(tmp_path / "input.txt"),
                 "--data_dir", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().splitlines() == [f"error: cannot write {tmp_path / 'data' / 'train.bin'}: "
                                        f"No space left on device"], err
    assert list((tmp_path / "data").iterdir()) == []


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 1 MiB tmpfs mounted at tmp_path/mnt (skipped where mounting is not allowed)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.parametrize("fault", ["full", "read_only"])
def test_a_real_full_or_read_only_filesystem_ends_with_one_line(tmp_path, small_tmpfs, capsys, good_run, fault):
    import shutil

    from numgpt.__main__ import main

    _, argv = good_run
    out = small_tmpfs / "out"
    out.mkdir()
    shutil.copy(good_run[0] / "out" / "ckpt.npz", out / "ckpt.npz")
    (out / "metrics.jsonl").write_text("")
    before = (out / "ckpt.npz").read_bytes()
    if fault == "full":
        fd = os.open(small_tmpfs / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
    else:
        subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    capsys.readouterr()
    code = main(["train", "--resume", "--out_dir", str(out), *argv])
    err = capsys.readouterr().err
    cause = "No space left on device" if fault == "full" else "Read-only file system"
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot write {out}/") and lines[0].endswith(cause), err
    assert not [p for p in out.iterdir() if ".tmp" in p.name]
    assert (out / "ckpt.npz").read_bytes() == before


def test_the_memory_check_uses_the_datasets_vocabulary(tmp_path, monkeypatch):
    """load_config guesses 256 tokens for a char dataset not yet prepared; once meta.json gives the
    real vocabulary, train checks again before the model is built."""
    from numgpt.training import config as TC
    from numgpt.training.config import ConfigError, memory_estimate

    (tmp_path / "input.txt").write_text("".join(chr(0x100 + i) for i in range(400)) * 3 + TEXT)
    cfg = tiny_cfg(tmp_path)
    assert memory_estimate(cfg, 256) < memory_estimate(cfg, 400)
    monkeypatch.setattr(TC, "machine_memory", lambda: memory_estimate(cfg, 256) + 1)
    built = []
    monkeypatch.setattr(L, "build_model", lambda *a: built.append(a))
    with pytest.raises(ConfigError, match="more than this machine's"):
        train(cfg, log=quiet)
    assert not built
