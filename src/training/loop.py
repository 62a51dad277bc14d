"""The training loop: ``train(cfg)`` runs a whole training job, nanoGPT style.

One iteration ``it`` (0-based; ``it`` updates have been made before it starts)::

    lr = get_lr(it, ...)                         # the schedule is a pure function of it
    if it % eval_interval == 0 or it == max_iters:
        evaluate train/val loss (estimates), log, print a sample, save the checkpoint (it > 0)
        at it == max_iters also the exact loss over the whole val split: val_loss_full
    if it == max_iters: stop
    train_step(...)                              # step.py: forward, backward, clip, update

Exact resume: the loop's whole state at an iteration boundary is (parameters, optimizer
buffers and step count, the data RNG, the dropout RNGs, ``it``), and the checkpoint holds all
of it. Evaluation draws its batches from its own generator seeded with ``(seed, it)``, so
evaluating (or not) never changes the training batches.

Besides ``ckpt.npz`` and ``metrics.jsonl``, the run's directory gets ``loss.svg``, the loss
curves (plot.py), rewritten after each evaluation.
"""
from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..checkpoint import CHECKPOINT_NAME, Checkpoint, CheckpointError, WriteError, capture_rng, check_model_args, \
    load_checkpoint, remove_stale_temps, restore_rng, save_checkpoint
from ..transformer import GPT
from .config import ConfigError, TrainConfig, check_memory
from .data import DataError, get_batch, load_meta, load_split, prepare, tokenizer_from_dict, tokenizer_identity
from .evaluate import estimate_loss, full_loss, sample_text
from .optim import AdamW, configure_optimizer
from .plot import write_loss_plot
from .schedule import get_lr
from .step import ForwardBackward, StepResult, UpdateInterrupted, train_step

METRICS_NAME = "metrics.jsonl"


def print_flush(line: str) -> None:
    """The default log: print and flush at once, so progress shows up live through a pipe or `tee`."""
    print(line, flush=True)


@dataclass
class TrainResult:
    """What ``train`` did: the final iteration, why it stopped, and the losses it saw."""

    iter: int
    status: str                       # "done", "interrupted" or "nan"
    best_val_loss: float
    losses: list[float] = field(default_factory=list)        # training loss of each iteration run
    evals: list[dict[str, float]] = field(default_factory=list)
    checkpoint: Path | None = None
    message: str = ""
    val_loss_full: float | None = None  # the exact val loss, once max_iters is reached
    signal: int | None = None         # the signal (SIGINT, SIGTERM) that interrupted the run, if one did

    @property
    def exit_code(self) -> int:
        """The CLI's exit status: 0 done, 1 stopped on a non-finite value, 128 + the signal number
        when a signal interrupted the run (130 for Ctrl-C/SIGINT, 143 for SIGTERM), as shells do."""
        if self.status == "nan":
            return 1
        if self.status == "interrupted":
            return 128 + (self.signal or signal.SIGINT)
        return 0


def build_model(model_args: dict[str, Any], seed: int) -> GPT:
    """A freshly initialised GPT for ``model_args`` (GPTConfig fields)."""
    return GPT(model_args, seed=seed)


def make_optimizer(model: GPT, cfg: TrainConfig) -> AdamW:
    """AdamW with the config's hyperparameters (weight decay on 2+-dim weights only)."""
    return configure_optimizer(model.named_parameters(), cfg.learning_rate, (cfg.beta1, cfg.beta2), cfg.weight_decay)


def start_workers(model: GPT, optimizer: AdamW, cfg: TrainConfig, world: Any = None) -> Any:
    """A ``DataParallel`` over ``cfg.workers`` processes (0: one per core, at most 4, at most one per
    row of the batch), or None for one process, in which case parallel.py is not even imported.
    Under ``mpiexec`` (``world``, training/mpi.py), the ranks instead."""
    if world is not None:
        from .mpi import MPIDataParallel

        return MPIDataParallel(world, model, optimizer, cfg.gradient_accumulation_steps)
    workers = cfg.workers or min(os.cpu_count() or 1, 4, cfg.batch_size)
    if workers <= 1:
        return None
    from .parallel import DataParallel

    dp = DataParallel(model, optimizer, workers)
    if dp.workers <= 1:  # no fork or no control over OpenBLAS here
        dp.close()
        return None
    return dp


