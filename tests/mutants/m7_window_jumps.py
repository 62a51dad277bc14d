"""With the KV cache, the context window jumps by half a block when full instead of sliding by one token."""
from numgpt import sampling

from spec import reference_adapter as _ref
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m7_sampling.py"]
K = "step_logits"


def step_logits(model, prompt_ids, continuation_ids, use_cache=True):
    shift = model.config.block_size // 2 if use_cache else 1  # BUG: cached decoding sees a shorter window
    return _ref._teacher_forced(sampling.Decoder(model, use_cache=use_cache, window_shift=shift),
                                prompt_ids, continuation_ids)
