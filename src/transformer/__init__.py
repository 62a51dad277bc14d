"""M4: the transformer. ``GPTConfig``, ``MLP``, ``Block`` and the ``GPT`` language model."""
from .gpt import GPT, MLP, Block, GPTConfig

__all__ = ["GPTConfig", "MLP", "Block", "GPT"]