def ensure_data(cfg: TrainConfig, log: Callable[[str], None] = print_flush) -> dict[str, Any]:
    """Prepare the dataset in ``cfg.data_path()`` unless it is already there; return its meta."""
    data_dir = cfg.data_path()
    if not (data_dir / "meta.json").is_file():
        log(f"no prepared data in {data_dir}; preparing {cfg.dataset} ...")
        prepare(cfg.dataset, data_dir, source=cfg.source or None, tokenizer=cfg.tokenizer,
                vocab_size=cfg.vocab_size or None, log=log)
    meta = load_meta(data_dir)
    kind = meta["tokenizer"].get("type")
    if kind != (cfg.tokenizer if cfg.tokenizer in ("char", "bpe") else "bpe"):  # a GPT-2 checkpoint's is a bpe
        raise DataError(f"{data_dir} was prepared with the {kind!r} tokenizer, but the config asks for "
                        f"{cfg.tokenizer!r}; set data_dir to another directory or delete {data_dir}")
    return meta


class _Metrics:
    """Writes one JSON object per line to ``path`` (flushed at once, so `tail -f` works). A fresh
    run starts the file anew; a resumed run appends to it."""

    def __init__(self, path: Path, append: bool):
        self.path, self.failed = path, False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(path, "a" if append else "w", encoding="utf-8")
        except OSError as e:
            raise WriteError(path, e) from None

    def write(self, **record: Any) -> None:
        try:
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()
        except OSError as e:
            self.failed = True
            raise WriteError(self.path, e) from None

    def close(self) -> None:
        try:
            self.file.close()  # flushes what a failed write left in the buffer: fails again, the same way
        except OSError as e:
            if not self.failed:
                raise WriteError(self.path, e) from None


@dataclass
class _Run:
    """Everything one ``train`` call works with, and the state it moves forward."""

    cfg: TrainConfig
    log: Callable[[str], None]
    model: GPT
    optimizer: AdamW
    splits: dict[str, np.ndarray]
    data_rng: np.random.Generator
    tokenizer_dict: dict[str, Any]
    tokenizer: Any                    # for the samples (None when sample_tokens is 0)
    ckpt_path: Path
    config_record: dict[str, Any]
    metrics: _Metrics
    it: int = 0
    best_val: float = float("inf")
    saved_iter: int | None = None
    rng_state: dict[str, Any] = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)
    workers_before: int | None = None  # the worker count of the run resumed from
    dp: Any = None                    # the DataParallel wrapper, or None (one process)
    step_time: float = 0.0            # seconds of training steps since the last progress line
    steps_timed: int = 0
    val_loss_full: float | None = None  # at max_iters: computed, or as the resumed checkpoint holds it
    saved_val_loss_full: float | None = None  # the value in the checkpoint file
    is_root: bool = True              # False on MPI ranks other than 0: they write nothing
    stop_signal: int | None = None    # set by the SIGINT/SIGTERM handler; acted on at the next step boundary

    def next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        return get_batch(self.splits["train"], self.cfg.batch_size, self.cfg.model.block_size, self.data_rng)

    def save(self, it: int, rng_state: dict[str, Any]) -> None:
        if self.is_root:
            save_checkpoint(self.ckpt_path, Checkpoint(
                model=self.model.state_dict(), optimizer=self.optimizer.state_dict(), step=it,
                config=self.config_record, rng=rng_state, tokenizer=self.tokenizer_dict, best_val_loss=self.best_val,
                val_loss_full=self.val_loss_full))
        self.saved_iter, self.saved_val_loss_full = it, self.val_loss_full

    def result(self, status: str, message: str = "") -> TrainResult:
        ckpt = self.ckpt_path if self.saved_iter is not None or status == "done" else None
        return TrainResult(self.it, status, self.best_val, self.losses, self.evals, ckpt, message, self.val_loss_full,
                           self.stop_signal if status == "interrupted" else None)

    def close(self) -> None:
        self.metrics.close()
        if self.dp is not None:
            self.dp.close()


