"""Checkpoints: one NumPy ``.npz`` file, no pickle anywhere, written atomically; and ``load_model``.

``train`` writes ``<out_dir>/ckpt.npz`` (``CHECKPOINT_NAME``); ``load_model(path)`` turns a
checkpoint file (or the run directory holding one) back into a GPT and its tokenizer, for sampling,
demos and anything else that only needs the trained model. This module sits below ``training/``
and ``sampling/``, which both use it.

Entries of the archive (every value is a plain array; JSON travels as a 0-d unicode array)::

    __format__          "numgpt-checkpoint-v1"
    model/<name>        each parameter, e.g. model/transformer.h.0.attn.c_attn.weight
    optim/<key>         the optimizer's state buffers (AdamW: "<group>.exp_avg", "<group>.exp_avg_sq")
    optim_hyper         JSON: optimizer type, step count t, per-group hyper-parameters, names, shapes
    step                int64: the number of updates made (the next iteration to run)
    best_val_loss       float64 (inf before the first evaluation)
    val_loss_full       float64, only once training has reached max_iters: the exact loss over the
                        whole val split (non-overlapping block_size windows; training/evaluate.py)
    config              JSON: the TrainConfig of the run, plus "model_args" (the GPTConfig)
    rng                 JSON: the bit-generator states of the data sampler and of every
                        np.random.Generator held by a module (dropout), by dotted name
    tokenizer           JSON: the tokenizer's to_dict() ("null" if none)

``load_checkpoint`` opens it with ``np.load(allow_pickle=False)``. ``save_checkpoint`` writes a
temporary file in the same directory, fsyncs it and renames it over the target with
``os.replace`` (atomic on POSIX and Windows): a crash mid-save leaves the previous checkpoint
intact.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable

import numpy as np

CHECKPOINT_FORMAT = "numgpt-checkpoint-v1"
CHECKPOINT_NAME = "ckpt.npz"  # what `train` writes in its out_dir


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file."""


class WriteError(OSError):
    """A file could not be written (disk full, read-only directory, ...): ``str()`` is the one
    line ``cannot write <path>: <cause>``; ``errno`` is the cause's."""

    def __init__(self, path: str | Path, cause: OSError):
        super().__init__(cause.errno, cause.strerror or str(cause), str(path))

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"


@dataclass
class Checkpoint:
    """The contents of a checkpoint file, as Python objects."""

    model: dict[str, np.ndarray]
    optimizer: dict[str, Any] | None = None     # Optimizer.state_dict(): {"hyper", "arrays"}
    step: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    rng: dict[str, Any] = field(default_factory=dict)
    tokenizer: dict[str, Any] | None = None
    best_val_loss: float = float("inf")
    val_loss_full: float | None = None          # the exact val loss at max_iters (None before)


def _json_entry(obj: Any) -> np.ndarray:
    return np.array(json.dumps(obj))


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> None:
    """Write ``ckpt`` to ``path`` atomically (temporary file + fsync + ``os.replace``). A failed
    write raises ``WriteError`` and leaves no temporary file and the previous ``path`` as it was."""
    path = Path(path)
    entries: dict[str, np.ndarray] = {"__format__": np.array(CHECKPOINT_FORMAT)}
    for name, arr in ckpt.model.items():
        entries[f"model/{name}"] = np.asarray(arr)
    if ckpt.optimizer is not None:
        entries["optim_hyper"] = _json_entry(ckpt.optimizer["hyper"])
        for key, arr in ckpt.optimizer["arrays"].items():
            entries[f"optim/{key}"] = np.asarray(arr)
    entries["step"] = np.array(int(ckpt.step), dtype=np.int64)
    entries["best_val_loss"] = np.array(float(ckpt.best_val_loss), dtype=np.float64)
    if ckpt.val_loss_full is not None:
        entries["val_loss_full"] = np.array(float(ckpt.val_loss_full), dtype=np.float64)
    entries["config"] = _json_entry(ckpt.config)
    entries["rng"] = _json_entry(ckpt.rng)
    entries["tokenizer"] = _json_entry(ckpt.tokenizer)
    write_atomically(path, lambda f: np.savez(f, **entries))


