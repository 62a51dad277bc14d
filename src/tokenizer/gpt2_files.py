"""Hub tokenizer files: GPT-2's ``vocab.json`` + ``merges.txt`` and byte-level BPE ``tokenizer.json``
<-> numgpt's :class:`BPETokenizer`.

GPT-2 stores tokens as printable strings: each byte maps to one character by
:func:`bytes_to_unicode` (printable Latin-1 bytes map to themselves, the other 68 bytes to
U+0100 onwards, so " " is "Ġ" and "\\n" is "Ċ"). ``vocab.json`` maps token string -> id;
``merges.txt`` starts with a ``#version: 0.2`` line, then one ``left right`` pair per line in rank
order. ``<|endoftext|>`` (id 50256 in GPT-2) is a special token. Encoding is GPT-2's: the
merge-list procedure with GPT-2's split pattern, which :class:`BPETokenizer` already implements.

A ``tokenizer.json`` (the ``tokenizers`` library's file, which Llama-family checkpoints ship) holds
the same vocab and merges in its ``model``, the special tokens in ``added_tokens``, and the
pre-tokenizer that picks the split pattern; only byte-level BPE with a known pattern is read
(``load_tokenizer_json``). ``load_tokenizer_dir`` picks whichever a checkpoint directory has.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from .bpe import BPETokenizer
from .patterns import GPT2_DIGITS_SPLIT_PATTERN, GPT2_SPLIT_PATTERN, known_pattern

__all__ = ["bytes_to_unicode", "load_gpt2_tokenizer", "save_gpt2_tokenizer", "load_tokenizer_json", "save_tokenizer_json",
           "load_tokenizer_dir", "MERGES_VERSION", "ENDOFTEXT", "HF_PATTERN_ALIASES"]

MERGES_VERSION = "#version: 0.2"
ENDOFTEXT = "<|endoftext|>"

# How Hugging Face tokenizer.json files spell numgpt's known patterns in a ``Split`` pre-tokenizer:
# GPT-2's original regex (encoder.py), which GPT2_SPLIT_PATTERN is equivalent to.
HF_PATTERN_ALIASES = {r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""": "gpt2"}


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


def _check_ids(vocab: dict, where: str) -> None:
    """Refuse a token -> id map whose ids are not all integers >= 0, naming the first bad token."""
    bad = next(((s, i) for s, i in vocab.items() if isinstance(i, bool) or not isinstance(i, int) or i < 0), None)
    if bad is not None:
        raise ValueError(f"{where}: token {bad[0]!r} has the id {bad[1]!r}; ids must be integers >= 0")


def load_gpt2_tokenizer(vocab_path: str | os.PathLike, merges_path: str | os.PathLike) -> BPETokenizer:
    """A :class:`BPETokenizer` from GPT-2's ``vocab.json`` and ``merges.txt`` (ids are GPT-2's)."""
    try:
        vocab_json = json.loads(Path(vocab_path).read_text(encoding="utf-8"))
        lines = Path(merges_path).read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read the GPT-2 tokenizer files {vocab_path}, {merges_path}: {e}") from None
    if not isinstance(vocab_json, dict):
        raise ValueError(f"{vocab_path}: expected a JSON object token -> id")
    _check_ids(vocab_json, str(vocab_path))
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


def _hub_vocab(tok: BPETokenizer, what: str, patterns: tuple[str, ...] = (GPT2_SPLIT_PATTERN,)
               ) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """``(token string -> id, merges as string pairs)`` of ``tok`` in GPT-2's byte-to-unicode spelling,
    ids in order, the special tokens last; only a merge-list BPE with one of ``patterns`` has them."""
    if tok.uses_ranks or tok.pattern not in patterns:
        raise ValueError(f"{what}: these files describe a merge-list BPE with GPT-2's split pattern"
                         f"{' (or its individual-digits form)' if len(patterns) > 1 else ''}; "
                         f"this tokenizer uses {'ranks' if tok.uses_ranks else 'another pattern'}")
    table = bytes_to_unicode()
    show = lambda b: "".join(table[v] for v in b)  # noqa: E731
    vocab = {show(b): i for i, b in sorted(tok.vocab.items()) if i not in tok.special_tokens.values()}
    vocab.update(tok.special_tokens)
    return dict(sorted(vocab.items(), key=lambda kv: kv[1])), [(show(a), show(b)) for a, b in tok.merges]


