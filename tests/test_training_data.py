"""Reference unit tests: prepare, memory-mapped splits, get_batch, estimate_loss, checkpoints, config."""
from __future__ import annotations

import hashlib
import io
import json
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from numgpt.checkpoint import Checkpoint, CheckpointError, capture_rng, load_checkpoint, restore_rng, save_checkpoint
from numgpt.nn import Module, Parameter
from numgpt.training import data as D
from numgpt.training.evaluate import estimate_loss
from numgpt.training.config import FIELDS, ConfigError, TrainConfig, load_config, parse_override

ROOT = Path(__file__).resolve().parents[1]
TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 20


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text(TEXT)
    return path


# ----------------------------------------------------------------------------- prepare / read


def test_prepare_char_writes_bins_and_meta(text_file, tmp_path):
    out = tmp_path / "data"
    meta = D.prepare("tiny", out, source=str(text_file), log=lambda s: None)
    assert meta == D.load_meta(out)
    assert meta["vocab_size"] == len(set(TEXT)) and meta["dtype"] == "uint16"
    assert meta["source_sha256"] == hashlib.sha256(TEXT.encode()).hexdigest()
    assert meta["train_tokens"] == int(len(TEXT) * 0.9) and meta["val_tokens"] == len(TEXT) - int(len(TEXT) * 0.9)
    train, val = D.load_split(out, "train"), D.load_split(out, "val")
    assert isinstance(train, np.memmap) and train.dtype == np.uint16
    tok = D.tokenizer_from_dict(meta["tokenizer"])
    assert tok.decode([int(i) for i in train]) + tok.decode([int(i) for i in val]) == TEXT


def test_prepare_bpe(text_file, tmp_path):
    meta = D.prepare("tiny", tmp_path / "bpe", source=str(text_file), tokenizer="bpe", vocab_size=270,
                     log=lambda s: None)
    assert meta["vocab_size"] <= 270 and meta["tokenizer"]["type"] == "bpe"
    with pytest.raises(D.DataError, match="--vocab_size N to prepare or train"):
        D.prepare("tiny", tmp_path / "bpe2", source=str(text_file), tokenizer="bpe", log=lambda s: None)


def test_truncated_split_is_a_clear_error(text_file, tmp_path):
    D.prepare("tiny", tmp_path, source=str(text_file), log=lambda s: None)
    path = tmp_path / "train.bin"
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(D.DataError, match="train.bin should hold"):
        D.load_split(tmp_path, "train")


def test_source_errors(tmp_path):
    with pytest.raises(D.DataError, match="does not exist"):
        D.read_source(str(tmp_path / "nope.txt"), "tiny")
    with pytest.raises(D.DataError, match="is a directory"):
        D.read_source(str(tmp_path), "tiny")
    (tmp_path / "bad.txt").write_bytes(b"ok \xff\xfe")
    with pytest.raises(D.DataError, match="not UTF-8.*offset 3"):
        D.read_source(str(tmp_path / "bad.txt"), "tiny")
    with pytest.raises(D.DataError, match="no default source"):
        D.read_source(None, "my_corpus")


