"""M5 byte-level BPE tokenizer: training, encoding, special tokens, decoding, streaming, memory.

Contracts (see the M5 section of spec/adapter_template.py). Oracles are plain Python or frozen:
spec/fixtures/tokenizer/ holds results computed once by independent code (the `regex` package,
naive trainers; see its README.md), never by the implementation under test.

* Training, valid BPE: ``train_bpe(path, vocab_size, special_tokens) -> (vocab, merges)``: replaying
  the merges on the frozen chunk counts of each corpus (text cut at the special tokens, split by
  GPT-2's pattern), every merge is a most frequent pair at its step, and the vocab is the 256 bytes,
  one token per merge and the specials. Corpora include \r\n line ends (the file is read without
  newline translation) and specials with regex metacharacters ("[SEP]", "(x)", "a.b").
* Training, the documented tie-break convention: equal counts go to the lexicographically GREATEST
  pair of byte strings; the frozen merges must then be reproduced EXACTLY (order included), and
  small corpora pin the rule down (test_train_tie_break).
* Split pattern: chunk lists frozen from the `regex` package are observed through merges that make
  each chunk one token (Unicode numbers, White_Space, letters beyond U+FFFF, contractions).
* Encoding: ``get_tokenizer(vocab, merges, special_tokens)`` encodes the fixture texts to the frozen
  ids (GPT-2's encode loop: lowest-rank pair first, every occurrence) and decodes them back.
* Special tokens follow tiktoken: disallowed by default (a clear error naming the token), allowed
  ones are one id each, the longer of two overlapping specials wins, and each call's allowed set
  is its own.
* decode replaces invalid UTF-8 with U+FFFD and never raises on it.
* Properties (hypothesis): round trip for arbitrary text; ids inside the vocab; determinism;
  ``encode_iterable`` over pieces ending at line ends equals ``encode`` of the whole, also over more
  distinct words than a chunk cache holds.
* Memory (Linux, a fresh process): streaming a 5 MB file raises the peak resident set by less than
  STREAM_MEMORY_LIMIT; over a stream of distinct words it stops growing (DISTINCT_MEMORY_LIMIT).
  Speed: vocab 500 on a ~100 KB corpus within TRAIN_SECONDS (limits in spec/numerics.py).

No tolerances: every comparison here is exact (ids, bytes, strings).
"""
from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import time
import unicodedata
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from spec.numerics import (DISTINCT_MEMORY_LIMIT, STREAM_MEMORY_LIMIT, TRAIN_SECONDS, assert_clear_error,
                           first_difference)

pytestmark = pytest.mark.milestone("M5")

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tokenizer"
EOT = "<|endoftext|>"
EOT2 = "<|endoftext|><|endoftext|>"  # a longer special that overlaps EOT
STREAM_BYTES = 5_000_000
DISTINCT_WORDS = 100_000  # more distinct chunks than a chunk cache usually holds (the reference's: 65,536)
CASES = ["english", "code", "multilingual"]
CHUNKS = json.loads((FIXTURES / "chunks.json").read_text(encoding="utf-8"))  # frozen by the `regex` package

# ----------------------------------------------------------------------------- fixtures & helpers


def load_case(name: str) -> dict:
    """A frozen fixture: corpus file, vocab_size, special tokens, merges, vocab, encode cases."""
    return json.loads((FIXTURES / f"bpe_{name}.json").read_text(encoding="utf-8"))


def case_vocab(case: dict) -> dict[int, bytes]:
    return {int(i): bytes.fromhex(h) for i, h in case["vocab"].items()}


def case_merges(case: dict) -> list[tuple[bytes, bytes]]:
    return [(bytes.fromhex(a), bytes.fromhex(b)) for a, b in case["merges"]]


