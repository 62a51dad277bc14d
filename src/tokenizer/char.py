"""A character-level tokenizer (for the ``shakespeare_char`` dataset).

Every distinct character of the training text is a token; ids follow the characters' sorted
(code point) order, as in nanoGPT's shakespeare_char::

    >>> tok = CharTokenizer.from_text("hello")
    >>> tok.chars, tok.vocab_size
    ('ehlo', 4)
    >>> tok.encode("hole")
    [1, 3, 2, 0]
    >>> tok.decode([1, 0, 2, 2, 3])
    'hello'

Data structures: ``chars: str`` (id -> character, sorted), ``_stoi: dict[str, int]``.
"""
from __future__ import annotations

from numbers import Integral
from typing import Iterable, Iterator

from ..errors import TokenizerError


class CharTokenizer:
    """Maps each character of a fixed alphabet to an id (its rank in sorted order)."""

    def __init__(self, chars: Iterable[str]):
        chars = "".join(sorted(set(chars)))
        if not chars:
            raise ValueError("CharTokenizer: the alphabet is empty (train it on a non-empty text)")
        self.chars = chars
        self._stoi = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        """The tokenizer whose alphabet is the set of characters of ``text``."""
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.from_text: expected str, got {type(text).__name__}")
        return cls(text)

    @property
    def vocab_size(self) -> int:
        """Number of distinct characters."""
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Ids of the characters of ``text``; a character outside the alphabet is a ValueError."""
        stoi = self._stoi
        try:
            return [stoi[c] for c in text]
        except KeyError:
            at = next(i for i, c in enumerate(text) if c not in stoi)
            raise ValueError(f"CharTokenizer.encode: character {text[at]!r} (U+{ord(text[at]):04X}) at position "
                             f"{at} is not in the alphabet of {self.vocab_size} characters") from None

    def encode_iterable(self, iterable: Iterable[str]) -> Iterator[int]:
        """Lazily encode a stream of strings (e.g. a file's lines)."""
        for piece in iterable:
            yield from self.encode(piece)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``; an id that is not an integer in ``0..vocab_size-1`` is a
        ``TokenizerError`` (a ValueError) naming it."""
        chars = self.chars
        out = []
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, Integral):
                raise TokenizerError(f"CharTokenizer.decode: id {i!r} is a {type(i).__name__}, not an integer")
            if not 0 <= i < len(chars):
                raise TokenizerError(f"CharTokenizer.decode: id {i} is outside 0..{len(chars) - 1}")
            out.append(chars[i])
        return "".join(out)

    def to_dict(self) -> dict:
        """JSON-serialisable: ``{"type": "char", "chars": str}``."""
        return {"type": "char", "chars": self.chars}

    @classmethod
    def from_dict(cls, d: dict) -> "CharTokenizer":
        """Inverse of :meth:`to_dict`."""
        if not isinstance(d, dict) or d.get("type") != "char" or not isinstance(d.get("chars"), str):
            raise ValueError(f"CharTokenizer.from_dict: expected {{'type': 'char', 'chars': str}}, got {d!r:.100}")
        return cls(d["chars"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharTokenizer) and other.chars == self.chars

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"