def test_offline_download_says_how_to_pass_a_local_copy(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(D.urllib.request, "urlopen", offline)
    with pytest.raises(D.DataError) as info:
        D.read_source(D.SHAKESPEARE_URL, "shakespeare_char")
    msg = str(info.value)
    assert D.SHAKESPEARE_URL in msg and "--source PATH" in msg


def test_canonical_checksum_mismatch(monkeypatch):
    monkeypatch.setattr(D.urllib.request, "urlopen", lambda *a, **k: io.BytesIO(b"not shakespeare"))
    with pytest.raises(D.DataError, match="SHA-256"):
        D.read_source(D.SHAKESPEARE_URL, "shakespeare_char")


# ----------------------------------------------------------------------------- batches


def test_get_batch_edge_cases():  # (shapes, shift, range and seeding are the spec's)
    x, y = D.get_batch(np.arange(11), 4, 10, np.random.default_rng(1))  # exactly one window fits
    np.testing.assert_array_equal(x, np.tile(np.arange(10), (4, 1)))
    with pytest.raises(D.DataError, match="too few"):
        D.get_batch(np.arange(10), 1, 10, np.random.default_rng(0))


class Bigram(Module):
    """A tiny language model for the loop's plumbing: logits = W[idx]."""

    def __init__(self, vocab: int):
        self.w = Parameter(np.zeros((vocab, vocab), np.float32))

    def forward(self, idx, targets=None):
        from numgpt.nn import functional as F

        logits = F.embedding(idx, self.w)
        return logits, None if targets is None else F.cross_entropy(logits, targets)


def test_estimate_loss_under_no_grad_restores_mode():
    model = Bigram(5)
    model.train()
    data = np.arange(50) % 5
    out = estimate_loss(model, {"train": data, "val": data}, 3, 4, 8, np.random.default_rng(0))
    assert out == pytest.approx({"train": np.log(5), "val": np.log(5)})
    assert model.training and model.w.grad is None


def test_estimate_loss_leaves_a_sub_module_in_eval_mode_as_it_was():
    from numgpt.transformer import GPT

    model = GPT(dict(block_size=8, vocab_size=5, n_layer=1, n_head=1, n_embd=8, dropout=0.1), seed=0)
    model.train()
    model.transformer.drop.eval()  # a sub-module the caller put in eval mode on purpose
    seen = []
    estimate_loss(model, {"val": np.arange(50) % 5}, 1, 2, 8, np.random.default_rng(0),
                  batch_loss=lambda x, y: seen.append([m.training for _, m in model.named_modules()]) or 0.0)
    assert seen and not any(seen[0]), "estimate_loss must run every module in eval mode"
    modes = {name: m.training for name, m in model.named_modules()}
    assert modes.pop("transformer.drop") is False, "estimate_loss turned a sub-module that was in eval mode to train"
    assert all(modes.values()), modes


# ----------------------------------------------------------------------------- checkpoints


def make_ckpt():
    model = {"a.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "a.bias": np.ones(3, np.float32)}
    optim = {"hyper": {"type": "AdamW", "t": 3, "groups": []}, "arrays": {"0.exp_avg": np.ones(9, np.float32)}}
    return Checkpoint(model=model, optimizer=optim, step=3, config={"name": "x", "lr": 0.1},
                      rng={"data": np.random.default_rng(0).bit_generator.state}, tokenizer={"type": "char", "chars": "ab"},
                      best_val_loss=1.5)


def test_checkpoint_round_trip(tmp_path):
    ckpt = make_ckpt()
    save_checkpoint(tmp_path / "c.npz", ckpt)
    back = load_checkpoint(tmp_path / "c.npz")
    assert back.step == 3 and back.best_val_loss == 1.5 and back.config == ckpt.config
    assert back.tokenizer == ckpt.tokenizer and back.rng == ckpt.rng and back.optimizer["hyper"] == ckpt.optimizer["hyper"]
    for k, v in ckpt.model.items():
        np.testing.assert_array_equal(back.model[k], v)
        assert back.model[k].dtype == v.dtype
    np.testing.assert_array_equal(back.optimizer["arrays"]["0.exp_avg"], 1.0)


def test_atomic_save_survives_a_crash(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    save_checkpoint(path, make_ckpt())
    before = path.read_bytes()

    def crash(file, **entries):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(np, "savez", crash)
    newer = make_ckpt()
    newer.step = 99
    with pytest.raises(OSError, match="simulated"):
        save_checkpoint(path, newer)
    assert path.read_bytes() == before and load_checkpoint(path).step == 3
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]  # no temporary debris


def test_bad_checkpoint_files_name_the_file(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, make_ckpt())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"c\.npz is not a readable numgpt checkpoint"):
        load_checkpoint(path)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="notes.txt") as err:
        load_checkpoint(text)
    assert "not an .npz/zip archive" in str(err.value) and "pickle" not in str(err.value)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.zeros(3))
    with pytest.raises(CheckpointError, match="foreign.npz is not a numgpt checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        load_checkpoint(tmp_path / "missing.npz")


def test_rng_capture_and_restore():
    class Drop(Module):
        def __init__(self):
            self.rng = np.random.default_rng(7)

    model, data_rng = Drop(), np.random.default_rng(3)
    state = json.loads(json.dumps(capture_rng(data_rng, model)))  # survives JSON
    a = (data_rng.random(3), model.rng.random(3))
    restore_rng(state, data_rng, model)
    np.testing.assert_array_equal(a[0], data_rng.random(3))
    np.testing.assert_array_equal(a[1], model.rng.random(3))


# ----------------------------------------------------------------------------- config


def test_config_files_match_the_issue():
    cpu = load_config(ROOT / "configs/shakespeare_char_cpu.toml")
    want = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12, dropout=0.0, learning_rate=1e-3,
                min_lr=1e-4, beta2=0.99, warmup_iters=100, max_iters=2000, lr_decay_iters=2000, eval_interval=250,
                eval_iters=20, weight_decay=0.1, grad_clip=1.0)
    assert {k: cpu.to_dict()[k] for k in want} == want
    big = load_config(ROOT / "configs/shakespeare_char.toml")
    m = big.model
    assert (m.n_layer, m.n_head, m.n_embd, m.block_size, big.batch_size, m.dropout, big.max_iters) == \
        (6, 6, 384, 256, 64, 0.2, 5000)
    assert cpu.data_path() == Path("data/shakespeare_char") and cpu.out_path() == Path("out-shakespeare_char_cpu")


