"""M4: the transformer. ``GPTConfig``, ``MLP``, ``Block`` and the ``GPT`` language model."""
from .gpt import GPT, MLP, Block, GPTConfig, make_mlp, make_norm

__all__ = ["GPTConfig", "MLP", "Block", "GPT", "make_mlp", "make_norm"]
