"""Training configuration: a flat TOML file read into the ``TrainConfig`` dataclass.

Every key of the file must be a field of ``TrainConfig`` or of the model's ``GPTConfig`` (except
``vocab_size``, which comes from the prepared data) with a value of the field's type (an int is
accepted for a float field); anything else is a ``ConfigError`` naming the key, the expected type
and the file. Command-line overrides ``--key=value`` are parsed to the field's type
(``--max_iters=500``, ``--decay_lr=false``, ``--learning_rate=3e-4``). The model's keys
(``n_layer``, ``n_embd``, ``dropout``, ...) are declared and validated once, by ``GPTConfig``
(numgpt/transformer/gpt.py): a new model hyperparameter becomes a config key by itself.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, get_args, get_type_hints

from ..errors import UsageError
from ..transformer import GPTConfig

# The model of the defaults (nanoGPT's shakespeare_char on a CPU); GPTConfig's own defaults are GPT-2's.
DEFAULT_MODEL = {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64}
# config key -> type, for the model's keys (every GPTConfig field but vocab_size); ``int | None`` fields
# (n_kv_head, ffn_hidden) are ints in a file: TOML has no null, leaving the key out means None
MODEL_FIELDS: dict[str, type] = {k: next((a for a in get_args(v) if a is not type(None)), v)
                                 for k, v in get_type_hints(GPTConfig).items() if k != "vocab_size"}
OPTIONAL_FIELDS = {k for k, v in get_type_hints(GPTConfig).items() if type(None) in get_args(v)}

_TYPE_NAMES = {int: "an integer", float: "a number", bool: "a boolean (true/false)", str: "a string"}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class ConfigError(UsageError):
    """A bad configuration key or value; the message names the key and what was expected."""


@dataclass
class TrainConfig:
    """Everything a training run depends on. Defaults are nanoGPT's shakespeare_char CPU settings."""

    # -- run and data ------------------------------------------------------------------------
    name: str = "shakespeare_char_cpu"   # the default out_dir is out-<name>
    dataset: str = "shakespeare_char"    # the default data_dir is data/<dataset>
    data_dir: str = ""                   # "" -> data/<dataset> (relative to the current directory)
    out_dir: str = ""                    # "" -> out-<name>
    source: str = ""                     # text file or URL for prepare ("" -> the copy shipped in the package)
    tokenizer: str = "char"              # "char", "bpe", or a checkpoint's (hub name or dir: vocab.json + merges.txt or tokenizer.json)
    vocab_size: int = 0                  # BPE vocabulary size (ignored for char; the model's comes from the data)
    seed: int = 1337
    init_from: str = ""                  # "" -> a fresh model; a hub name (gpt2) or hub-layout dir: fine-tune it
    # -- the model: a GPTConfig (flat keys in the file: n_layer = 4, dropout = 0.1, ...) -----------
    model: GPTConfig = dataclasses.field(default_factory=lambda: GPTConfig(**DEFAULT_MODEL))
    # -- optimisation --------------------------------------------------------------------------
    batch_size: int = 12
    gradient_accumulation_steps: int = 1
    max_iters: int = 2000
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    lr_decay_iters: int = 2000
    decay_lr: bool = True
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0               # 0 disables clipping
    workers: int = 0                     # processes splitting each batch (training/parallel.py); 0 = one per core
    # -- evaluation, logging, sampling ---------------------------------------------------------
    eval_interval: int = 250
    eval_iters: int = 20
    log_interval: int = 10
    sample_tokens: int = 200             # tokens of the sample printed after each eval (0: none)
    sample_prompt: str = "\n"
    sample_temperature: float = 0.8
    sample_top_k: int = 200              # 0: no top-k

    def data_path(self) -> Path:
        return Path(self.data_dir or f"data/{self.dataset}")

    def out_path(self) -> Path:
        return Path(self.out_dir or f"out-{self.name}")

    @property
    def tokens_per_iter(self) -> int:
        """Tokens one training iteration reads: batch_size * block_size * gradient_accumulation_steps."""
        return self.batch_size * self.model.block_size * self.gradient_accumulation_steps

    def model_args(self, vocab_size: int) -> dict[str, Any]:
        """The GPTConfig keyword arguments of this run (the vocabulary size comes from the prepared data)."""
        return {**self.model.to_dict(), "vocab_size": int(vocab_size)}

    def to_dict(self) -> dict[str, Any]:
        """Every config key and its value, flat as in the file."""
        own = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "model"}
        return {**own, **{k: getattr(self.model, k) for k in MODEL_FIELDS}}


