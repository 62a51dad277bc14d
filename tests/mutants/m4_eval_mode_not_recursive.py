"""gpt_train_mode sets the flag on the top module only: the submodules (every dropout) stay in training mode."""
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m4_gpt.py"]
K = "dropout_only_in_training_mode"


def gpt_train_mode(model, training):
    model.training = training  # should recurse: model.train(training)
