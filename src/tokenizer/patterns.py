"""Pre-tokenization split patterns (GPT-2, GPT-4/cl100k) for Python's standard ``re``.

BPE never merges across the pieces ("chunks") a split pattern cuts the text into: a word, a
run of digits, a run of punctuation, a run of whitespace. The patterns are written, as OpenAI
publishes them, in the syntax of the ``regex`` package / Rust's regex crate, which knows Unicode
properties::

    \\p{L}   any letter   (general categories Lu Ll Lt Lm Lo)
    \\p{N}   any number   (general categories Nd Nl No)
    \\s      Unicode White_Space

Python's ``re`` has no ``\\p{..}``, so :func:`compile_pattern` translates a pattern before
compiling it:

* ``\\p{L}``, ``\\p{N}`` (also inside ``[...]`` and negated classes) become explicit code point
  ranges generated from :mod:`unicodedata` (computed once, lazily, on first use: ~0.2 s);
* ``\\s`` / ``\\S`` become the 25 code points of Unicode's White_Space property. Python's own
  ``\\s`` differs: it also matches U+001C..U+001F, which Unicode (and tiktoken) do not count as
  white space;
* ``$`` becomes ``\\Z`` (Python's ``$`` also matches before a final newline; Rust's does not).

Possessive quantifiers (``++``, ``?+``, ``{1,3}+``) and scoped flags (``(?i:...)``) are native
to ``re`` since Python 3.11.

Example::

    >>> Splitter(GPT2_SPLIT_PATTERN).findall("Hello world, it's 2024!!  ")
    ['Hello', ' world', ',', ' it', "'s", ' 2024', '!!', '  ']
    >>> Splitter(GPT4_SPLIT_PATTERN).findall("Hello world, it's 2024!!  ")
    ['Hello', ' world', ',', ' it', "'s", ' ', '202', '4', '!!', '  ']
"""
from __future__ import annotations

import functools
import re
import sys
import unicodedata

from ..errors import TokenizerError

# The GPT-2 pattern (tiktoken's r50k/p50k/gpt2 form, equivalent to GPT-2's original
# r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+").
# Contractions are case-sensitive: "IT'S" splits as "IT", "'", "S".
GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""

# The GPT-4 pattern (tiktoken's cl100k_base): case-insensitive contractions, a letter run may
# take one leading non-letter, digits in groups of at most 3, newlines kept apart.
GPT4_SPLIT_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)

