"""The training loop: ``train(cfg)`` runs a whole training job, nanoGPT style.

One iteration ``it`` (0-based; ``it`` updates have been made before it starts)::

    lr = get_lr(it, ...)                         # the schedule is a pure function of it
    if it % eval_interval == 0 or it == max_iters:
        evaluate train/val loss, log, print a sample, save the checkpoint (it > 0)
    if it == max_iters: stop
    repeat gradient_accumulation_steps times:
        x, y = get_batch(train)                  # the data RNG is the only randomness besides dropout
        loss = model(x, y) / gradient_accumulation_steps;  loss.backward()   (grads accumulate)
    clip_grad_norm(grad_clip); optimizer.step(); optimizer.zero_grad(set_to_none=True)

Exact resume: the loop's whole state at an iteration boundary is (parameters, optimizer
buffers and step count, the data RNG, the dropout RNGs, ``it``), and the checkpoint holds all
of it. Evaluation draws its batches from its own generator seeded with ``(seed, it)``, so
evaluating (or not) never changes the training batches.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..checkpoint import CHECKPOINT_NAME, Checkpoint, CheckpointError, capture_rng, load_checkpoint, restore_rng, save_checkpoint
from .clip import clip_grad_norm
from .config import TrainConfig
from .data import DataError, estimate_loss, get_batch, load_meta, load_split, prepare, tokenizer_from_dict
from . import parallel
from .optim import configure_optimizer
from .schedule import get_lr

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


def build_model(model_args: dict[str, Any], seed: int) -> Any:
    """A freshly initialised GPT for ``model_args`` (GPTConfig fields)."""
    from ..transformer import GPT, GPTConfig

    return GPT(GPTConfig(**model_args), seed=seed)


def ensure_data(cfg: TrainConfig, log: Callable[[str], None] = print_flush) -> dict[str, Any]:
    """Prepare the dataset in ``cfg.data_path()`` unless it is already there; return its meta."""
    data_dir = cfg.data_path()
    if not (data_dir / "meta.json").is_file():
        log(f"no prepared data in {data_dir}; preparing {cfg.dataset} ...")
        prepare(cfg.dataset, data_dir, source=cfg.source or None, tokenizer=cfg.tokenizer,
                vocab_size=cfg.vocab_size or None, log=log)
    meta = load_meta(data_dir)
    kind = meta["tokenizer"].get("type")
    if kind != cfg.tokenizer:
        raise DataError(f"{data_dir} was prepared with the {kind!r} tokenizer, but the config asks for "
                        f"{cfg.tokenizer!r}; set data_dir to another directory or delete {data_dir}")
    return meta


def _sample(model: Any, tokenizer: Any, cfg: TrainConfig) -> str | None:
    """A short seeded sample, if the sampling package provides ``generate``."""
    if cfg.sample_tokens <= 0 or tokenizer is None:
        return None
    try:
        from ..sampling import generate
    except ImportError:
        return None
    prompt = np.asarray(tokenizer.encode(cfg.sample_prompt) or [0], dtype=np.int64)
    was_training = model.training
    model.eval()
    try:
        ids = generate(model, prompt, cfg.sample_tokens, temperature=cfg.sample_temperature,
                       top_k=cfg.sample_top_k or None, seed=cfg.seed)
    finally:
        model.train(was_training)
    return tokenizer.decode([int(i) for i in ids])


class _Metrics:
    """Writes one JSON object per line to ``path`` (flushed at once, so `tail -f` works). A fresh
    run starts the file anew; a resumed run appends to it."""

    def __init__(self, path: Path, append: bool):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(path, "a" if append else "w", encoding="utf-8")

    def write(self, **record: Any) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def train(cfg: TrainConfig, resume: bool = False, log: Callable[[str], None] = print_flush,
          model_factory: Callable[[dict[str, Any], int], Any] = build_model) -> TrainResult:
    """Run (or resume) the training job ``cfg``; see the module docstring for one iteration.

    Writes ``<out_dir>/ckpt.npz`` (after each evaluation, at the end, and on Ctrl-C) and
    ``<out_dir>/metrics.jsonl``. A non-finite loss or gradient norm stops training without
    saving (the last good checkpoint stays) and returns status "nan".
    """
    meta = ensure_data(cfg, log)
    data_dir, out_dir = cfg.data_path(), cfg.out_path()
    splits = {"train": load_split(data_dir, "train", meta), "val": load_split(data_dir, "val", meta)}
    tokenizer_dict = meta["tokenizer"]
    tokenizer = tokenizer_from_dict(tokenizer_dict) if cfg.sample_tokens > 0 else None
    ckpt_path = out_dir / CHECKPOINT_NAME
    data_rng = np.random.default_rng(cfg.seed)

    ckpt = load_checkpoint(ckpt_path) if resume else None
    model_args = cfg.model_args(meta["vocab_size"])
    if ckpt is not None:
        if "model_args" not in ckpt.config or ckpt.optimizer is None:
            raise CheckpointError(f"{ckpt_path} is not a checkpoint of the train command (no model_args/optimizer)")
        if ckpt.config["model_args"] != model_args:
            log(f"resuming with the checkpoint's model shape {ckpt.config['model_args']} (the config's differs)")
        model_args = ckpt.config["model_args"]
    model = model_factory(model_args, cfg.seed)
    optimizer = configure_optimizer(model.named_parameters(), cfg.learning_rate, (cfg.beta1, cfg.beta2),
                                    cfg.weight_decay)
    start, best_val = 0, float("inf")
    if ckpt is not None:
        model.load_state_dict(ckpt.model)
        optimizer.load_state_dict(ckpt.optimizer)
        restore_rng(ckpt.rng, data_rng, model)
        start, best_val = ckpt.step, ckpt.best_val_loss
        log(f"resumed from {ckpt_path} at iter {start} (best val loss {best_val:.4f})")
    params = model.parameters()  # (walking the module tree every step costs ~0.5 ms)
    n_params = sum(p.size for p in params)
    tokens_per_iter = cfg.batch_size * cfg.block_size * cfg.gradient_accumulation_steps

    saved_iter = start if resume else None
    config_record = {**cfg.to_dict(), "model_args": model_args}

    def save(it: int, rng_state: dict[str, Any]) -> None:
        nonlocal saved_iter
        save_checkpoint(ckpt_path, Checkpoint(model=model.state_dict(), optimizer=optimizer.state_dict(), step=it,
                                              config=config_record, rng=rng_state, tokenizer=tokenizer_dict,
                                              best_val_loss=best_val))
        saved_iter = it

    def stop_nan(what: str, value: float, it: int) -> TrainResult:
        kept = f"the last good checkpoint {ckpt_path} (iter {saved_iter}) was kept" if saved_iter is not None \
            else "no checkpoint had been saved yet"
        msg = (f"{what} is {value} at iter {it}: training stopped; {kept}. "
               f"Try a lower learning_rate, a smaller grad_clip, or check the data.")
        log(msg)
        metrics.write(event="stop", iter=it, reason=msg)
        return TrainResult(it, "nan", best_val, losses, evals, ckpt_path if saved_iter is not None else None, msg)

    metrics = _Metrics(out_dir / METRICS_NAME, append=resume)
    losses: list[float] = []
    evals: list[dict[str, float]] = []
    model.train()
    it, in_update = start, False
    rng_state = capture_rng(data_rng, model)
    step_time, steps_timed = 0.0, 0
    dp = None
    try:
        dp = parallel.DataParallel(model, optimizer, cfg.workers or parallel.default_workers(cfg.batch_size))
        log(f"model: {n_params / 1e6:.2f}M parameters {model_args}; {tokens_per_iter:,} tokens per iteration; "
            f"{dp.workers} worker process{'es' if dp.workers > 1 else ''} per batch")
        config_record["workers_used"] = dp.workers  # with dropout, part of the run's identity
        used_before = ckpt.config.get("workers_used") if ckpt is not None else None
        if used_before is not None and used_before != dp.workers and model_args.get("dropout", 0) > 0:
            log(f"note: this dropout run was made with {used_before} worker processes and continues with "
                f"{dp.workers}: its dropout masks will differ from an uninterrupted run (--workers={used_before} "
                f"continues it exactly)")
        while True:
            rng_state = capture_rng(data_rng, model)  # the state at this iteration boundary
            lr = get_lr(it, cfg.warmup_iters, cfg.lr_decay_iters, cfg.learning_rate, cfg.min_lr) \
                if cfg.decay_lr else cfg.learning_rate
            for group in optimizer.param_groups:
                group["lr"] = lr

            if it % cfg.eval_interval == 0 or it == cfg.max_iters:
                t0 = time.perf_counter()
                eval_rng = np.random.default_rng([cfg.seed, it])
                result = estimate_loss(model, splits, cfg.eval_iters, cfg.batch_size, cfg.block_size, eval_rng,
                                       batch_loss=dp.loss)
                evals.append({"iter": it, **result})
                log(f"step {it}: train loss {result['train']:.4f}, val loss {result['val']:.4f} "
                    f"({time.perf_counter() - t0:.1f} s)")
                metrics.write(event="eval", iter=it, train_loss=result["train"], val_loss=result["val"], lr=lr)
                if not math.isfinite(result["val"]):
                    return stop_nan("the val loss", result["val"], it)
                best_val = min(best_val, result["val"])
                if it > 0 and saved_iter != it:
                    save(it, rng_state)
                text = _sample(model, tokenizer, cfg)
                if text is not None:
                    log(f"--- sample at step {it} ---\n{text}\n---")
            if it >= cfg.max_iters:
                break

            t0 = time.perf_counter()
            loss_sum = 0.0
            for _ in range(cfg.gradient_accumulation_steps):
                x, y = get_batch(splits["train"], cfg.batch_size, cfg.block_size, data_rng)
                value = dp.forward_backward(x, y, scale=1.0 / cfg.gradient_accumulation_steps)
                if not math.isfinite(value):
                    return stop_nan("the training loss", value, it)
                loss_sum += value
            norm = clip_grad_norm(params, cfg.grad_clip) if cfg.grad_clip > 0 else float("nan")
            if cfg.grad_clip > 0 and not math.isfinite(norm):
                return stop_nan("the gradient norm", norm, it)
            in_update = True
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            it += 1
            in_update = False
            step_time += time.perf_counter() - t0
            steps_timed += 1
            train_loss = loss_sum / cfg.gradient_accumulation_steps
            losses.append(train_loss)

            if it % cfg.log_interval == 0 or it == cfg.max_iters:
                ms = 1000.0 * step_time / steps_timed
                tok_s = tokens_per_iter * steps_timed / step_time
                log(f"iter {it}: loss {train_loss:.4f}, lr {lr:.2e}, {ms:.1f} ms/iter, {tok_s:,.0f} tokens/s")
                metrics.write(event="train", iter=it, loss=train_loss, lr=lr, ms_per_iter=ms, tokens_per_s=tok_s,
                              grad_norm=norm)
                step_time, steps_timed = 0.0, 0
        if saved_iter != it:
            save(it, capture_rng(data_rng, model))
        metrics.write(event="done", iter=it, best_val_loss=best_val)
        return TrainResult(it, "done", best_val, losses, evals, ckpt_path)
    except KeyboardInterrupt:
        if in_update:  # the parameters are half-updated: do not save them
            msg = f"interrupted during the optimizer update of iter {it}; kept the last checkpoint (iter {saved_iter})"
        else:
            save(it, rng_state)
            msg = f"interrupted at iter {it}: saved {ckpt_path}; continue with --resume"
        log(msg)
        metrics.write(event="interrupted", iter=it)
        return TrainResult(it, "interrupted", best_val, losses, evals, ckpt_path if saved_iter is not None else None, msg)
    finally:
        metrics.close()
        if dp is not None:
            dp.close()
