"""Draws use the filtered but unnormalised probabilities (the mass removed by top-k/top-p lands on the last id)."""
import numpy as np

from spec import reference_adapter as _ref
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m7_sampling.py"]
K = "frequencies"


def sample(logits, num_samples, temperature=1.0, top_k=None, top_p=None, seed=0):
    if temperature == 0:
        return _ref.sample(logits, num_samples, temperature, top_k, top_p, seed)
    rng = np.random.default_rng(seed)
    full = _ref.filter_logits(logits, temperature)  # softmax over every token
    kept = _ref.filter_logits(logits, temperature, top_k, top_p) > 0
    cdf = np.cumsum(np.where(kept, full, 0.0))  # BUG: not renormalised, cdf[-1] < 1
    return np.minimum(np.searchsorted(cdf, rng.random(num_samples), side="right"), len(cdf) - 1)
