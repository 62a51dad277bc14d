"""Reference tests of the exact evaluation (``full_loss``, ``val_loss_full``, ``python -m numgpt eval``)
and of the loss plot ``train`` writes (``loss.svg``)."""
from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from numgpt.__main__ import main
from numgpt.checkpoint import load_checkpoint, load_model
from numgpt.tensor import no_grad
from numgpt.tokenizer import CharTokenizer, train_bpe
from numgpt.training import data as D
from numgpt.training.cli import bits_report
from numgpt.training.evaluate import FullLoss, full_loss
from numgpt.training.loop import train
from numgpt.training.plot import SERIES, loss_curves_svg, loss_series
from numgpt.transformer import GPT
from spec.numerics import assert_close

from .test_training_loop import quiet, tiny_cfg

# float32 logits, float64 accumulation: the batched mean and a per-window float64 loop agree to ~1e-7
FULL_LOSS_RTOL = 1e-5
SVG = "{http://www.w3.org/2000/svg}"


def brute_force_loss(model: GPT, data: np.ndarray, block_size: int) -> tuple[float, int]:
    """One window at a time, the cross-entropy in float64 from the logits: (mean loss, targets)."""
    total, count = 0.0, 0
    with no_grad():
        for start in range(0, len(data) - block_size, block_size):
            x = np.asarray(data[start: start + block_size], dtype=np.int64)[None]
            y = np.asarray(data[start + 1: start + block_size + 1], dtype=np.int64)
            logits = model(x)[0].data[0].astype(np.float64)  # (T, V)
            logits -= logits.max(axis=1, keepdims=True)
            logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
            total -= logp[np.arange(block_size), y].sum()
            count += block_size
    return total / count, count


