"""Streaming text output: turn token ids into printable text as they are generated.

A byte-level BPE token is a run of BYTES, and a token boundary can fall inside a multi-byte UTF-8
character: "é" is b"\\xc3\\xa9", and one token may end with b"\\xc3" while the next starts with
b"\\xa9". Decoding each token on its own would print two replacement characters "\\ufffd\\ufffd"
instead of "é". ``Utf8StreamDecoder`` keeps the unfinished tail of a character until the bytes
that complete it arrive (the standard library's incremental UTF-8 decoder does the bookkeeping),
so the concatenation of everything it emits equals decoding all the bytes at once.

``TextStreamer`` puts it in front of a tokenizer: with ``decode_bytes`` (BPE) it goes through the
byte path; a tokenizer without it (the character-level tokenizer, whose tokens are whole
characters) is decoded token by token as text.
"""
from __future__ import annotations

import codecs
from typing import Any, Iterable


class Utf8StreamDecoder:
    """Incremental UTF-8 decoding: ``feed(bytes) -> str`` of the characters completed so far.

    Invalid bytes become U+FFFD (never an exception); ``finish()`` flushes a character left
    incomplete at the end of the stream (as U+FFFD) and resets the decoder.

    >>> d = Utf8StreamDecoder()
    >>> d.feed(b"caf\\xc3"), d.feed(b"\\xa9!"), d.finish()
    ('caf', 'é!', '')
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> str:
        return self._decoder.decode(bytes(data), final=False)

    def finish(self) -> str:
        tail = self._decoder.decode(b"", final=True)
        self._decoder.reset()
        return tail


class TextStreamer:
    """Token ids in, text pieces out, for printing a sample while it is generated.

    >>> class Chars:                      # any tokenizer with decode(ids) -> str
    ...     def decode(self, ids): return "".join(chr(i) for i in ids)
    >>> s = TextStreamer(Chars())
    >>> s.push([104, 105]) + s.finish()
    'hi'
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self._bytes = getattr(tokenizer, "decode_bytes", None)
        self._utf8 = Utf8StreamDecoder()

    def push(self, ids: int | Iterable[int]) -> str:
        """Text completed by these new token ids (may be "" while a character is incomplete)."""
        ids = [int(ids)] if isinstance(ids, (int,)) or getattr(ids, "ndim", 1) == 0 else [int(i) for i in ids]
        if self._bytes is not None:
            return self._utf8.feed(self._bytes(ids))
        return self.tokenizer.decode(ids)

    def finish(self) -> str:
        """Flush what is left at the end of the stream."""
        return self._utf8.finish() if self._bytes is not None else ""
