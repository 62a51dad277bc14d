"""GPT-2 tokenizer files (vocab.json + merges.txt): written for a tokenizer numgpt trains, read back."""
from __future__ import annotations

import json

import pytest

from numgpt.tokenizer import GPT2_SPLIT_PATTERN, train_bpe
from numgpt.tokenizer.gpt2_files import (MERGES_VERSION, bytes_to_unicode, load_gpt2_tokenizer, load_tokenizer_json,
                                        save_gpt2_tokenizer)

TEXT = ("It's 2024; they'll say we've 12345 digits, I'm sure she'd agree.\n\n   Spaces   and\ttabs\n"
        "héllo wörld naïve café 日本語 👋 Ωmega <|endoftext|> The end.  ")


def test_bytes_to_unicode_is_gpt2s_table():
    table = bytes_to_unicode()
    assert len(set(table.values())) == 256
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ" and table[ord("A")] == "A" and table[0] == "Ā"


def test_round_trip_of_a_trained_tokenizer(tmp_path):
    corpus = TEXT.replace("<|endoftext|>", "") * 3
    tok = train_bpe(corpus, vocab_size=300, special_tokens=["<|endoftext|>"], pattern=GPT2_SPLIT_PATTERN)
    vocab_path, merges_path = save_gpt2_tokenizer(tok, tmp_path)
    lines = merges_path.read_text(encoding="utf-8").split("\n")
    assert lines[0] == MERGES_VERSION and len(lines) == len(tok.merges) + 2
    vocab = json.loads(vocab_path.read_text(encoding="utf-8"))
    assert vocab["<|endoftext|>"] == tok.special_tokens["<|endoftext|>"] and vocab["Ġ"] == tok.encode(" ")[0]
    back = load_gpt2_tokenizer(vocab_path, merges_path)
    for text in (TEXT, TEXT.upper(), "  \n\n\t ", "x" * 50):
        assert back.encode(text, allowed_special="all") == tok.encode(text, allowed_special="all")
    assert back.decode(back.encode(TEXT, allowed_special="all")) == TEXT


def test_bad_merges_line_is_named(tmp_path):
    (tmp_path / "vocab.json").write_text(json.dumps({c: b for b, c in bytes_to_unicode().items()}))
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b c\n")
    with pytest.raises(ValueError, match=r"merges\.txt, line 2: expected 'left right'"):
        load_gpt2_tokenizer(tmp_path / "vocab.json", tmp_path / "merges.txt")


def test_tokenizer_json_byte_level_bpe_loads_and_other_kinds_are_refused(tmp_path):
    tok = train_bpe(TEXT.replace("<|endoftext|>", "") * 2, vocab_size=280, special_tokens=["<|endoftext|>"],
                    pattern=GPT2_SPLIT_PATTERN)
    vocab_path, merges_path = save_gpt2_tokenizer(tok, tmp_path)
    merges = merges_path.read_text(encoding="utf-8").split("\n")[1:-1]
    eot = tok.special_tokens["<|endoftext|>"]
    spec = {"model": {"type": "BPE", "vocab": json.loads(vocab_path.read_text(encoding="utf-8")), "merges": merges},
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False},
            "added_tokens": [{"id": eot, "content": "<|endoftext|>", "special": True}]}
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    back = load_tokenizer_json(path)
    assert back.encode(TEXT, allowed_special="all") == tok.encode(TEXT, allowed_special="all")
    spec["model"]["type"] = "Unigram"
    path.write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(ValueError, match=r"model\.type='Unigram'.* is not supported"):
        load_tokenizer_json(path)