def write_atomically(path: str | Path, write: Callable[[BinaryIO], Any]) -> None:
    """``write(f)`` into ``.<name>.tmp<pid>`` beside ``path``, fsync, then ``os.replace`` it over ``path``
    (atomic on POSIX and Windows). The one way numgpt writes a file a crash must not half-write
    (checkpoints, prepared data, safetensors): a failure (disk full, read-only directory) raises
    ``WriteError`` naming ``path``, removes the temporary file and leaves ``path`` as it was."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:  # one line naming the file; the previous file is untouched
        raise WriteError(path, e) from None
    finally:
        if tmp.exists():  # the write failed part-way: leave no debris
            tmp.unlink()


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Delete the ``.<name>.tmp<pid>`` files next to ``path`` that ``save_checkpoint`` left behind
    in a process that is gone (``kill -9`` during a save); those of live processes other than
    this one are kept (another run may be writing). Returns the files removed."""
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{path.name}.tmp*"):
        pid = tmp.name[len(f".{path.name}.tmp"):]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        try:
            tmp.unlink()
            removed.append(tmp)
        except FileNotFoundError:
            pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint``. A missing, truncated, corrupt or foreign
    file raises ``CheckpointError`` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    if not zipfile.is_zipfile(path):  # else np.load guesses "pickled data" and suggests allow_pickle
        raise CheckpointError(f"{path} is not a readable numgpt checkpoint (not an .npz/zip archive)")
    try:
        _check_declared_sizes(path)
        with np.load(path, allow_pickle=False) as archive:
            entries = {k: archive[k] for k in archive.files}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise CheckpointError(
            f"{path} is not a readable numgpt checkpoint (truncated, corrupt, or not an .npz file): {e}"
        ) from None
    fmt = entries.get("__format__")
    if fmt is None or str(fmt) != CHECKPOINT_FORMAT:
        found = "no '__format__' entry" if fmt is None else f"format {str(fmt)!r}"
        raise CheckpointError(f"{path} is not a numgpt checkpoint ({found}; expected {CHECKPOINT_FORMAT!r})")
    for key, arr in entries.items():
        if key.startswith(("model/", "optim/")):
            _check_weights(path, key, arr)
    try:
        optimizer = None
        if "optim_hyper" in entries:
            optimizer = {"hyper": json.loads(str(entries["optim_hyper"])),
                         "arrays": {k[len("optim/"):]: v for k, v in entries.items() if k.startswith("optim/")}}
        return Checkpoint(
            model={k[len("model/"):]: v for k, v in entries.items() if k.startswith("model/")},
            optimizer=optimizer,
            step=int(entries["step"]),
            config=json.loads(str(entries["config"])),
            rng=json.loads(str(entries["rng"])),
            tokenizer=json.loads(str(entries["tokenizer"])),
            best_val_loss=float(entries["best_val_loss"]),
            val_loss_full=float(entries["val_loss_full"]) if "val_loss_full" in entries else None,
        )
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path} is a damaged numgpt checkpoint: entry {e} is missing or malformed") from None


# Deflate never shrinks data more than about 1032:1, so a member declaring more is crafted.
_MAX_DEFLATE_RATIO = 1032


def _check_declared_sizes(path: Path) -> None:
    """Refuse, before anything is allocated, an archive member whose ``.npy`` header declares more
    data than the member holds (``np.load`` would allocate the declared size first, so a crafted
    header of 10**12 elements asks for TiB), or whose declared size the file cannot hold."""
    file_size = path.stat().st_size
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if info.compress_size > file_size or info.file_size > max(info.compress_size, 1) * _MAX_DEFLATE_RATIO:
                raise CheckpointError(f"{path}: entry {key!r} declares {info.file_size:,} bytes, more than the "
                                      f"{file_size:,}-byte file can hold (damaged or crafted)")
            with zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                shape, _, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0(f))
                data_bytes = info.file_size - f.tell()
            declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if declared != data_bytes:
                raise CheckpointError(f"{path}: entry {key!r} declares shape {shape} of {dtype} ({declared:,} bytes) "
                                      f"but holds {data_bytes:,} bytes (damaged or crafted)")