# GPT-2's pattern after Hugging Face's ``Digits(individual_digits=True)`` pre-tokenizer (SmolLM's and
# StarCoder's tokenizer.json: ``Sequence[Digits, ByteLevel]``): every digit is a piece of its own and no
# piece spans a digit, so a space run before a digit is one piece (the lookahead treats a digit as the
# end of the text) and " 2024" splits as " ", "2", "0", "2", "4".
GPT2_DIGITS_SPLIT_PATTERN = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++|\p{N}| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?![^\s\p{N}])|\s"""
)

# The patterns a tokenizer file or checkpoint may name (by name or exact text): a pattern read from a file
# is run on every prompt, and an arbitrary regex can backtrack catastrophically (docs/tokenizer.md).
KNOWN_PATTERNS = {"gpt2": GPT2_SPLIT_PATTERN, "gpt4": GPT4_SPLIT_PATTERN, "gpt2_digits": GPT2_DIGITS_SPLIT_PATTERN}

# A text with a character of every kind a split pattern must cover: letters (ASCII, accented, CJK), digits,
# contractions, punctuation, every kind of white space, control characters, an astral code point.
COVERAGE_PROBE = ("Hello world, it's 2024!!  IT'S don't \t\r\n\n  x\u00e9t\u00e9 \u4e2d\u6587 \u0661\u0662 "
                  "\x00\x1c\x7f\u200b\u00a0\u3000 \U0001f600\U0001d7d8 ~`@#$%^&*()[]{}<>|\\/ \n")


def known_pattern(pattern: str, where: str = "tokenizer") -> str:
    """The split pattern ``pattern`` names: a key of ``KNOWN_PATTERNS`` (``"gpt2"``, ``"gpt4"``) or the
    exact text of one. Anything else is a ``TokenizerError`` naming it (``where``: the file it came from)."""
    if isinstance(pattern, str):
        if pattern in KNOWN_PATTERNS:
            return KNOWN_PATTERNS[pattern]
        if pattern in KNOWN_PATTERNS.values():
            return pattern
    raise TokenizerError(
        f"{where}: split pattern {pattern!r:.120} is not a known pattern; a stored tokenizer may use only "
        f"{', '.join(KNOWN_PATTERNS)} (by name or exact text), as an arbitrary regex can take exponential "
        f"time (see docs/tokenizer.md)")


def check_coverage(splitter: "Splitter") -> None:
    """Refuse a split pattern that does not cut :data:`COVERAGE_PROBE` into chunks covering it
    exactly (one that would drop text on encode), or that matches the empty string."""
    _check_coverage(splitter.pattern)


@functools.lru_cache(maxsize=32)
def _check_coverage(pattern: str) -> None:
    splitter = Splitter(pattern)
    splitter.findall(COVERAGE_PROBE)  # raises naming the first character the pattern skips
    if splitter.compiled("ascii").fullmatch("") is not None:
        raise TokenizerError(f"split pattern {splitter.pattern!r:.120} matches the empty string; "
                             f"every chunk must hold at least one character")

# Unicode's White_Space property (PropList.txt; unchanged since Unicode 6.3).
WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"

_CATEGORIES = {"L": ("Lu", "Ll", "Lt", "Lm", "Lo"), "N": ("Nd", "Nl", "No")}
_ASTRAL = r"\U00010000-\U0010ffff"  # code points beyond the Basic Multilingual Plane
_NON_BMP = re.compile(f"[{_ASTRAL}]")
TIERS = ("ascii", "bmp", "full")


def _ranges(codepoints: list[int]) -> str:
    """Sorted code points -> the inside of a ``re`` character class, e.g. ``\\U00000041-\\U0000005a``."""
    out: list[str] = []
    i = 0
    while i < len(codepoints):
        j = i
        while j + 1 < len(codepoints) and codepoints[j + 1] == codepoints[j] + 1:
            j += 1
        lo, hi = codepoints[i], codepoints[j]
        out.append(f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}")
        i = j + 1
    return "".join(out)


_PARTS = {"ascii": (0, 0x7F), "bmp": (0, 0xFFFF), "astral": (0x10000, sys.maxunicode)}


@functools.lru_cache(maxsize=None)
def _scan(part: str) -> dict[str, tuple[int, ...]]:
    """One pass of :func:`unicodedata.category` over ``part``'s code points -> ``{"L": ..., "N": ...}``."""
    lo, hi = _PARTS[part]
    found: dict[str, list[int]] = {"L": [], "N": []}
    category = unicodedata.category
    for cp in range(lo, hi + 1):
        cat = category(chr(cp))
        if cat[0] in "LN" and cat != "LC":
            found[cat[0]].append(cp)
    return {k: tuple(v) for k, v in found.items()}


@functools.lru_cache(maxsize=None)
def unicode_class(name: str, part: str = "bmp") -> str:
    """The inside of a ``re`` character class for ``\\p{name}`` (``"L"`` or ``"N"``) or ``"s"``.

    ``part`` restricts it to ``"ascii"`` (< U+0080), ``"bmp"`` (<= U+FFFF) or ``"astral"``
    (> U+FFFF). Generated once from :mod:`unicodedata` (its ``unidata_version``), then cached:
    ``unicode_class("N", "ascii") == "\\U00000030-\\U00000039"``.
    """
    if part not in _PARTS:
        raise ValueError(f"unicode_class: part must be one of {tuple(_PARTS)}, got {part!r}")
    lo, hi = _PARTS[part]
    if name == "s":
        return _ranges([cp for cp in sorted(map(ord, WHITE_SPACE)) if lo <= cp <= hi])
    if name not in _CATEGORIES:
        raise ValueError(f"unsupported Unicode class \\p{{{name}}}: only \\p{{L}} and \\p{{N}} are translated")
    return _ranges(list(_scan(part)[name]))


def _class(negated: bool, literal: str, names: list[str], tier: str) -> str:
    """One character class of the source pattern, emitted for ``tier``.

    sre compiles the BMP part of a class into a fast two-level bitmap, but keeps code points
    beyond U+FFFF as a list of ranges that it scans linearly for EVERY character that misses the
    bitmap. So the ``"full"`` tier puts the astral ranges behind a one-range guard.
    """
    part = "ascii" if tier == "ascii" else "bmp"
    bmp = literal + "".join(unicode_class(n, part) for n in names)
    astral = "".join(unicode_class(n, "astral") for n in names) if tier == "full" else ""
    if not astral:
        return f"[^{bmp}]" if negated else f"[{bmp}]"
    if negated:
        return f"(?:[^{bmp}{_ASTRAL}]|(?![{astral}])[{_ASTRAL}])"
    return f"(?:[{bmp}]|(?=[{_ASTRAL}])[{astral}])"


