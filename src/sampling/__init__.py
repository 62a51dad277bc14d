"""M7: sampling. Logit filters (temperature, top-k, top-p), generation with a KV cache, and
streaming text output.

    >>> from numgpt.sampling import generate
    >>> ids = generate(model, prompt_ids, max_new_tokens=100, temperature=0.8, top_k=40, seed=0)

See docs/sampling.md. The ``sample`` command lives in ``numgpt.sampling.cli``.
"""
from .filters import filter_logits, greedy_probs, sample_from_probs, sample_next, top_k_mask, top_p_mask, \
    validate_sampling_params
from .generate import Decoder, check_prompt, default_window_shift, generate, generate_stream, inference_mode
from .stream import TextStreamer, Utf8StreamDecoder

__all__ = [
    "generate", "generate_stream", "Decoder", "inference_mode", "check_prompt", "default_window_shift",
    "filter_logits", "greedy_probs", "sample_from_probs", "sample_next", "top_k_mask", "top_p_mask",
    "validate_sampling_params", "TextStreamer", "Utf8StreamDecoder",
]
