"""top-k keeps k + 1 tokens instead of k."""
from spec import reference_adapter as _ref
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m7_sampling.py"]
K = "top_k"


def filter_logits(logits, temperature=1.0, top_k=None, top_p=None):
    return _ref.filter_logits(logits, temperature, None if top_k is None else top_k + 1, top_p)
