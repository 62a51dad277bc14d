"""Unit tests of numgpt.tokenizer (the reference): patterns, trainer, BPETokenizer, CharTokenizer.

Only reference-only behaviour lives here (its API, ids numbering, file formats, internals such as the
tiers, the heap key and the chunk cache); the M5 contracts any implementation must meet are in
spec/test_m5_bpe.py and are not repeated.
"""
from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import pytest

from numgpt.tokenizer import (GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, BPETokenizer, CharTokenizer, Splitter,
                              from_dict, load_tiktoken_ranks, recover_merges, train_bpe)
from numgpt.tokenizer import bench
from numgpt.tokenizer.patterns import translate_pattern, unicode_class
from numgpt.tokenizer.train import _key, train_merges

EOT = "<|endoftext|>"
FIXTURES = Path(__file__).resolve().parents[1] / "spec" / "fixtures" / "tokenizer"
TEXT = ("It's the keeper's lamp; we'll see what they'd say. Don't stop!\n\n  The 3 boats, 1923 and 2024.\n"
        "Über café — 你好世界 👋🏽 e\u0301\n") * 3

# ----------------------------------------------------------------------------- patterns


def test_gpt4_pattern_matches_frozen_regex_chunks():
    # The spec checks GPT-2's pattern (through merges); cl100k's is reference-only outside the interop tier.
    with open(FIXTURES / "chunks.json", encoding="utf-8") as f:
        cases = json.load(f)["split"]
    splitter = Splitter(GPT4_SPLIT_PATTERN)
    for case in cases:
        assert splitter.findall(case["text"]) == case["gpt4"], case["text"]
    assert splitter.findall("Hello world, it's 2024!!  ") == ["Hello", " world", ",", " it", "'s", " ", "202", "4",
                                                              "!!", "  "]  # the module docstring's example


def test_tiers_agree():
    rng = random.Random(0)
    alphabet = "ab Z'sll\t\n\r.,!0179½Ⅻ٣éΩ日本\u3000\xa0\x1c😀𝔘𝟙\u0301"
    for pattern in (GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN):
        sp = Splitter(pattern)
        for _ in range(300):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 25)))
            full = sp.compiled("full").findall(text)
            assert sp.findall(text) == full and "".join(full) == text
            if not any(ord(c) > 0xFFFF for c in text):
                assert sp.compiled("bmp").findall(text) == full
            if text.isascii():
                assert sp.compiled("ascii").findall(text) == full


def test_unicode_classes_and_translation_errors():
    assert unicode_class("N", "ascii") == r"\U00000030-\U00000039"
    assert "\\U0001d7ce-\\U0001d7ff" in unicode_class("N", "astral")  # mathematical digits
    with pytest.raises(ValueError, match="only"):
        translate_pattern(r"\p{Lu}")
    with pytest.raises(ValueError, match="unterminated"):
        translate_pattern(r"[abc")
    with pytest.raises(ValueError, match="tier"):
        translate_pattern("a", tier="latin1")
    with pytest.raises(ValueError, match="does not compile"):
        Splitter("(").findall("x")


# ----------------------------------------------------------------------------- training


def test_key_orders_greatest_first():
    tokens = [b"a", b"ab", b"b", b"", b"\xff", b"a\x00"]
    assert sorted(tokens, key=_key) == sorted(tokens, reverse=True)


def test_train_merges_docstring_example_and_early_stop():
    assert train_merges(["ab", " cd"], [1, 1], 3) == [(99, 100, 256), (97, 98, 257), (32, 256, 258)]
    assert len(train_merges(["ab"], [5], 10)) == 1  # only one pair exists
    with pytest.raises(ValueError, match="num_merges"):
        train_merges(["ab"], [1], -1)


def naive_merges(chunks, counts, n):
    """Recount-everything reference for the incremental trainer."""
    words = [tuple(bytes([b]) for b in c.encode()) for c in chunks]
    out = []
    for _ in range(n):
        pc = {}
        for w, c in zip(words, counts):
            for p in zip(w, w[1:]):
                pc[p] = pc.get(p, 0) + c
        if not pc:
            break
        best = max(pc, key=lambda p: (pc[p], p))
        out.append(best)
        new_words = []
        for w in words:
            o, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    o.append(w[i] + w[i + 1])
                    i += 2
                else:
                    o.append(w[i])
                    i += 1
            new_words.append(tuple(o))
        words = new_words
    return out


