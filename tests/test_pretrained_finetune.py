"""``train --init-from DIR``: fine-tuning starts from a hub-layout checkpoint's weights, on data
prepared with that checkpoint's tokenizer (``prepare --tokenizer DIR``)."""
from __future__ import annotations

import hashlib

import pytest

import numgpt.training.loop as loop
from numgpt.checkpoint import load_checkpoint
from numgpt.training.config import ConfigError, load_config
from numgpt.training.data import load_meta
from numgpt.transformer.pretrained import load_pretrained

from .test_pretrained import write_hub_dir

TEXT = "hello world, it's a tiny test corpus 123 and some more words for the val split. " * 40


def finetune_cfg(tmp_path, hub_dir, vocab_size=0, tokenizer="bpe", **kw):
    source = tmp_path / "input.txt"
    source.write_text(TEXT)
    values = dict(source=str(source), data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / "out"),
                  tokenizer=tokenizer, vocab_size=vocab_size, init_from=str(hub_dir), n_layer=1, n_head=1, n_embd=8,
                  block_size=16, batch_size=2, max_iters=2, warmup_iters=0, lr_decay_iters=2, eval_interval=100,
                  eval_iters=1, log_interval=1, sample_tokens=0, dropout=0.0, learning_rate=1e-3, workers=1)
    values.update(kw)
    return load_config(None, values)


def test_train_init_from_starts_from_the_loaded_weights(tmp_path, monkeypatch):
    hub_dir = tmp_path / "hub"
    hub_dir.mkdir()
    _, hub_cfg, _ = write_hub_dir(hub_dir)
    weights = hub_dir / "model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    batches = []
    real_get_batch = loop.get_batch
    monkeypatch.setattr(loop, "get_batch", lambda *a: batches.append(real_get_batch(*a)) or batches[-1])
    logged = []
    result = loop.train(finetune_cfg(tmp_path, hub_dir, tokenizer=str(hub_dir)), log=logged.append)
    assert result.status == "done", result.message
    assert load_meta(tmp_path / "data")["vocab_size"] == hub_cfg["vocab_size"]
    model, _ = load_pretrained(hub_dir, block_size=16)  # the config's block_size 16 crops the 32 positions
    x, y = batches[0]
    _, loss = model(x, y)
    assert result.losses[0] == pytest.approx(float(loss.data), rel=1e-6)
    assert result.losses[1] != result.losses[0]
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == digest  # copy-on-write: the file is untouched
    saved = load_checkpoint(tmp_path / "out" / "ckpt.npz").config["model_args"]
    assert (saved["n_layer"], saved["n_embd"], saved["block_size"]) == (2, 16, 16)  # the checkpoint's shape
    assert any("initialised from" in line and "cropped from 32" in line for line in logged)


def test_vocab_mismatch_with_the_prepared_data_is_a_clear_error(tmp_path):
    hub_dir = tmp_path / "hub"
    hub_dir.mkdir()
    _, hub_cfg, _ = write_hub_dir(hub_dir)
    with pytest.raises(ConfigError, match=r"init_from.*vocab_size is 280 but the prepared dataset's meta.json has 300"):
        loop.train(finetune_cfg(tmp_path, hub_dir, 300), log=lambda line: None)


def test_init_from_a_file_is_refused_by_the_config(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ConfigError, match="init_from"):
        load_config(None, {"init_from": str(tmp_path / "model.safetensors")})


def test_prepare_with_a_checkpoints_tokenizer_writes_its_ids(tmp_path):
    from numgpt.__main__ import main
    from numgpt.training.data import TRAIN_FRACTION, load_split

    hub_dir = tmp_path / "hub"
    hub_dir.mkdir()
    tok, hub_cfg, _ = write_hub_dir(hub_dir)
    (tmp_path / "input.txt").write_text(TEXT)
    assert main(["prepare", "--dataset", "tiny", "--source", str(tmp_path / "input.txt"), "--tokenizer", str(hub_dir),
                 "--data_dir", str(tmp_path / "data")]) == 0
    meta = load_meta(tmp_path / "data")
    assert meta["vocab_size"] == hub_cfg["vocab_size"]
    train_ids = load_split(tmp_path / "data", "train", meta)
    assert train_ids.tolist() == tok.encode(TEXT[:int(len(TEXT) * TRAIN_FRACTION)])


def test_prepare_with_an_unknown_tokenizer_names_it(tmp_path, capsys):
    from numgpt.__main__ import main

    (tmp_path / "input.txt").write_text(TEXT)
    assert main(["prepare", "--source", str(tmp_path / "input.txt"), "--tokenizer", "./nowhere",
                 "--data_dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert "tokenizer './nowhere'" in err and "expected 'char', 'bpe', a hub name" in err
