"""Data: text -> token-id files (``prepare``), random training windows (``get_batch``).

A prepared dataset is a directory with three files::

    train.bin   the first 90% of the text's tokens, raw little-endian uint16 (uint32 if the
    val.bin     vocabulary has more than 65,536 tokens), read back memory-mapped
    meta.json   {"format", "dataset", "vocab_size", "dtype", "train_tokens", "val_tokens",
                 "source", "source_sha256", "tokenizer": <the tokenizer's to_dict()>,
                 "tokenizer_sha256", "files": {"train.bin": {"bytes", "fingerprint"}, "val.bin": ...}}

``load_split`` refuses a ``.bin`` whose size or fingerprint (``fingerprint``: SHA-256 of the size
and the first and last MiB, cheap for any size) differs from meta.json's record, and a meta.json
whose dtype is not an unsigned integer type wide enough for its vocab_size. A meta.json written
before these fields existed loads as before.

The split is by characters of the text, 90/10, as nanoGPT's shakespeare_char ``prepare.py``.
``meta.json`` is written last, so its presence means the directory is complete.

The default source of ``shakespeare_char`` is the copy of Tiny Shakespeare shipped in the package
(``corpora/tinyshakespeare.txt.bz2``, package data; ``corpora/README.md`` says where it comes
from), checked against its SHA-256 each time it is read: preparing it needs no network.
"""
from __future__ import annotations

import bz2
import hashlib
import importlib.resources
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..checkpoint import WriteError, write_atomically

DATA_FORMAT = "numgpt-data-v1"
SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
# Datasets with a default source: name -> (canonical url, sha256 of the file).
KNOWN_DATASETS = {"shakespeare_char": (SHAKESPEARE_URL, SHAKESPEARE_SHA256)}
# Datasets shipped in the package (the default source, read with no network): name -> file in corpora/
BUNDLED = {"shakespeare_char": "tinyshakespeare.txt.bz2"}
BUNDLED_PREFIX = "bundled:"  # how meta.json's "source" names a bundled file
TRAIN_FRACTION = 0.9
FINGERPRINT_SPAN = 1 << 20  # bytes hashed at each end of a .bin by fingerprint()


class DataError(ValueError):
    """A problem with a data source or a prepared dataset; the message says what to do."""


# ----------------------------------------------------------------------------- sources


def read_source(source: str | None, dataset: str, timeout: float = 30.0) -> tuple[str, str, str]:
    """Read a dataset's text: ``(text, where it came from, sha256 of its bytes)``.

    ``source`` is a local path, an http(s) URL, or None for the dataset's default: the copy
    shipped in the package (``BUNDLED``; no network). A download of a canonical URL must match
    its known SHA-256.
    """
    if source is None or source == "":
        if dataset not in BUNDLED:
            raise DataError(f"dataset {dataset!r} has no default source; pass one with --source PATH_OR_URL "
                            f"(datasets shipped with numgpt: {sorted(BUNDLED)})")
        raw = read_bundled(dataset)
        source, digest = BUNDLED_PREFIX + BUNDLED[dataset], KNOWN_DATASETS[dataset][1]
    elif source.startswith(("http://", "https://")):
        raw = _download(source, dataset, timeout)
        expected = {url: sha for url, sha in KNOWN_DATASETS.values()}.get(source)
        digest = hashlib.sha256(raw).hexdigest()
        if expected is not None and digest != expected:
            raise DataError(f"the download of {source} has SHA-256 {digest}, but the canonical file has {expected}; "
                            f"the file is corrupt or changed. Pass a verified local copy with --source PATH")
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            problem = "is a directory, not a file" if path.is_dir() else "does not exist"
            raise DataError(f"source file {path} {problem} (pass a UTF-8 text file with --source PATH)")
        raw = path.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{source} is not UTF-8 text: invalid byte at offset {e.start} ({e.reason})") from None
    if not text:
        raise DataError(f"{source} is empty")
    return text, source, digest


def read_bundled(dataset: str) -> bytes:
    """The bytes of the corpus shipped in the package for ``dataset``, decompressed and checked
    against the dataset's known SHA-256 (a mismatch means a damaged installation)."""
    resource = importlib.resources.files(__package__) / "corpora" / BUNDLED[dataset]
    try:
        raw = bz2.decompress(resource.read_bytes())
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"the bundled corpus {resource} cannot be read ({e}); reinstall numgpt, or pass the "
                        f"text with --source PATH_OR_URL") from None
    expected = KNOWN_DATASETS[dataset][1]
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected:
        raise DataError(f"the bundled corpus {resource} decompresses to bytes with SHA-256 {digest}, expected "
                        f"{expected}: the file is damaged; reinstall numgpt, or pass the text with --source PATH")
    return raw