def read_text(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def byte_vocab() -> dict[int, bytes]:
    """The 256 single bytes, id == byte value."""
    return {i: bytes([i]) for i in range(256)}


def vocab_with(merges: list[tuple[bytes, bytes]]) -> dict[int, bytes]:
    """Bytes 0..255, then one id per merge result (256, 257, ...)."""
    vocab = byte_vocab()
    for k, (a, b) in enumerate(merges):
        vocab[256 + k] = a + b
    return vocab


def show(vocab: dict[int, bytes], ids) -> str:
    """Ids as their byte strings, for failure messages."""
    return "[" + ", ".join(f"{i}:{vocab[i]!r}" if i in vocab else f"{i}:<not in vocab>" for i in ids) + "]"


def assert_ids(got, expected, vocab: dict[int, bytes], what: str, cause: str) -> None:
    got = list(got)
    if got == list(expected):
        return
    k = first_difference(got, expected)
    lo = max(0, k - 3)
    raise AssertionError(
        f"{what}: ids differ first at position {k} (got {len(got)} ids, expected {len(expected)}).\n"
        f"  expected ...{show(vocab, expected[lo:k + 4])}\n"
        f"  got      ...{show(vocab, got[lo:k + 4])}\n"
        f"Likely cause: {cause}")


@pytest.fixture(scope="module")
def multi(impl):
    """The tokenizer of the frozen multilingual fixture (vocab 400, GPT-2 pattern, <|endoftext|>)."""
    case = load_case("multilingual")
    vocab = case_vocab(case)
    return impl.get_tokenizer(vocab, case_merges(case), [EOT]), vocab


# ----------------------------------------------------------------------------- plain-Python BPE oracles


def merge_word(word: tuple[bytes, ...], pair: tuple[bytes, bytes]) -> tuple[bytes, ...]:
    """Replace the non-overlapping occurrences of ``pair`` in ``word``, left to right."""
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(word[i] + word[i + 1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def check_merges_are_most_frequent(chunk_counts: list, merges: list[tuple[bytes, bytes]], num_merges: int,
                                   what: str) -> None:
    """Replay ``merges`` on frozen chunk counts: each must be a most frequent pair at its step.

    Pairs are recounted from scratch at every step (each pair times its chunk's count). Which of
    the pairs tied at the top count comes first is NOT checked (that is the tie-break convention,
    tested separately). There must be ``num_merges`` merges, fewer only when no pair is left.
    """
    words: dict[tuple[bytes, ...], int] = {}
    for chunk, n in chunk_counts:
        word = tuple(bytes([v]) for v in chunk.encode("utf-8"))
        words[word] = words.get(word, 0) + n
    for k in range(len(merges) + 1):
        counts: dict[tuple[bytes, bytes], int] = {}
        for word, n in words.items():
            for p in zip(word, word[1:]):
                counts[p] = counts.get(p, 0) + n
        if k == len(merges):
            if k != num_merges and counts:
                raise AssertionError(f"{what}: {k} merges, expected {num_merges} (training stops early only when "
                                     f"every chunk is one token, and {len(counts)} distinct pairs are left)")
            return
        pair = merges[k]
        if not counts:
            raise AssertionError(f"{what}: merge #{k} {pair} comes after every chunk has become one token "
                                 f"(no pair is left; expected {k} merges)")
        top = max(counts.values())
        got = counts.get(pair, 0)
        if got != top:
            best = sorted((p for p, c in counts.items() if c == top), reverse=True)[:3]
            cause = ("a pair that occurs nowhere in GPT-2's chunks: pairs counted across chunk or special-token "
                     "boundaries, special tokens not cut out exactly (regex-escape them), or the text read with "
                     "newline translation (\\r\\n -> \\n)") if got == 0 else (
                     "pair counts not updated after a merge, each distinct chunk counted once instead of times its "
                     "frequency, or a split pattern other than GPT-2's")
            raise AssertionError(
                f"{what}: merge #{k} {pair} occurs {got} times at that step, but the most frequent pair(s) {best} "
                f"occur {top} times (recounted over the text cut at the special tokens and split by GPT-2's pattern; "
                f"the {k} merges before it were most frequent too). Likely cause: {cause}")
        words = {merge_word(w, pair): n for w, n in words.items()}


def check_vocab_follows(vocab: dict, merges: list[tuple[bytes, bytes]], vocab_size: int, specials: list[str],
                        what: str) -> None:
    """The vocab holds exactly the 256 bytes, one token per merge and the special tokens."""
    expected = sorted([bytes([i]) for i in range(256)] + [a + b for a, b in merges] + [s.encode() for s in specials])
    got = sorted(bytes(b) for b in vocab.values())
    assert len(vocab) == min(vocab_size, len(expected)), (
        f"{what}: len(vocab) = {len(vocab)}, expected {min(vocab_size, len(expected))} (256 bytes + {len(merges)} "
        f"merges + {len(specials)} special token(s); vocab_size {vocab_size} counts all three)")
    assert got == expected, (
        f"{what}: the vocab's byte strings are not the 256 bytes + one per merge + the special tokens; missing "
        f"{sorted(set(expected) - set(got))[:5]}, unexpected {sorted(set(got) - set(expected))[:5]}")


def corpus_path(name: str, tmp_path: Path) -> tuple[Path, dict]:
    """A frozen corpus of chunks.json as a file (fixture corpora are files already; others are written)."""
    corpus = CHUNKS["corpora"][name]
    if "file" in corpus:
        return FIXTURES / corpus["file"], corpus
    path = tmp_path / f"{name}.txt"
    path.write_bytes(corpus["text"].encode("utf-8"))
    return path, corpus


# ----------------------------------------------------------------------------- training


@pytest.mark.parametrize("name", list(CHUNKS["corpora"]))
def test_train_merges_are_most_frequent_pairs(impl, tmp_path, name):
    path, corpus = corpus_path(name, tmp_path)
    specials = corpus["special_tokens"]
    vocab_size = load_case(name)["vocab_size"] if name in CASES else 256 + 40 + len(specials)
    vocab, merges = impl.train_bpe(str(path), vocab_size, specials)
    merges = [(bytes(a), bytes(b)) for a, b in merges]
    what = f"train_bpe({path.name}, vocab_size={vocab_size}, special_tokens={specials})"
    check_merges_are_most_frequent(corpus["chunk_counts"], merges, vocab_size - 256 - len(specials), what)
    check_vocab_follows(vocab, merges, vocab_size, specials, what)


@pytest.mark.parametrize("name", CASES)
def test_train_tie_break_convention_frozen_merges(impl, name):
    case = load_case(name)
    vocab, merges = impl.train_bpe(str(FIXTURES / case["corpus"]), case["vocab_size"], case["special_tokens"])
    expected = case_merges(case)
    merges = [(bytes(a), bytes(b)) for a, b in merges]
    if merges != expected:
        k = first_difference(merges, expected)
        raise AssertionError(
            f"train_bpe({case['corpus']}, vocab_size={case['vocab_size']}) against the DOCUMENTED TIE-BREAK "
            f"CONVENTION: merge #{k} differs from the frozen merges (got {len(merges)} merges, expected "
            f"{len(expected)}).\n"
            f"  expected {expected[k] if k < len(expected) else 'no more merges'}\n"
            f"  got      {merges[k] if k < len(merges) else 'no more merges'}\n"
            f"  the {k} merges before agree. If test_train_merges_are_most_frequent_pairs passes, your BPE is valid "
            f"and only breaks count ties differently: the convention is that equal counts go to the "
            f"lexicographically GREATEST (left bytes, right bytes) pair (Python max over (count, left, right)).")
    check_vocab_follows(vocab, merges, case["vocab_size"], case["special_tokens"], f"train_bpe({case['corpus']})")


@pytest.mark.parametrize("text, expected", [
    # "ab", " cd": every pair occurs once -> greatest first: (c,d) > (a,b) > (" ", cd)
    ("ab cd", [(b"c", b"d"), (b"a", b"b"), (b" ", b"cd")]),
    # same first byte: the second decides, (a,c) > (a,b)
    ("ab ac", [(b"a", b"c"), (b"a", b"b"), (b" ", b"ac")]),
    # no tie at all: (a,b) occurs 4 times, then (" ", ab) twice, though (z,z) is the greatest pair
    ("ab zz abab ab", [(b"a", b"b"), (b" ", b"ab")]),
    # non-overlapping, left to right: "aaaa" -> aa aa; then the pair (aa, aa)
    ("aaaa", [(b"a", b"a"), (b"aa", b"aa")]),
], ids=["greatest-first-byte", "greatest-second-byte", "frequency-first", "overlap"])
def test_train_tie_break(impl, tmp_path, text, expected):
    path = tmp_path / "corpus.txt"
    path.write_bytes(text.encode("utf-8"))
    _, merges = impl.train_bpe(str(path), 256 + len(expected), [])
    merges = [(bytes(a), bytes(b)) for a, b in merges]
    assert merges == expected, (
        f"train_bpe on {text!r}: merges {merges}, expected {expected}. Rule: most frequent pair; among equal "
        f"counts the lexicographically GREATEST (left bytes, right bytes) wins; occurrences merge left to right "
        f"without overlap.")


def test_train_special_tokens_are_cut_out(impl, tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_bytes(("hello" + EOT) .encode() * 50 + b"world")
    vocab, merges = impl.train_bpe(str(path), 270, [EOT])
    values = [bytes(b) for b in vocab.values()]
    assert EOT.encode() in values, f"train_bpe: the special token {EOT!r} must be in the vocab"
    leaked = [(a, b) for a, b in merges if any(c in a + b for c in b"<|>")]
    assert not leaked, (
        f"train_bpe: merges {leaked[:3]} contain bytes of the special token {EOT!r}; the special token must be "
        f"removed from the training text before counting pairs (no merge may cross or include it)")


def test_train_reads_the_file_without_newline_translation(impl, tmp_path):
    path, corpus = corpus_path("crlf", tmp_path)
    vocab, merges = impl.train_bpe(str(path), 256 + 40, [])
    assert any(b"\r" in a + b for a, b in merges), (
        f"train_bpe on a file whose lines end in \\r\\n learned no merge with b'\\r' (merges {merges[:8]}...): the "
        f"file must be read as it is (open(path, encoding='utf-8', newline='') or bytes decoded as UTF-8); "
        f"text mode's default newline translation turns \\r\\n into \\n")


@pytest.mark.slow
def test_train_speed(impl, tmp_path):
    corpus = "".join(read_text(FIXTURES / f"{name}.txt") for name in CASES)
    path = tmp_path / "corpus.txt"
    path.write_bytes((corpus * 25).encode("utf-8"))  # ~100 KB, ~1000 distinct chunks
    t0 = time.perf_counter()
    vocab, _ = impl.train_bpe(str(path), 500, [EOT])
    elapsed = time.perf_counter() - t0
    assert len(vocab) == 500, f"train_bpe: expected 500 tokens, got {len(vocab)}"
    assert elapsed < TRAIN_SECONDS, (
        f"train_bpe to vocab 500 on {path.stat().st_size // 1000} KB took {elapsed:.2f} s, bound {TRAIN_SECONDS} s. "
        f"Likely cause: recounting all pairs after each merge; keep pair counts and a pair -> chunk index and "
        f"update only the chunks a merge touches (and count each distinct chunk once, with its frequency).")


# ----------------------------------------------------------------------------- encoding


@pytest.mark.parametrize("name", CASES)
def test_encode_matches_frozen_ids(impl, name):
    case = load_case(name)
    vocab = case_vocab(case)
    tok = impl.get_tokenizer(vocab, case_merges(case), case["special_tokens"])
    for entry in case["encode"]:
        allowed = "all" if entry["allowed_special"] == "all" else set()
        got = tok.encode(entry["text"], allowed_special=allowed)
        assert_ids(got, entry["ids"], vocab, f"encode({entry['text'][:40]!r}...) with the {name} fixture",
                   "merges applied in an order other than by rank (lowest rank first, every occurrence), or a "
                   "split pattern other than GPT-2's (contractions, spaces before words, digit runs, whitespace)")
        assert tok.decode(entry["ids"]) == entry["text"], f"decode(encode(text)) != text for {entry['text'][:40]!r}"


def test_merges_apply_by_rank_not_left_to_right(impl):
    merges = [(b"b", b"c"), (b"a", b"b")]  # rank 0: b+c, rank 1: a+b
    vocab = vocab_with(merges)  # bc = 256, ab = 257
    tok = impl.get_tokenizer(vocab, merges, [])
    assert_ids(tok.encode("abc"), [ord("a"), 256], vocab, "encode('abc') with merges [(b,c), (a,b)]",
               "merging the leftmost mergeable pair first; the pair with the LOWEST RANK must merge first, "
               "wherever it is")
    assert_ids(tok.encode("abcab"), [ord("a"), 256, 257], vocab, "encode('abcab') with merges [(b,c), (a,b)]",
               "merges must follow rank order, each applied at every non-overlapping place")


def test_merges_are_pairs_not_concatenations(impl):
    # "abc" is a token (made by ab + c), but after b+c merges first, (a, bc) is not a merge.
    merges = [(b"b", b"c"), (b"a", b"b"), (b"ab", b"c")]
    vocab = vocab_with(merges)  # bc 256, ab 257, abc 258
    tok = impl.get_tokenizer(vocab, merges, [])
    assert_ids(tok.encode("abc"), [ord("a"), 256], vocab, "encode('abc') with merges [(b,c), (a,b), (ab,c)]",
               "looking up concatenations (a + bc = 'abc' is a token) instead of the merge list; GPT-2's "
               "procedure only merges pairs that are in `merges`")


def test_overlapping_pair_merges_left_to_right(impl):
    merges = [(b"a", b"a")]
    vocab = vocab_with(merges)
    tok = impl.get_tokenizer(vocab, merges, [])
    assert_ids(tok.encode("aaa"), [256, ord("a")], vocab, "encode('aaa') with merge (a, a)",
               "occurrences of a pair must be merged left to right without overlap: aaa -> aa, a")


def test_contractions_follow_gpt2_pattern(impl):
    # Every merge below would apply if its two tokens were in one chunk.
    merges = [(b"'", b"s"), (b"'", b"t"), (b"'", b"l"), (b"'l", b"l"), (b"n", b"'"), (b"'", b"S"), (b"I", b"T"),
              (b"t", b"'"), (b" ", b"'")]
    vocab = vocab_with(merges)
    s_, t_, ll, it = 256, 257, 259, 262
    tok = impl.get_tokenizer(vocab, merges, [])
    cases = {
        "it's": [ord("i"), ord("t"), s_],                      # 's is a chunk of its own
        "don't": [ord("d"), ord("o"), ord("n"), t_],           # n|'t: "n'" must not merge
        "we'll": [ord("w"), ord("e"), ll],                     # 'll
        "IT'S": [it, ord("'"), ord("S")],                      # case-sensitive: 'S is not a contraction
        "'tis": [t_, ord("i"), ord("s")],                      # 't at the start of the text
        "x 'tis": [ord("x"), 264, ord("t"), ord("i"), ord("s")],  # " '" is punctuation: no 't after a space
    }
    for text, expected in cases.items():
        assert_ids(tok.encode(text), expected, vocab, f"encode({text!r})",
                   "contractions split wrongly: GPT-2's pattern starts with '(?:[sdmt]|ll|ve|re) (lower case "
                   "only, no leading space), so 's 't 'll 've 're 'm 'd are chunks of their own")


# ----------------------------------------------------------------------------- the split pattern, seen through merges


def gpt2_encode(raw: bytes, ranks: dict[tuple[bytes, bytes], int]) -> list[bytes]:
    """GPT-2's encode loop on one chunk: merge the lowest-rank pair everywhere, repeat."""
    parts = [bytes([v]) for v in raw]
    while len(parts) > 1:
        pair = min(zip(parts, parts[1:]), key=lambda p: ranks.get(p, len(ranks)))
        if pair not in ranks:
            break
        parts = list(merge_word(tuple(parts), pair))
    return parts


def chunk_probe_merges(chunk_lists: list[list[str]]) -> list[tuple[bytes, bytes]]:
    """Merges under which each given chunk encodes to ONE token, plus a merge (A, B) for every two
    chunks A, B that follow each other (unless A + B is a token already).

    So with these merges, text split exactly into these chunks encodes to one id per chunk; a
    splitter that cuts a chunk in two leaves it as several tokens, and one that joins two chunks
    merges them into the token A + B. (A chunk's own merges all rank below the joining merges, and
    GPT-2's procedure always takes the lowest rank, so no joining merge fires inside a chunk.)
    """
    merges: list[tuple[bytes, bytes]] = []
    ranks: dict[tuple[bytes, bytes], int] = {}
    tokens = {bytes([v]) for v in range(256)}

    def add(pair: tuple[bytes, bytes]) -> None:
        ranks[pair] = len(merges)
        merges.append(pair)
        tokens.add(pair[0] + pair[1])

    for chunk in sorted({c for chunks in chunk_lists for c in chunks}, key=lambda c: (len(c.encode()), c)):
        parts = gpt2_encode(chunk.encode("utf-8"), ranks)
        while len(parts) > 1:  # no pair of `parts` is a merge yet: add one whose result is a new token
            add(next(p for p in zip(parts, parts[1:]) if p[0] + p[1] not in tokens))
            parts = gpt2_encode(chunk.encode("utf-8"), ranks)
    for chunks in chunk_lists:
        for a, b in zip(chunks, chunks[1:]):
            pair = (a.encode("utf-8"), b.encode("utf-8"))
            if pair[0] + pair[1] not in tokens and pair not in ranks:
                add(pair)
    return merges


def split_hint(got: list[str], expected: list[str]) -> str:
    """The likely cause of a chunk mismatch, named only when the differing text shows it."""
    k = first_difference(got, expected)
    near = "".join(expected[max(0, k - 1):k + 2])
    hints = []
    if any(unicodedata.category(c) in ("Nl", "No") for c in near):
        hints.append("\\p{N} is every Unicode number (categories Nd, Nl, No: '½', 'Ⅻ', '²'); Python's \\d is Nd only")
    if any("\x1c" <= c <= "\x1f" for c in near):
        hints.append("\\s is Unicode's White_Space; Python's \\s (str.isspace) also matches U+001C..U+001F")
    if any(ord(c) > 0xFFFF and unicodedata.category(c)[0] in "LN" for c in near):
        hints.append("letters and numbers beyond U+FFFF ('𝔘', '𐐀', '𝟙') are \\p{L} / \\p{N} too")
    return "; ".join(hints) or "a split pattern other than GPT-2's (see spec/adapter_template.py, M5)"


@pytest.fixture(scope="module")
def probe(impl):
    """A tokenizer whose merges make each of GPT-2's chunks of the split cases one token."""
    merges = chunk_probe_merges([case["gpt2"] for case in CHUNKS["split"]])
    vocab = vocab_with(merges)
    return impl.get_tokenizer(vocab, merges, []), vocab


@pytest.mark.parametrize("k", range(len(CHUNKS["split"])), ids=[repr(c["text"][:14]) for c in CHUNKS["split"]])
def test_split_pattern_chunks_match_frozen(probe, k):
    tok, vocab = probe
    case = CHUNKS["split"][k]
    text, expected = case["text"], case["gpt2"]
    ids = list(tok.encode(text))
    got = [vocab[i].decode("utf-8", errors="backslashreplace") if i in vocab else f"<id {i}>" for i in ids]
    assert got == expected, (
        f"encode({text!r}) with merges that make each of GPT-2's chunks one token (frozen from the `regex` "
        f"package, spec/fixtures/tokenizer/chunks.json): got the tokens {got}, expected one per chunk "
        f"{expected}. A chunk cut in two stays as several tokens; two chunks joined merge into one. Likely "
        f"cause: {split_hint(got, expected)}")



def test_encode_iterable_keeps_chunks_across_line_pieces(probe):
    tok, vocab = probe  # every chunk one token: a chunk cut at a piece boundary shows as two tokens
    cases = [c for c in CHUNKS["split"] if "\n" in c["text"].rstrip("\n") or c["text"].count("\n") > 1]
    for case in cases:
        pieces = case["text"].splitlines(keepends=True)
        assert_ids(tok.encode_iterable(iter(pieces)), tok.encode(case["text"]), vocab,
                   f"encode_iterable({pieces!r}) vs encode({case['text']!r}) (GPT-2's chunks {case['gpt2']})",
                   "each piece encoded on its own: a chunk may continue into the next piece ('\\n' + '\\n' is one "
                   "chunk), so hold back the last chunk(s) of a piece until the next one shows where they end")

# ----------------------------------------------------------------------------- special tokens


@pytest.fixture(scope="module")
def special_tok(impl):
    case = load_case("english")
    vocab = case_vocab(case)
    eot_id = next(i for i, b in vocab.items() if b == EOT.encode())
    vocab[max(vocab) + 1] = EOT2.encode()
    tok = impl.get_tokenizer(vocab, case_merges(case), [EOT, EOT2])
    return tok, vocab, eot_id, max(vocab)


def test_special_tokens_round_trip_and_longest_wins(special_tok):
    tok, vocab, eot, eot2 = special_tok
    text = f"Hello{EOT}world{EOT2}!{EOT}"
    ids = tok.encode(text, allowed_special="all")
    assert [i for i in ids if i in (eot, eot2)] == [eot, eot2, eot], (
        f"encode({text!r}, allowed_special='all'): expected the special ids {eot} ({EOT!r}), {eot2} ({EOT2!r}), "
        f"{eot} in that order, got the ids {show(vocab, ids)}. Likely cause: specials not matched, or the shorter "
        f"of two overlapping specials chosen (the LONGER one must win)")
    assert tok.decode(ids) == text, f"decode(encode(text)) = {tok.decode(ids)!r}, expected {text!r}"
    for s, i in ((EOT, eot), (EOT2, eot2)):
        assert tok.encode(s, allowed_special="all") == [i], f"encode({s!r}, allowed_special='all') must be [{i}]"
        assert tok.decode([i]) == s, f"decode([{i}]) must be {s!r}"


def test_allowed_special_subset(special_tok):
    tok, vocab, eot, eot2 = special_tok
    ids = tok.encode(f"a{EOT}b", allowed_special={EOT})
    assert eot in ids and tok.decode(ids) == f"a{EOT}b", (
        f"encode(text, allowed_special={{{EOT!r}}}) must encode the allowed special as id {eot}; got {show(vocab, ids)}")


def test_disallowed_special_raises_by_default(special_tok):
    tok, vocab, eot, eot2 = special_tok
    with assert_clear_error(f"encode(text containing {EOT!r}) with no allowed_special", names=[re.escape(EOT)],
                            hint="special tokens are disallowed by default (tiktoken's rule), so a document that "
                                 "happens to contain one is never silently turned into a control token; the "
                                 "message must name the special token"):
        tok.encode(f"some text {EOT} more text")


def test_allowed_special_sets_are_independent(impl):
    # a fresh tokenizer: what one call allowed must not decide what the next call finds
    case = load_case("english")
    vocab = case_vocab(case)
    eot = next(i for i, b in vocab.items() if b == EOT.encode())
    vocab[max(vocab) + 1] = EOT2.encode()
    eot2 = max(vocab)
    tok = impl.get_tokenizer(vocab, case_merges(case), [EOT, EOT2])
    calls = [(f"a{EOT}b", {EOT}, [eot]), (f"a{EOT2}b{EOT}", "all", [eot2, eot]), (f"x{EOT}y", {EOT}, [eot]),
             (EOT * 3, "all", [eot2, eot])]
    for text, allowed, specials in calls:
        ids = tok.encode(text, allowed_special=allowed)
        assert [i for i in ids if i in (eot, eot2)] == specials and tok.decode(ids) == text, (
            f"encode({text!r}, allowed_special={allowed!r}) after the calls before it in {calls}: got "
            f"{show(vocab, ids)}, expected the special ids {specials}. Likely cause: the special-token matcher "
            f"compiled for one allowed set and reused for another (cache it per allowed set)")


def test_special_tokens_never_come_from_ordinary_text(special_tok):
    tok, vocab, eot, eot2 = special_tok
    for text in ("<|endoftext", "endoftext|>", "<|endoftext |>", "< |endoftext|>"):
        ids = tok.encode(text)
        assert eot not in ids and eot2 not in ids and tok.decode(ids) == text, (
            f"encode({text!r}) gave {show(vocab, ids)}: a special id from text that is not the special token")


# ----------------------------------------------------------------------------- decoding


def test_decode_invalid_utf8_is_replaced(multi):
    tok, vocab = multi
    cases = [[0xFF], [0xC3], [ord("a"), 0xE4, 0xBD], [0xC3, 0xA9], [0xF0, 0x9F, 0x98], [0x80, ord("b")]]
    for ids in cases:
        raw = b"".join(vocab[i] for i in ids)
        expected = raw.decode("utf-8", errors="replace")
        try:
            got = tok.decode(ids)
        except UnicodeDecodeError as e:
            raise AssertionError(f"decode({ids}) (bytes {raw!r}) raised {e!r}; invalid UTF-8 must become U+FFFD "
                                 f"(decode with errors='replace'), never an exception") from None
        assert got == expected, f"decode({ids}) (bytes {raw!r}) = {got!r}, expected {expected!r}"


# ----------------------------------------------------------------------------- properties

WHITESPACE = " \t\n\r\x0b\x0c\x85\xa0\u2000\u2028\u3000"
EMOJI = "😀👍🏽👩\u200d👩\u200d👧🇫🇷❤️\ufe0f🎉"
COMBINING = "e\u0301a\u0308\u20ddn\u0303\u0335\u0322"
CJK = "你好世界今天天气こんにちはカタカナ안녕하세요"
PUNCT = "'.,!?-\"()[]:;"

any_text = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.text(alphabet=WHITESPACE + "ab", max_size=40),
    st.text(alphabet=EMOJI + COMBINING + CJK + " ", max_size=40),
    st.text(alphabet="abc XYZ's'tll09" + PUNCT + "\n", max_size=60),
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=30),  # control characters
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(text=any_text)
def test_round_trip_and_ids_in_vocab(multi, text):
    tok, vocab = multi
    assume(EOT not in text)  # (special tokens have their own contracts)
    ids = tok.encode(text)
    assert all(isinstance(i, int) or hasattr(i, "__index__") for i in ids), f"encode({text!r}) returned non-ints {ids}"
    outside = [i for i in ids if i not in vocab]
    assert not outside, f"encode({text!r}) returned ids {outside} that are not in the vocab"
    assert tok.decode(ids) == text, (
        f"decode(encode(text)) != text for {text!r}: got {tok.decode(ids)!r} from {show(vocab, ids)}. Likely cause: "
        f"characters dropped by the split pattern (it must cover every character) or a wrong byte mapping")
    assert tok.encode(text) == ids, f"encode({text!r}) is not deterministic: a second call gave other ids"


def test_round_trip_fixed_strings(multi):
    tok, vocab = multi
    for text in ["", " ", "\n", "\r\n", "  \n\n\t ", "\x00\x01\x7f", "é", "e\u0301", "👩\u200d👩\u200d👧", "日本",
                 "a" * 500, " " * 300, read_text(FIXTURES / "multilingual.txt")]:
        ids = tok.encode(text)
        assert tok.decode(ids) == text, f"decode(encode({text[:30]!r})) = {tok.decode(ids)[:30]!r}"
        assert (text == "") == (ids == []), f"encode({text!r}) = {ids}: only the empty string has no tokens"


def test_determinism_across_instances_and_runs(impl, multi, tmp_path):
    tok, vocab = multi
    case = load_case("multilingual")
    other = impl.get_tokenizer(case_vocab(case), case_merges(case), [EOT])
    text = read_text(FIXTURES / "multilingual.txt") + read_text(FIXTURES / "code.txt")
    assert other.encode(text) == tok.encode(text), "two tokenizers built from the same vocab and merges disagree"
    path = tmp_path / "corpus.txt"
    path.write_bytes(text.encode("utf-8"))
    first, second = (impl.train_bpe(str(path), 300, [EOT]) for _ in range(2))
    assert [tuple(map(bytes, m)) for m in first[1]] == [tuple(map(bytes, m)) for m in second[1]], (
        "train_bpe gave different merges on two runs over the same file: iteration over a set or dict of "
        "pairs must not decide ties (use the documented tie-break)")


line = st.text(alphabet="ab '.,\t\r s\u00e9\U0001F600'tll\u3000" + "\x0b", max_size=12).map(lambda s: s + "\n")


@settings(max_examples=80, deadline=None, derandomize=True)
@given(lines=st.lists(line, max_size=12), tail=st.text(alphabet="ab .'\n ", max_size=5), data=st.data())
def test_encode_iterable_equals_encode(multi, lines, tail, data):
    tok, vocab = multi
    text = "".join(lines) + tail
    pieces, rest = [], lines + ([tail] if tail else [])
    while rest:  # group consecutive lines into pieces that end at line ends
        k = data.draw(st.integers(1, len(rest)))
        pieces.append("".join(rest[:k]))
        rest = rest[k:]
    got = list(tok.encode_iterable(iter(pieces)))
    assert_ids(got, tok.encode(text), vocab, f"encode_iterable({pieces!r}) vs encode(whole text)",
               "chunks cut at the piece boundaries: a piece may end inside what encode() sees as one chunk "
               "(e.g. ' \\n' then 'x'), so hold back the last chunk(s) until the next piece arrives; or a chunk "
               "lost or repeated at a boundary")


def test_encode_iterable_over_file_lines(multi):
    tok, vocab = multi
    for name in CASES:
        text = read_text(FIXTURES / f"{name}.txt").replace(EOT, "")
        got = list(tok.encode_iterable(text.splitlines(keepends=True)))
        assert_ids(got, tok.encode(text), vocab, f"encode_iterable(lines of {name}.txt) vs encode(text)",
                   "a chunk lost, repeated or split at a line boundary")


def test_encode_iterable_is_lazy(multi):
    tok, vocab = multi
    endless = itertools.repeat("to be or not to be\n")
    first = list(itertools.islice(tok.encode_iterable(endless), 1000))
    assert len(first) == 1000, "encode_iterable must yield ids lazily (it was given an endless stream)"
    assert tok.decode(first).startswith("to be or not to be\nto be"), "encode_iterable: wrong ids from a stream"


def distinct_words(n: int) -> Iterator[str]:
    """``n`` different lower-case words ("e", "t", ..., "te", ...), each written in base 18."""
    letters = "etaoinshrdlucmfwyp"
    for i in range(n):
        word = letters[i % 18]
        while i >= 18:
            i //= 18
            word += letters[i % 18]
        yield word


def distinct_lines(n: int) -> Iterator[str]:
    """Lines of 12 words, ``n`` distinct words in all: a stream whose chunks almost never repeat."""
    words = distinct_words(n)
    while line := list(itertools.islice(words, 12)):
        yield " ".join(line) + "\n"


def test_encode_iterable_many_distinct_words_equals_encode(multi):
    tok, vocab = multi
    lines = list(distinct_lines(DISTINCT_WORDS))
    assert_ids(tok.encode_iterable(lines), tok.encode("".join(lines)), vocab,
               f"encode_iterable over {len(lines)} lines of {DISTINCT_WORDS} distinct words vs encode(whole text)",
               "a chunk cache that loses entries when it is cleared or evicts (two encodes that together see more "
               "distinct chunks than it holds)")


# Runs in a fresh interpreter so the process's peak resident set can be reset (Linux:
# writing "5" to /proc/self/clear_refs resets VmHWM) and read back after the stream.
MEMORY_SCRIPT = r"""
import collections, json, sys
from spec.plugin import load_adapter
from spec.test_m5_bpe import distinct_lines
impl_spec, fixture, source = sys.argv[1:4]
def status(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith(key))
def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return status("VmRSS:")
case = json.load(open(fixture, encoding="utf-8"))
vocab = {int(i): bytes.fromhex(h) for i, h in case["vocab"].items()}
merges = [(bytes.fromhex(a), bytes.fromhex(b)) for a, b in case["merges"]]
try:
    tok = load_adapter(impl_spec).get_tokenizer(vocab, merges, case["special_tokens"])
    if source.startswith("distinct:"):  # the peak over the last 2/3 of a stream of distinct words
        n = int(source.split(":")[1])
        lines = distinct_lines(n)
        marks = {}
        def stream():
            for k, line in enumerate(lines):
                if k == n // 12 // 3:
                    marks["before"] = reset_peak()
                yield line
        last = collections.deque(enumerate(tok.encode_iterable(stream()), 1), maxlen=1)
        before = marks["before"]
    else:  # the peak over a whole file of repeated lines, after a warm-up
        with open(source, encoding="utf-8", newline="") as f:  # warm up: caches, compiled patterns
            warm = sum(1 for _, _ in zip(range(100_000), tok.encode_iterable(f)))
        before = reset_peak()
        with open(source, encoding="utf-8", newline="") as f:
            last = collections.deque(enumerate(tok.encode_iterable(f), 1), maxlen=1)  # counts at C speed
    print(json.dumps({"ids": last[0][0] if last else 0, "before": before, "peak": status("VmHWM:")}))
except NotImplementedError as e:
    print(str(e) or "NotImplementedError")
    sys.exit(3)
"""


def run_memory_probe(request, source: str) -> dict:
    """Run MEMORY_SCRIPT on the english fixture's tokenizer: ids yielded, RSS before, peak RSS after."""
    from spec.plugin import ROOT, impl_spec

    result = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, impl_spec(request.config), str(FIXTURES / "bpe_english.json"), source],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    if result.returncode == 3:
        raise NotImplementedError(result.stdout.strip().splitlines()[-1])
    assert result.returncode == 0, f"the memory probe crashed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux") or not Path("/proc/self/clear_refs").exists(),
                                reason="memory contract measured on Linux only (/proc/self/clear_refs)")


