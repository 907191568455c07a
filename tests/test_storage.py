"""HDF5 storage: uint8 images with a divisor, old float32 files, checksums, StoredArray (out-of-core)."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest

from clusterbench.data import should_stay_on_disk
from clusterbench.data.hdf5 import (
    Prepared,
    StoredArray,
    content_checksum,
    decode,
    read_dataset,
    write_dataset,
)
from clusterbench.errors import DataError


def _raw(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 1, 4, 4), dtype=np.uint8), rng.integers(0, 3, n)


def test_uint8_storage_same_values_and_checksum_as_float32(tmp_path):
    raw, y = _raw()
    old = Prepared(X=np.divide(raw, np.float32(255.0), dtype=np.float32), y=y, recipe={})
    new = Prepared(X=raw, y=y, recipe={}, x_divisor=255.0)
    a = write_dataset(tmp_path / "a.h5", old, name="a", n_clusters=3)
    b = write_dataset(tmp_path / "b.h5", new, name="b", n_clusters=3)
    assert a.checksum == b.checksum == content_checksum(old.X, y)
    with h5py.File(b.path) as f:
        assert f["X"].dtype == np.uint8 and f["X"].attrs["divisor"] == 255.0 and f["X"].chunks is None
    Xa, _, _ = read_dataset(a.path)
    Xb, _, _ = read_dataset(b.path)
    assert Xb.dtype == np.float32 and Xa.tobytes() == Xb.tobytes()
    assert b.path.stat().st_size < a.path.stat().st_size


def test_checksum_of_uint8_is_computed_block_by_block(tmp_path, monkeypatch):
    import clusterbench.data.hdf5 as h

    raw, y = _raw(37)
    whole = content_checksum(raw, y, divisor=255.0)
    monkeypatch.setattr(h, "_DECODE_ROWS_BYTES", 64 * 5)  # 5 rows of 16 floats per block
    assert content_checksum(raw, y, divisor=255.0) == whole == content_checksum(decode(raw, 255.0), y)
    info = write_dataset(tmp_path / "c.h5", Prepared(X=raw, y=y, recipe={}, x_divisor=255.0), name="c", n_clusters=3)
    X, _, _ = read_dataset(info.path)  # decoded in blocks too
    assert X.tobytes() == decode(raw, 255.0).tobytes() and info.checksum == whole


def test_old_format_version_1_file_still_loads(tmp_path):
    raw, y = _raw()
    X = np.divide(raw, np.float32(255.0), dtype=np.float32)
    info = write_dataset(tmp_path / "old.h5", Prepared(X=X, y=y, recipe={}), name="old", n_clusters=3)
    with h5py.File(info.path, "r+") as f:  # what format version 1 wrote: float32 X, no divisor
        f.attrs["format_version"] = 1
    X2, y2, _ = read_dataset(info.path)
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(X2, X)
    S, _, _ = read_dataset(info.path, mmap=True)
    assert isinstance(S, StoredArray) and S.stored_dtype == np.float32
    np.testing.assert_array_equal(S[[4, 1]], X[[4, 1]])


def test_uint8_storage_refuses_other_dtypes(tmp_path):
    raw, y = _raw()
    with pytest.raises(DataError, match="uint8"):
        write_dataset(tmp_path / "x.h5", Prepared(X=raw.astype(np.int16), y=y, recipe={}, x_divisor=255.0),
                      name="x", n_clusters=3)


@pytest.mark.parametrize("chunked", [False, True])
def test_stored_array_reads_rows_like_the_array(tmp_path, chunked):
    raw, y = _raw()
    info = write_dataset(tmp_path / "s.h5", Prepared(X=raw, y=y, recipe={}, x_divisor=255.0), name="s", n_clusters=3)
    ref, _, _ = read_dataset(info.path)
    if chunked:  # an X that cannot be memory-mapped (not written by clusterbench): h5py reads
        with h5py.File(info.path, "r+") as f:
            del f["X"]
            f.create_dataset("X", data=raw, chunks=(8, 1, 4, 4), compression="gzip").attrs["divisor"] = 255.0
    S = StoredArray(info.path)
    assert isinstance(S._raw, np.memmap) != chunked
    assert S.shape == ref.shape and S.ndim == 4 and len(S) == 50 and S.dtype == np.float32 and S.nbytes == ref.nbytes
    for key in ([5, 2, 2, 49], np.array([-1, 0]), slice(3, 9), slice(None, None, 7), slice(40, 10)):
        np.testing.assert_array_equal(S[key], ref[key])
    np.testing.assert_array_equal(S[7], ref[7])
    np.testing.assert_array_equal(S[3, 0], ref[3, 0])
    np.testing.assert_array_equal(np.asarray(S), ref)
    assert S.value_range() == (float(ref.min()), float(ref.max()))
    V = S.take(np.array([9, 4, 7, 4]))
    assert V.shape == (4, 1, 4, 4)
    np.testing.assert_array_equal(np.asarray(V), ref[[9, 4, 7, 4]])
    np.testing.assert_array_equal(V[[3, 0]], ref[[4, 9]])
    np.testing.assert_array_equal(V.take(np.array([2]))[0], ref[7])
    W = pickle.loads(pickle.dumps(V))  # process pools
    np.testing.assert_array_equal(np.asarray(W), ref[[9, 4, 7, 4]])


def test_load_leaves_large_data_on_disk(tmp_path, monkeypatch):
    import clusterbench
    from clusterbench import data

    monkeypatch.setenv("CLUSTERBENCH_HOME", str(tmp_path))
    X, y, info = clusterbench.load("digits")
    assert isinstance(X, np.ndarray)  # 1,797 x 64 floats: far below a quarter of the RAM
    assert not should_stay_on_disk(info)
    assert should_stay_on_disk(info, ram_bytes=4 * X.size * 3)  # > 1/4 of a tiny RAM
    monkeypatch.setattr(data, "physical_ram_bytes", lambda: 4 * X.size * 3)
    S, y2, _ = clusterbench.load("digits")
    np.testing.assert_array_equal(y2, y)
    assert isinstance(S, StoredArray)
    np.testing.assert_array_equal(np.asarray(S), X)
    S2, _, _ = clusterbench.load("digits", mmap=False)
    assert isinstance(S2, np.ndarray)
    assert isinstance(clusterbench.load("digits", mmap=True)[0], StoredArray)


def test_runner_subset_of_a_stored_data_set_reads_only_its_rows(tmp_path, monkeypatch):
    from clusterbench import data
    from clusterbench.methods import METHODS, make_config
    from clusterbench.runner import expand_grid
    from clusterbench.runner.execute import load_run_data

    monkeypatch.setenv("CLUSTERBENCH_HOME", str(tmp_path))
    (spec,) = expand_grid(["kmeans"], ["digits"], subset=300)
    X_mem, y_mem, idx_mem = load_run_data(spec)
    monkeypatch.setattr(data, "physical_ram_bytes", lambda: 1024)  # every data set is "too large"
    X, y, idx = load_run_data(spec)
    assert isinstance(X, StoredArray) and X.shape == X_mem.shape == (300, 1, 8, 8)
    assert np.array_equal(idx, idx_mem) and np.array_equal(X.rows, idx) and np.array_equal(y, y_mem)
    np.testing.assert_array_equal(np.asarray(X), X_mem)
    cfg = make_config(METHODS["kmeans"].Config, {}, method="kmeans")
    a = METHODS["kmeans"](cfg).fit(X, 10, seed=0)
    b = METHODS["kmeans"](cfg).fit(X_mem, 10, seed=0)
    np.testing.assert_array_equal(a.proba, b.proba)