def save_gpt2_tokenizer(tok: BPETokenizer, directory: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``tok`` as ``directory/vocab.json`` + ``directory/merges.txt`` in GPT-2's exact format
    (same JSON spacing, ``#version: 0.2`` line, ids as ``tok``'s). Returns both paths."""
    vocab, merges = _hub_vocab(tok, "save_gpt2_tokenizer")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab_path, merges_path = directory / "vocab.json", directory / "merges.txt"
    vocab_path.write_text(json.dumps(vocab, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    merges_path.write_text("\n".join([MERGES_VERSION] + [f"{a} {b}" for a, b in merges]) + "\n", encoding="utf-8")
    return vocab_path, merges_path


# the byte-level pieces of a tokenizer.json as the ``tokenizers`` library writes them for GPT-2
_BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
# SmolLM's (StarCoder's) first pre-tokenizer: every digit a piece of its own
_DIGITS = {"type": "Digits", "individual_digits": True}


def save_tokenizer_json(tok: BPETokenizer, path: str | os.PathLike) -> Path:
    """Write ``tok`` as a Hugging Face ``tokenizer.json`` in the ``tokenizers`` library's structure
    (GPT-2's: a byte-level BPE model, the ``ByteLevel`` pre-tokenizer with its GPT-2 regex, the
    ``ByteLevel`` decoder; the special tokens in ``added_tokens`` and in the vocab). Returns the path."""
    vocab, merges = _hub_vocab(tok, "save_tokenizer_json", (GPT2_SPLIT_PATTERN, GPT2_DIGITS_SPLIT_PATTERN))
    pre_tokenizer: dict = dict(_BYTE_LEVEL)
    if tok.pattern == GPT2_DIGITS_SPLIT_PATTERN:  # SmolLM's form
        pre_tokenizer = {"type": "Sequence", "pretokenizers": [_DIGITS, pre_tokenizer]}
    added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": True} for s, i in sorted(tok.special_tokens.items(), key=lambda kv: kv[1])]
    spec = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
            "pre_tokenizer": pre_tokenizer, "post_processor": {**_BYTE_LEVEL, "trim_offsets": False},
            "decoder": dict(_BYTE_LEVEL),
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                      "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                      "vocab": vocab, "merges": [list(m) for m in merges]}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def _describe(pre: object) -> str:
    """A pre-tokenizer's kind for an error message: ``ByteLevel``, ``Sequence[Digits, ByteLevel]`` ..."""
    if not isinstance(pre, dict):
        return repr(pre)
    if pre.get("type") == "Sequence":
        return f"Sequence[{', '.join(_describe(p) for p in pre.get('pretokenizers') or [])}]"
    return str(pre.get("type"))


def _split_pattern(pre: object, where: str) -> str:
    """The split pattern a ``tokenizer.json`` pre-tokenizer amounts to, if numgpt has it: ``ByteLevel``
    with its own regex (``use_regex``, GPT-2's pattern), alone or as a one-element ``Sequence``; or a
    ``Sequence`` of a ``Split`` by a known pattern (``Isolated``) and a ``ByteLevel`` without regex.
    Or SmolLM's ``Sequence[Digits(individual_digits=True), ByteLevel]`` (``GPT2_DIGITS_SPLIT_PATTERN``).
    Anything else (``Digits`` grouping digit runs, ``add_prefix_space``, an unknown regex) is refused naming it."""
    def byte_level(p: object, use_regex: bool) -> bool:
        return isinstance(p, dict) and p.get("type") == "ByteLevel" and not p.get("add_prefix_space", False) \
            and bool(p.get("use_regex", True)) == use_regex

    parts = pre.get("pretokenizers") if isinstance(pre, dict) and pre.get("type") == "Sequence" else [pre]
    parts = parts if isinstance(parts, list) else [parts]
    if len(parts) == 1 and byte_level(parts[0], True):
        return GPT2_SPLIT_PATTERN
    if len(parts) == 2 and byte_level(parts[1], True) and isinstance(parts[0], dict) \
            and parts[0].get("type") == "Digits" and parts[0].get("individual_digits") is True:
        return GPT2_DIGITS_SPLIT_PATTERN  # SmolLM-style: Sequence[Digits(individual_digits), ByteLevel]
    if len(parts) == 2 and byte_level(parts[1], False) and isinstance(parts[0], dict) \
            and parts[0].get("type") == "Split" and parts[0].get("behavior") == "Isolated" \
            and not parts[0].get("invert", False):
        regex = (parts[0].get("pattern") or {}).get("Regex")
        return known_pattern(HF_PATTERN_ALIASES.get(regex, regex), f"{where}: pre_tokenizer Split")
    raise ValueError(f"{where}: pre_tokenizer {_describe(pre)} is not supported (only byte-level BPE with GPT-2's "
                     f"split: the 'ByteLevel' pre-tokenizer with use_regex and without add_prefix_space, alone or "
                     f"after 'Digits' with individual_digits (SmolLM's), or a 'Split' by a known pattern then "
                     f"'ByteLevel' without regex)")


def load_tokenizer_json(path: str | os.PathLike) -> BPETokenizer:
    """A Hugging Face ``tokenizer.json`` whose model is byte-level BPE (``model.type == "BPE"``, a
    pre-tokenizer that amounts to a split pattern numgpt knows, see ``_split_pattern``; no normalizer,
    no byte fallback, no ``ignore_merges``). Any other kind raises ``ValueError`` saying "not supported"
    and naming the kind. The ``added_tokens`` marked special are the special tokens."""
    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read {path}: {e}") from None
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: expected a JSON object (a tokenizer.json), got {type(spec).__name__}")
    model, pre_tokenizer = spec.get("model") or {}, spec.get("pre_tokenizer") or {}
    kind, pre = model.get("type"), pre_tokenizer.get("type")
    if kind != "BPE" or pre not in ("ByteLevel", "Sequence"):
        raise ValueError(f"{path}: tokenizer kind model.type={kind!r}, pre_tokenizer={pre!r} is not supported "
                         f"(only byte-level BPE: model.type 'BPE' with the 'ByteLevel' pre-tokenizer)")
    pattern = _split_pattern(pre_tokenizer, str(path))
    unsupported = [(key, value) for key, value in (("normalizer", (spec.get("normalizer") or {}).get("type")),
                                                   ("model.byte_fallback", model.get("byte_fallback")),
                                                   ("model.ignore_merges", model.get("ignore_merges")),
                                                   ("model.continuing_subword_prefix", model.get("continuing_subword_prefix")),
                                                   ("model.end_of_word_suffix", model.get("end_of_word_suffix")),
                                                   ("model.dropout", model.get("dropout"))) if value]
    if unsupported:
        key, value = unsupported[0]
        raise ValueError(f"{path}: {key} {value!r} is not supported (numgpt's byte-level BPE has none)")
    try:
        _check_ids(model["vocab"], f"{path}: model.vocab")
        specials = {t["content"]: t["id"] for t in spec.get("added_tokens") or [] if t.get("special")}
        _check_ids(specials, f"{path}: added_tokens")
        vocab = {int(i): _to_bytes(s, str(path)) for s, i in model["vocab"].items() if s not in specials}
        merges = []
        for n, m in enumerate(model.get("merges") or []):
            pair = m.split(" ") if isinstance(m, str) else m
            if not isinstance(pair, list) or len(pair) != 2:
                raise ValueError(f"{path}, merge #{n}: expected 'left right' or [left, right], got {m!r:.80}")
            merges.append((_to_bytes(pair[0], f"{path}, merge #{n}"), _to_bytes(pair[1], f"{path}, merge #{n}")))
        return BPETokenizer(vocab, merges, specials, pattern=pattern)
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{path}: not a tokenizer.json BPE model (model.vocab, model.merges, added_tokens): "
                         f"{e!r}") from None
    except ValueError as e:
        raise ValueError(f"{path}: {e}" if str(path) not in str(e) else str(e)) from None


def load_tokenizer_dir(directory: str | os.PathLike) -> BPETokenizer:
    """The tokenizer of a hub-layout checkpoint directory: ``vocab.json`` + ``merges.txt`` when both
    are there (GPT-2), else ``tokenizer.json``; neither is a ValueError naming the directory."""
    directory = Path(directory)
    if (directory / "vocab.json").is_file() and (directory / "merges.txt").is_file():
        return load_gpt2_tokenizer(directory / "vocab.json", directory / "merges.txt")
    if (directory / "tokenizer.json").is_file():
        return load_tokenizer_json(directory / "tokenizer.json")
    raise ValueError(f"{directory}: no tokenizer files (expected vocab.json + merges.txt, or tokenizer.json)")