def translate_pattern(pattern: str, tier: str = "full") -> str:
    """Rewrite a ``regex``-syntax split pattern into Python ``re`` syntax (see the module doc).

    ``tier`` selects the character repertoire the result must handle exactly: ``"full"`` (any
    text), ``"bmp"`` (text without code points above U+FFFF) or ``"ascii"`` (ASCII text); the
    narrower tiers compile to much faster automata.
    """
    if tier not in TIERS:
        raise ValueError(f"translate_pattern: tier must be one of {TIERS}, got {tier!r}")
    out: list[str] = []
    i, n = 0, len(pattern)

    def unicode_escape(j: int) -> tuple[str | None, bool, int]:
        """At a backslash: (class name or None, negated, index after the escape)."""
        nxt = pattern[j + 1] if j + 1 < n else ""
        if nxt in ("p", "P") and j + 2 < n and pattern[j + 2] == "{":
            end = pattern.find("}", j + 3)
            if end < 0:
                raise ValueError(f"split pattern: unterminated \\p{{...}} at offset {j} in {pattern!r}")
            return pattern[j + 3:end], nxt == "P", end + 1
        if nxt in ("s", "S"):
            return "s", nxt == "S", j + 2
        return None, False, j + 2

    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            name, negated, after = unicode_escape(i)
            out.append(_class(negated, "", [name], tier) if name else pattern[i:after])
            i = after
        elif c == "[":
            negated = pattern.startswith("[^", i)
            j = i + (2 if negated else 1)
            literal, names = [], []
            while j < n and not (pattern[j] == "]" and j > i + 1 + negated):
                if pattern[j] == "\\" and j + 1 < n:
                    name, neg, after = unicode_escape(j)
                    if neg:
                        raise ValueError(f"split pattern: negated escapes inside [...] are not supported (offset {j})")
                    (names.append(name) if name else literal.append(pattern[j:after]))
                    j = after
                else:
                    literal.append(pattern[j])
                    j += 1
            if j >= n:
                raise ValueError(f"split pattern: unterminated [...] at offset {i} in {pattern!r}")
            out.append(_class(negated, "".join(literal), names, tier))
            i = j + 1
        else:
            out.append(r"\Z" if c == "$" else c)
            i += 1
    return "".join(out)


@functools.lru_cache(maxsize=16)
def compile_pattern(pattern: str, tier: str = "full") -> re.Pattern[str]:
    """Compile a ``regex``-syntax split pattern with Python's ``re`` (translated, cached)."""
    try:
        return re.compile(translate_pattern(pattern, tier))
    except re.error as e:
        raise ValueError(f"split pattern {pattern!r} does not compile with Python's re: {e}") from None


class Splitter:
    """Cuts text into chunks with a split pattern, picking the fastest exact tier per text.

    ``Splitter(GPT2_SPLIT_PATTERN).findall("it's")`` -> ``['it', "'s"]``. ASCII text (an O(1)
    check in CPython) uses the ASCII automaton, text without astral code points the BMP one,
    anything else the full one; all three give identical chunks on the texts they accept.
    """

    def __init__(self, pattern: str):
        self.pattern = pattern
        self._compiled: dict[str, re.Pattern[str]] = {}

    def compiled(self, tier: str) -> re.Pattern[str]:
        """The compiled automaton for ``tier`` (built on first use)."""
        rx = self._compiled.get(tier)
        if rx is None:
            rx = self._compiled[tier] = compile_pattern(self.pattern, tier)
        return rx

    def tier(self, text: str) -> str:
        """The narrowest tier that handles ``text`` exactly."""
        if text.isascii():
            return "ascii"
        return "full" if _NON_BMP.search(text) else "bmp"

    def findall(self, text: str) -> list[str]:
        """The chunks of ``text``, in order; ``"".join(chunks) == text``: a pattern that skips some
        of ``text`` (it would be lost) is a ``TokenizerError`` naming the first character it skips."""
        chunks = self.compiled(self.tier(text)).findall(text)
        if sum(map(len, chunks)) != len(text):
            at = 0
            for chunk in chunks:  # (findall skips what no match starts at; find the first gap)
                if not text.startswith(chunk, at):
                    break
                at += len(chunk)
            raise TokenizerError(f"split pattern {self.pattern!r:.80} does not cover the text: character "
                                 f"{text[at]!r} at position {at} would be dropped")
        return chunks
