"""GPT-2's tokenizer files: ``vocab.json`` + ``merges.txt`` <-> numgpt's :class:`BPETokenizer`.

GPT-2 stores tokens as printable strings: each byte maps to one character by
:func:`bytes_to_unicode` (printable Latin-1 bytes map to themselves, the other 68 bytes to
U+0100 onwards, so " " is "Ġ" and "\\n" is "Ċ"). ``vocab.json`` maps token string -> id;
``merges.txt`` starts with a ``#version: 0.2`` line, then one ``left right`` pair per line in rank
order. ``<|endoftext|>`` (id 50256 in GPT-2) is a special token. Encoding is GPT-2's: the
merge-list procedure with GPT-2's split pattern, which :class:`BPETokenizer` already implements.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from .bpe import BPETokenizer
from .patterns import GPT2_SPLIT_PATTERN

__all__ = ["bytes_to_unicode", "load_gpt2_tokenizer", "save_gpt2_tokenizer", "load_tokenizer_json", "MERGES_VERSION", "ENDOFTEXT"]

MERGES_VERSION = "#version: 0.2"
ENDOFTEXT = "<|endoftext|>"


@functools.lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> character table (``encoder.py``'s ``bytes_to_unicode``)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {b: chr(b) for b in printable}, 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _to_bytes(token: str, where: str) -> bytes:
    decoder = {c: b for b, c in bytes_to_unicode().items()}
    try:
        return bytes(decoder[c] for c in token)
    except KeyError as e:
        raise ValueError(f"{where}: token {token!r} has the character {e.args[0]!r}, which is not in GPT-2's "
                         f"byte-to-unicode table") from None


def load_gpt2_tokenizer(vocab_path: str | os.PathLike, merges_path: str | os.PathLike) -> BPETokenizer:
    """A :class:`BPETokenizer` from GPT-2's ``vocab.json`` and ``merges.txt`` (ids are GPT-2's)."""
    try:
        vocab_json = json.loads(Path(vocab_path).read_text(encoding="utf-8"))
        lines = Path(merges_path).read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read the GPT-2 tokenizer files {vocab_path}, {merges_path}: {e}") from None
    if not isinstance(vocab_json, dict):
        raise ValueError(f"{vocab_path}: expected a JSON object token -> id")
    bad = next(((s, i) for s, i in vocab_json.items() if isinstance(i, bool) or not isinstance(i, int) or i < 0), None)
    if bad is not None:
        raise ValueError(f"{vocab_path}: token {bad[0]!r} has the id {bad[1]!r}; ids must be integers >= 0")
    specials = {s: int(i) for s, i in vocab_json.items() if s.startswith("<|") and s.endswith("|>")}
    vocab = {int(i): _to_bytes(s, str(vocab_path)) for s, i in vocab_json.items() if s not in specials}
    merges = []
    for n, line in enumerate(lines, 1):
        if not line or line.startswith("#version"):
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise ValueError(f"{merges_path}, line {n}: expected 'left right', got {line[:80]!r}")
        merges.append((_to_bytes(parts[0], f"{merges_path}, line {n}"), _to_bytes(parts[1], f"{merges_path}, line {n}")))
    return BPETokenizer(vocab, merges, specials, pattern=GPT2_SPLIT_PATTERN)


def save_gpt2_tokenizer(tok: BPETokenizer, directory: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``tok`` as ``directory/vocab.json`` + ``directory/merges.txt`` in GPT-2's exact format
    (same JSON spacing, ``#version: 0.2`` line, ids as ``tok``'s). Returns both paths."""
    if tok.uses_ranks or tok.pattern != GPT2_SPLIT_PATTERN:
        raise ValueError("save_gpt2_tokenizer: GPT-2's files describe a merge-list BPE with GPT-2's split pattern; "
                         f"this tokenizer uses {'ranks' if tok.uses_ranks else 'another pattern'}")
    table = bytes_to_unicode()
    show = lambda b: "".join(table[v] for v in b)  # noqa: E731
    vocab = {show(b): i for i, b in sorted(tok.vocab.items()) if i not in tok.special_tokens.values()}
    vocab.update(tok.special_tokens)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab_path, merges_path = directory / "vocab.json", directory / "merges.txt"
    vocab_path.write_text(json.dumps(dict(sorted(vocab.items(), key=lambda kv: kv[1])), ensure_ascii=False,
                                     separators=(",", ":")), encoding="utf-8")
    merges_path.write_text("\n".join([MERGES_VERSION] + [f"{show(a)} {show(b)}" for a, b in tok.merges]) + "\n",
                           encoding="utf-8")
    return vocab_path, merges_path


def load_tokenizer_json(path: str | os.PathLike) -> BPETokenizer:
    """A Hugging Face ``tokenizer.json`` whose model is byte-level BPE (``model.type == "BPE"``,
    ``pre_tokenizer.type == "ByteLevel"``, GPT-2's split pattern). Any other kind raises
    ``ValueError`` saying "not supported" and naming the kind."""
    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read {path}: {e}") from None
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: expected a JSON object (a tokenizer.json), got {type(spec).__name__}")
    model, pre_tokenizer = spec.get("model") or {}, spec.get("pre_tokenizer") or {}
    kind, pre = model.get("type"), pre_tokenizer.get("type")
    if kind != "BPE" or pre != "ByteLevel":
        raise ValueError(f"{path}: tokenizer kind model.type={kind!r}, pre_tokenizer={pre!r} is not supported "
                         f"(only byte-level BPE: model.type 'BPE' with the 'ByteLevel' pre-tokenizer)")
    specials = {t["content"]: int(t["id"]) for t in spec.get("added_tokens") or [] if t.get("special")}
    vocab = {int(i): _to_bytes(s, str(path)) for s, i in model["vocab"].items() if s not in specials}
    merges = []
    for n, m in enumerate(model.get("merges") or []):
        left, right = m.split(" ") if isinstance(m, str) else m
        merges.append((_to_bytes(left, f"{path}, merge #{n}"), _to_bytes(right, f"{path}, merge #{n}")))
    return BPETokenizer(vocab, merges, specials, pattern=GPT2_SPLIT_PATTERN)
