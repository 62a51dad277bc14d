"""Temperature 0 is clamped to 1e-5 instead of being greedy: tied maxima share the probability."""
from spec import reference_adapter as _ref
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m7_sampling.py"]
K = "temperature_zero or greedy"


def filter_logits(logits, temperature=1.0, top_k=None, top_p=None):
    if temperature == 0:
        temperature = 1e-5  # BUG: softmax(logits / 1e-5) is one-hot only without ties
    return _ref.filter_logits(logits, temperature, top_k, top_p)


def sample(logits, num_samples, temperature=1.0, top_k=None, top_p=None, seed=0):
    return _ref.sample(logits, num_samples, 1e-5 if temperature == 0 else temperature, top_k, top_p, seed)