# config key -> int | float | bool | str: TrainConfig's own fields, then the model's
FIELDS: dict[str, type] = {**{k: v for k, v in get_type_hints(TrainConfig).items() if k != "model"}, **MODEL_FIELDS}


def _unknown_key(key: str, where: str) -> ConfigError:
    close = difflib.get_close_matches(key, FIELDS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"{where}: unknown config key {key!r}{hint}; known keys: {', '.join(FIELDS)}")


def _check_type(key: str, value: Any, where: str) -> Any:
    expected = FIELDS[key]
    if value is None and key in OPTIONAL_FIELDS:  # e.g. a saved run's config passed back as overrides
        return None
    ok = (isinstance(value, expected) and not (expected is int and isinstance(value, bool))) or (
        expected is float and isinstance(value, int) and not isinstance(value, bool))
    if not ok:
        raise ConfigError(f"{where}: key {key!r} must be {_TYPE_NAMES[expected]}, got {type(value).__name__} {value!r}")
    return float(value) if expected is float else value


def parse_override(key: str, text: str) -> Any:
    """Parse the text of ``--key=value`` to the type of field ``key``."""
    if key not in FIELDS:
        raise _unknown_key(key, f"--{key}")
    expected = FIELDS[key]
    try:
        if expected is bool:
            low = text.strip().lower()
            if low not in _TRUE | _FALSE:
                raise ValueError
            return low in _TRUE
        return expected(text)
    except ValueError:
        raise ConfigError(f"--{key}={text!r}: expected {_TYPE_NAMES[expected]}") from None


def resolve_config(name: str) -> str:
    """A config path as given, or a bare name (``shakespeare_char_cpu``) as ``configs/<name>.toml``
    (looked up in the working directory, then next to the package's repository)."""
    if Path(name).exists() or Path(name).suffix:
        return name
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = root / "configs" / f"{name}.toml"
        if candidate.exists():
            return str(candidate)
    return name  # load_config reports the missing file by the name given


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Read ``path`` (TOML; None for the defaults), apply ``overrides`` (values or override
    strings), validate, and return the config."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}  # key -> where its value came from (the file, or --key), for the messages
    if path is not None:
        p = Path(path)
        try:
            with open(p, "rb") as f:
                raw = tomllib.load(f)
        except FileNotFoundError:
            raise ConfigError(f"config file {p} does not exist") from None
        except IsADirectoryError:
            raise ConfigError(f"config file {p} is a directory; pass a .toml file") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"{p}: not UTF-8 text (TOML must be UTF-8): invalid byte at offset {e.start}") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: invalid TOML ({e})") from None
        for key, value in raw.items():
            if key not in FIELDS:
                raise _unknown_key(key, str(p))
            values[key] = _check_type(key, value, str(p))
            sources[key] = str(p)
    for key, value in (overrides or {}).items():
        if key not in FIELDS:
            raise _unknown_key(key, f"--{key}")
        values[key] = parse_override(key, value) if isinstance(value, str) and FIELDS[key] is not str else \
            _check_type(key, value, f"--{key}")
        sources[key] = f"--{key}"
    model = {**DEFAULT_MODEL, **{k: values.pop(k) for k in list(values) if k in MODEL_FIELDS}}
    try:
        model_config = GPTConfig(**model)  # the model's checks (n_embd % n_head, the dropout range) are its own
    except ValueError as e:
        given = [sources[k] for k in model if k in sources]
        raise ConfigError(f"{', '.join(dict.fromkeys(given)) or path or 'config'}: {e}") from None
    cfg = TrainConfig(**values, model=model_config)
    validate(cfg, sources)
    return cfg


# the float keys: each must be finite (nan and inf are refused; a nan grad_clip would disable clipping)
FLOAT_KEYS = [k for k, t in FIELDS.items() if t is float]