def _download(url: str, dataset: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", e)
        raise DataError(
            f"could not download {url} ({reason}). Without network access, get the file another way and pass "
            f"the local copy: python -m numgpt prepare --dataset {dataset} --source PATH/TO/input.txt "
            f"(or add --source PATH to the train command)"
        ) from None


# ----------------------------------------------------------------------------- tokenizers


def make_tokenizer(kind: str, text: str, vocab_size: int | None = None) -> Any:
    """A new tokenizer for ``text``: ``"char"`` (one id per distinct character), ``"bpe"``
    (byte-level BPE trained on ``text`` to ``vocab_size`` tokens), or a checkpoint's: a hub name
    (``gpt2``: its config.json and tokenizer files are fetched) or a directory holding vocab.json +
    merges.txt or tokenizer.json."""
    from .. import tokenizer as tok

    if kind == "char":
        return tok.CharTokenizer.from_text(text)
    if kind == "bpe":
        if not vocab_size or vocab_size <= 256:
            raise DataError(f"the bpe tokenizer needs a vocab_size > 256 (the 256 byte tokens), got {vocab_size}: "
                            f"pass --vocab_size N to prepare or train")
        return tok.train_bpe(text, vocab_size)
    from ..hub import resolve
    from ..tokenizer.gpt2_files import load_tokenizer_dir

    try:
        return load_tokenizer_dir(resolve(kind, tokenizer_only=True))
    except ValueError as e:
        raise DataError(f"tokenizer {kind!r}: {e} (expected 'char', 'bpe', a hub name like gpt2, or a directory "
                        f"with GPT-2's vocab.json + merges.txt or a byte-level BPE tokenizer.json)") from None


def tokenizer_from_dict(d: dict[str, Any]) -> Any:
    """Rebuild a tokenizer from its ``to_dict()`` (as stored in meta.json and checkpoints)."""
    from .. import tokenizer as tok

    return tok.from_dict(d)


# ----------------------------------------------------------------------------- prepare


def prepare(dataset: str, out_dir: str | Path, source: str | None = None, tokenizer: str = "char",
            vocab_size: int | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Tokenize a text into ``out_dir/{train.bin, val.bin, meta.json}``; returns the meta dict."""
    text, where, digest = read_source(source, dataset)
    canonical = KNOWN_DATASETS.get(dataset, (None, None))[1]
    if canonical and digest != canonical:
        log(f"note: {where} is not the canonical {dataset} file (SHA-256 {digest[:12]}...); using it anyway")
    n = len(text)
    train_text, val_text = text[: int(n * TRAIN_FRACTION)], text[int(n * TRAIN_FRACTION):]
    # The char vocabulary comes from the whole text (as nanoGPT); BPE merges are learnt on train only.
    tok = make_tokenizer(tokenizer, text if tokenizer == "char" else train_text, vocab_size)
    dtype = np.uint16 if tok.vocab_size <= 1 << 16 else np.uint32
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WriteError(out, e) from None
    counts = {}
    for split, part in (("train", train_text), ("val", val_text)):
        ids = np.asarray(tok.encode(part), dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= tok.vocab_size):
            raise DataError(f"the tokenizer produced ids outside [0, {tok.vocab_size}) for the {split} split")
        write_atomically(out / f"{split}.bin", lambda f: f.write(ids.astype(dtype).tobytes()))
        counts[split] = int(ids.size)
    meta = {
        "format": DATA_FORMAT, "dataset": dataset, "vocab_size": int(tok.vocab_size),
        "dtype": np.dtype(dtype).name, "train_tokens": counts["train"], "val_tokens": counts["val"],
        "source": where, "source_sha256": digest, "tokenizer": tok.to_dict(),
    }
    meta["tokenizer_sha256"] = tokenizer_identity(meta["tokenizer"])
    meta["files"] = {f"{split}.bin": {"bytes": (out / f"{split}.bin").stat().st_size,
                                      "fingerprint": fingerprint(out / f"{split}.bin")} for split in counts}
    write_atomically(out / "meta.json", lambda f: f.write(json.dumps(meta).encode()))
    log(f"prepared {dataset} in {out}: vocab {tok.vocab_size} ({tokenizer}), "
        f"{counts['train']:,} train and {counts['val']:,} val tokens ({np.dtype(dtype).name})")
    return meta


def fingerprint(path: Path) -> str:
    """SHA-256 of a file's size and its first and last ``FINGERPRINT_SPAN`` bytes."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(FINGERPRINT_SPAN))
        f.seek(max(0, size - FINGERPRINT_SPAN))
        h.update(f.read(FINGERPRINT_SPAN))
    return h.hexdigest()


def tokenizer_identity(tokenizer: dict[str, Any] | None) -> str:
    """SHA-256 of a tokenizer's ``to_dict()`` (canonical JSON): equal iff the tokenizers are."""
    return hashlib.sha256(json.dumps(tokenizer, sort_keys=True).encode()).hexdigest()


# ----------------------------------------------------------------------------- reading


def load_meta(data_dir: str | Path) -> dict[str, Any]:
    path = Path(data_dir) / "meta.json"
    if not path.is_file():
        raise DataError(f"no prepared dataset in {data_dir} ({path} is missing); run python -m numgpt prepare")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path} is not valid JSON ({e}); delete the directory and prepare again") from None
    if not isinstance(meta, dict) or meta.get("format") != DATA_FORMAT:
        raise DataError(f"{path} is not a numgpt dataset meta file (format {DATA_FORMAT!r} expected)")
    try:
        dtype = np.dtype(meta.get("dtype"))
    except TypeError:
        dtype = None
    vocab = meta.get("vocab_size")
    if isinstance(vocab, bool) or not isinstance(vocab, int) or vocab <= 0:
        raise DataError(f"{path}: vocab_size must be a positive integer, got {vocab!r}; prepare the dataset again")
    if dtype is None or dtype.kind != "u" or vocab > 1 << (8 * dtype.itemsize):
        raise DataError(f"{path}: dtype {meta.get('dtype')!r} cannot hold token ids of a {vocab}-token vocabulary "
                        f"(expected an unsigned integer type such as "
                        f"{'uint16' if vocab <= 1 << 16 else 'uint32'}); prepare the dataset again")
    for key in ("train_tokens", "val_tokens"):
        n = meta.get(key)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise DataError(f"{path}: {key} must be an integer >= 0, got {n!r}; prepare the dataset again")
    tokenizer = meta.get("tokenizer")
    if not isinstance(tokenizer, dict) or not tokenizer.get("type"):
        raise DataError(f"{path}: no tokenizer recorded (key 'tokenizer' is {tokenizer!r:.60}); prepare the dataset again")
    recorded = meta.get("tokenizer_sha256")
    if recorded is not None and recorded != tokenizer_identity(tokenizer):
        raise DataError(f"{path}: the tokenizer stored in it does not match its recorded tokenizer_sha256 (edited by "
                        f"hand?); prepare the dataset again")
    return meta


def load_split(data_dir: str | Path, split: str, meta: dict[str, Any] | None = None) -> np.memmap:
    """The token ids of ``split`` ("train" or "val"), memory-mapped read-only."""
    meta = meta or load_meta(data_dir)
    path = Path(data_dir) / f"{split}.bin"
    dtype = np.dtype(meta["dtype"])
    expected = meta[f"{split}_tokens"]
    size = path.stat().st_size if path.is_file() else -1
    if size != expected * dtype.itemsize:
        raise DataError(f"{path} should hold {expected} {dtype.name} tokens ({expected * dtype.itemsize} bytes) but "
                        f"{'is missing' if size < 0 else f'has {size} bytes'}; prepare the dataset again")
    recorded = (meta.get("files") or {}).get(path.name)
    if recorded is not None:
        if recorded.get("bytes") != size or recorded.get("fingerprint") != fingerprint(path):
            raise DataError(f"{path} is not the file prepared with {Path(data_dir) / 'meta.json'}: its size or content "
                            f"differs (fingerprint {fingerprint(path)[:12]}..., recorded "
                            f"{str(recorded.get('fingerprint'))[:12]}...); prepare the dataset again")
    if expected == 0:
        return np.zeros(0, dtype=dtype)  # np.memmap cannot map an empty file
    return np.memmap(path, dtype=dtype, mode="r")


def get_batch(data: np.ndarray, batch_size: int, block_size: int,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``batch_size`` random windows of ``data``: inputs ``x`` and targets ``y``, both (B, T) int64.

    Window b starts at ``i_b``, drawn uniformly from ``[0, len(data) - block_size)`` by
    ``rng.integers``, so ``x[b] = data[i_b : i_b + T]`` and ``y[b] = data[i_b + 1 : i_b + T + 1]``
    (the next token at each position; the last target is still inside ``data``).
    """
    n = len(data)
    if n <= block_size:
        raise DataError(f"the data has {n} tokens, too few for one window of block_size {block_size} plus a target "
                        f"(need at least {block_size + 1})")
    starts = rng.integers(0, n - block_size, size=batch_size)
    idx = starts[:, None] + np.arange(block_size + 1)  # (B, T+1): one gather reads x and y
    window = np.asarray(data[idx], dtype=np.int64)
    return window[:, :-1], window[:, 1:]
