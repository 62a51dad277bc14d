"""load_checkpoint always rebuilds the model in float32 (a float64 model comes back float32)."""
import numpy as np

from numgpt import checkpoint as _c
from numgpt.training.optim import configure_optimizer
from numgpt.transformer import GPT
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m6_training.py"]
K = "checkpoint"


def load_checkpoint(path):
    ckpt = _c.load_checkpoint(path)
    model = GPT(ckpt.config["model_args"], dtype=np.float32)  # BUG: the saved dtype is ignored
    model.load_state_dict(ckpt.model)
    optimizer = configure_optimizer(model.named_parameters(), 0.0, (0.9, 0.999), 0.0)
    optimizer.load_state_dict(ckpt.optimizer)
    return model, optimizer, ckpt.step
