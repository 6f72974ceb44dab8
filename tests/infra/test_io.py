"""Atomic, deterministic writers: no partial file on failure, identical bytes for identical data."""

import hashlib
import json
import stat
import zipfile

import numpy as np
import pytest

from lib.infra.io import (
    atomic_path,
    load_npz,
    read_json,
    save_npz,
    sha256,
    write_csv,
    write_json,
)


def test_atomic_path_failure_leaves_neither_target_nor_temp(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with pytest.raises(RuntimeError, match="killed"), atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert list(target.parent.iterdir()) == []


def test_atomic_path_keeps_old_target_on_failure_and_replaces_it_on_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old"  # nothing moves before the block ends
        raise RuntimeError
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_path_result_is_world_readable(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("x")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_json_round_trip_keeps_values_and_key_order(tmp_path):
    obj = {
        "z": 0.1 + 0.2,
        "a": {"third": 1 / 3, "tiny": 1e-300, "neg": -2.5e10, "ints": [1, -2, 3]},
        "s": "naïve",
        "flag": True,
        "none": None,
    }
    path = tmp_path / "deep" / "m.json"
    write_json(path, obj)
    back = read_json(path)
    assert back == obj
    assert back["z"] == 0.30000000000000004  # floats exactly, not rounded
    assert list(back) == ["z", "a", "s", "flag", "none"]
    text = path.read_text()
    assert text.endswith("}\n")
    assert text == json.dumps(obj, indent=2) + "\n"


def test_write_json_failure_keeps_the_old_file(tmp_path):
    path = tmp_path / "m.json"
    write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        write_json(path, {"a": object()})  # not serialisable
    assert read_json(path) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_npz_round_trip_of_several_dtypes(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "f32": rng.standard_normal((3, 4)).astype(np.float32),
        "f64": rng.standard_normal(5),
        "i64": np.arange(-3, 3, dtype=np.int64),
        "u8": rng.integers(0, 256, (2, 2, 3), dtype=np.uint8),
        "b": np.array([True, False, True]),
        "scalar": np.float64(2.5),
        "empty": np.zeros((0, 2), dtype=np.float32),
    }
    path = tmp_path / "a.npz"
    save_npz(path, **arrays)
    back = load_npz(path)
    assert set(back) == set(arrays)
    for name, array in arrays.items():
        assert back[name].dtype == np.asarray(array).dtype, name
        assert back[name].shape == np.shape(array), name
        np.testing.assert_array_equal(back[name], array)
    assert set(np.load(path).files) == set(arrays)  # a plain .npz to numpy


def test_npz_is_byte_identical_with_fixed_timestamps(tmp_path):
    arrays = {"x": np.linspace(0, 1, 7), "y": np.arange(4)}
    save_npz(tmp_path / "a.npz", **arrays)
    save_npz(tmp_path / "b.npz", **arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.npz") as zf:
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_npz_refuses_object_arrays(tmp_path):
    with pytest.raises(ValueError):
        save_npz(tmp_path / "o.npz", o=np.array([{"a": 1}], dtype=object))
    assert not (tmp_path / "o.npz").exists()


def test_write_csv_header_and_number_format(tmp_path):
    path = tmp_path / "plots" / "t.csv"
    write_csv(
        path,
        {
            "step": [1, 2, 3],
            "loss": np.array([1 / 3, 1234567.0, 1e-7], dtype=np.float64),
            "f32": np.array([0.1, 2.0, -0.5], dtype=np.float32),
            "name": ["a", "b", "c"],
        },
    )
    assert path.read_text() == (
        "step,loss,f32,name\n1,0.333333,0.1,a\n2,1.23457e+06,2,b\n3,1e-07,-0.5,c\n"
    )


def test_write_csv_formats_ints_as_ints_and_a_float_column_as_floats(tmp_path):
    path = tmp_path / "t.csv"
    write_csv(path, {"n": np.array([10, 20]), "x": [1, 2.5]})  # [1, 2.5] is a float column
    assert path.read_text() == "n,x\n10,1\n20,2.5\n"


def test_write_csv_refuses_unequal_columns(tmp_path):
    with pytest.raises(ValueError):
        write_csv(tmp_path / "t.csv", {"a": [1, 2], "b": [1]})
    assert not (tmp_path / "t.csv").exists()


def test_sha256_matches_hashlib(tmp_path):
    small = tmp_path / "abc"
    small.write_bytes(b"abc")
    assert sha256(small) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    big = tmp_path / "big"  # crosses the 1 MiB read blocks
    data = np.random.default_rng(1).integers(0, 256, (1 << 20) * 2 + 123, dtype=np.uint8)
    big.write_bytes(data.tobytes())
    assert sha256(big) == hashlib.sha256(data.tobytes()).hexdigest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert sha256(empty) == hashlib.sha256(b"").hexdigest()
