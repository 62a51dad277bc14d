"""the token lookup reads a detached wte: the tied weight gets only the lm_head's gradient, not the embedding's."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.nn import functional as F

SPEC = ["spec/test_m4_gpt.py"]
K = "gradients_match"


def gpt_forward(model, idx, targets=None):
    tr = model.transformer
    x = F.embedding(idx, tr.wte.weight.detach()) + tr.wpe(np.arange(idx.shape[1]))
    for block in tr.h:
        x = block(x)
    logits = F.linear_tied(tr.ln_f(x), tr.wte.weight)
    return logits, None if targets is None else F.cross_entropy(logits, targets)
