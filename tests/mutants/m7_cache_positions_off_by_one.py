"""With the KV cache, each decoded token gets the position of the token before it (cache length - 1)."""
from numgpt import sampling
from numgpt.attention import KVCache

from spec import reference_adapter as _ref
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m7_sampling.py"]
K = "step_logits"


class _OffByOneCache(KVCache):
    @property
    def length(self) -> int:  # BUG: the next position is the number of cached positions, not one less
        n = self.layers[0].length
        return n - 1 if n else 0


def step_logits(model, prompt_ids, continuation_ids, use_cache=True, window_shift=1):
    cache = _OffByOneCache(model.config.n_layer, model.config.block_size) if use_cache else None
    return _ref._teacher_forced(sampling.Decoder(model, use_cache=use_cache, window_shift=window_shift, cache=cache),
                                prompt_ids, continuation_ids)
