"""numgpt: a decoder-only Transformer language model from scratch in NumPy.

Subpackages: ``tensor`` (Tensor + autograd), ``nn`` (layers), ``attention``, ``transformer``
(blocks + GPT), ``tokenizer`` (BPE), ``training`` (optimizer, schedule, checkpoints, loop),
``sampling`` (generation). The command line lives in ``numgpt.__main__``.
"""
__version__ = "0.1.0"
