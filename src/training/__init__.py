"""M6: training. nanoGPT's loop over a prepared dataset, one readable step, exact resume.

* ``loop.py``: ``train(cfg)``, the whole job (set up or resume, evaluate and save, the step);
* ``step.py``: ``train_step``, the step itself (forward, backward, clip, update, with gradient
  accumulation), which ``train`` and the step benchmark (``bench.py``) both run;
* ``optim.py``: AdamW and SGD over flat parameter storage; ``clip.py``: gradient clipping;
  ``schedule.py``: warmup + cosine learning rate;
* ``data.py``: ``prepare`` (text -> token files; Tiny Shakespeare ships in ``corpora/``),
  ``get_batch``; ``evaluate.py``: ``estimate_loss`` (the periodic estimate), ``full_loss`` (the
  exact loss over a whole split) and the in-training sample; ``plot.py``: the loss curves as an
  SVG; ``config.py``: ``TrainConfig`` from TOML; ``cli.py``: the ``prepare``, ``train`` and
  ``eval`` commands;
* ``threads.py``: the optimizer's thread pool and OpenBLAS's thread count; ``parallel.py``:
  ``DataParallel``, forward + backward over worker processes, plugged in at the step's seam
  (imported only when more than one worker runs, so it is not re-exported here).

Checkpoints are one floor lower, in ``numgpt.checkpoint``.
"""
from .clip import clip_grad_norm
from .config import ConfigError, TrainConfig, load_config
from .data import DataError, get_batch, prepare
from .evaluate import FullLoss, estimate_loss, full_loss, sample_text
from .loop import TrainResult, build_model, make_optimizer, train
from .optim import SGD, AdamW, configure_optimizer, param_groups
from .schedule import get_lr
from .step import ForwardBackward, StepResult, train_step

__all__ = [
    "train", "TrainResult", "build_model", "make_optimizer", "train_step", "ForwardBackward", "StepResult",
    "AdamW", "SGD", "configure_optimizer", "param_groups", "clip_grad_norm", "get_lr",
    "TrainConfig", "ConfigError", "load_config", "prepare", "get_batch", "DataError",
    "estimate_loss", "full_loss", "FullLoss", "sample_text",
]