@pytest.mark.slow
@linux_only
def test_encode_iterable_memory(request, tmp_path):
    lines = read_text(FIXTURES / "english.txt").replace(EOT, "").splitlines(keepends=True)
    path = tmp_path / "big.txt"
    with open(path, "w", encoding="utf-8", newline="") as f:
        written = 0
        for i in itertools.count():
            written += f.write(lines[i % len(lines)])
            if written >= STREAM_BYTES:
                break
    m = run_memory_probe(request, str(path))
    extra = m["peak"] - m["before"]
    assert m["ids"] > STREAM_BYTES // 10, f"encode_iterable over a 5 MB file yielded only {m['ids']} ids"
    assert extra < STREAM_MEMORY_LIMIT, (
        f"encode_iterable over a {STREAM_BYTES // 10**6} MB file raised the peak resident memory by "
        f"{extra / 1e6:.2f} MB (limit {STREAM_MEMORY_LIMIT / 1e6:.1f} MB; measured as VmHWM after the stream minus "
        f"VmRSS before it, in a fresh process). Likely cause: reading the whole stream or collecting all ids "
        f"before yielding")


@pytest.mark.slow
@linux_only
def test_encode_iterable_memory_on_distinct_words(request):
    n = 3 * DISTINCT_WORDS
    m = run_memory_probe(request, f"distinct:{n}")
    extra = m["peak"] - m["before"]
    assert m["ids"] > n, f"encode_iterable over {n} distinct words yielded only {m['ids']} ids"
    assert extra < DISTINCT_MEMORY_LIMIT, (
        f"encode_iterable over a stream of {n} distinct words: the peak resident memory grew by {extra / 1e6:.1f} MB "
        f"over the last two thirds of the stream (limit {DISTINCT_MEMORY_LIMIT / 1e6:.0f} MB, in a fresh process). "
        f"Likely cause: a chunk cache without a bound (it keeps every distinct chunk ever seen); cap its entries")
