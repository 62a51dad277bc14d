"""the lm_head is a separate copy of wte (untied): same logits, but wte misses the head's gradient."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.nn import functional as F
from numgpt.tensor import Tensor

SPEC = ["spec/test_m4_gpt.py"]
K = "gradients_match"


def gpt_forward(model, idx, targets=None):
    tr = model.transformer
    T = idx.shape[1]
    x = tr.wte(idx) + tr.wpe(np.arange(T))
    for block in tr.h:
        x = block(x)
    lm_head = Tensor(tr.wte.weight.data.copy(), requires_grad=True)  # its own weight: not tied
    logits = F.linear_tied(tr.ln_f(x), lm_head)
    return logits, None if targets is None else F.cross_entropy(logits, targets)
