"""generate ignores window_shift: past block_size it always slides the window by one token (nanoGPT's loop)."""
from spec import reference_adapter as _ref
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m7_sampling.py"]
K = "window_shift and generate"


def generate(model, prompt_ids, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=None,
             stop_tokens=(), use_cache=True, window_shift=1):
    return _ref.generate(model, prompt_ids, max_new_tokens, temperature, top_k, top_p, seed, stop_tokens,
                         use_cache, window_shift=1)  # BUG: the requested window_shift is dropped
