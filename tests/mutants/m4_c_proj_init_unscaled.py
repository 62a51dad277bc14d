"""gpt_init draws the residual projections c_proj with std 0.02 instead of 0.02/sqrt(2*n_layer)."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import gpt_init as _gpt_init

SPEC = ["spec/test_m4_gpt.py"]
K = "init_statistics"


def gpt_init(config, seed):
    state = _gpt_init(config, seed)
    rng = np.random.default_rng(seed + 1)
    for name in state:
        if name.endswith("c_proj.weight"):
            state[name] = (0.02 * rng.standard_normal(state[name].shape)).astype(state[name].dtype)
    return state
