"""clip_grad_norm returns the norm AFTER clipping (min(norm, max_norm)) instead of before."""
from spec import reference_adapter as _ref
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m6_training.py"]
K = "clip"


def clip_grad_norm(params, max_norm):
    return min(_ref.clip_grad_norm(params, max_norm), max_norm)
