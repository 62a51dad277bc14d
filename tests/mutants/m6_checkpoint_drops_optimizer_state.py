"""load_checkpoint restores the weights but starts a fresh optimizer (moments and step count lost)."""
from numgpt import checkpoint as _c
from numgpt.training.optim import configure_optimizer
from numgpt.transformer import GPT
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m6_training.py"]
K = "checkpoint"


def load_checkpoint(path):
    ckpt = _c.load_checkpoint(path)
    model = GPT(ckpt.config["model_args"], dtype=ckpt.config["dtype"])
    model.load_state_dict(ckpt.model)
    return model, configure_optimizer(model.named_parameters(), 1e-2, (0.9, 0.99), 0.1), ckpt.step