def train(cfg: TrainConfig, resume: bool = False, log: Callable[[str], None] = print_flush,
          model_factory: Callable[[dict[str, Any], int], Any] = build_model, world: Any = None) -> TrainResult:
    """Run (or resume) the training job ``cfg``; see the module docstring for one iteration.

    Writes ``<out_dir>/ckpt.npz`` (after each evaluation, at the end, and on Ctrl-C) and
    ``<out_dir>/metrics.jsonl``. A non-finite loss or gradient norm stops training without
    saving (the last good checkpoint stays) and returns status "nan". Under ``mpiexec`` every rank
    runs it, rank 0 alone printing and writing (``world``: training/mpi.py).
    """
    from .mpi import World, launched  # (mpi4py itself only under mpiexec)

    if world is None and launched():
        world = World.start()
        return world.run(lambda: train(cfg, resume, log if world.is_root else _quiet, model_factory, world))
    run = _set_up(cfg, resume, log, model_factory, world)
    previous_handlers = _catch_stop_signals(run) if world is None else {}  # MPI: World.run handles SIGINT
    try:
        run.dp = start_workers(run.model, run.optimizer, cfg, world)
        _log_start(run)
        forward_backward = run.dp.forward_backward if run.dp else ForwardBackward(run.model)
        params = run.model.parameters()  # walked once: the module tree is not cheap to walk every step
        while True:
            # an iteration boundary: run.it, the parameters and run.rng_state all describe it
            if run.stop_signal is not None:
                return _stop_on_signal(run)
            lr = _set_lr(run.optimizer, cfg, run.it)
            if run.it % cfg.eval_interval == 0 or run.it == cfg.max_iters:
                stopped = _evaluate_and_save(run, lr)
                if stopped:
                    return stopped
            if run.it >= cfg.max_iters:
                break
            t0 = time.perf_counter()
            step = train_step(run.optimizer, params, run.next_batch, forward_backward,
                              cfg.gradient_accumulation_steps, cfg.grad_clip)
            if step.failed:
                return _stop_nan(run, *step.failed)
            run.it += 1
            run.rng_state = capture_rng(run.data_rng, run.model)  # at once: a save from here on pairs them
            _log_progress(run, step, lr, time.perf_counter() - t0)
        if run.saved_iter != run.it:
            run.save(run.it, capture_rng(run.data_rng, run.model))
        run.metrics.write(event="done", iter=run.it, best_val_loss=run.best_val, val_loss_full=run.val_loss_full)
        return run.result("done")
    except UpdateInterrupted:  # the parameters are half-updated: do not save them
        msg = f"interrupted during the optimizer update of iter {run.it}; kept the last checkpoint (iter {run.saved_iter})"
        return _interrupted(run, msg)
    except KeyboardInterrupt:  # raised by code outside the loop's control (a callback, a second Ctrl-C)
        run.stop_signal = run.stop_signal or signal.SIGINT
        return _stop_on_signal(run)
    finally:
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
        run.close()


def _quiet(line: str) -> None:
    """The log of MPI ranks other than 0."""