def test_incremental_trainer_equals_naive():
    rng = random.Random(1)
    chunks = list({"".join(rng.choice("aab c") for _ in range(rng.randint(1, 8))) for _ in range(60)})
    counts = [rng.randint(1, 5) for _ in chunks]
    merges = train_merges(chunks, counts, 40)
    table = {i: bytes([i]) for i in range(256)}
    for a, b, new in merges:
        table[new] = table[a] + table[b]
    assert [(table[a], table[b]) for a, b, _ in merges] == naive_merges(chunks, counts, 40)


def test_train_bpe_ids_specials_and_errors():
    tok = train_bpe(TEXT + EOT + TEXT, 300, [EOT], pattern=GPT2_SPLIT_PATTERN)
    assert tok.vocab_size == 300 and tok.special_tokens == {EOT: 299}  # ids: bytes, merges, then the specials
    assert tok.encode(EOT, allowed_special="all") == [299]
    with pytest.raises(ValueError, match="too small"):
        train_bpe("abc", 256, [EOT])
    with pytest.raises(TypeError, match="str"):
        train_bpe(b"abc", 300)


# ----------------------------------------------------------------------------- BPETokenizer


@pytest.fixture(scope="module")
def tok():
    return train_bpe(TEXT, 400, [EOT, "<|pad|>"], pattern=GPT4_SPLIT_PATTERN)


def test_decode_bytes_and_type_errors(tok):
    ids = tok.encode(TEXT)
    assert tok.decode_bytes(ids) == TEXT.encode()
    with pytest.raises(TypeError, match="expected str"):
        tok.encode(b"bytes")
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.decode([10**9])


def test_special_token_options(tok):
    # (the default rules, allowed sets and longest-wins are spec contracts: spec/test_m5_bpe.py)
    eot = tok.special_tokens[EOT]
    with pytest.raises(ValueError, match="allowed_special"):  # the message tells how to allow it
        tok.encode("x" + EOT)
    assert eot not in tok.encode("x" + EOT, disallowed_special=())
    assert tok.encode("x" + EOT, disallowed_special=()) == tok.encode_ordinary("x" + EOT)
    with pytest.raises(ValueError, match="not special tokens"):
        tok.encode("x", allowed_special={"<|nope|>"})


def test_encode_iterable_with_specials_and_any_cuts(tok):
    # (streaming lines without specials is a spec contract; specials and arbitrary cuts are reference-only)
    rng = random.Random(0)
    text = (TEXT + EOT) * 2
    for _ in range(30):  # arbitrary cut points, specials allowed and cut in half
        cuts = sorted(rng.sample(range(len(text)), 4))
        pieces = [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]
        assert list(tok.encode_iterable(pieces, allowed_special="all")) == tok.encode(text, allowed_special="all")
    with pytest.raises(ValueError, match="special token"):  # a disallowed special split across pieces
        list(tok.encode_iterable(["abc <|endof", "text|> def\n", "more\n"]))
    with pytest.raises(TypeError, match="single string"):
        list(tok.encode_iterable("a string"))
    with pytest.raises(TypeError, match="text mode"):
        list(tok.encode_iterable([b"bytes"]))


def test_small_cache_is_still_correct(tok):
    small = BPETokenizer.from_dict(tok.to_dict())
    small._cache_size = 3
    assert small.encode(TEXT) == tok.encode(TEXT) and len(small._cache) <= 3


def test_cache_overflow_keeps_chunks_cached_before_the_clear(tok):
    # Regression: when the missing chunks overflowed the cache, _encode_chunks cleared it and then
    # looked up chunks cached BEFORE the clear (KeyError). Second encode: 8 cached chunks + 5 new > 10.
    small = BPETokenizer.from_dict(tok.to_dict())
    small._cache_size = 10
    first = " ".join(f"w{c}" for c in "abcdefgh")
    second = first + " " + " ".join(f"x{c}" for c in "abcde")
    for text in (first, second, first):
        assert small.encode(text) == tok.encode(text) and len(small._cache) <= 10
    lines = [" ".join(f"v{a}q{b}" for b in "abcdefg") + "\n" for a in "abcdefghijklmnopqrst"]
    assert list(small.encode_iterable(lines)) == tok.encode("".join(lines))


