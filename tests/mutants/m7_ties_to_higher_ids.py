"""Ties between equal logits go to the HIGHER token id (greedy and top-k)."""
from spec import reference_adapter as _ref
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m7_sampling.py"]
K = "ties"


def filter_logits(logits, temperature=1.0, top_k=None, top_p=None):
    return _ref.filter_logits(logits[..., ::-1], temperature, top_k, top_p)[..., ::-1]  # BUG: reversed id order
