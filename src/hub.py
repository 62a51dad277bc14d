"""Find a pretrained checkpoint: a local directory, or a Hugging Face hub name fetched into a cache.

``resolve("gpt2")`` downloads ``config.json`` from ``$HF_ENDPOINT/<name>/resolve/main/<file>``
(default https://huggingface.co) into ``$NUMGPT_CACHE/<name>`` (default ~/.cache/numgpt), then the
files its model family needs (``checkpoint_files``): GPT-2's ``vocab.json``, ``merges.txt``, or a
Llama's ``tokenizer.json``; and ``model.safetensors``, or ``model.safetensors.index.json`` and the
shards it lists when the repository has no single file. A download goes to ``<file>.part`` and is
renamed when complete (``os.replace``, atomic); an interrupted one resumes with an HTTP Range
request. Progress goes to stderr. Offline, the error names the URL and how to use a local directory.
"""
from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import TextIO

__all__ = ["resolve", "HubError", "HubNotFound", "FILES", "TOKENIZER_FILES", "download", "checkpoint_files"]

FILES = ("config.json", "vocab.json", "merges.txt", "model.safetensors")  # a GPT-2 checkpoint
TOKENIZER_FILES = {"gpt2": ("vocab.json", "merges.txt"), "llama": ("tokenizer.json",)}
INDEX = "model.safetensors.index.json"
CHUNK = 1 << 20


class HubError(ValueError):
    """A checkpoint that cannot be found or fetched; the message says what to do."""


class HubNotFound(HubError):
    """The hub answered 404: the repository or that file does not exist."""


def _cache_dir() -> Path:
    return Path(os.environ.get("NUMGPT_CACHE") or Path.home() / ".cache" / "numgpt")


def _endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def download(url: str, target: Path, progress: TextIO | None = None, timeout: float = 30.0) -> Path:
    """Fetch ``url`` to ``target`` via ``target.part``, resuming a partial ``.part`` with a Range request."""
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the .part is already complete
            os.replace(part, target)
            return target
        raise (HubNotFound if e.code == 404 else HubError)(f"could not download {url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise HubError(f"could not download {url} ({getattr(e, 'reason', e)}). Offline? Download the checkpoint's "
                       f"files (config.json, model.safetensors, and vocab.json + merges.txt or tokenizer.json) another way into a directory and pass it: --init-from PATH") from None
    with response:
        if have and response.status != 206:  # the server ignored the Range: start over
            have = 0
        total = response.headers.get("Content-Length")
        total = int(total) + have if total else None
        target.parent.mkdir(parents=True, exist_ok=True)
        done = have
        with open(part, "ab" if have else "wb") as f:
            while chunk := response.read(CHUNK):
                f.write(chunk)
                done += len(chunk)
                if progress is not None and total:
                    bar = int(30 * done / total)
                    progress.write(f"\r{target.name}: [{'#' * bar}{'.' * (30 - bar)}] {done / 1e6:.1f}/{total / 1e6:.1f} MB")
                    progress.flush()
    if progress is not None and total:
        progress.write("\n")
    if total is not None and done != total:
        raise HubError(f"the download of {url} stopped at {done} of {total} bytes; run again to resume")
    os.replace(part, target)
    return target


def _fetch(name: str, folder: Path, file: str, progress: TextIO | None) -> Path:
    """``folder/file``, downloaded from the hub first if it is not in the cache."""
    target = folder / file
    if not target.is_file():
        download(f"{_endpoint()}/{name}/resolve/main/{file}", target, progress)
    return target


def checkpoint_files(name: str, folder: Path, progress: TextIO | None = None, tokenizer_only: bool = False) -> list[str]:
    """The files hub checkpoint ``name`` needs, deciding from its ``config.json`` (fetched first into
    ``folder``): the family's tokenizer files, then (unless ``tokenizer_only``) ``model.safetensors``,
    or, when the repository has none (HTTP 404), the index and its shards (fetched to read the index)."""
    from .transformer.pretrained import model_family, read_json, shard_names

    config = _fetch(name, folder, "config.json", progress)
    family = model_family(read_json(config), str(config))
    files = ["config.json", *TOKENIZER_FILES[family]]
    if tokenizer_only:
        return files
    if (folder / INDEX).is_file():
        return files + [INDEX, *shard_names(folder / INDEX)]
    try:
        _fetch(name, folder, "model.safetensors", progress)
        return files + ["model.safetensors"]
    except HubNotFound:
        try:
            _fetch(name, folder, INDEX, progress)
        except HubNotFound:
            raise HubError(f"{_endpoint()}/{name} has neither model.safetensors nor {INDEX} (only safetensors "
                           f"checkpoints are read: no pickle)") from None
        return files + [INDEX, *shard_names(folder / INDEX)]


def resolve(name_or_path: str, progress: TextIO | None = sys.stderr, files: tuple[str, ...] | None = None,
            tokenizer_only: bool = False) -> Path:
    """A local directory as it is; else a hub name (``gpt2``, ``gpt2-medium``, ``org/name``) in the cache,
    its ``files`` fetched first if missing: by default what ``checkpoint_files`` finds the checkpoint
    (or only its tokenizer, ``tokenizer_only``) needs."""
    local = Path(name_or_path).expanduser()
    if local.is_dir():
        return local
    if name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1:
        raise HubError(f"{name_or_path} is not a directory (and not a hub name like gpt2 or org/name)")
    folder = _cache_dir() / name_or_path
    if files is None:
        files = tuple(checkpoint_files(name_or_path, folder, progress, tokenizer_only))
    for file in files:
        _fetch(name_or_path, folder, file, progress)
    return folder