def test_to_dict_from_dict_and_save_load(tok, tmp_path):
    d = json.loads(json.dumps(tok.to_dict()))
    again = from_dict(d)
    assert again.vocab == tok.vocab and again.merges == tok.merges and again.pattern == tok.pattern
    assert again.special_tokens == tok.special_tokens and again.encode(TEXT) == tok.encode(TEXT)
    path = tmp_path / "tok.bpe"
    tok.save(path)
    text = path.read_text()
    assert text.startswith("numgpt-bpe 1\n") and '"<|endoftext|>"' in text
    loaded = BPETokenizer.load(path)
    assert loaded.to_dict() == tok.to_dict() and loaded.pattern == GPT4_SPLIT_PATTERN
    path.write_text(text.replace("merges ", "merges x", 1))
    with pytest.raises(ValueError, match="line"):
        BPETokenizer.load(path)
    path.write_text("hello\n")
    with pytest.raises(ValueError, match="not a numgpt-bpe"):
        BPETokenizer.load(path)
    with pytest.raises(ValueError, match="type"):
        from_dict({"type": "wordpiece"})


def test_constructor_errors():
    vocab = {i: bytes([i]) for i in range(256)}
    with pytest.raises(ValueError, match="single-byte"):
        BPETokenizer({i: bytes([i]) for i in range(255)}, [])
    with pytest.raises(ValueError, match="not in the vocab"):
        BPETokenizer(vocab, [(b"a", b"b")])
    with pytest.raises(ValueError, match="already used"):
        BPETokenizer(vocab, [], {EOT: 5})
    with pytest.raises(ValueError, match="twice"):
        BPETokenizer({**vocab, 300: b"a"}, [])


def tiny_rank_file(tmp_path):
    """A tiktoken-style table: bytes in a shuffled order, then 'ab', 'bc', 'abc' (built as ab + c)."""
    order = list(range(256))
    random.Random(0).shuffle(order)
    tokens = [bytes([b]) for b in order] + [b"ab", b"bc", b"abc", b" abc"]
    path = tmp_path / "tiny.tiktoken"
    path.write_bytes(b"".join(base64.b64encode(t) + b" %d\n" % r for r, t in enumerate(tokens)))
    return path


def test_tiktoken_rank_files(tmp_path):
    path = tiny_rank_file(tmp_path)
    ranks = load_tiktoken_ranks(path)
    assert ranks[b"abc"] == 258 and len(ranks) == 260
    assert recover_merges(ranks) == [(b"a", b"b"), (b"b", b"c"), (b"ab", b"c"), (b" ", b"abc")]
    t = BPETokenizer.from_tiktoken(path, {EOT: 1000})
    assert t.uses_ranks and t.encode("abc abc") == [258, 259]
    assert t.decode(t.encode("xyz abc\n")) == "xyz abc\n"
    again = from_dict(json.loads(json.dumps(t.to_dict())))
    assert again.uses_ranks and again.encode("abcbc ab") == t.encode("abcbc ab")
    t.save(tmp_path / "t.bpe")
    assert BPETokenizer.load(tmp_path / "t.bpe").to_dict() == t.to_dict()
    (tmp_path / "bad.tiktoken").write_bytes(b"YWI= 1\nnot base64 !\n")
    with pytest.raises(ValueError, match="line 2"):
        load_tiktoken_ranks(tmp_path / "bad.tiktoken")
    with pytest.raises(ValueError, match="not a BPE rank table"):
        recover_merges({bytes([i]): i for i in range(256)} | {b"xyz": 256})


# ----------------------------------------------------------------------------- CharTokenizer


def test_char_tokenizer():
    t = CharTokenizer.from_text("hello")
    assert (t.chars, t.vocab_size) == ("ehlo", 4)
    assert t.encode("hole") == [1, 3, 2, 0] and t.decode([1, 0, 2, 2, 3]) == "hello"
    assert list(t.encode_iterable(["he", "llo"])) == t.encode("hello")
    assert from_dict(json.loads(json.dumps(t.to_dict()))) == t
    with pytest.raises(ValueError, match="'z'.*position 2"):
        t.encode("hez")
    with pytest.raises(ValueError, match="outside"):
        t.decode([4])
    with pytest.raises(ValueError, match="empty"):
        CharTokenizer.from_text("")
    with pytest.raises(ValueError, match="char"):
        CharTokenizer.from_dict({"type": "bpe"})


