"""The UTF-8 stream drops invalid bytes (errors="ignore") instead of replacing them with U+FFFD."""
import codecs

from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m7_sampling.py"]
K = "utf8"


def utf8_stream(chunks):
    decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
    return [decoder.decode(bytes(c)) for c in chunks] + [decoder.decode(b"", final=True)]
