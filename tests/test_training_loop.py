"""Reference tests of the training loop and the CLI: exact resume, Ctrl-C, NaN stop, metrics,
``python -m numgpt prepare/train``, and a short real run on Tiny Shakespeare."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from numgpt.__main__ import main
from numgpt.checkpoint import load_checkpoint
from numgpt.training import data as D
from numgpt.training.config import load_config
from numgpt.training.loop import build_model, train

ROOT = Path(__file__).resolve().parents[1]
TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die than to famish?\n\n") * 10


def tiny_cfg(tmp_path: Path, out: str = "out", **kw):
    source = tmp_path / "input.txt"
    if not source.exists():
        source.write_text(TEXT)
    values = dict(source=str(source), data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / out), n_layer=1,
                  n_head=2, n_embd=16, block_size=16, batch_size=4, max_iters=12, warmup_iters=2, lr_decay_iters=12,
                  eval_interval=4, eval_iters=2, log_interval=2, sample_tokens=0, dropout=0.1, learning_rate=1e-2)
    values.update(kw)
    return load_config(None, values)


def quiet(_line: str) -> None:
    pass


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """12 iterations in one go: the losses every interrupted/resumed run must reproduce."""
    tmp = tmp_path_factory.mktemp("ref")
    result = train(tiny_cfg(tmp), log=quiet)
    return result, load_checkpoint(Path(tmp / "out" / "ckpt.npz"))


def assert_same_run(losses, ckpt, reference_run):
    ref, ref_ckpt = reference_run
    assert losses == ref.losses  # bit-identical floats, iteration by iteration
    assert ckpt.step == ref_ckpt.step == 12
    for name, arr in ref_ckpt.model.items():
        np.testing.assert_array_equal(ckpt.model[name], arr, err_msg=name)


def test_resume_is_exact(tmp_path, reference_run):
    first = train(tiny_cfg(tmp_path, max_iters=6), log=quiet)
    assert first.status == "done" and load_checkpoint(tmp_path / "out/ckpt.npz").step == 6
    second = train(tiny_cfg(tmp_path, max_iters=12), resume=True, log=quiet)
    assert second.status == "done" and len(first.losses) == len(second.losses) == 6
    assert_same_run(first.losses + second.losses, load_checkpoint(tmp_path / "out/ckpt.npz"), reference_run)


def test_metrics_file_holds_one_run_and_resume_appends(tmp_path):
    def done_iters():
        records = [json.loads(line) for line in (tmp_path / "out/metrics.jsonl").read_text().splitlines()]
        return [r["iter"] for r in records if r["event"] == "done"]

    train(tiny_cfg(tmp_path, max_iters=2), log=quiet)
    train(tiny_cfg(tmp_path, max_iters=2), log=quiet)  # a fresh run: the old run's records are gone
    assert done_iters() == [2]
    train(tiny_cfg(tmp_path, max_iters=4), resume=True, log=quiet)
    assert done_iters() == [2, 4]


def test_ctrl_c_saves_and_resume_continues_exactly(tmp_path, reference_run):
    calls = {"n": 0}

    def interrupting_factory(args, seed):
        model = build_model(args, seed)
        forward = model.forward

        def forward_or_interrupt(idx, targets=None, **kw):
            if model.training:
                calls["n"] += 1
                if calls["n"] == 8:  # the 8th training forward: iteration 7, mid-step
                    raise KeyboardInterrupt
            return forward(idx, targets, **kw)

        model.forward = forward_or_interrupt
        return model

    lines = []
    first = train(tiny_cfg(tmp_path), log=lines.append, model_factory=interrupting_factory)
    assert first.status == "interrupted" and first.iter == 7 and "--resume" in lines[-1]
    assert load_checkpoint(tmp_path / "out/ckpt.npz").step == 7
    second = train(tiny_cfg(tmp_path), resume=True, log=quiet)
    assert_same_run(first.losses + second.losses, load_checkpoint(tmp_path / "out/ckpt.npz"), reference_run)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    def nan_factory(args, seed):
        model = build_model(args, seed)
        forward, calls = model.forward, {"n": 0}

        def forward_nan_later(idx, targets=None, **kw):
            logits, loss = forward(idx, targets, **kw)
            if model.training:
                calls["n"] += 1
                if calls["n"] > 6:
                    loss = loss * np.float32(np.nan)
            return logits, loss

        model.forward = forward_nan_later
        return model

    lines = []
    result = train(tiny_cfg(tmp_path), log=lines.append, model_factory=nan_factory)
    assert result.status == "nan" and result.iter == 6
    assert "the training loss is nan at iter 6" in result.message and "iter 4) was kept" in result.message
    assert load_checkpoint(tmp_path / "out/ckpt.npz").step == 4
    events = [json.loads(line)["event"] for line in (tmp_path / "out/metrics.jsonl").read_text().splitlines()]
    assert events[-1] == "stop"


def test_progress_lines_and_metrics_file(tmp_path):
    lines = []
    result = train(tiny_cfg(tmp_path, max_iters=4, gradient_accumulation_steps=2), log=lines.append)
    progress = [line for line in lines if line.startswith("iter ")]
    assert len(progress) == 2 and all(k in progress[0] for k in ("loss", "lr", "ms/iter", "tokens/s"))
    records = [json.loads(line) for line in (tmp_path / "out/metrics.jsonl").read_text().splitlines()]
    train_records = [r for r in records if r["event"] == "train"]
    assert [r["iter"] for r in train_records] == [2, 4]
    assert set(train_records[0]) >= {"loss", "lr", "ms_per_iter", "tokens_per_s", "grad_norm"}
    assert [r["iter"] for r in records if r["event"] == "eval"] == [0, 4]
    assert len(result.evals) == 2 and result.best_val_loss == min(e["val"] for e in result.evals)


def test_cli_train_prepares_data_relative_to_cwd(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "input.txt").write_text(TEXT)
    (tmp_path / "run.toml").write_text('name = "tiny"\ndataset = "tiny_text"\nn_layer = 1\nn_head = 2\nn_embd = 16\n'
                                       'block_size = 16\nbatch_size = 4\neval_iters = 1\nsample_tokens = 0\n')
    args = ["train", "--config", "run.toml", "--source", "input.txt", "--max_iters=3", "--warmup_iters=1",
            "--lr_decay_iters=3", "--log_interval", "1"]
    assert main(args) == 0
    assert (tmp_path / "data/tiny_text/meta.json").is_file() and load_checkpoint(tmp_path / "out-tiny/ckpt.npz").step == 3
    assert main(args[:-4] + ["--max_iters=5", "--resume"]) == 0
    assert load_checkpoint(tmp_path / "out-tiny/ckpt.npz").step == 5
    assert "resumed from out-tiny/ckpt.npz at iter 3" in capsys.readouterr().out
    assert main(["train", "--config", "run.toml", "--max_iters=oops"]) == 2
    assert "--max_iters='oops': expected an integer" in capsys.readouterr().err


def test_cli_prepare_offline_message(tmp_path, monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise D.urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(D.urllib.request, "urlopen", offline)
    assert main(["prepare", "--dataset", "shakespeare_char", "--source", D.SHAKESPEARE_URL,
                 "--data_dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "could not download" in err and "--source PATH" in err


@pytest.mark.slow
def test_short_shakespeare_run_learns(tmp_path):
    """`python -m numgpt train` on Tiny Shakespeare (the bundled copy) with a 2-layer, 32-dim GPT, 200 iterations of
    16 x 32 characters: the val loss falls from ln(65) = 4.17 to below 2.8 (measured 2.64; a
    unigram model gets ~3.3, bigrams ~2.5), in under 20 s of CPU time (one BLAS thread; CPU time,
    not wall time, so a busy machine cannot make it flaky)."""
    import os
    import re
    import resource
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "numgpt", "train", "--name", "short",
           "--n_layer=2", "--n_head=2", "--n_embd=32", "--block_size=32", "--batch_size=16", "--max_iters=200",
           "--warmup_iters=10", "--lr_decay_iters=200", "--eval_interval=200", "--eval_iters=10",
           "--log_interval=100", "--dropout=0", "--learning_rate=1e-2", "--min_lr=1e-3", "--sample_tokens=0"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert result.returncode == 0, result.stderr[-2000:]
    val = [float(v) for v in re.findall(r"val loss (\d+\.\d+)", result.stdout)]
    assert len(val) == 2 and val[0] > 4.0, result.stdout[-2000:]
    assert val[-1] < 2.8, f"val loss {val[-1]:.3f} after 200 iterations\n{result.stdout[-2000:]}"
    assert cpu < 20, f"took {cpu:.1f} s of CPU time"


def signal_a_cli_run(tmp_path: Path, name: str, signum: int, *extra: str) -> tuple[subprocess.Popen, str, str]:
    """Start ``python -m numgpt train`` on a tiny run that would go on for ever, send it ``signum`` once
    training is under way (its first progress line), and return ``(process, stdout, stderr)`` when it ends."""
    (tmp_path / "input.txt").write_text(TEXT)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "numgpt", "train", "--source", "input.txt", "--dataset", "tiny", "--name", name,
           "--n_layer=1", "--n_head=2", "--n_embd=16", "--block_size=16", "--batch_size=4", "--max_iters=1000000",
           "--eval_interval=100000", "--eval_iters=1", "--sample_tokens=0", "--log_interval=5", *extra]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stdout:  # wait until training is under way
            if line.startswith("iter "):
                break
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return proc, out, err


@pytest.mark.slow
def test_real_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    """SIGINT to a running `python -m numgpt train`: exit status 130, a checkpoint at that iteration."""
    proc, out, err = signal_a_cli_run(tmp_path, "sig", signal.SIGINT)
    assert proc.returncode == 130, err[-2000:]
    assert "saved out-sig/ckpt.npz; continue with --resume" in out, out[-1000:]
    step = load_checkpoint(tmp_path / "out-sig/ckpt.npz").step
    assert 5 <= step < 1_000_000


def test_resuming_a_dropout_run_with_another_worker_count_says_so(tmp_path):
    first = train(tiny_cfg(tmp_path, max_iters=4, workers=2), log=quiet)
    assert first.status == "done"
    if load_checkpoint(tmp_path / "out/ckpt.npz").config.get("workers_used") != 2:
        pytest.skip("no data-parallel workers on this machine")
    lines: list[str] = []
    train(tiny_cfg(tmp_path, max_iters=6, workers=1), resume=True, log=lines.append)
    assert any("made with 2 worker processes and continues with 1" in line for line in lines)
    lines.clear()
    train(tiny_cfg(tmp_path, max_iters=8, workers=1), resume=True, log=lines.append)  # same count: no note
    assert not any("worker processes and continues" in line for line in lines)


def test_resume_at_max_iters_only_evaluates(tmp_path):
    train(tiny_cfg(tmp_path, max_iters=4), log=quiet)
    ckpt_file = tmp_path / "out/ckpt.npz"
    before = ckpt_file.read_bytes()
    lines: list[str] = []
    again = train(tiny_cfg(tmp_path, max_iters=4, eval_iters=7), resume=True, log=lines.append)
    assert again.status == "done" and again.losses == [] and [e["iter"] for e in again.evals] == [4]
    assert ckpt_file.read_bytes() == before  # nothing trained, nothing saved
    assert any(line.startswith("step 4: train loss") for line in lines)


def test_one_worker_runs_no_code_of_parallel_py(tmp_path):
    import subprocess
    import sys

    cfg = tiny_cfg(tmp_path, max_iters=2, workers=1)
    code = ("import sys; from numgpt.training.config import load_config; from numgpt.training.loop import train; "
            f"r = train(load_config(None, {cfg.to_dict()!r}), log=lambda line: None); "
            "assert r.status == 'done', r; assert 'numgpt.training.parallel' not in sys.modules, 'parallel imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_option_has_one_documented_spelling_and_accepts_the_hyphenated_one():
    from numgpt.__main__ import build_parser

    parser = build_parser()
    a = parser.parse_args(["prepare", "--vocab-size", "300", "--out-dir", "d"])
    b = parser.parse_args(["prepare", "--vocab_size", "300", "--data_dir", "d"])
    assert (a.vocab_size, a.data_dir) == (b.vocab_size, b.data_dir) == (300, "d")
    a = parser.parse_args(["train", "--max-iters=5", "--out-dir", "o"])
    b = parser.parse_args(["train", "--max_iters=5", "--out_dir", "o"])
    assert (a.override_max_iters, a.override_out_dir) == (b.override_max_iters, b.override_out_dir) == ("5", "o")
    a = parser.parse_args(["sample", "--checkpoint", "c", "--top-k", "3", "--max-new-tokens", "4"])
    b = parser.parse_args(["sample", "--checkpoint", "c", "--top_k", "3", "--max_new_tokens", "4"])
    assert (a.top_k, a.max_new_tokens) == (b.top_k, b.max_new_tokens) == (3, 4)