def _check_weights(path: Path, key: str, arr: np.ndarray) -> None:
    """A model or optimizer array must be real floating point and finite."""
    if not np.issubdtype(arr.dtype, np.floating):
        raise CheckpointError(f"{path}: entry {key!r} has dtype {arr.dtype}; weights must be real floating point")
    if not np.isfinite(arr).all():
        raise CheckpointError(f"{path}: entry {key!r} holds non-finite values (nan or inf)")


def check_model_args(model_args: Any, ckpt: Checkpoint, path: str | Path) -> dict[str, Any]:
    """``model_args`` as a valid GPTConfig's fields, refused (before a model is built) when the
    model it describes has more parameters than the checkpoint holds (``GPTConfig.min_parameters``)."""
    from .transformer import GPTConfig

    if not isinstance(model_args, dict):
        raise CheckpointError(f"{path}: the checkpoint's config has no 'model_args' (the model shape); "
                              f"was it written by train?")
    try:
        conf = GPTConfig.from_dict(model_args)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: the checkpoint's model_args are invalid: {e}") from None
    implied = conf.min_parameters()
    held = sum(int(np.size(a)) for a in ckpt.model.values())
    if implied > held:
        raise CheckpointError(f"{path}: model_args {model_args} describe at least {implied:,} parameters but the "
                              f"checkpoint holds {held:,} weights (damaged or crafted)")
    return model_args


# ----------------------------------------------------------------------------- RNG state


def module_generators(model: Any) -> dict[str, np.random.Generator]:
    """Every ``np.random.Generator`` held by a module of ``model`` (dropout layers), by dotted name."""
    found = {}
    for mod_name, module in model.named_modules():
        for attr, value in vars(module).items():
            if isinstance(value, np.random.Generator):
                found[f"{mod_name}.{attr}" if mod_name else attr] = value
    return found


def capture_rng(data_rng: np.random.Generator, model: Any) -> dict[str, Any]:
    """The states of the data sampler and of the model's generators (JSON-able)."""
    return {"data": data_rng.bit_generator.state,
            "modules": {name: g.bit_generator.state for name, g in module_generators(model).items()}}


def restore_rng(state: dict[str, Any], data_rng: np.random.Generator, model: Any) -> None:
    """Put the generators back in the states ``capture_rng`` recorded."""
    data_rng.bit_generator.state = state["data"]
    generators = module_generators(model)
    for name, s in state.get("modules", {}).items():
        if name in generators:
            generators[name].bit_generator.state = s


# ----------------------------------------------------------------------------- the trained model


def checkpoint_path(path: str | Path) -> Path:
    """``path`` itself, or ``path / ckpt.npz`` when ``path`` is a run directory."""
    path = Path(path)
    return path / CHECKPOINT_NAME if path.is_dir() else path


def load_model(path: str | Path) -> tuple[Any, Any, dict[str, Any]]:
    """(GPT in eval mode, tokenizer, the checkpoint's config) from a checkpoint file or a run directory.

    The model is built from the checkpoint's ``config["model_args"]`` (a GPTConfig's fields) and
    gets its weights; the tokenizer is rebuilt from its ``to_dict()``. Raises ``CheckpointError``
    naming the file when any of that is missing or unusable.
    """
    path = checkpoint_path(path)
    return model_from_checkpoint(load_checkpoint(path), path)


def model_from_checkpoint(ckpt: Checkpoint, path: str | Path) -> tuple[Any, Any, dict[str, Any]]:
    """``load_model`` for a checkpoint already read (from ``path``, named in the errors)."""
    from .nn.layers import uninitialised
    from .tokenizer import from_dict
    from .transformer import GPT

    model_args = check_model_args(ckpt.config.get("model_args") if isinstance(ckpt.config, dict) else None,
                                  ckpt, path)
    if not ckpt.tokenizer:
        raise CheckpointError(f"{path}: the checkpoint holds no tokenizer, so text cannot be encoded")
    try:
        with uninitialised():  # load_state_dict (strict) sets every parameter
            model = GPT(model_args)
        model.load_state_dict(ckpt.model)
        tokenizer = from_dict(ckpt.tokenizer)
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f"{path}: the checkpoint does not describe a usable model and tokenizer: {e}") from None
    model.eval()
    return model, tokenizer, ckpt.config
