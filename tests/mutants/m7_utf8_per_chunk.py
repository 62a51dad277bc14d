"""Each chunk of bytes is decoded on its own, so a character split across chunks becomes U+FFFD."""
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m7_sampling.py"]
K = "utf8"


def utf8_stream(chunks):
    return [bytes(c).decode("utf-8", errors="replace") for c in chunks] + [""]
