"""Read and write the safetensors format with NumPy alone (no pickle, no extra dependency).

A ``.safetensors`` file is::

    8 bytes     N, the header's length: unsigned 64-bit little-endian
    N bytes     the header: UTF-8 JSON, possibly padded with spaces
                {"__metadata__": {str: str} (optional),
                 "<tensor name>": {"dtype": "F32", "shape": [768, 2304], "data_offsets": [begin, end]}, ...}
    the rest    the byte buffer: each tensor's little-endian, C-order bytes at [begin, end) of it

``load`` memory-maps the buffer, so a tensor whose dtype NumPy has (F32, F16, F64, I64, ...) is a
view of the file: nothing is read until it is used, and nothing is copied. BF16 (bfloat16, which
NumPy lacks) is the upper half of a float32, so it becomes float32 by ``uint16 << 16``: exact,
one new array. Every offset is checked against the header and the file size first: a truncated or
corrupt file raises ``SafetensorsError`` naming the file and the tensor, never a NumPy error.

Why not the ``safetensors`` package: its NumPy API needs its compiled core for what is ~100 lines
of struct + JSON + ``np.memmap`` here, and it has no bfloat16 for NumPy either (see docs/pretrained.md).
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from .checkpoint import write_atomically

__all__ = ["SafetensorsError", "DTYPES", "read_header", "load", "metadata", "save", "to_bfloat16_bits"]

# safetensors dtype name -> NumPy dtype (little-endian). BF16 is read as uint16, then widened.
DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype("bool"), "U8": np.dtype("u1"), "I8": np.dtype("i1"), "U16": np.dtype("<u2"),
    "I16": np.dtype("<i2"), "U32": np.dtype("<u4"), "I32": np.dtype("<i4"), "U64": np.dtype("<u8"),
    "I64": np.dtype("<i8"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"), "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
}
_NAMES = {dt.str: name for name, dt in DTYPES.items() if name != "BF16"}  # "<f4" -> "F32"
MAX_HEADER = 100 << 20  # the format's own limit on the header length (100 MB)


class SafetensorsError(ValueError):
    """A safetensors file that cannot be read or written; the message names the file (and tensor)."""


def read_header(path: str | os.PathLike) -> tuple[dict[str, Any], int]:
    """``(header, offset of the byte buffer)`` of a safetensors file, every entry validated:
    known dtype, integer shape, ``end - begin == prod(shape) * itemsize``, inside the file,
    tensors neither overlapping nor leaving holes."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise SafetensorsError(f"{path}: not a safetensors file ({size} bytes, shorter than the 8-byte header length)")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER or 8 + n > size:
                raise SafetensorsError(f"{path}: header length {n} exceeds the file ({size} bytes): truncated or "
                                       f"not a safetensors file")
            raw = f.read(n)
    except OSError as e:
        raise SafetensorsError(f"cannot read {path}: {e}") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: the header is not valid JSON ({e}): corrupt or not a safetensors file") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: the header must be a JSON object, got {type(header).__name__}")
    start, buffer = 8 + n, size - 8 - n
    spans = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        where = f"{path}: tensor {name!r}"
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
            raise SafetensorsError(f"{where}: entry must have dtype, shape and data_offsets, got {info!r}")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPES:
            raise SafetensorsError(f"{where}: dtype {dtype!r} is not supported (supported: {', '.join(DTYPES)})")
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise SafetensorsError(f"{where}: shape must be a list of integers >= 0, got {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise SafetensorsError(f"{where}: data_offsets must be [begin, end], got {offsets!r}")
        begin, end = offsets
        nbytes = int(np.prod(shape, dtype=np.int64)) * DTYPES[dtype].itemsize
        if not 0 <= begin <= end or end - begin != nbytes:
            raise SafetensorsError(f"{where}: data_offsets {offsets} hold {end - begin} bytes, but {dtype} {shape} "
                                   f"needs {nbytes}")
        if end > buffer:
            raise SafetensorsError(f"{where}: its bytes [{begin}, {end}) lie beyond the end of the data "
                                   f"({buffer} bytes): the file is truncated")
        spans.append((begin, end, name))
    spans.sort()
    at = 0
    for begin, end, name in spans:
        if begin != at:
            problem = "overlaps the previous tensor" if begin < at else f"leaves a hole of {begin - at} bytes"
            raise SafetensorsError(f"{path}: tensor {name!r} at byte {begin} {problem}: corrupt file")
        at = end
    return header, start


def load(path: str | os.PathLike, names: Iterable[str] | None = None, writable: bool = False) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file (or only ``names``), by name.

    Arrays are views of a memory map of the file (no copy; read-only, or copy-on-write when
    ``writable``), except BF16, which is returned as a new float32 array. Unknown ``names`` raise
    ``SafetensorsError`` listing what the file has.
    """
    path = Path(path)
    header, start = read_header(path)
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    wanted = list(entries) if names is None else list(names)
    missing = [k for k in wanted if k not in entries]
    if missing:
        raise SafetensorsError(f"{path}: no tensor named {missing[0]!r} (the file has {len(entries)}: "
                               f"{', '.join(sorted(entries)[:8])}{', ...' if len(entries) > 8 else ''})")
    size = path.stat().st_size
    buf = np.asarray(np.memmap(path, dtype=np.uint8, mode="c" if writable else "r", offset=start, shape=(size - start,))) \
        if size > start else np.zeros(0, np.uint8)
    out = {}
    for name in wanted:
        info = entries[name]
        begin, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        arr = buf[begin:end].view(dtype).reshape(tuple(info["shape"]))
        if info["dtype"] == "BF16":  # bfloat16 = the high 16 bits of a float32
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = arr
    return out


def metadata(path: str | os.PathLike) -> dict[str, str]:
    """The header's ``__metadata__`` (``{}`` if none)."""
    return dict(read_header(path)[0].get("__metadata__") or {})


def to_bfloat16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> the uint16 bits of bfloat16, rounded to nearest even (how a BF16 file stores it)."""
    bits = np.array(x, dtype=np.float32, order="C").view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    nan = np.isnan(np.asarray(x, dtype=np.float32))
    rounded = np.where(nan, (bits >> 16) | 0x40, rounded)  # a NaN stays a (quiet) NaN, never rounds to inf
    return rounded.astype(np.uint16)


def save(path: str | os.PathLike, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None,
         bf16: Iterable[str] = ()) -> None:
    """Write ``tensors`` as a safetensors file, atomically (temporary file, fsync, ``os.replace``).

    Tensors are laid out in name order, the header padded with spaces to a multiple of 8 bytes
    (as the reference writer does). Names in ``bf16`` are stored as BF16 (from float32, rounded
    to nearest even); others keep their dtype.
    """
    path = Path(path)
    bf16 = set(bf16)
    header: dict[str, Any] = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}} if metadata else {}
    arrays, at = [], 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        if name in bf16:
            arr, dtype_name = to_bfloat16_bits(arr), "BF16"
        else:
            dtype_name = _NAMES.get(arr.dtype.newbyteorder("<").str)
            if dtype_name is None:
                raise SafetensorsError(f"{path}: tensor {name!r} has dtype {arr.dtype}, which safetensors cannot store")
        arr = arr.astype(arr.dtype.newbyteorder("<"), order="C", copy=False)  # (ascontiguousarray makes 0-d 1-d)
        header[name] = {"dtype": dtype_name, "shape": list(arr.shape), "data_offsets": [at, at + arr.nbytes]}
        arrays.append(arr)
        at += arr.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)

    def write(f: Any) -> None:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for arr in arrays:
            f.write(memoryview(arr.reshape(-1).view(np.uint8)))

    write_atomically(path, write)
