"""numgpt.safetensors: round trips, bfloat16/float16, memory-mapped reads, and clear errors."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from numgpt import safetensors as st


def _tensors():
    rng = np.random.default_rng(0)
    return {
        "transformer.wte.weight": rng.standard_normal((7, 4)).astype(np.float32),
        "h.0.attn.c_attn.bias": rng.standard_normal(12).astype(np.float64),
        "half": rng.standard_normal((3, 2)).astype(np.float16),
        "ids": np.arange(5, dtype=np.int64),
        "small": np.array([-3, 4], dtype=np.int8),
        "flags": np.array([True, False, True]),
        "empty": np.zeros((0, 3), np.float32),
        "scalar": np.array(2.5, np.float32),
    }


def test_round_trip_every_dtype_and_metadata(tmp_path):
    path = tmp_path / "model.safetensors"
    tensors = _tensors()
    st.save(path, tensors, metadata={"format": "np"})
    back = st.load(path)
    assert sorted(back) == sorted(tensors)
    for name, arr in tensors.items():
        assert back[name].dtype == arr.dtype and back[name].shape == arr.shape, name
        np.testing.assert_array_equal(back[name], arr)
    assert st.metadata(path) == {"format": "np"}
    header, start = st.read_header(path)
    assert start % 8 == 0  # header padded to 8 bytes
    assert header["ids"] == {"dtype": "I64", "shape": [5], "data_offsets": header["ids"]["data_offsets"]}


def test_float32_reads_are_views_of_the_file_not_copies(tmp_path):
    path = tmp_path / "m.safetensors"
    st.save(path, {"w": np.arange(12, dtype=np.float32).reshape(3, 4)})
    w = st.load(path)["w"]
    assert not w.flags.owndata and not w.flags.writeable  # a read-only view of the memory map
    assert type(w) is np.ndarray
    cow = st.load(path, writable=True)["w"]
    cow[0, 0] = 99.0  # copy-on-write: the file is untouched
    assert st.load(path)["w"][0, 0] == 0.0


def test_bfloat16_widens_exactly_and_rounds_to_nearest_even(tmp_path):
    path = tmp_path / "bf.safetensors"
    x = np.array([1.0, -2.5, 3.140625, 1e-3, 65504.0, np.inf], np.float32)
    st.save(path, {"x": x}, bf16=["x"])
    assert st.read_header(path)[0]["x"]["dtype"] == "BF16"
    y = st.load(path)["x"]
    assert y.dtype == np.float32
    # each value is the float32 whose low 16 bits are zero, nearest to x
    np.testing.assert_array_equal(y, (st.to_bfloat16_bits(x).astype(np.uint32) << 16).view(np.float32))
    np.testing.assert_allclose(y[:5], x[:5], rtol=2 ** -8)
    assert y[0] == 1.0 and y[1] == -2.5 and y[2] == 3.140625 and np.isposinf(y[5])
    # ties go to even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 -> 1
    assert st.to_bfloat16_bits(np.float32(1 + 2 ** -8)) == 0x3F80
    nan = np.array([0x7FFFFFFF], np.uint32).view(np.float32)  # would round up into the sign bit
    assert np.isnan((st.to_bfloat16_bits(nan).astype(np.uint32) << 16).view(np.float32)).all()


def test_subset_and_unknown_name(tmp_path):
    path = tmp_path / "m.safetensors"
    st.save(path, _tensors())
    assert list(st.load(path, ["ids"])) == ["ids"]
    with pytest.raises(st.SafetensorsError, match=r"m\.safetensors: no tensor named 'nope'"):
        st.load(path, ["nope"])


def _raw(header: dict, payload: bytes, length: int | None = None) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + payload


@pytest.mark.parametrize("make, pattern", [
    (lambda p: b"\x01\x02", r"shorter than the 8-byte header length"),
    (lambda p: _raw({}, b"", length=1 << 40), r"header length \d+ exceeds the file"),
    (lambda p: struct.pack("<Q", 4) + b"{nop", r"header is not valid JSON"),
    (lambda p: _raw({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8),
     r"tensor 'w': its bytes \[0, 16\) lie beyond the end of the data \(8 bytes\): the file is truncated"),
    (lambda p: _raw({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}}, b"\0" * 12),
     r"tensor 'w': data_offsets \[0, 12\] hold 12 bytes, but F32 \[4\] needs 16"),
    (lambda p: _raw({"w": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}}, b"\0"),
     r"tensor 'w': dtype 'F8_E4M3' is not supported"),
    (lambda p: _raw({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
                     "b": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]}}, b"\0" * 3),
     r"tensor 'b' at byte 1 overlaps the previous tensor"),
    (lambda p: _raw({"w": {"dtype": "U8", "shape": [2]}}, b"\0" * 2), r"tensor 'w': entry must have"),
])
def test_corrupt_files_raise_one_clear_error(tmp_path, make, pattern):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(make(path))
    with pytest.raises(st.SafetensorsError, match=pattern) as info:
        st.load(path)
    assert str(path) in str(info.value)


def test_truncated_real_file(tmp_path):
    path = tmp_path / "model.safetensors"
    st.save(path, _tensors())
    data = path.read_bytes()
    path.write_bytes(data[:-5])
    with pytest.raises(st.SafetensorsError, match=r"the file is truncated"):
        st.load(path)
    with pytest.raises(st.SafetensorsError, match=r"cannot read .*missing"):
        st.load(tmp_path / "missing.safetensors")


def test_unsupported_dtype_on_save(tmp_path):
    with pytest.raises(st.SafetensorsError, match=r"tensor 'c' has dtype complex64"):
        st.save(tmp_path / "c.safetensors", {"c": np.zeros(2, np.complex64)})
    assert not list(tmp_path.iterdir())  # no debris


def test_cross_check_with_the_safetensors_package(tmp_path):
    """When the optional `safetensors` package is installed: each reads the other's files."""
    ref = pytest.importorskip("safetensors.numpy")
    tensors = _tensors()
    ours, theirs = tmp_path / "ours.safetensors", tmp_path / "theirs.safetensors"
    st.save(ours, tensors)
    ref.save_file(tensors, str(theirs), metadata={"format": "np"})
    for name, arr in ref.load_file(str(ours)).items():
        np.testing.assert_array_equal(arr, tensors[name])
    for name, arr in st.load(theirs).items():
        np.testing.assert_array_equal(arr, tensors[name])
    assert st.metadata(theirs) == {"format": "np"}
