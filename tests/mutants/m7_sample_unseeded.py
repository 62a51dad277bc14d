"""sample ignores its seed (a fresh unseeded generator each call): draws are not reproducible."""
import numpy as np

from numgpt import sampling
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m7_sampling.py"]
K = "sample"


def sample(logits, num_samples, temperature=1.0, top_k=None, top_p=None, seed=0):
    rng = np.random.default_rng()  # BUG: the seed is not used
    if temperature == 0:
        return np.array([sampling.sample_next(logits, rng, 0.0, top_k, top_p)] * num_samples)
    return sampling.sample_from_probs(sampling.filter_logits(logits, temperature, top_k, top_p), rng, num_samples)