@pytest.mark.parametrize("toml,match", [
    ("max_iter = 5", r"unknown config key 'max_iter' \(did you mean 'max_iters'\?\)"),
    ("max_iters = '5'", "key 'max_iters' must be an integer, got str"),
    ("decay_lr = 1", "key 'decay_lr' must be a boolean"),
    ("n_layer = true", "key 'n_layer' must be an integer, got bool"),
    ("max_iters = ", "invalid TOML"),
    ("n_embd = 130", r"c.toml: GPTConfig: n_embd=130 must be divisible by n_head=4"),
    ("dropout = 1.5", r"GPTConfig.dropout must be in \[0, 1\], got 1.5"),
    ("n_layer = 0", "GPTConfig.n_layer must be a positive integer, got 0"),
])
def test_config_errors(tmp_path, toml, match):
    path = tmp_path / "c.toml"
    path.write_text(toml + "\n")
    with pytest.raises(ConfigError, match=match):
        load_config(path)


def test_config_file_that_is_a_directory_or_not_utf8(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    path = tmp_path / "c.toml"
    path.write_bytes(b"name = '\xff'\n")
    with pytest.raises(ConfigError, match="not UTF-8.*offset 8"):
        load_config(path)


def test_config_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("learning_rate = 1\nname = 'x'\n")
    cfg = load_config(path, {"max_iters": "7", "decay_lr": "false", "dropout": "0.1", "source": "a.txt"})
    assert (cfg.learning_rate, cfg.max_iters, cfg.decay_lr, cfg.model.dropout, cfg.source) == (1.0, 7, False, 0.1, "a.txt")
    assert isinstance(cfg.learning_rate, float)
    assert parse_override("bias", "yes") is True
    with pytest.raises(ConfigError, match="--max_iters='x': expected an integer"):
        load_config(None, {"max_iters": "x"})
    with pytest.raises(ConfigError, match="unknown config key 'nope'"):
        load_config(None, {"nope": "1"})
    assert set(FIELDS) == set(TrainConfig().to_dict())
