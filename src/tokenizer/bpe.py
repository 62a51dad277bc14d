"""Byte-level BPE tokenizer: encode/decode, special tokens, streaming, save/load.

Training lives in ``train.py`` (:func:`train_bpe`), tiktoken rank files in ``ranks.py``.

A token is a byte string. Text is first cut into chunks by a split pattern (``patterns.py``);
each chunk's UTF-8 bytes start as one token per byte, then merges are applied by RANK: while some
adjacent pair is a known merge, merge the pair whose merge was learned first (lowest rank),
everywhere in the chunk. So any text round-trips, whatever its script, and no token crosses a
chunk boundary.

    >>> from numgpt.tokenizer import GPT2_SPLIT_PATTERN, train_bpe
    >>> tok = train_bpe("low lower lowest", vocab_size=260, pattern=GPT2_SPLIT_PATTERN)
    >>> tok.merges   # "lo" and "ow" both occur 3 times: the tie goes to the greater pair, (o, w)
    [(b'o', b'w'), (b'l', b'ow'), (b'low', b'e'), (b' ', b'lowe')]
    >>> tok.encode("lowest low")
    [258, 115, 116, 32, 257]
    >>> [tok.decode_bytes([i]) for i in tok.encode("lowest low")]
    [b'lowe', b's', b't', b' ', b'low']
    >>> tok.decode(tok.encode("héllo wörld 👋"))
    'héllo wörld 👋'

Data structures (by type):

``vocab: dict[int, bytes]``
    every token id -> its bytes (special tokens included, as their UTF-8 bytes).
``merges: list[tuple[bytes, bytes]]``
    merges in rank order: ``merges[r] = (left, right)`` makes token ``left + right``.
``special_tokens: dict[str, int]``
    special string -> its id; never produced from ordinary text unless allowed.
``_ranks: dict[tuple[int, int], int]`` / ``_rank_ids: list[int]``
    pair of ids -> merge rank; rank -> id of the merged token (the encoder's tables).
``_cache: dict[str, tuple[int, ...]]``
    chunk -> its ids, bounded (cleared when it reaches ``cache_size`` entries).

Special tokens behave as in tiktoken: ``encode(text)`` raises ``ValueError`` if the text contains
a special token (a document containing "<|endoftext|>" is usually a mistake, not a request);
``encode(text, allowed_special={"<|endoftext|>"})`` or ``allowed_special="all"`` encodes them as
their ids; ``disallowed_special=()`` encodes them as ordinary text. When two specials overlap
at the same position, the longer one wins.
"""
from __future__ import annotations

import json
import os
import re
from itertools import chain
from typing import AbstractSet, Hashable, Iterable, Iterator, Sequence

from ..errors import TokenizerError
from .patterns import GPT4_SPLIT_PATTERN, Splitter, check_coverage, known_pattern
from .ranks import load_tiktoken_ranks, recover_merges

__all__ = ["BPETokenizer"]

FORMAT = "numgpt-bpe"
FORMAT_VERSION = 1
DEFAULT_CACHE_SIZE = 1 << 16
# encode_iterable cuts a chunk longer than this many characters (one endless word) into pieces this long
MAX_CHUNK_LENGTH = 1 << 12
_NO_RANK = 1 << 62  # larger than any rank
_SINGLE_BYTES = [bytes([v]) for v in range(256)]


def _show(token: bytes) -> str:
    """A token's bytes for humans: JSON string of the UTF-8 text, bad bytes as \\xNN."""
    return json.dumps(token.decode("utf-8", errors="backslashreplace"), ensure_ascii=False)