@pytest.mark.parametrize("length,batch_size", [(8 * 7 + 1, 3), (8 * 7 + 5, 64), (8 * 7, 1)])
def test_full_loss_matches_a_brute_force_loop(length, batch_size):
    model = GPT(dict(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=16, dropout=0.1), seed=3)
    data = np.random.default_rng(0).integers(0, 11, size=length).astype(np.uint16)
    model.train()
    full = full_loss(model, data, 8, batch_size=batch_size)
    assert model.training, "full_loss must restore the train mode"
    model.eval()
    expected, targets = brute_force_loss(model, data, 8)
    assert (full.windows, full.tokens) == ((length - 1) // 8, targets), "non-overlapping windows, partial one left out"
    assert_close(full.loss, expected, rtol=FULL_LOSS_RTOL, atol=0.0, what=f"full_loss (batch_size {batch_size})")


def test_full_loss_needs_one_window():
    model = GPT(dict(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=16), seed=3)
    with pytest.raises(D.DataError, match="too few for one window"):
        full_loss(model, np.zeros(8, dtype=np.uint16), 8)


def test_bits_per_char_and_per_byte():
    full = FullLoss(loss=1.5, windows=2, block_size=3)
    char = CharTokenizer.from_text("abcé")
    unit, bits = bits_report(full, char.encode("abcéab"), char)
    assert unit == "char" and bits == pytest.approx(1.5 / math.log(2))
    bpe = train_bpe("héllo wörld " * 20, 260)
    ids = bpe.encode("héllo wörld ")[:6]
    unit, bits = bits_report(FullLoss(loss=1.5, windows=2, block_size=3), ids, bpe)
    n_bytes = len(bpe.decode_bytes(ids))
    assert unit == "byte" and bits == pytest.approx(1.5 * 6 / (n_bytes * math.log(2)))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A tiny run to max_iters (with the default worker count, so through DataParallel where it runs)."""
    tmp = tmp_path_factory.mktemp("full")
    lines: list[str] = []
    result = train(tiny_cfg(tmp, max_iters=8, eval_interval=4), log=lines.append)
    return tmp, result, lines


def test_val_loss_full_is_logged_saved_and_exact(finished_run):
    tmp, result, lines = finished_run
    ckpt = load_checkpoint(tmp / "out/ckpt.npz")
    assert result.val_loss_full is not None and ckpt.val_loss_full == result.val_loss_full
    records = [json.loads(line) for line in (tmp / "out/metrics.jsonl").read_text().splitlines()]
    full_records = [r for r in records if r["event"] == "eval_full"]
    assert len(full_records) == 1 and full_records[0]["iter"] == 8
    assert full_records[0]["val_loss_full"] == result.val_loss_full
    assert records[-1]["event"] == "done" and records[-1]["val_loss_full"] == result.val_loss_full
    assert any(line.startswith("step 8: val_loss_full ") for line in lines)
    model, _, config = load_model(tmp / "out/ckpt.npz")
    val = D.load_split(tmp / "data", "val")
    expected, _ = brute_force_loss(model, val, config["model_args"]["block_size"])
    assert_close(result.val_loss_full, expected, rtol=FULL_LOSS_RTOL, atol=0.0, what="val_loss_full vs brute force")


def test_resume_at_max_iters_evaluates_exactly_again(finished_run):
    tmp, result, _ = finished_run
    lines: list[str] = []
    again = train(tiny_cfg(tmp, max_iters=8, eval_interval=4), resume=True, log=lines.append)
    assert again.losses == [] and again.val_loss_full == result.val_loss_full
    assert any(line.startswith("step 8: val_loss_full ") for line in lines)


def test_eval_command_prints_the_same_number(finished_run, capsys):
    tmp, result, _ = finished_run
    assert main(["eval", "--checkpoint", str(tmp / "out"), "--data_dir", str(tmp / "data")]) == 0
    out = capsys.readouterr().out
    loss = float(re.search(r"^val_loss_full (\d+\.\d+)", out, re.M).group(1))
    assert loss == round(result.val_loss_full, 4), out
    assert f"perplexity {math.exp(result.val_loss_full):.4f}" in out
    assert f"bits per char {result.val_loss_full / math.log(2):.4f}" in out
    assert main(["eval", "--checkpoint", str(tmp / "out"), "--data_dir", str(tmp / "data"), "--split", "train"]) == 0
    assert re.search(r"^train_loss_full \d+\.\d+", capsys.readouterr().out, re.M)


def test_eval_command_errors_name_the_path(finished_run, tmp_path, capsys):
    tmp, _, _ = finished_run
    assert main(["eval", "--checkpoint", str(tmp_path / "nope.npz")]) == 2
    assert str(tmp_path / "nope.npz") in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(tmp / "out"), "--data_dir", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "missing" / "meta.json") in err and "prepare" in err


def test_train_writes_the_loss_plot(finished_run):
    tmp, result, _ = finished_run
    root = ET.parse(tmp / "out/loss.svg").getroot()  # well-formed XML
    assert root.tag == f"{SVG}svg"
    groups = {g.get("id"): g for g in root.iter(f"{SVG}g")}
    assert set(SERIES) <= set(groups), f"series in the plot: {sorted(groups)}"
    for name, n_points in (("train-estimate", 3), ("val-estimate", 3)):  # evaluations at 0, 4, 8
        points = groups[name].find(f"{SVG}polyline").get("points").split()
        assert len(points) == n_points, f"{name}: {len(points)} points, expected {n_points}"
    assert f"{result.val_loss_full:.4f}" in "".join(groups["val-full"].itertext())
    legend = "".join(groups["legend"].itertext())
    assert all(label in legend for label, *_ in SERIES.values())


def test_plot_keeps_the_last_record_of_a_repeated_iteration():
    records = [{"event": "eval", "iter": 0, "train_loss": 4.0, "val_loss": 4.1},
               {"event": "eval", "iter": 4, "train_loss": 3.0, "val_loss": 3.2},
               {"event": "eval", "iter": 4, "train_loss": 3.0, "val_loss": 3.1},  # resumed run
               {"event": "eval", "iter": 6, "train_loss": float("nan"), "val_loss": 2.0}]
    series = loss_series(records)
    assert series["val-estimate"] == [(0.0, 4.1), (4.0, 3.1), (6.0, 2.0)]
    assert series["train-estimate"] == [(0.0, 4.0), (4.0, 3.0)]  # non-finite values are left out
    ET.fromstring(loss_curves_svg(series))
    ET.fromstring(loss_curves_svg({}))  # an empty run still gives a valid file