def _catch_stop_signals(run: _Run) -> dict[int, Any]:
    """Make SIGINT (Ctrl-C) and SIGTERM set ``run.stop_signal``, acted on at the next iteration
    boundary (so the step count, parameters and RNG state saved belong together); a second one
    raises KeyboardInterrupt at once. Returns the handlers replaced (none off the main thread,
    where Python cannot install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum: int, _frame: Any) -> None:
        if run.stop_signal is not None:
            raise KeyboardInterrupt
        run.stop_signal = signum

    return {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}


def _stop_on_signal(run: _Run) -> TrainResult:
    """Save the state of the current iteration boundary once and report the interruption."""
    if run.saved_iter != run.it:
        run.save(run.it, run.rng_state)
    name = signal.Signals(run.stop_signal).name if run.stop_signal else "SIGINT"
    return _interrupted(run, f"interrupted ({name}) at iter {run.it}: saved {run.ckpt_path}; continue with --resume")


def _set_up(cfg: TrainConfig, resume: bool, log: Callable[[str], None],
            model_factory: Callable[[dict[str, Any], int], Any], world: Any = None) -> _Run:
    """Data, model and optimizer, fresh or as the checkpoint left them (``resume``)."""
    is_root = world is None or world.is_root
    if not is_root:
        world.barrier()  # rank 0 prepares the data first
    meta = ensure_data(cfg, log)
    if world is not None and is_root:
        world.barrier()
    data_dir, out_dir = cfg.data_path(), cfg.out_path()
    splits = {"train": load_split(data_dir, "train", meta), "val": load_split(data_dir, "val", meta)}
    ckpt_path = out_dir / CHECKPOINT_NAME
    remove_stale_temps(ckpt_path)
    ckpt = load_checkpoint(ckpt_path) if resume else None
    model_args = cfg.model_args(meta["vocab_size"])
    check_memory(cfg, meta["vocab_size"])  # again, with the dataset's vocabulary (load_config had to guess it)
    if ckpt is not None:
        if not isinstance(ckpt.config, dict) or "model_args" not in ckpt.config or ckpt.optimizer is None:
            raise CheckpointError(f"{ckpt_path} is not a checkpoint of the train command (no model_args/optimizer)")
        check_model_args(ckpt.config["model_args"], ckpt, ckpt_path)
        if ckpt.tokenizer and tokenizer_identity(ckpt.tokenizer) != tokenizer_identity(meta["tokenizer"]):
            raise CheckpointError(
                f"{ckpt_path} was trained with another tokenizer than the dataset in {data_dir} has (checkpoint: "
                f"{_describe_tokenizer(ckpt.tokenizer)}; dataset: {_describe_tokenizer(meta['tokenizer'])}); "
                f"resume on the dataset it was trained on (--data_dir), or start a new run")
        if ckpt.step < 0:
            raise CheckpointError(f"{ckpt_path}: entry 'step' is {ckpt.step}; it must be >= 0")
        if ckpt.config["model_args"] != model_args:
            log(f"resuming with the checkpoint's model shape {ckpt.config['model_args']} (the config's differs)")
        model_args = ckpt.config["model_args"]
    if ckpt is None and cfg.init_from:  # fine-tuning: the shape and the weights are the checkpoint's
        from ..transformer.pretrained import init_from_pretrained
        try:
            model, model_args = init_from_pretrained(cfg.init_from, meta["vocab_size"], cfg.model.block_size,
                                                     cfg.model.dropout, log)
        except ValueError as e:
            raise ConfigError(f"config key 'init_from': {e}") from None
    else:
        model = model_factory(model_args, cfg.seed)
    tokenizer = tokenizer_from_dict(meta["tokenizer"]) if cfg.sample_tokens > 0 else None
    run = _Run(cfg, log, model, make_optimizer(model, cfg), splits, np.random.default_rng(cfg.seed), meta["tokenizer"],
               tokenizer, ckpt_path, {**cfg.to_dict(), "model_args": model_args},
               _Metrics(out_dir / METRICS_NAME if is_root else Path(os.devnull), append=resume), is_root=is_root)
    if ckpt is not None:
        _restore(ckpt, ckpt_path, run)
        run.it, run.best_val, run.saved_iter = ckpt.step, ckpt.best_val_loss, ckpt.step
        run.saved_val_loss_full = ckpt.val_loss_full
        run.workers_before = ckpt.config.get("workers_used")
        log(f"resumed from {ckpt_path} at iter {run.it} (best val loss {run.best_val:.4f})")
    model.train()
    run.rng_state = capture_rng(run.data_rng, model)
    return run


def _describe_tokenizer(d: dict[str, Any]) -> str:
    size = f"{len(d['chars'])} characters" if isinstance(d.get("chars"), str) else \
        f"{len(d['merges'])} merges" if isinstance(d.get("merges"), list) else "?"
    return f"{d.get('type')} with {size}, sha256 {tokenizer_identity(d)[:12]}"


def _restore(ckpt: Checkpoint, path: Path, run: _Run) -> None:
    """The weights, optimizer state and RNG states of ``ckpt``; a damaged entry is one
    ``CheckpointError`` naming the file and the entry."""
    for entry, restore in (("model", lambda: run.model.load_state_dict(ckpt.model)),
                           ("optimizer state", lambda: run.optimizer.load_state_dict(ckpt.optimizer)),
                           ("rng", lambda: restore_rng(ckpt.rng, run.data_rng, run.model))):
        try:
            restore()
        except (KeyError, ValueError, TypeError, AttributeError, IndexError) as e:
            raise CheckpointError(f"{path}: the checkpoint's {entry} entry cannot be restored: "
                                  f"{type(e).__name__}: {e}") from None


def _log_start(run: _Run) -> None:
    """The model's size and the worker count; a note when a dropout run continues with another."""
    cfg, model_args = run.cfg, run.config_record["model_args"]
    workers = run.dp.workers if run.dp else 1
    n_params = sum(p.size for p in run.model.parameters())
    run.log(f"model: {n_params / 1e6:.2f}M parameters {model_args}; {cfg.tokens_per_iter:,} tokens per iteration; "
            f"{workers} worker process{'es' if workers > 1 else ''} per batch")
    used_before = run.workers_before
    run.config_record["workers_used"] = workers  # with dropout, part of the run's identity
    if used_before is not None and used_before != workers and model_args.get("dropout", 0) > 0:
        run.log(f"note: this dropout run was made with {used_before} worker processes and continues with "
                f"{workers}: its dropout masks will differ from an uninterrupted run (--workers={used_before} "
                f"continues it exactly)")


def _set_lr(optimizer: AdamW, cfg: TrainConfig, it: int) -> float:
    lr = get_lr(it, cfg.warmup_iters, cfg.lr_decay_iters, cfg.learning_rate, cfg.min_lr) if cfg.decay_lr \
        else cfg.learning_rate
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