def validate(cfg: TrainConfig, sources: Mapping[str, str] | None = None) -> None:
    """Range checks of the training keys that a type check cannot do; each error names the key and,
    with ``sources`` (key -> the file or ``--key`` its value came from), where it was set.
    (The model's own keys are GPTConfig's to check; the memory the model needs is checked here.)"""
    sources = sources or {}

    def bad(key: str, message: str) -> ConfigError:
        where = sources.get(key)
        return ConfigError(f"{where + ': ' if where else ''}config key {key!r} {message}")

    for key in FLOAT_KEYS:
        value = getattr(cfg.model if key in MODEL_FIELDS else cfg, key)
        if not math.isfinite(value):
            raise bad(key, f"must be a finite number, got {value}")
    positive = ["batch_size", "gradient_accumulation_steps", "eval_interval", "eval_iters", "log_interval"]
    for key in positive:
        if getattr(cfg, key) <= 0:
            raise bad(key, f"must be > 0, got {getattr(cfg, key)}")
    for key in ["max_iters", "warmup_iters", "lr_decay_iters", "learning_rate", "min_lr", "weight_decay",
                "grad_clip", "sample_tokens", "sample_top_k", "sample_temperature", "vocab_size", "workers", "seed"]:
        if getattr(cfg, key) < 0:
            raise bad(key, f"must be >= 0, got {getattr(cfg, key)}")
    if cfg.workers > cfg.batch_size:
        raise bad("workers", f"({cfg.workers}) must be <= batch_size ({cfg.batch_size}): each worker process "
                             f"computes at least one row of the batch (0 = one per core)")
    cores = os.cpu_count() or 1
    if cfg.workers > 4 * cores:
        raise bad("workers", f"({cfg.workers}) is more than 4 processes per core ({cores} cores here): each worker "
                             f"holds a copy of the model and the step only gets slower (0 = one per core)")
    for key in ("beta1", "beta2"):
        if not 0.0 <= getattr(cfg, key) < 1.0:
            raise bad(key, f"must be in [0, 1), got {getattr(cfg, key)}")
    if cfg.decay_lr and cfg.lr_decay_iters < cfg.warmup_iters:
        raise bad("lr_decay_iters", f"({cfg.lr_decay_iters}) must be >= warmup_iters ({cfg.warmup_iters})")
    if cfg.init_from and (cfg.init_from != cfg.init_from.strip() or Path(cfg.init_from).is_file()):
        raise bad("init_from", f"must be a hub name (gpt2) or a directory in the hub layout, got {cfg.init_from!r}")
    if not cfg.tokenizer.strip():
        raise bad("tokenizer", "must be 'char', 'bpe', a hub name (gpt2) or a directory, got ''")
    if cfg.tokenizer == "bpe" and cfg.vocab_size <= 256:
        raise bad("vocab_size", f"must be > 256 for tokenizer 'bpe', got {cfg.vocab_size}")
    for key, path in (("data_dir", cfg.data_path()), ("out_dir", cfg.out_path())):
        blocker = _not_a_directory(path)
        if blocker is not None:
            raise bad(key, f"names {path}, but {blocker} is a file, not a directory")
    check_memory(cfg)


def _not_a_directory(path: Path) -> Path | None:
    """The existing non-directory at ``path`` or at one of its parents (which would block creating
    ``path`` as a directory), else None."""
    for p in (path, *path.parents):
        if p.exists():
            return None if p.is_dir() else p
    return None


def memory_estimate(cfg: TrainConfig, vocab_size: int | None = None) -> int:
    """A lower estimate, in bytes, of the memory one training step of ``cfg`` needs (float32):
    the parameters, their gradients and AdamW's two moments (4 copies), plus the activations kept
    for backward -- per layer about 16 vectors of n_embd and 3 attention matrices per head per
    token (scores, probabilities, dropout mask), plus the logits and their softmax. The vocabulary
    comes from the data; before it is prepared ``vocab_size`` (BPE) or 256 (char) stands in."""
    m = cfg.model
    vocab = vocab_size or cfg.vocab_size or 256
    params = 12 * m.n_layer * m.n_embd ** 2 + (vocab + m.block_size) * m.n_embd
    tokens = cfg.batch_size * m.block_size
    activations = tokens * (m.n_layer * (16 * m.n_embd + 3 * m.n_head * m.block_size) + 2 * vocab)
    return 4 * (4 * params + activations)


def machine_memory() -> int | None:
    """The machine's physical memory in bytes (os.sysconf), or None where it is not known."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(cfg: TrainConfig, vocab_size: int | None = None) -> None:
    """Refuse, before anything is allocated, a config whose ``memory_estimate`` exceeds the machine's memory."""
    need, have = memory_estimate(cfg, vocab_size), machine_memory()
    if have is not None and need > have:
        m = cfg.model
        raise ConfigError(
            f"the model and batch need at least {need / 2**30:,.1f} GiB (n_layer={m.n_layer}, n_embd={m.n_embd}, "
            f"block_size={m.block_size}, batch_size={cfg.batch_size}), more than this machine's "
            f"{have / 2**30:,.1f} GiB; make n_embd, n_layer, block_size or batch_size smaller")
