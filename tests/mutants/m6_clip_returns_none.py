"""clip_grad_norm clips correctly but returns None instead of the total norm."""
from spec import reference_adapter as _ref
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m6_training.py"]
K = "clip"


def clip_grad_norm(params, max_norm):
    _ref.clip_grad_norm(params, max_norm)
