"""AdamW's bias correction uses the step count one ahead (1 - beta^(t+1)): the counter is bumped twice."""
from spec.reference_adapter import *  # noqa: F401,F403
from tests.mutants._adamw import PlainAdamW

SPEC = ["spec/test_m6_training.py"]
K = "adamw"


def adamw(params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    return PlainAdamW(params, lr, betas, eps, weight_decay, bias_correction_offset=1)