def test_bench_runs_on_a_small_text(tmp_path, capsys):
    path = tmp_path / "t.txt"
    path.write_text(TEXT)
    results = bench.main(["--text", str(path), "--runs", "1", "--vocab-size", "300"])
    assert results["train_s"] > 0
    assert "train BPE to vocab 300" in capsys.readouterr().out


# ----------------------------------------------------------------------------- bad patterns, ids, endless words (issue 17)

from numgpt.errors import TokenizerError  # noqa: E402
from numgpt.tokenizer.bpe import MAX_CHUNK_LENGTH  # noqa: E402
from numgpt.tokenizer.patterns import KNOWN_PATTERNS, known_pattern  # noqa: E402

BYTES = {i: bytes([i]) for i in range(256)}


@pytest.mark.parametrize("pattern, message", [
    (r"[a-z]+", "does not cover"),             # 'hello world' -> [] before: the space and capitals were dropped
    (r"\w+|\s+", "does not cover"),            # punctuation dropped
    (r"\p{L}*|\s|.", "matches the empty string"),
    (r"(", "does not compile"),
])
def test_pattern_that_drops_text_is_refused_at_construction(pattern, message):
    with pytest.raises(ValueError, match=message):
        BPETokenizer(BYTES, [], pattern=pattern)


def test_splitter_raises_instead_of_dropping_text():
    with pytest.raises(TokenizerError, match=r"' ' at position 5 would be dropped"):
        Splitter(r"[a-z]+").findall("hello world")
    assert Splitter(GPT2_SPLIT_PATTERN).findall("hello world") == ["hello", " world"]


def test_stored_pattern_must_be_a_known_one(tok, tmp_path):
    d = tok.to_dict()
    for name, pattern in KNOWN_PATTERNS.items():  # by name or exact text
        assert BPETokenizer.from_dict({**d, "pattern": name}).pattern == pattern
        assert BPETokenizer.from_dict({**d, "pattern": pattern}).pattern == pattern
    evil = r"(a+)+$| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s+(?!\S)|\s"  # catastrophic backtracking on 'aaaa…b'
    with pytest.raises(TokenizerError, match=r"not a known pattern.*gpt2, gpt4"):
        BPETokenizer.from_dict({**d, "pattern": evil})
    with pytest.raises(TokenizerError, match="not a known pattern"):
        known_pattern(None)
    path = tmp_path / "evil.bpe"
    tok.save(path)
    text = path.read_text(encoding="utf-8").split("\n")
    text[1] = "pattern " + json.dumps(evil)
    path.write_text("\n".join(text), encoding="utf-8")
    with pytest.raises(TokenizerError, match=f"{path.name}: .*not a known pattern"):
        BPETokenizer.load(path)


def test_char_decode_names_a_bad_id():
    import numpy as np

    t = CharTokenizer.from_text("hello")
    assert t.decode(np.array([1, 0], dtype=np.int64)) == "he"
    for bad, message in [(1.0, "id 1.0 is a float, not an integer"), (True, "is a bool"), ("a", "is a str"),
                         (4, "id 4 is outside 0..3"), (-1, "id -1 is outside")]:
        with pytest.raises(TokenizerError, match=message):
            t.decode([0, bad])


def test_encode_iterable_endless_word_is_linear_and_bounded(tok):
    """One word fed in small pieces: the text re-split in total stays a small multiple of its length
    (it was quadratic), the held-back text stays within a few MAX_CHUNK_LENGTH, and the ids are those
    of the word cut every MAX_CHUNK_LENGTH characters."""
    n = 20 * MAX_CHUNK_LENGTH + 123
    word = "ab" * (n // 2)
    seen: list[int] = []
    findall = tok._splitter.findall
    tok._splitter.findall = lambda text: (seen.append(len(text)), findall(text))[1]
    try:
        ids = list(tok.encode_iterable(word[i: i + 7] for i in range(0, len(word), 7)))
    finally:
        del tok._splitter.findall
    assert sum(seen) <= 4 * len(word), (sum(seen), len(word))
    assert max(seen) <= 3 * MAX_CHUNK_LENGTH, max(seen)
    expected = [i for at in range(0, len(word), MAX_CHUNK_LENGTH) for i in tok.encode(word[at: at + MAX_CHUNK_LENGTH])]
    assert ids == expected
    assert tok.decode(ids) == word
