"""generate returns only the new tokens, without the prompt."""
import numpy as np

from spec import reference_adapter as _ref
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m7_sampling.py"]
K = "generate and greedy"


def generate(model, prompt_ids, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=None,
             stop_tokens=(), use_cache=True, window_shift=1):
    out = _ref.generate(model, prompt_ids, max_new_tokens, temperature, top_k, top_p, seed, stop_tokens, use_cache,
                        window_shift)
    return out[len(np.asarray(prompt_ids)):]
