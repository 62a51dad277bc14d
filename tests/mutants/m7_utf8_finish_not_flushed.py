"""The UTF-8 stream's final flush is missing: a character left unfinished at the end vanishes instead of becoming U+FFFD."""
from numgpt import sampling

from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m7_sampling.py"]
K = "utf8"


def utf8_stream(chunks):
    decoder = sampling.Utf8StreamDecoder()
    return [decoder.feed(c) for c in chunks] + [""]  # BUG: decoder.finish() never called