class BPETokenizer:
    """A byte-level BPE tokenizer (see the module docstring for a worked example).

    Args:
        vocab: ordinary tokens, id -> bytes. Must contain all 256 single bytes (so any text can
            be encoded) and every merge's result; ids and byte strings must be unique.
        merges: ``(left, right)`` byte-string pairs in rank order (rank 0 is applied first).
        special_tokens: special string -> id; ids must not collide with ``vocab``.
        pattern: the split pattern in ``regex`` syntax (``GPT2_SPLIT_PATTERN``,
            ``GPT4_SPLIT_PATTERN``, or your own; see patterns.py for what is translated).
        cache_size: how many distinct chunks to remember (memory stays bounded).
    """

    def __init__(self, vocab: dict[int, bytes], merges: Sequence[tuple[bytes, bytes]] | None,
                 special_tokens: dict[str, int] | None = None, pattern: str = GPT4_SPLIT_PATTERN,
                 cache_size: int = DEFAULT_CACHE_SIZE):
        special_tokens = dict(special_tokens or {})
        id_of: dict[bytes, int] = {}
        for i, b in vocab.items():
            if not isinstance(i, int) or i < 0:
                raise ValueError(f"BPETokenizer: vocab ids must be ints >= 0, got {i!r}")
            if not isinstance(b, (bytes, bytearray)):
                raise TypeError(f"BPETokenizer: vocab[{i}] must be bytes, got {type(b).__name__}")
            if bytes(b) in id_of:
                raise ValueError(f"BPETokenizer: the token {bytes(b)!r} appears twice in the vocab "
                                 f"(ids {id_of[bytes(b)]} and {i})")
            id_of[bytes(b)] = i
        missing = [v for v in range(256) if bytes([v]) not in id_of]
        if missing:
            raise ValueError(f"BPETokenizer: the vocab lacks {len(missing)} single-byte token(s), e.g. "
                             f"{bytes([missing[0]])!r}; a byte-level BPE needs all 256 to encode any text")
        for s, i in special_tokens.items():
            if not isinstance(s, str) or not s:
                raise ValueError(f"BPETokenizer: special tokens must be non-empty strings, got {s!r}")
            if i in vocab:
                raise ValueError(f"BPETokenizer: special token {s!r} has id {i}, already used by the "
                                 f"ordinary token {vocab[i]!r}")
        if len(set(special_tokens.values())) != len(special_tokens):
            raise ValueError(f"BPETokenizer: two special tokens share an id: {special_tokens}")

        self._vocab: dict[int, bytes] = {i: bytes(b) for i, b in vocab.items()}
        self._id_of = id_of
        self._special_tokens = special_tokens
        self._bytes: dict[int, bytes] = dict(self._vocab)
        self._bytes.update({i: s.encode("utf-8") for s, i in special_tokens.items()})
        self._byte_ids: list[int] = [id_of[bytes([v])] for v in range(256)]
        self._identity_bytes = self._byte_ids == list(range(256))
        self._ranks: dict[tuple[int, int], int] = {}
        self._rank_ids: list[int] = []
        self._merges: list[tuple[bytes, bytes]] | None = [] if merges is not None else None
        self._bpe = self._bpe_pairs if merges is not None else self._bpe_ranks
        for rank, pair in enumerate(merges or ()):
            left, right = (bytes(pair[0]), bytes(pair[1]))
            for part in (left, right, left + right):
                if part not in id_of:
                    raise ValueError(f"BPETokenizer: merge #{rank} {left!r} + {right!r} uses the token "
                                     f"{part!r}, which is not in the vocab")
            key = (id_of[left], id_of[right])
            if key in self._ranks:
                raise ValueError(f"BPETokenizer: merge #{rank} {left!r} + {right!r} is listed twice")
            self._ranks[key] = rank
            self._rank_ids.append(id_of[left + right])
            self._merges.append((left, right))
        self.pattern = pattern
        self._splitter = Splitter(pattern)
        check_coverage(self._splitter)  # a pattern that skips text would drop it on encode
        self._cache: dict[str, tuple[int, ...]] = {}
        self._cache_size = int(cache_size)
        self._special_rx: dict[frozenset[str], re.Pattern[str]] = {}

    # ------------------------------------------------------------------ introspection

    @property
    def vocab(self) -> dict[int, bytes]:
        """Every id -> its bytes, special tokens included (a copy)."""
        return dict(self._bytes)

    @property
    def merges(self) -> list[tuple[bytes, bytes]]:
        """The merges in rank order, as pairs of byte strings (a copy). For a tokenizer made from
        a rank table they are recovered on first use (:func:`recover_merges`, ~2 s for cl100k)."""
        if self._merges is None:
            self._merges = recover_merges(self._id_of)
        return list(self._merges)

    @property
    def uses_ranks(self) -> bool:
        """True if made from a tiktoken rank table: ids are ranks and encoding follows tiktoken
        exactly (merge the adjacent pair whose CONCATENATION has the lowest rank)."""
        return self._bpe == self._bpe_ranks

    @property
    def special_tokens(self) -> dict[str, int]:
        """Special string -> id (a copy)."""
        return dict(self._special_tokens)

    @property
    def vocab_size(self) -> int:
        """1 + the largest id: the number of rows an embedding table needs."""
        return max(self._bytes) + 1

    def __repr__(self) -> str:
        return (f"BPETokenizer(vocab_size={self.vocab_size}, tokens={len(self._vocab)}, "
                f"special_tokens={len(self._special_tokens)}, uses_ranks={self.uses_ranks})")

    # ------------------------------------------------------------------ encoding

    def _bpe_pairs(self, chunk: str) -> tuple[int, ...]:
        """The ids of one chunk: start from its bytes; while some adjacent pair is a merge, apply the
        lowest-rank one at every (non-overlapping, left to right) place it occurs."""
        raw = chunk.encode("utf-8")
        ids = list(raw) if self._identity_bytes else [self._byte_ids[v] for v in raw]
        get = self._ranks.get
        while len(ids) > 1:
            pair_ranks = [get(pair, _NO_RANK) for pair in zip(ids, ids[1:])]
            best = min(pair_ranks)
            if best == _NO_RANK:
                break
            new = self._rank_ids[best]
            out: list[int] = []
            i, n = 0, len(ids)
            while i < n:
                if i + 1 < n and pair_ranks[i] == best:
                    out.append(new)
                    i += 2
                else:
                    out.append(ids[i])
                    i += 1
            ids = out
        return tuple(ids)

    def _bpe_ranks(self, chunk: str) -> tuple[int, ...]:
        """tiktoken's procedure: a chunk that is a token is that token; otherwise merge the leftmost
        adjacent pair whose concatenation has the lowest rank, until no concatenation is a token.
        ``pair_ranks[i]`` is the rank of ``parts[i] + parts[i + 1]``; a merge updates two entries."""
        raw = chunk.encode("utf-8")
        get = self._id_of.get
        whole = get(raw)
        if whole is not None:
            return (whole,)
        parts = [_SINGLE_BYTES[v] for v in raw]
        pair_ranks = [get(a + b, _NO_RANK) for a, b in zip(parts, parts[1:])]
        while pair_ranks:
            best = min(pair_ranks)
            if best == _NO_RANK:
                break
            i = pair_ranks.index(best)
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
            del pair_ranks[i]
            if i > 0:
                pair_ranks[i - 1] = get(parts[i - 1] + parts[i], _NO_RANK)
            if i < len(pair_ranks):
                pair_ranks[i] = get(parts[i] + parts[i + 1], _NO_RANK)
        return tuple(map(self._id_of.__getitem__, parts))

    def _chunk_ids(self, chunk: str) -> tuple[int, ...]:
        """One chunk's ids through the bounded cache."""
        ids = self._cache.get(chunk)
        if ids is None:
            ids = self._bpe(chunk)
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[chunk] = ids
        return ids

    def _encode_chunks(self, chunks: list[str]) -> list[int]:
        """Ids of a list of chunks. Fast path: fill the cache with the missing distinct chunks,
        then one C-level pass (map + chain) looks every chunk up."""
        cache = self._cache
        lookup = cache.__getitem__
        try:
            return list(chain.from_iterable(map(lookup, chunks)))
        except KeyError:
            pass
        distinct = set(chunks)
        missing = distinct.difference(cache)
        if len(cache) + len(missing) > self._cache_size:
            cache.clear()  # the chunks that were cached are gone too: all of them are missing now
            missing = distinct
        if len(missing) <= self._cache_size:
            bpe = self._bpe
            for chunk in missing:
                cache[chunk] = bpe(chunk)
            return list(chain.from_iterable(map(lookup, chunks)))
        out: list[int] = []
        for chunk in chunks:
            out.extend(self._chunk_ids(chunk))
        return out

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode ``text`` treating special-token strings as plain text (never raises on them).

        ``tok.encode_ordinary("<|endoftext|>")`` gives the ids of "<", "|", "endoftext", ...
        """
        if not isinstance(text, str):
            raise TypeError(f"encode_ordinary: expected str, got {type(text).__name__}")
        return self._encode_chunks(self._splitter.findall(text))

    def _resolve(self, allowed_special, disallowed_special) -> tuple[frozenset[str], frozenset[str]]:
        specials = self._special_tokens
        allowed = frozenset(specials) if allowed_special == "all" else frozenset(allowed_special)
        unknown = allowed - specials.keys()
        if unknown:
            raise ValueError(f"allowed_special names {sorted(unknown)}, which are not special tokens of this "
                             f"tokenizer (it has {sorted(specials)})")
        if disallowed_special == "all":
            disallowed = frozenset(specials) - allowed
        else:
            disallowed = frozenset(disallowed_special)
        return allowed, disallowed

    def _check_disallowed(self, text: str, disallowed: AbstractSet[str]) -> None:
        for s in disallowed:
            at = text.find(s)
            if at >= 0:
                raise ValueError(
                    f"encode: the text contains the special token {s!r} (at character {at}), which is not "
                    f"allowed here. Pass allowed_special={{{s!r}}} (or 'all') to encode it as its id "
                    f"{self._special_tokens.get(s)}, or disallowed_special=() to encode it as ordinary text.")

    def _special_regex(self, allowed: frozenset[str]) -> re.Pattern[str]:
        rx = self._special_rx.get(allowed)
        if rx is None:  # longest first: at one position the longer special wins
            rx = re.compile("|".join(re.escape(s) for s in sorted(allowed, key=lambda s: (-len(s), s))))
            self._special_rx[allowed] = rx
        return rx

    def _pieces(self, text: str, allowed: frozenset[str]) -> Iterator[tuple[str, int | None]]:
        """``(piece, special id or None)`` for every chunk and allowed special of ``text``, in order."""
        pos = 0
        if allowed:
            for m in self._special_regex(allowed).finditer(text):
                for chunk in self._splitter.findall(text[pos:m.start()]):
                    yield chunk, None
                yield m.group(), self._special_tokens[m.group()]
                pos = m.end()
        for chunk in self._splitter.findall(text[pos:] if pos else text):
            yield chunk, None

    def encode(self, text: str, allowed_special: AbstractSet[str] | str = frozenset(),
               disallowed_special: AbstractSet[str] | str = "all") -> list[int]:
        """Encode ``text`` to token ids.

        Args:
            allowed_special: special strings to encode as their ids (``"all"`` for every one).
            disallowed_special: special strings whose presence is an error; ``"all"`` (default)
                means every special not allowed. ``()`` encodes them as ordinary text.

        Example: with ``special_tokens={"<|endoftext|>": 260}``,
        ``tok.encode("a<|endoftext|>", allowed_special="all")[-1] == 260``, while
        ``tok.encode("a<|endoftext|>")`` raises ``ValueError``.
        """
        if not isinstance(text, str):
            raise TypeError(f"encode: expected str, got {type(text).__name__}")
        allowed, disallowed = self._resolve(allowed_special, disallowed_special)
        if disallowed:
            self._check_disallowed(text, disallowed)
        if not allowed:
            return self._encode_chunks(self._splitter.findall(text))
        out: list[int] = []
        chunk_ids = self._chunk_ids
        for piece, special in self._pieces(text, allowed):
            if special is not None:
                out.append(special)
            else:
                out.extend(chunk_ids(piece))
        return out

    def encode_iterable(self, iterable: Iterable[str], allowed_special: AbstractSet[str] | str = frozenset(),
                        disallowed_special: AbstractSet[str] | str = "all") -> Iterator[int]:
        """Lazily encode a stream of strings (e.g. an open text file) in linear time and bounded memory.

        Yields exactly the ids ``encode("".join(iterable))`` would give when the pieces end at line
        ends (as a file's lines do) and no chunk is longer than ``MAX_CHUNK_LENGTH`` characters: the
        last two chunks of what has been read are held back until more text (or the end) shows where
        they stop, and so is a tail as long as the longest special token minus one. A chunk that
        grows past ``MAX_CHUNK_LENGTH`` (one endless word) is cut into pieces of that many characters
        from its start, each encoded as a chunk of its own, so the held-back text stays bounded. The
        text read is re-split only once it has at least doubled the held-back text, so a stream of
        tiny pieces costs linear time. Memory: the held-back text plus the bounded chunk cache.
        """
        if isinstance(iterable, (str, bytes)):
            raise TypeError("encode_iterable: expected an iterable of str (e.g. an open file or a list of "
                            "lines), got a single string; use encode() for one string")
        allowed, disallowed = self._resolve(allowed_special, disallowed_special)
        hold = max((len(s) for s in self._special_tokens), default=1) - 1
        buf, parts, new = "", [], 0  # the held-back text, and the pieces read since it was last split
        for piece in iterable:
            if not isinstance(piece, str):
                raise TypeError(f"encode_iterable: the stream yielded {type(piece).__name__}, expected str "
                                f"(open files in text mode)")
            parts.append(piece)
            new += len(piece)
            if new < len(buf):
                continue
            buf = buf + "".join(parts)
            parts, new = [], 0
            ids, buf = self._emit_ready(buf, allowed, disallowed, hold)
            yield from ids
        buf += "".join(parts)
        if buf:
            yield from self._emit_ready(buf, allowed, disallowed, hold, end=True)[0]

    def _emit_ready(self, buf: str, allowed: frozenset[str], disallowed: AbstractSet[str], hold: int,
                    end: bool = False) -> tuple[list[int], str]:
        """(the ids of the chunks of ``buf`` that are complete, the text held back) for encode_iterable;
        with ``end`` every chunk is complete. Ordinary chunks longer than MAX_CHUNK_LENGTH are cut."""
        if disallowed:
            self._check_disallowed(buf, disallowed)
        if allowed:  # (text, special id or None) per chunk or special
            pieces = list(self._pieces(buf, allowed))
            texts = [text for text, _ in pieces]
        else:
            pieces, texts = None, self._splitter.findall(buf)
        if end:
            k, cut = len(texts), len(buf)
        else:  # emit all but the last two pieces, and nothing within `hold` chars of the end
            k = len(texts) - 2
            cut = len(buf) - len(texts[-1]) - len(texts[-2]) if k > 0 else 0
            while k > 0 and cut > len(buf) - hold:
                k -= 1
                cut -= len(texts[k])
            if k <= 0:
                k, cut = 0, 0
                if len(texts[0]) > MAX_CHUNK_LENGTH and (pieces is None or pieces[0][1] is None):
                    cut = len(texts[0]) - len(texts[0]) % MAX_CHUNK_LENGTH  # one endless chunk: cut it
                    texts, pieces, k = [texts[0][:cut]], None, 1
        if pieces is None:
            if max(map(len, texts[:k]), default=0) > MAX_CHUNK_LENGTH:
                texts = [t[at: at + MAX_CHUNK_LENGTH] for t in texts[:k] for at in range(0, len(t), MAX_CHUNK_LENGTH)]
                k = len(texts)
            return self._encode_chunks(texts[:k]), buf[cut:]
        ids: list[int] = []
        for text, special in pieces[:k]:
            if special is not None:
                ids.append(special)
            else:
                ids.extend(self._encode_chunks([text[at: at + MAX_CHUNK_LENGTH]
                                                for at in range(0, len(text), MAX_CHUNK_LENGTH)]))
        return ids, buf[cut:]

    # ------------------------------------------------------------------ decoding

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes of ``ids`` concatenated. An unknown id raises ``ValueError`` naming it."""
        table = self._bytes
        ids = ids if isinstance(ids, (list, tuple)) else list(ids)
        try:
            return b"".join([table[i] for i in ids])
        except (KeyError, TypeError):
            bad = next(i for i in ids if not isinstance(i, Hashable) or i not in table)
            raise ValueError(f"decode: token id {bad!r} is not in the vocabulary (ids are 0..{self.vocab_size - 1}"
                             f", with gaps only where no token is defined)") from None

    def decode(self, ids: Iterable[int]) -> str:
        """Decode ids to text. Byte sequences that are not valid UTF-8 (e.g. a token holding half
        of a character) become U+FFFD; decode never raises on them."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict:
        """A JSON-serialisable description; ``BPETokenizer.from_dict(t.to_dict())`` equals ``t``.

        ``{"type": "bpe", "version": 1, "pattern": str, "semantics": "merges" | "ranks" (see
        :attr:`uses_ranks`), "byte_ids": list[int] | None (None: byte b
        is token b), "merges": [[left_id, right_id, new_id], ...] in rank order,
        "special_tokens": {str: int}, "extra_tokens": {str(id): hex} (tokens no merge builds)}``.
        """
        id_of = self._id_of
        merges = [[id_of[a], id_of[b], id_of[a + b]] for a, b in self.merges]
        built = set(self._byte_ids) | {m[2] for m in merges}
        extra = {str(i): b.hex() for i, b in sorted(self._vocab.items()) if i not in built}
        return {
            "type": "bpe",
            "version": FORMAT_VERSION,
            "pattern": self.pattern,
            "semantics": "ranks" if self.uses_ranks else "merges",
            "byte_ids": None if self._identity_bytes else list(self._byte_ids),
            "merges": merges,
            "special_tokens": dict(self._special_tokens),
            "extra_tokens": extra,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "BPETokenizer":
        """Inverse of :meth:`to_dict` (clear errors on a malformed dict)."""
        if not isinstance(d, dict) or d.get("type") != "bpe":
            raise ValueError(f"BPETokenizer.from_dict: expected a dict with type 'bpe', got "
                             f"{d.get('type') if isinstance(d, dict) else type(d).__name__!r}")
        if d.get("version") != FORMAT_VERSION:
            raise ValueError(f"BPETokenizer.from_dict: unsupported version {d.get('version')!r} "
                             f"(this code reads version {FORMAT_VERSION})")
        byte_ids = d.get("byte_ids") or list(range(256))
        if len(byte_ids) != 256:
            raise ValueError(f"BPETokenizer.from_dict: byte_ids must list 256 ids, got {len(byte_ids)}")
        vocab: dict[int, bytes] = {int(i): bytes([v]) for v, i in enumerate(byte_ids)}
        merges: list[tuple[bytes, bytes]] = []
        for k, m in enumerate(d.get("merges", [])):
            a, b, new = (int(x) for x in m)
            if a not in vocab or b not in vocab:
                raise ValueError(f"BPETokenizer.from_dict: merge #{k} {m} uses an id not defined before it")
            vocab[new] = vocab[a] + vocab[b]
            merges.append((vocab[a], vocab[b]))
        for i, h in d.get("extra_tokens", {}).items():
            vocab[int(i)] = bytes.fromhex(h)
        semantics = d.get("semantics", "merges")
        if semantics not in ("merges", "ranks"):
            raise ValueError(f"BPETokenizer.from_dict: semantics must be 'merges' or 'ranks', got {semantics!r}")
        tok = cls(vocab, merges if semantics == "merges" else None,
                  {str(s): int(i) for s, i in d.get("special_tokens", {}).items()},
                  pattern=known_pattern(d.get("pattern", GPT4_SPLIT_PATTERN), "BPETokenizer.from_dict"))
        if semantics == "ranks":
            tok._merges = merges
        return tok

    def save(self, path: str | os.PathLike) -> None:
        """Write the tokenizer as readable text (see docs/tokenizer.md for the format)::

            numgpt-bpe 1
            pattern "'(?:[sdmt]|ll|ve|re)| ?\\\\p{L}++..."
            byte_ids identity
            special 260 "<|endoftext|>"
            merges 4
            108 111 256   "l" + "o" -> "lo"
            ...
        """
        d = self.to_dict()
        lines = [f"{FORMAT} {FORMAT_VERSION}", f"pattern {json.dumps(self.pattern)}"]
        lines.append(f"semantics {d['semantics']}")
        lines.append("byte_ids identity" if d["byte_ids"] is None else "byte_ids " + " ".join(map(str, d["byte_ids"])))
        for s, i in sorted(self._special_tokens.items(), key=lambda kv: kv[1]):
            lines.append(f"special {i} {json.dumps(s)}")
        for i, h in d["extra_tokens"].items():
            lines.append(f"extra {i} {h}   {_show(bytes.fromhex(h))}")
        lines.append(f"merges {len(d['merges'])}")
        for (a, b), (ia, ib, new) in zip(self.merges, d["merges"]):
            lines.append(f"{ia} {ib} {new}   {_show(a)} + {_show(b)} -> {_show(a + b)}")
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write("\n".join(lines) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "BPETokenizer":
        """Read a file written by :meth:`save` (exact round trip, pattern included)."""
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        if not lines or lines[0] != f"{FORMAT} {FORMAT_VERSION}":
            raise ValueError(f"{path}: not a {FORMAT} v{FORMAT_VERSION} file (first line {lines[0][:60]!r})")
        d: dict = {"type": "bpe", "version": FORMAT_VERSION, "byte_ids": None, "special_tokens": {},
                   "extra_tokens": {}, "merges": []}
        n = 1
        try:
            while n < len(lines) and not lines[n].startswith("merges "):
                key, _, rest = lines[n].partition(" ")
                if key == "pattern":
                    d["pattern"] = json.loads(rest)
                elif key == "semantics":
                    d["semantics"] = rest
                elif key == "byte_ids":
                    d["byte_ids"] = None if rest == "identity" else [int(x) for x in rest.split()]
                elif key == "special":
                    i, _, s = rest.partition(" ")
                    d["special_tokens"][json.loads(s)] = int(i)
                elif key == "extra":
                    i, h = rest.split()[:2]
                    d["extra_tokens"][i] = h
                elif lines[n].strip():
                    raise ValueError(f"unknown entry {key!r}")
                n += 1
            count = int(lines[n].split()[1])
            for k in range(count):
                n += 1
                d["merges"].append([int(x) for x in lines[n].split(None, 3)[:3]])
        except (ValueError, IndexError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}, line {n + 1}: malformed {FORMAT} file ({e})") from None
        try:
            return cls.from_dict(d)
        except TokenizerError as e:
            raise TokenizerError(f"{path}: {e}") from None

    @classmethod
    def from_tiktoken(cls, path: str | os.PathLike, special_tokens: dict[str, int] | None = None,
                      pattern: str = GPT4_SPLIT_PATTERN) -> "BPETokenizer":
        """A tokenizer from a tiktoken rank file (e.g. ``cl100k_base.tiktoken``).

        Ids are the ranks, and encoding follows tiktoken's own procedure (:attr:`uses_ranks`), so
        the ids equal tiktoken's. A rank file lists tokens, not merges; :attr:`merges` recovers
        them when asked (for ``save``/``to_dict``). Loading cl100k takes ~0.2 s.
        """
        ranks = load_tiktoken_ranks(path)
        return cls({r: b for b, r in ranks.items()}, None, special_tokens, pattern)
