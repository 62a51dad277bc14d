"""With the KV cache, the context window always jumps by half a block when full, whatever window_shift asks for."""
from numgpt import sampling

from spec import reference_adapter as _ref
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m7_sampling.py"]
K = "step_logits"


def step_logits(model, prompt_ids, continuation_ids, use_cache=True, window_shift=1):
    shift = model.config.block_size // 2 if use_cache else window_shift  # BUG: cached decoding sees other windows
    return _ref._teacher_forced(sampling.Decoder(model, use_cache=use_cache, window_shift=shift),
                                prompt_ids, continuation_ids)