def _evaluate_and_save(run: _Run, lr: float) -> TrainResult | None:
    """Evaluate, log, save the checkpoint (after iteration 0), print a sample; a TrainResult if
    the val loss is not finite (training stops)."""
    cfg, t0 = run.cfg, time.perf_counter()
    eval_rng = np.random.default_rng([cfg.seed, run.it])
    result = estimate_loss(run.model, run.splits, cfg.eval_iters, cfg.batch_size, cfg.model.block_size, eval_rng,
                           batch_loss=run.dp.loss if run.dp else None)
    run.evals.append({"iter": run.it, **result})
    run.log(f"step {run.it}: train loss {result['train']:.4f}, val loss {result['val']:.4f} "
            f"({time.perf_counter() - t0:.1f} s)")
    run.metrics.write(event="eval", iter=run.it, train_loss=result["train"], val_loss=result["val"], lr=lr)
    if not math.isfinite(result["val"]):
        return _stop_nan(run, "the val loss", result["val"])
    run.best_val = min(run.best_val, result["val"])
    if run.it == cfg.max_iters:
        stopped = _evaluate_full(run)
        if stopped:
            return stopped
    # (resumed at max_iters: saved again only if the checkpoint lacked this val_loss_full)
    if run.it > 0 and (run.saved_iter != run.it or run.saved_val_loss_full != run.val_loss_full):
        run.save(run.it, run.rng_state)
    if run.is_root:
        write_loss_plot(run.metrics.path, title=f"{cfg.name}: loss")
    if run.tokenizer is not None and run.is_root:
        text = sample_text(run.model, run.tokenizer, cfg.sample_prompt, cfg.sample_tokens, cfg.sample_temperature,
                           cfg.sample_top_k or None, cfg.seed)
        run.log(f"--- sample at step {run.it} ---\n{text}\n---")
    return None


def _evaluate_full(run: _Run) -> TrainResult | None:
    """The exact loss over the whole val split (non-overlapping block_size windows, through the
    data-parallel workers when they run): logged, and recorded as ``val_loss_full``."""
    t0 = time.perf_counter()
    full = full_loss(run.model, run.splits["val"], run.cfg.model.block_size,
                     batch_loss=run.dp.loss if run.dp else None)
    run.log(f"step {run.it}: val_loss_full {full.loss:.4f} (exact: the whole val split, {full.windows:,} "
            f"non-overlapping windows of {full.block_size} tokens; {time.perf_counter() - t0:.1f} s)")
    run.metrics.write(event="eval_full", iter=run.it, split="val", val_loss_full=full.loss, windows=full.windows,
                      tokens=full.tokens)
    if not math.isfinite(full.loss):
        return _stop_nan(run, "the exact val loss", full.loss)
    run.val_loss_full = full.loss
    return None


def _log_progress(run: _Run, step: StepResult, lr: float, seconds: float) -> None:
    """Record the step's loss; every ``log_interval`` iterations, a progress line and a metrics record."""
    cfg = run.cfg
    run.losses.append(step.loss)
    run.step_time += seconds
    run.steps_timed += 1
    if run.it % cfg.log_interval == 0 or run.it == cfg.max_iters:
        ms = 1000.0 * run.step_time / run.steps_timed
        tok_s = cfg.tokens_per_iter * run.steps_timed / run.step_time
        run.log(f"iter {run.it}: loss {step.loss:.4f}, lr {lr:.2e}, {ms:.1f} ms/iter, {tok_s:,.0f} tokens/s")
        run.metrics.write(event="train", iter=run.it, loss=step.loss, lr=lr, ms_per_iter=ms, tokens_per_s=tok_s,
                          grad_norm=step.grad_norm)
        run.step_time, run.steps_timed = 0.0, 0


def _stop_nan(run: _Run, what: str, value: float) -> TrainResult:
    kept = f"the last good checkpoint {run.ckpt_path} (iter {run.saved_iter}) was kept" \
        if run.saved_iter is not None else "no checkpoint had been saved yet"
    msg = (f"{what} is {value} at iter {run.it}: training stopped; {kept}. "
           f"Try a lower learning_rate, a smaller grad_clip, or check the data.")
    run.log(msg)
    run.metrics.write(event="stop", iter=run.it, reason=msg)
    return run.result("nan", msg)


def _interrupted(run: _Run, msg: str) -> TrainResult:
    run.log(msg)
    run.metrics.write(event="interrupted", iter=run.it)
    return run.result("interrupted", msg)
