"""The `sample` command end to end, on tiny checkpoints written with the training checkpoint module."""
from __future__ import annotations

import io

import numpy as np
import pytest

from numgpt.__main__ import build_parser, main
from numgpt.checkpoint import Checkpoint, load_model, save_checkpoint
from numgpt.sampling import cli, generate
from numgpt.tokenizer import CharTokenizer, train_bpe
from numgpt.transformer import GPT, GPTConfig

TEXT = "héllo wörld, 日本語 — ça va? " * 4


def write_checkpoint(path, tokenizer, block_size: int = 16):
    args = dict(block_size=block_size, vocab_size=tokenizer.vocab_size, n_layer=1, n_head=2, n_embd=8,
                dropout=0.0, bias=True)
    model = GPT(GPTConfig(**args), seed=0)
    save_checkpoint(path, Checkpoint(model=model.state_dict(), config={"model_args": args},
                                     tokenizer=tokenizer.to_dict()))
    return path


def run_sample(argv: list[str]) -> tuple[int, str]:
    args = build_parser().parse_args(["sample", *argv])
    out = io.StringIO()
    return cli.run(args, out=out), out.getvalue()


def test_sample_char_checkpoint_streams_prompt_and_samples(tmp_path):
    tok = CharTokenizer.from_text(TEXT)
    ckpt = write_checkpoint(tmp_path / "ckpt.npz", tok)
    rc, text = run_sample(["--checkpoint", str(tmp_path), "--prompt", "hé", "--max-new-tokens", "20",
                           "--num-samples", "2", "--seed", "3", "--top-k", "5"])
    assert rc == 0
    first, second = text.split("\n---------------\n")
    assert first.startswith("hé") and second.startswith("hé")
    assert len(first) == len("hé") + 20 + 1  # prompt, 20 characters, newline
    assert set(first[2:-1]) <= set(tok.chars)
    rc2, again = run_sample(["--checkpoint", str(ckpt), "--prompt", "hé", "--max-new-tokens", "20",
                             "--num-samples", "2", "--seed", "3", "--top-k", "5", "--no-cache"])
    assert rc2 == 0 and again == text  # seeded; the cache changes nothing


def test_sample_bpe_checkpoint_decodes_valid_utf8(tmp_path):
    tok = train_bpe(TEXT, 270)
    write_checkpoint(tmp_path / "bpe.npz", tok)
    rc, text = run_sample(["--checkpoint", str(tmp_path / "bpe.npz"), "--prompt", "日本", "--max-new-tokens", "40",
                           "--temperature", "1.5", "--seed", "0", "--window-shift", "4"])
    # a random byte-level model emits arbitrary bytes; whatever it emits, the streamed text is the
    # same as decoding all the new bytes at once (no character is broken at a token boundary)
    model, _, _ = load_model(tmp_path / "bpe.npz")
    prompt = tok.encode("日本")
    ids = generate(model, prompt, 40, temperature=1.5, seed=0, window_shift=4)
    assert rc == 0 and text == "日本" + tok.decode(ids[len(prompt):].tolist()) + "\n"


@pytest.mark.parametrize("argv, message", [
    (["--checkpoint", "/no/such/ckpt.npz"], "no checkpoint file"),
    (["--checkpoint", "{tmp}/junk.npz"], "not a readable numgpt checkpoint"),
    (["--checkpoint", "{tmp}/ok.npz", "--temperature", "-1"], "temperature"),
    (["--checkpoint", "{tmp}/ok.npz", "--top-k", "0"], "top_k"),
    (["--checkpoint", "{tmp}/ok.npz", "--prompt", "xyz"], "cannot be encoded"),
    (["--checkpoint", "{tmp}/ok.npz", "--prompt", ""], "empty"),
    (["--checkpoint", "{tmp}/ok.npz", "--num-samples", "0"], "num_samples"),
    (["--checkpoint", "{tmp}/ok.npz", "--prompt", "a", "--window-shift", "99"], "window_shift"),
])
def test_sample_errors_are_clear(tmp_path, capsys, argv, message):
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    write_checkpoint(tmp_path / "ok.npz", CharTokenizer.from_text("abc"))
    rc = main(["sample", *[a.replace("{tmp}", str(tmp_path)) for a in argv]])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err, err


def test_checkpoint_without_model_args_is_rejected(tmp_path):
    save_checkpoint(tmp_path / "c.npz", Checkpoint(model={}, config={}, tokenizer=None))
    with pytest.raises(ValueError, match="model_args"):
        load_model(tmp_path / "c.npz")


def test_loaded_model_matches_saved_weights(tmp_path):
    tok = CharTokenizer.from_text("abcdef")
    write_checkpoint(tmp_path / "ckpt.npz", tok)
    model, tok2, config = load_model(tmp_path / "ckpt.npz")
    ref = GPT(GPTConfig(**config["model_args"]), seed=0)
    for (name, p), (_, q) in zip(model.named_parameters(), ref.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    assert tok2.chars == tok.chars and not model.training


def test_special_token_in_prompt_needs_allow_special(tmp_path, capsys):
    tok = train_bpe(TEXT, 270, special_tokens=["<|endoftext|>"])
    write_checkpoint(tmp_path / "bpe.npz", tok)
    argv = ["--checkpoint", str(tmp_path / "bpe.npz"), "--prompt", "<|endoftext|>日本", "--max-new-tokens", "5"]
    assert main(["sample", *argv]) == 2
    assert "add --allow_special" in capsys.readouterr().err
    rc, text = run_sample([*argv, "--allow-special"])
    assert rc == 0 and text.startswith("<|endoftext|>日本")
