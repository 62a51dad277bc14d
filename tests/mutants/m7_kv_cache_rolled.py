"""When the window slides, the KV cache drops its oldest entries and keeps the rest instead of re-encoding the window."""
from numgpt import sampling

from spec import reference_adapter as _ref
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m7_sampling.py"]
K = "step_logits"


class _RollingDecoder(sampling.Decoder):
    def feed(self, new_ids):
        new_ids = [int(i) for i in new_ids]
        self.ids.extend(new_ids)
        start = self.window_start(len(self.ids))
        drop, self.start = start - self.start, start
        if self.cache is None or self.cache.length == 0:
            return self._run(self.ids[start:], self.cache)
        if drop:  # BUG: the kept keys/values were computed at their old positions (and with the dropped context)
            for layer in self.cache.layers:
                n = layer.length
                layer.k[:, :, :n - drop] = layer.k[:, :, drop:n].copy()
                layer.v[:, :, :n - drop] = layer.v[:, :, drop:n].copy()
                layer.length = n - drop
        return self._run(new_ids, self.cache)


def step_logits(model, prompt_ids, continuation_ids, use_cache=True, window_shift=1):
    return _ref._teacher_forced(_RollingDecoder(model, use_cache=use_cache, window_shift=window_shift),
                                prompt_ids, continuation_ids)
